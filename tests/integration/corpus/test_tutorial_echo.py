"""tests/corpus/tutorial_echo: the blog-tutorial shape — handlers that print the event,
a `$default` route that answers plain-text frames through the Management API, a `ping`
route with a route response, and a REST `GET /ping`."""

from __future__ import annotations

import json

from tests.integration.corpus.conftest import RunCorpus, recv


async def test_plain_text_goes_to_default_and_is_answered_over_https(
    run_corpus: RunCorpus,
) -> None:
    async with run_corpus("tutorial_echo") as svc:
        ws = await svc.connect()
        await ws.send("hello there")
        answer = await recv(ws)
        assert answer.startswith("Hello ") and answer.endswith(", you said: hello there")
        connection_id = answer.split()[1].rstrip(",")
        assert len(connection_id) == 16 and connection_id.endswith("=")
        # The $connect handler's body ("connect") is not sent to the client.
        await ws.send(json.dumps({"action": "ping"}))
        assert json.loads(await recv(ws)) == {"type": "pong"}  # the route response
        assert any(line.startswith("connectHandler | connectHandler {") for line in svc.logs)


async def test_the_rest_route_lives_under_the_stage(run_corpus: RunCorpus) -> None:
    async with run_corpus("tutorial_echo") as svc:
        status, _, body = await svc.http("GET", "/dev/ping")
        assert (status, body) == (200, {"message": "pong", "path": "/ping", "stage": "dev"})
        status, _, body = await svc.http("GET", "/dev/nothing")
        assert (status, body) == (403, {"message": "Missing Authentication Token"})
        status, _, _ = await svc.http("POST", "/dev/ping", body={})
        assert status == 403  # the resource has no POST method
