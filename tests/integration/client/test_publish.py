"""The publisher: what it posts reaches the members of the feed room."""

from __future__ import annotations

import itertools

from infra.stack import LocalStack
from tests.integration.client.peer import Peer
from tests.integration.client.run import run_client
from tests.tokens import chat_token

_feeds = itertools.count()


async def test_a_published_data_point_reaches_the_feed_members(stack: LocalStack) -> None:
    room = f"feed:pub{next(_feeds)}"
    watcher = await Peer.open(stack, "watcher")
    await watcher.join(room)
    done = await run_client(
        stack, "client.publish", "--url", stack.http_url, "--room", room, "--data", '{"cpu": 0.41}'
    )
    assert done.status == 0, done.err
    assert '"delivered": 1' in done.out
    got = await watcher.until(lambda f: f.get("type") == "message")
    assert (got["room"], got["data"], got["from"]["id"]) == (room, {"cpu": 0.41}, "publisher")
    await watcher.close()


async def test_the_demo_feed_publishes_machine_metrics(stack: LocalStack) -> None:
    room = f"feed:pub{next(_feeds)}"
    watcher = await Peer.open(stack, "watcher")
    await watcher.join(room)
    done = await run_client(
        stack,
        "client.publish",
        *("--url", stack.http_url, "--room", room, "--demo", "--count", "2", "--interval", "0.2"),
    )
    assert done.status == 0, done.err
    for _ in range(2):
        point = (await watcher.until(lambda f: f.get("type") == "message"))["data"]
        assert set(point) == {"cpu", "load1", "load5", "mem", "units"}
        assert 0 <= point["cpu"] <= 100 and 0 < point["mem"] < 100 and point["load1"] >= 0
        assert point["units"] == {"cpu": "%", "mem": "%"}
    await watcher.close()


async def test_a_token_without_the_publish_scope_is_refused(stack: LocalStack) -> None:
    token = chat_token(stack, "mallory")  # no `publish` scope
    done = await run_client(
        stack,
        "client.publish",
        "--url",
        stack.http_url,
        "--room",
        "feed:x",
        "--token",
        token,
        "--text",
        "hi",
    )
    assert done.status == 1
    assert "refused: HTTP 403" in done.err
