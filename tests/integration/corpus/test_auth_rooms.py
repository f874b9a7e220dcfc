"""tests/corpus/auth_rooms: a `$connect` Lambda authorizer as tutorials write it, route
responses, and the subprotocol a browser client relies on."""

from __future__ import annotations

import json

import pytest
from websockets.exceptions import InvalidStatus

from tests.integration.corpus.conftest import RunCorpus, recv


async def test_the_authorizer_decides_the_handshake(run_corpus: RunCorpus) -> None:
    async with run_corpus("auth_rooms") as svc:
        for query, status in (("", 401), ("token=stolen", 401), ("token=deny-me", 403)):
            with pytest.raises(InvalidStatus) as refused:
                await svc.connect(query)
            assert refused.value.response.status_code == status, query
        ws = await svc.connect("token=alice-token")
        await ws.send(json.dumps({"action": "whoami"}))
        assert json.loads(await recv(ws)) == {"principalId": "alice", "user": "alice"}
        await ws.send("hello?")
        assert await recv(ws) == 'unknown action, try {"action": "whoami"}'


async def test_the_subprotocol_comes_from_connect(run_corpus: RunCorpus) -> None:
    async with run_corpus("auth_rooms") as svc:
        ws = await svc.connect("token=root-token", subprotocols=["chat.v2", "chat.v1"])
        assert ws.subprotocol == "chat.v2"
        plain = await svc.connect("token=root-token")
        assert plain.subprotocol is None
