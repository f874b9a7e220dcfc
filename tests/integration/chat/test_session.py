"""Per-connection actions: whoami, ping, direct messages, unknown actions, bad tokens."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import jwt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.conftest import scaled
from tests.integration.chat.conftest import Chat
from tests.tokens import chat_secret, chat_token


async def test_whoami_reports_the_token_identity_and_rooms(
    chat: Chat, room: str, names: Callable[[str], str]
) -> None:
    alice = await chat.connect(names("alice"), "Alice")
    await alice.call("join", room=room)
    me = await alice.call("whoami")
    assert me["user"] == {"id": alice.user, "name": "Alice"}
    assert me["rooms"] == [room]
    assert isinstance(me["connectionId"], str) and me["connectionId"].endswith("=")


async def test_ping_answers_pong(chat: Chat, names: Callable[[str], str]) -> None:
    alice = await chat.connect(names("alice"))
    await alice.send("ping")
    assert await alice.expect("pong") == {"type": "pong"}


async def test_direct_reaches_every_connection_of_both_users(
    chat: Chat, names: Callable[[str], str]
) -> None:
    alice = await chat.connect(names("alice"), "Alice")
    bob_id = names("bob")
    bob_phone = await chat.connect(bob_id)
    bob_laptop = await chat.connect(bob_id)
    await alice.send("direct", to=bob_id, text="psst", clientMsgId="d1")
    sent = await alice.expect("direct")
    assert sent == await bob_phone.expect("direct")
    assert sent == await bob_laptop.expect("direct")
    assert (sent["from"], sent["to"], sent["text"], sent["clientMsgId"]) == (
        {"id": alice.user, "name": "Alice"},
        bob_id,
        "psst",
        "d1",
    )


async def test_direct_to_an_offline_user(chat: Chat, names: Callable[[str], str]) -> None:
    alice = await chat.connect(names("alice"))
    refused = await alice.refused("direct", to=names("nobody"), text="hello?")
    assert refused["code"] == "user_offline"


async def test_unknown_and_malformed_frames_get_error_frames(
    chat: Chat, names: Callable[[str], str]
) -> None:
    alice = await chat.connect(names("alice"))
    assert (await alice.refused("dance"))["code"] == "unknown_action"
    await alice.ws.send("not json")
    error = await alice.expect("error")
    assert error["code"] == "bad_request"
    # The connection survives both.
    await alice.send("ping")
    await alice.expect("pong")


def forge(claims: dict[str, object], secret: str, alg: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=alg)


async def test_bad_tokens_are_refused_with_401(chat: Chat) -> None:
    secret = chat_secret(chat.stack)
    now = int(time.time())
    header = {"alg": "none", "typ": "JWT"}
    unsigned = (
        jwt.utils.base64url_encode(json.dumps(header).encode()).decode()
        + "."
        + jwt.utils.base64url_encode(json.dumps({"sub": "eve", "exp": now + 60}).encode()).decode()
        + "."
    )
    bad = {
        "missing": "",
        "garbage": "?token=not-a-jwt",
        "wrong secret": "?token=" + forge({"sub": "eve", "exp": now + 60}, "x" * 32),
        "expired": "?token=" + forge({"sub": "eve", "exp": now - 60}, secret),
        "no exp": "?token=" + forge({"sub": "eve"}, secret),
        "alg none": f"?token={unsigned}",
    }
    for why, query in bad.items():
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"{chat.stack.ws_url}{query}", open_timeout=scaled(15))
        assert refused.value.response.status_code == 401, why


async def test_the_root_path_works_like_the_stage_path(
    chat: Chat, names: Callable[[str], str]
) -> None:
    root = chat.stack.ws_url.rsplit("/", 1)[0] + "/"
    token = chat_token(chat.stack, names("alice"))
    async with connect(f"{root}?token={token}", open_timeout=scaled(15)) as ws:
        await ws.send(json.dumps({"action": "ping"}))
        assert json.loads(await ws.recv()) == {"type": "pong"}
