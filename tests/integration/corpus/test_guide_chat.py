"""tests/corpus/guide_chat: the developer guide's chat tutorial, one folder per function.

What it relies on: the table name from `Ref` to a table without `TableName`; the
endpoint from the event; a stale connection recognised by the HTTP status 410 that
`ClientError` carries; every connection, the sender too, gets the data.
"""

from __future__ import annotations

import json

from tests.integration.corpus.conftest import RunCorpus, recv

STALE = "c3RhbGVjb25uMDE="


async def test_data_goes_to_everyone_and_stale_connections_are_deleted(
    run_corpus: RunCorpus,
) -> None:
    async with run_corpus("guide_chat") as svc:
        first, second = await svc.connect(), await svc.connect()
        table = svc.table()
        table.put_item(Item={"connectionId": STALE})
        await first.send(json.dumps({"action": "sendmessage", "data": "hello, world"}))
        assert await recv(first) == "hello, world"
        assert await recv(second) == "hello, world"
        await svc.until(
            lambda: "Item" not in table.get_item(Key={"connectionId": STALE}),
            "the stale connection was not deleted on 410",
        )
        assert any("Found stale connection" in line for line in svc.logs)
        assert len(table.scan()["Items"]) == 2


async def test_without_default_route_other_frames_are_forbidden(run_corpus: RunCorpus) -> None:
    async with run_corpus("guide_chat") as svc:
        ws = await svc.connect()
        await ws.send("plain text")
        assert json.loads(await recv(ws))["message"] == "Forbidden"
