"""TransactWriteItems in the embedded DynamoDB without copying whole tables.

moto makes a deep copy of every table a transaction names, before it runs, to roll
back on failure: a cost that grows with the table, paid by every transaction, which made
the embedded DynamoDB slower the longer it ran (each chat join and each `send` with a
clientMsgId is a transaction). Here only the items the transaction touches are saved,
and restored when it is cancelled. That is equivalent because the server applies one
request at a time (`infra.dynamo`), as DynamoDB applies a transaction atomically.
"""

from __future__ import annotations

import copy
import types
from typing import Any


def install() -> None:
    """Patch moto's DynamoDB backend in this process (the `python -m infra.dynamo` server)."""
    from moto.dynamodb import models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    if getattr(DynamoDBBackend.transact_write_items, "_item_rollback", False):
        return

    # moto's own rollback copy becomes the table itself (so its "restore" is a no-op);
    # every other deepcopy in the module stays a real one.
    shim = types.SimpleNamespace(
        **{n: getattr(copy, n) for n in dir(copy) if not n.startswith("__")}
    )
    shim.deepcopy = lambda obj, memo=None: (
        obj if isinstance(obj, Table) else copy.deepcopy(obj, memo)
    )
    models.copy = shim  # type: ignore[attr-defined, assignment]

    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved: list[tuple[Any, Any, Any, Any]] = []
        for entry in transact_items:
            if len(entry) != 1:
                continue  # moto refuses it before changing anything
            op = next(iter(entry.values()))
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue
            key = op.get("Key") or op.get("Item") or {}
            if table.hash_key_attr not in key:
                continue
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = None
            if table.range_key_attr is not None:
                if table.range_key_attr not in key:
                    continue
                range_key = DynamoType(key[table.range_key_attr])
            current = table.get_item(hash_key, range_key)
            saved.append((table, hash_key, range_key, copy.deepcopy(current)))
        try:
            original(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(saved):
                _restore(table, hash_key, range_key, item)
            raise

    transact_write_items._item_rollback = True  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _restore(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
        return
    if item is None:
        table.items.get(hash_key, {}).pop(range_key, None)
    else:
        table.items.setdefault(hash_key, {})[range_key] = item
