"""Costs in moto's DynamoDB removed for the embedded server (none changes an answer).

1. Query. For a table (not index) Query, moto sorts every item of the table and then
   keeps those of the one partition asked for: each Query cost O(table), so the chat got
   slower the more rooms, connections and messages it held. Here a table Query looks at
   its partition only (moto then sorts that by range key, as before).

2. TransactWriteItems. moto deep-copies every table a transaction names, before it
   runs, to roll back on failure: a cost that grows with the table, paid by every
   transaction (each chat join, each `send` with a clientMsgId). Here only the items the
   transaction touches are saved, and restored when it is cancelled. That is equivalent
   because the server applies one request at a time (`infra.dynamodb.server`), as DynamoDB
   applies a transaction atomically.

3. Responses. moto serializes every attribute value by walking botocore's shape model,
   member by member: a fifth of its time here. An item's values are already in
   DynamoDB's JSON form, so they are written as they are (binary values, which need
   base64, still go the long way).

4. Dispatch. A DynamoDB call (a POST to `/` naming a `DynamoDB_20120810.*` target) goes
   straight to moto's DynamoHandler, as moto's Flask view would hand it over, instead of
   through moto's host dispatcher, Flask (in debug mode), flask-cors and a Flask
   Response: a fifth of the server's CPU per call. Every other request (SSM, moto's own
   `/moto-api`) still goes through moto's app. The answers are the same bytes
   (tests/integration/dynamo/test_embedded_dynamodb.py compares the two).

5. Introspection. For every call, moto lists the handler class's methods with
   `inspect.getmembers` to check the action exists; the list is the same each time.

6. Condition expressions. moto parses a ConditionExpression from its text every time it
   meets it, twice per UpdateItem (the handler checks the names it uses, the backend
   evaluates it) and twice per conditional item of a transaction: 0.2-0.4 ms each, a
   sixth of the server's CPU under the chat's load. Services send the same few
   expressions with the same values again and again (a rate-limit window, `:now` in
   the same millisecond, a constant), so each parse is kept, keyed on the text with its
   names and values, and reused; the tree moto built evaluates an item without changing
   itself. An expression moto refuses is not kept (it is refused again each time).

7. Update expressions. The same for an UpdateExpression, parsed twice per UpdateItem
   (0.1 ms each): its tree depends on the text alone, but moto's validator rewrites the
   tree it is given, so each caller gets its own copy of the kept tree (a pickle of it,
   read back in a quarter of the parse's time).

Each speed-up is checked at start against the moto code it replaces (`verify`): a moto
release whose code there moved is refused with an error naming it, never patched blindly.
"""

from __future__ import annotations

import collections
import copy
import hashlib
import importlib
import inspect
import json
import pickle
import sys
import types
from collections.abc import Iterable
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment


def install() -> None:
    """Patch moto's DynamoDB in this process (the `python -m infra.dynamodb` server).

    Raises MotoChanged, before patching anything, when moto's code under a speed-up is
    not the code the speed-up was checked against."""
    verify()
    _partition_queries()
    _item_rollback()
    _plain_attribute_values()
    _cached_method_names()
    _parsed_conditions()
    _parsed_updates()


_DYNAMODB_TARGET = "DynamoDB_20120810."


