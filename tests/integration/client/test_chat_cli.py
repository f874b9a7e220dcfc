"""The terminal chat client, driven through a pseudo-terminal against a real local stack."""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Callable

import pytest

from client.tokens import mint_token
from infra.stack import LocalStack
from tests.integration.client.conftest import PYTHON, REPO, client_env
from tests.integration.client.peer import Peer
from tests.integration.client.proxy import CuttableProxy
from tests.integration.client.run import run_client
from tests.integration.client.terminal import Terminal
from tests.tokens import chat_secret

_rooms = itertools.count()
CLOCK = r"\[\d\d:\d\d:\d\d\]"


@pytest.fixture
def room() -> str:
    return f"cli{next(_rooms)}"


@pytest.fixture
async def terminals() -> AsyncIterator[Callable[..., Terminal]]:
    opened: list[Terminal] = []

    def start(*argv: str, env: dict[str, str]) -> Terminal:
        t = Terminal([PYTHON, "-m", "client.chat", *argv], env=env, cwd=str(REPO))
        opened.append(t)
        return t

    yield start
    for t in opened:
        t.close()


async def test_two_people_chat_with_presence_members_and_direct_messages(
    stack: LocalStack, room: str, terminals: Callable[..., Terminal]
) -> None:
    alice = terminals(
        "--url", stack.ws_url, "--name", "Alice", "--room", room, env=client_env(stack)
    )
    await alice.expect(rf"\* you joined #{room}; 1 here: Alice \(alice\)")

    bob = await Peer.open(stack, "bob", "Bob")
    await bob.join(room)
    await alice.expect(rf"{CLOCK} \* Bob \(bob\) joined #{room}")

    await bob.say(room, "hello alice")
    await alice.expect(rf"{CLOCK} #{room} <Bob \(bob\)> hello alice")

    alice.type("hi bob, <b>not bold</b>")
    got = await bob.until(lambda f: f.get("type") == "message" and f["from"]["id"] == "alice")
    assert got["text"] == "hi bob, <b>not bold</b>"
    await alice.expect(rf"#{room} <Alice \(alice\)> hi bob, <b>not bold</b>")

    alice.type("/members")
    await alice.expect(
        rf"\* #{room}: 2 here: (Alice \(alice\), Bob \(bob\)|Bob \(bob\), Alice \(alice\))"
    )

    alice.type("/dm bob psst")
    dm = await bob.until(lambda f: f.get("type") == "direct")
    assert (dm["from"]["id"], dm["to"], dm["text"]) == ("alice", "bob", "psst")
    await alice.expect(r"\(dm\) you -> bob: psst")

    await bob.send({"action": "direct", "to": "alice", "text": "yes?"})
    await alice.expect(r"\(dm\) Bob \(bob\) -> you: yes\?")

    await bob.close()
    await alice.expect(rf"\* Bob \(bob\) left #{room}")

    alice.type("/whoami")
    await alice.expect(rf"\* you are Alice \(alice\), connection [A-Za-z0-9_=-]+, in #{room}")
    alice.type("/quit")
    assert await alice.exit_status() == 0
    assert "reconnecting" not in alice.output  # quitting is not a dropped connection


async def test_history_pages_back_through_older_messages(
    stack: LocalStack, room: str, terminals: Callable[..., Terminal]
) -> None:
    bob = await Peer.open(stack, "bob", "Bob")
    await bob.join(room)
    for n in range(25):
        await bob.say(room, f"old{n:02d}")

    alice = terminals(
        "--url", stack.ws_url, "--name", "Alice", "--room", room, env=client_env(stack)
    )
    await alice.expect(rf"\* you joined #{room}")
    # Joining shows the 20 most recent; /history fetches the 5 before them, oldest first.
    await alice.expect(r"old24$")
    assert "old04" not in alice.output and "old05" in alice.output
    alice.type("/history 10")
    page = await alice.expect(
        rf"--- older messages in #{room} ---\n((?:.*\n)*?)--- start of #{room} ---"
    )
    assert re.findall(r"old\d\d", page.group(1)) == [f"old{n:02d}" for n in range(5)]
    await bob.close()


