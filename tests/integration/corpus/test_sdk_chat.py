"""tests/corpus/sdk_chat: one function on three routes, as the AWS SDK example writes it.

What it relies on: `https://{domainName}/{stage}` as the Management API endpoint (the
harness serves TLS on the same port and the sandbox trusts it); the query string only
when one was sent; `GoneException` raised for a vanished connection; `Forbidden` for a
frame no route takes, since it has no `$default`.
"""

from __future__ import annotations

import json

from tests.integration.corpus.conftest import RunCorpus, recv

STALE = "Zm9yZ290dGVuMDE="  # shaped like a connection id, never connected


async def test_messages_reach_the_others_through_the_https_endpoint(run_corpus: RunCorpus) -> None:
    async with run_corpus("sdk_chat") as svc:
        ann = await svc.connect("name=ann")
        bob = await svc.connect("name=bob")
        guest = await svc.connect()  # no query string at all: the handler's default applies
        await ann.send(json.dumps({"action": "sendmessage", "msg": "hello"}))
        assert await recv(bob) == "ann: hello"
        assert await recv(guest) == "ann: hello"
        await guest.send(json.dumps({"action": "sendmessage", "msg": "hi"}))
        assert (await recv(ann), await recv(bob)) == ("guest: hi", "guest: hi")


async def test_a_gone_connection_is_removed_by_the_sender(run_corpus: RunCorpus) -> None:
    async with run_corpus("sdk_chat") as svc:
        ann = await svc.connect("name=ann")
        bob = await svc.connect("name=bob")
        table = svc.table()
        table.put_item(Item={"connection_id": STALE, "user_name": "ghost"})
        await ann.send(json.dumps({"action": "sendmessage", "msg": "anyone?"}))
        assert await recv(bob) == "ann: anyone?"
        await svc.until(
            lambda: "Item" not in table.get_item(Key={"connection_id": STALE}),
            "the 410 GoneException cleanup never removed the stale connection",
        )
        # $disconnect removes the ones that leave politely.
        assert len(table.scan()["Items"]) == 2
        await bob.close()
        await svc.until(lambda: len(table.scan()["Items"]) == 1, "bob's $disconnect did not run")


async def test_a_frame_no_route_takes_is_forbidden(run_corpus: RunCorpus) -> None:
    async with run_corpus("sdk_chat") as svc:
        ws = await svc.connect("name=ann")
        for frame in ("hello", json.dumps({"action": "shout", "msg": "x"})):
            await ws.send(frame)
            answer = json.loads(await recv(ws))
            assert answer["message"] == "Forbidden"
            assert set(answer) == {"message", "connectionId", "requestId"}