def dynamodb_first(app: WSGIApplication) -> WSGIApplication:
    """`app` (moto's server app) with DynamoDB calls dispatched to moto's DynamoHandler
    directly; what the handler answers is what moto's Flask view would have sent."""
    from botocore.exceptions import ClientError
    from moto.core.request import Request
    from moto.dynamodb.responses import DynamoHandler
    from werkzeug.http import HTTP_STATUS_CODES

    class ServerRequest(Request):
        from_wsgi_server = True  # as moto's Flask request class says

    def dispatch(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if (
            environ["REQUEST_METHOD"] != "POST"
            or environ["PATH_INFO"] != "/"
            or not environ.get("HTTP_X_AMZ_TARGET", "").startswith(_DYNAMODB_TARGET)
        ):
            return app(environ, start_response)
        request = ServerRequest(environ)
        try:
            status, headers, body = DynamoHandler.dispatch(
                request, request.raw_url, dict(request.headers)
            )
        except ClientError as exc:  # what moto's Flask view does with one
            status, headers, body = 400, {}, exc.response["Error"]["Message"]
        payload = body.encode() if isinstance(body, str) else bytes(body)
        fields = [(k, str(v)) for k, v in headers.items()]
        if not any(k.lower() == "content-type" for k, _ in fields):
            fields.append(("Content-Type", "text/html; charset=utf-8"))  # Flask's default
        start_response(f"{status} {HTTP_STATUS_CODES.get(status, 'UNKNOWN').upper()}", fields)
        return [payload]

    return dispatch


def _cached_method_names() -> None:
    from moto.core import responses as module

    responses: Any = module  # the name is imported there, not exported
    if getattr(responses.method_names_from_class, "_cached", False):
        return
    listing = responses.method_names_from_class
    known: dict[type[Any], list[str]] = {}

    def method_names(clazz: Any) -> list[str]:
        if clazz not in known:
            known[clazz] = listing(clazz)
        return known[clazz]

    method_names._cached = True  # type: ignore[attr-defined]
    method_names.__wrapped_moto__ = listing  # type: ignore[attr-defined]
    responses.method_names_from_class = method_names


_PLAIN_TYPES = frozenset({"S", "N", "BOOL", "NULL", "SS", "NS", "L", "M"})


def _is_plain(value: Any) -> bool:
    """A DynamoDB JSON attribute value with no binary part anywhere inside."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    kind, inner = next(iter(value.items()))
    if kind not in _PLAIN_TYPES:
        return False
    if kind == "L":
        return isinstance(inner, list) and all(_is_plain(v) for v in inner)
    if kind == "M":
        return isinstance(inner, dict) and all(_is_plain(v) for v in inner.values())
    return True


def _plain_attribute_values() -> None:
    from moto.core.serialize import BaseJSONSerializer

    if getattr(BaseJSONSerializer._serialize_type_structure, "_plain_values", False):
        return
    structure = BaseJSONSerializer._serialize_type_structure

    def serialize_structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if shape.name == "AttributeValue" and _is_plain(value):
            self._default_serialize(serialized, value, shape, key)
            return
        structure(self, serialized, value, shape, key)

    serialize_structure._plain_values = True  # type: ignore[attr-defined]
    serialize_structure.__wrapped_moto__ = structure  # type: ignore[attr-defined]
    BaseJSONSerializer._serialize_type_structure = serialize_structure  # type: ignore[method-assign]


# Parses kept. A service sends a handful of distinct expressions; values that change on
# every call (a timestamp) make a new entry each time, so the oldest go first.
_PARSED_CONDITIONS_MAX = 1024
# Values past this size (a big item's attributes named in its condition) are parsed as
# moto does, not kept: the key would cost more than the parse.
_PARSED_CONDITION_KEY_MAX = 4096


def _parsed_conditions() -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser

    if getattr(ConditionExpressionParser.parse, "_kept", False):
        return
    parse = ConditionExpressionParser.parse
    kept: collections.OrderedDict[tuple[str, str], tuple[Any, list[str], list[str]]] = (
        collections.OrderedDict()
    )

    def parse_once(self: Any) -> Any:
        text = self.condition_expression
        if not text:
            return parse(self)
        try:
            args = json.dumps(
                [self.expression_attribute_names, self.expression_attribute_values],
                sort_keys=True,
                separators=(",", ":"),
            )
        except (TypeError, ValueError):
            return parse(self)
        if len(args) > _PARSED_CONDITION_KEY_MAX:
            return parse(self)
        key = (text, args)
        hit = kept.get(key)
        if hit is None:
            # Parsed from a private copy of the names and values, so the kept tree shares
            # nothing with this request's dicts (which moto may store in an item).
            names, values = json.loads(args)
            fresh = ConditionExpressionParser(text, names, values)
            op = parse(fresh)  # a refusal raises here: nothing is kept
            hit = (op, fresh.expr_attr_names_found, fresh.expr_attr_values_found)
            kept[key] = hit
            if len(kept) > _PARSED_CONDITIONS_MAX:
                kept.popitem(last=False)
        else:
            kept.move_to_end(key)
        op, names_found, values_found = hit
        # What parse() records on the parser, read by moto's handler to check the request
        # names no attribute it does not use.
        self.expr_attr_names_found.extend(names_found)
        self.expr_attr_values_found.extend(values_found)
        return op

    parse_once._kept = True  # type: ignore[attr-defined]
    parse_once.__wrapped_moto__ = parse  # type: ignore[attr-defined]
    parse_once.cache = kept  # type: ignore[attr-defined]
    ConditionExpressionParser.parse = parse_once  # type: ignore[method-assign]


_PARSED_UPDATES_MAX = 1024


def _parsed_updates() -> None:
    # (moto's module declares no such name to type checkers: moto imports it the same way.)
    expressions: Any = importlib.import_module("moto.dynamodb.parsing.expressions")
    UpdateExpressionParser = expressions.UpdateExpressionParser

    make = UpdateExpressionParser.make
    if getattr(make, "_kept", False):
        return
    original = make.__func__  # a classmethod: the function under it
    kept: collections.OrderedDict[str, bytes] = collections.OrderedDict()

    def make_once(cls: Any, expression_str: Any) -> Any:
        blob = kept.get(expression_str) if isinstance(expression_str, str) else None
        if blob is not None:
            kept.move_to_end(expression_str)
            return pickle.loads(blob)  # a tree of its own: the validator rewrites it
        tree = original(cls, expression_str)  # a refusal raises here: nothing is kept
        if isinstance(expression_str, str):
            try:
                kept[expression_str] = pickle.dumps(tree, pickle.HIGHEST_PROTOCOL)
            except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
                return tree  # a tree pickle cannot copy is parsed every time, as moto does
            if len(kept) > _PARSED_UPDATES_MAX:
                kept.popitem(last=False)
        return tree

    make_once._kept = True  # type: ignore[attr-defined]
    make_once.__wrapped_moto__ = original  # type: ignore[attr-defined]
    make_once.cache = kept  # type: ignore[attr-defined]
    UpdateExpressionParser.make = classmethod(make_once)


def _partition_queries() -> None:
    from moto.dynamodb.models.table import Table

    if getattr(Table.query, "_partition_only", False):
        return
    query, all_items = Table.query, Table.all_items

    def partition_query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        # moto's backend passes index_name as the 8th positional argument.
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        if index_name or hash_key is None or not self.range_key_attr:
            return query(self, hash_key, *args, **kwargs)
        self._wschat_partition = hash_key
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            self._wschat_partition = None

    def items_for_query(self: Any) -> Any:
        partition = getattr(self, "_wschat_partition", None)
        if partition is None:
            return all_items(self)
        return list(self.items.get(partition, {}).values())

    partition_query._partition_only = True  # type: ignore[attr-defined]
    partition_query.__wrapped_moto__ = query  # type: ignore[attr-defined]
    items_for_query.__wrapped_moto__ = all_items  # type: ignore[attr-defined]
    Table.query = partition_query  # type: ignore[method-assign]
    Table.all_items = items_for_query  # type: ignore[method-assign]


def _item_rollback() -> None:
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
    transact_write_items.__wrapped_moto__ = original  # type: ignore[attr-defined]
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


# -- The moto code each speed-up replaces or relies on, as checked ------------------------
# A speed-up written against one moto release can silently stop applying, or worse,
# change answers, when moto's internals move. So each one names the moto functions it
# replaces or whose behaviour it relies on, and `verify()` compares their source with the
# digests recorded for the moto releases they were checked on (CHECKED_MOTO, the range
# pyproject.toml allows). A new moto whose code here is unchanged passes; one whose code
# moved fails at start, naming the version and the function.
# After checking a speed-up against a new moto: `python -m infra.dynamodb.moto_speedups` prints the
# digests to add.

CHECKED_MOTO = "5.2.4 to 5.2.6"


class MotoChanged(RuntimeError):
    """moto's code under a speed-up is not the code that speed-up was checked against."""


# speed-up -> {"module:qualname": digests of inspect.getsource, one per distinct text}
_RELIES_ON: dict[str, dict[str, frozenset[str]]] = {
    "partition queries": {
        "moto.dynamodb.models.table:Table.query": frozenset({"002b4d00be6df07c"}),
        "moto.dynamodb.models.table:Table.all_items": frozenset({"c80d2ee3c896acd0"}),
        "moto.dynamodb.models:DynamoDBBackend.query": frozenset(
            {"7a413c1cae790739", "b8f2b308cd13edb4"}
        ),
    },
    "item rollback": {
        "moto.dynamodb.models:DynamoDBBackend.transact_write_items": frozenset(
            {"81db2cb7d94e39c9"}
        ),
        "moto.dynamodb.models.table:Table.get_item": frozenset({"b08e98fe37b7e583"}),
    },
    "plain attribute values": {
        "moto.core.serialize:BaseJSONSerializer._serialize_type_structure": frozenset(
            {"36873909cd0aeb4d"}
        ),
        "moto.core.serialize:BaseJSONSerializer._default_serialize": frozenset(
            {"25ce8ddbb1a991c0"}
        ),
    },
    "DynamoDB dispatch": {
        "moto.core.utils:convert_to_flask_response.__call__": frozenset({"2c82766d05909ebb"}),
        "moto.dynamodb.responses:DynamoHandler.dispatch": frozenset({"f384bce8f69d7e94"}),
    },
    "parsed conditions": {
        "moto.dynamodb.comparisons:ConditionExpressionParser.parse": frozenset(
            {"5c9b63c5f49ed5d5"}
        ),
        "moto.dynamodb.comparisons:ConditionExpressionParser.__init__": frozenset(
            {"4a3f092d6b0f1a26"}
        ),
    },
    "parsed updates": {
        "moto.dynamodb.parsing.expressions:UpdateExpressionParser.make": frozenset(
            {"2c00ed96d6e191f2"}
        ),
        "moto.dynamodb.parsing.validators:UpdateExpressionValidator.validate": frozenset(
            {"5a99f0d36c7b7b8e"}
        ),
    },
    "cached method names": {
        "moto.core.utils:method_names_from_class": frozenset({"9dbac89d082b655f"}),
        "moto.core.responses:BaseResponse.call_action": frozenset(
            {"26076963fd17fd1a", "33ccca5a96e6eda6"}
        ),
    },
}


def _resolve(target: str) -> Any:
    module_name, _, qualname = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    # A function replaced by one of ours already: check the one it wraps.
    return getattr(obj, "__wrapped_moto__", obj)


def source_digest(target: str) -> str:
    """sha256 (16 hex digits) of the source text of `module:qualname` in installed moto."""
    source = inspect.getsource(_resolve(target))
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def mismatches() -> list[str]:
    """Human lines, one per moto function whose code is not one checked."""
    found = []
    for speedup, targets in _RELIES_ON.items():
        for target, digests in targets.items():
            try:
                digest = source_digest(target)
            except (ImportError, AttributeError, OSError, TypeError) as exc:
                found.append(f"{speedup}: {target} not found ({exc})")
                continue
            if digest not in digests:
                found.append(f"{speedup}: {target} changed (source digest {digest})")
    return found


def verify() -> None:
    """Raise MotoChanged unless every speed-up's moto code is code it was checked on."""
    found = mismatches()
    if found:
        raise MotoChanged(
            f"infra.dynamodb.moto_speedups: moto {version('moto')} is not a release the embedded "
            f"DynamoDB's speed-ups were checked on (moto {CHECKED_MOTO}):\n  "
            + "\n  ".join(found)
            + "\nInstall a checked moto (pip install -e '.[local]' picks one), or check each "
            "speed-up against this release and record its digests "
            "(python -m infra.dynamodb.moto_speedups)."
        )


if __name__ == "__main__":
    print(f"moto {version('moto')}")
    for _speedup, _targets in _RELIES_ON.items():
        for _target in _targets:
            print(f"{_speedup}\t{_target}\t{source_digest(_target)}")
    sys.exit(0)