async def test_the_prompt_names_the_room_and_keeps_what_you_type_intact(
    stack: LocalStack, room: str, terminals: Callable[..., Terminal]
) -> None:
    alice = terminals(
        "--url", stack.ws_url, "--name", "Alice", "--room", room, env=client_env(stack)
    )
    await alice.expect(rf"\* you joined #{room}")
    await alice.expect_line(rf"^#{room}>$")
    bob = await Peer.open(stack, "bob", "Bob")
    await bob.join(room)

    alice.keys("hello wrld")
    await alice.expect_line(rf"^#{room}> hello wrld$")
    # A message arrives mid-typing: it is printed above, the line being typed stays whole.
    await bob.say(room, "interrupting you")
    await alice.expect(rf"#{room} <Bob \(bob\)> interrupting you")
    await alice.expect_line(rf"^#{room}> hello wrld$")
    # Arrows move in the line (they are not sent as escape codes).
    alice.keys("left", "left", "left", "o")
    await alice.expect_line(rf"^#{room}> hello world$")
    alice.keys("\r")
    got = await bob.until(lambda f: f.get("type") == "message" and f["from"]["id"] == "alice")
    assert got["text"] == "hello world"
    await alice.expect(rf"#{room} <Alice \(alice\)> hello world")

    # Up brings back the previous line; Tab completes commands and rooms.
    alice.keys("up")
    await alice.expect_line(rf"^#{room}> hello world$")
    alice.keys("\x15")  # Ctrl-U clears it
    alice.keys("/jo", "tab")
    await alice.expect_line(rf"^#{room}> /join$")
    alice.keys("bad room!\r")
    await alice.expect(r"! not a room name: 'bad room!'")
    alice.keys("/leave nosuchroom\r")
    await alice.expect(r"! you are not in #nosuchroom")
    alice.keys(f"/leave {room[:3]}", "tab")
    await alice.expect_line(rf"^#{room}> /leave {room}$")
    alice.keys("\r")
    await alice.expect(rf"\* you left #{room}")
    await alice.expect_line(r"^>$")  # in no room now
    await bob.close()


async def test_after_a_reconnect_every_missed_message_shows_once_in_order(
    stack: LocalStack, room: str, terminals: Callable[..., Terminal]
) -> None:
    proxy = CuttableProxy(stack.host, stack.port)
    port = await proxy.start()
    url = f"ws://127.0.0.1:{port}/{stack.stage}"
    alice = terminals(
        "--url",
        url,
        "--name",
        "Alice",
        "--room",
        room,
        "--max-backoff",
        "0.5",
        env=client_env(stack),
    )
    # A quiet room: nothing shown yet, so there is no message to page back to.
    await alice.expect(rf"\* you joined #{room}; 1 here")
    bob = await Peer.open(stack, "bob", "Bob")
    await bob.join(room)

    proxy.cut(refuse=True)
    await alice.expect(r"! disconnected \(close code 1006\); reconnecting in")
    await alice.expect_line(rf"^\(offline\) #{room}>$")
    # More than the 20 messages `joined` carries.
    missed = [f"missed{n:02d}" for n in range(30)]
    for text in missed:
        await bob.say(room, text)
    alice.type("typed while offline")
    await alice.expect(r"! cannot connect")
    proxy.refusing = False
    await alice.expect(r"\* reconnected")
    # Sent while the client is joining again and catching up.
    await bob.say(room, "during the reconnect")

    # The service's echo of the line typed offline: it was sent once the room was joined.
    await alice.expect(rf"#{room} <Alice \(alice\)> typed while offline", anywhere=True)
    await alice.expect(rf"#{room} <Bob \(bob\)> during the reconnect", anywhere=True)
    shown = re.findall(r"<Bob \(bob\)> (.+)$", alice.transcript, re.M)
    assert shown == [*missed, "during the reconnect"]
    assert alice.transcript.count("typed while offline") == 1
    # Live traffic flows again.
    await bob.say(room, "welcome back")
    await alice.expect("welcome back")
    await bob.close()
    await proxy.close()


async def test_a_refused_token_ends_the_session_with_a_message(
    stack: LocalStack, terminals: Callable[..., Terminal]
) -> None:
    env = {**client_env(stack), "CHAT_JWT_SECRET": "not-the-stack-secret-0123456789abcdef"}
    alice = terminals("--url", stack.ws_url, "--name", "Alice", env=env)
    await alice.expect(r"! the service refused the token \(HTTP 401\); giving up")
    assert await alice.exit_status() == 1


async def test_an_expired_token_is_refused_before_connecting(stack: LocalStack) -> None:
    token = mint_token("alice", secret=chat_secret(stack), ttl_s=-60)
    done = await run_client(stack, "client.chat", "--url", stack.ws_url, "--token", token)
    assert done.status == 2
    assert "--token expired at" in done.err
