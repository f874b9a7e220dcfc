"""Feeds: read-only rooms written by POST /rooms/{room}/messages with a `publish` token."""

from __future__ import annotations

from collections.abc import Callable

from tests.integration.chat.conftest import Chat
from tests.tokens import chat_token
from tests.wire import bearer, publish, unique


async def test_publish_delivers_to_members_with_the_publisher_as_sender(
    chat: Chat, names: Callable[[str], str]
) -> None:
    feed = unique("feed:prices")
    alice = await chat.connect(names("alice"))
    bob = await chat.connect(names("bob"))
    await alice.call("join", room=feed)
    await bob.call("join", room=feed)
    token = chat_token(chat.stack, "ticker", "Ticker", scopes=("publish",))
    status, body = await publish(
        chat.stack, feed, {"text": "up 3%", "data": {"pct": 3}}, bearer(token)
    )
    assert status == 202 and body["delivered"] == 2
    for client in (alice, bob):
        message = await client.expect("message", room=feed)
        assert message["id"] == body["id"]
        assert message["from"] == {"id": "ticker", "name": "Ticker"}
        assert (message["text"], message["data"]) == ("up 3%", {"pct": 3})


async def test_feed_rooms_are_read_only_over_websocket(
    chat: Chat, names: Callable[[str], str]
) -> None:
    feed = unique("feed:news")
    alice = await chat.connect(names("alice"))
    await alice.call("join", room=feed)
    refused = await alice.refused("send", room=feed, text="me too")
    assert refused["code"] == "read_only"
    token = chat_token(chat.stack, "newsroom", scopes=("publish",))
    status, _ = await publish(chat.stack, feed, {"text": "headline"}, bearer(token))
    assert status == 202
    history = await alice.call("history", room=feed)
    assert [m["text"] for m in history["messages"]] == ["headline"]


async def test_publish_refuses_bad_tokens_and_bodies(chat: Chat) -> None:
    feed = unique("feed:x")
    assert (await publish(chat.stack, feed, {"text": "x"}))[0] == 401
    assert (await publish(chat.stack, feed, {"text": "x"}, bearer("not-a-token")))[0] == 401
    unscoped = chat_token(chat.stack, "someone")
    assert (await publish(chat.stack, feed, {"text": "x"}, bearer(unscoped)))[0] == 403
    token = chat_token(chat.stack, "pub", scopes=("publish",))
    assert (await publish(chat.stack, feed, {"text": ""}, bearer(token)))[0] == 400
    assert (await publish(chat.stack, feed, b"{not json", bearer(token)))[0] == 400
    status, body = await publish(chat.stack, feed, {"text": "nobody listens"}, bearer(token))
    assert status == 202 and body["delivered"] == 0
