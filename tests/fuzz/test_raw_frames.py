"""Raw frames through the local gateway over real loopback sockets, into the real service.

What API Gateway documents (gateway-spec items 15, 16): binary → close 1003; a frame over
32 KB or a message over 128 KB → 1009; fragments within both limits are one message.
Invalid UTF-8 in a text frame is not in AWS's documentation; RFC 6455 (8.1) says the
endpoint must fail the connection, with 1007 (7.4.1), and that is what the gateway does
and what these tests hold it to. Text that is not JSON reaches $default and is answered
with `bad_request`. After every fatal frame, $disconnect cleans up: the user's rooms and
the room's members no longer hold the dead connection, and a fresh connection works.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from hypothesis import example, given
from hypothesis import strategies as st

from infra.stack import LocalStack
from tests.fuzz.profiles import fuzz
from tests.wire import ANSWERS, ERROR_CODES, Peer, logs_of, open_peer, unique

KB = 1024


async def room_with_observer(stack: LocalStack) -> tuple[str, Peer, Peer]:
    """A fresh room holding an observer and a victim (both joined, presence drained)."""
    room = unique("raw")
    observer = await open_peer(stack, unique("observer"))
    victim = await open_peer(stack, unique("victim"))
    assert (await observer.call("join", room=room))["type"] == "joined"
    assert (await victim.call("join", room=room))["type"] == "joined"
    await observer.expect("presence", room=room, event="join")
    return room, observer, victim


async def assert_cleaned_up(stack: LocalStack, room: str, observer: Peer, victim: Peer) -> None:
    """The victim's socket is gone: $disconnect told the room, and nothing of it remains."""
    leave = await observer.expect("presence", room=room, event="leave")
    assert leave["user"]["id"] == victim.user
    members = await observer.call("members", room=room)
    assert [m["id"] for m in members["members"]] == [observer.user]
    fresh = await open_peer(stack, victim.user)
    assert (await fresh.call("whoami"))["rooms"] == []
    assert (await fresh.call("ping"))["type"] == "pong"
    await fresh.close()
    await observer.close()


async def fatal(stack: LocalStack, send: Callable[[Peer], Awaitable[None]], code: int) -> None:
    room, observer, victim = await room_with_observer(stack)
    await send(victim)
    assert await victim.closed() == code
    await assert_cleaned_up(stack, room, observer, victim)


def fragments(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


async def test_binary_frame_closes_1003(stack: LocalStack) -> None:
    async def binary(peer: Peer) -> None:
        await peer.ws.send(json.dumps({"action": "ping"}).encode())  # bytes: a binary frame

    await fatal(stack, binary, 1003)


async def test_frame_over_32_kb_closes_1009(stack: LocalStack) -> None:
    async def big_frame(peer: Peer) -> None:
        await peer.send("ping", pad="x" * (32 * KB))

    await fatal(stack, big_frame, 1009)


async def test_message_over_128_kb_in_small_fragments_closes_1009(stack: LocalStack) -> None:
    async def big_message(peer: Peer) -> None:
        body = json.dumps({"action": "ping", "pad": "x" * (128 * KB)})
        await peer.ws.send(fragments(body, 30 * KB))

    await fatal(stack, big_message, 1009)


async def test_invalid_utf8_in_a_text_frame_closes_1007(stack: LocalStack) -> None:
    async def bad_utf8(peer: Peer) -> None:
        await peer.ws.send(b'{"action":"ping","x":"\xc3\x28"}', text=True)

    await fatal(stack, bad_utf8, 1007)


async def test_invalid_utf8_across_fragments_closes_1007(stack: LocalStack) -> None:
    async def bad_utf8(peer: Peer) -> None:
        await peer.ws.send([b'{"action":"ping","x":"\xe2\x82', b'"}'], text=True)  # cut short

    await fatal(stack, bad_utf8, 1007)


async def test_fragments_within_the_limits_are_routed_as_one_message(stack: LocalStack) -> None:
    room, observer, sender = await room_with_observer(stack)
    # 100 KB in 30 KB fragments, with a 2-byte character split across two of them.
    body = json.dumps(
        {"action": "send", "room": room, "text": "caf\u00e9", "pad": "x" * (100 * KB)},
        ensure_ascii=False,
    ).encode()
    cut = body.index("\u00e9".encode()) + 1
    chunks = [body[:cut], *(body[i : i + 30 * KB] for i in range(cut, len(body), 30 * KB))]
    await sender.ws.send(chunks, text=True)
    ack = await sender.expect("message", room=room)
    assert ack["text"] == "caf\u00e9" and "pad" not in ack
    assert await observer.expect("message", room=room) == ack
    await sender.close()
    await observer.close()


async def test_text_that_is_not_json_gets_bad_request_and_the_connection_stays(
    stack: LocalStack,
) -> None:
    peer = await open_peer(stack, unique("plain"))
    for text in ("hello", "", "{", "[]", '"action"', "{'action': 'ping'}"):
        await peer.ws.send(text)
        error = await peer.expect("error")
        assert error["code"] == "bad_request", text
    assert (await peer.call("ping"))["type"] == "pong"
    await peer.close()


@fuzz(25)
@given(payload=st.binary(max_size=40) | st.text(max_size=40).map(str.encode))
@example(payload=b'{"action":"\\udc00"}')  # lone surrogate escape: valid UTF-8, bad JSON text
@example(payload=b'{"action":"direct","to":"\\ud83d","text":"x"}')
@example(payload=b'{"action":"send","room":"r","data":NaN}')
@example(payload=b"\xed\xa0\x80")  # a surrogate encoded in UTF-8: not valid UTF-8
async def test_any_bytes_in_a_text_frame(stack: LocalStack, payload: bytes) -> None:
    peer = await open_peer(stack, unique("bytes"))
    await peer.ws.send(payload, text=True)
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        assert await peer.closed() == 1007
        return
    frame = json.loads(text) if _is_json(text) else None
    action = frame.get("action") if isinstance(frame, dict) else None
    want = ANSWERS.get(action) if isinstance(action, str) else None
    reply = await peer.wait_for(lambda f: f.get("type") in ("error", want))
    if reply["type"] == "error":
        assert reply["code"] in ERROR_CODES, reply
    assert (await peer.call("ping"))["type"] == "pong"  # still connected
    await peer.close()
    assert logs_of(stack).failures() == []


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


# Hand-made frames (client frames are masked: the zero mask keeps the payload readable).
PROTOCOL_VIOLATIONS = {
    "reserved opcode": (b"\x83\x80\x00\x00\x00\x00", 1002),
    "unmasked frame": (b"\x81\x02hi", 1002),
    "reserved bit set": (b"\xc1\x80\x00\x00\x00\x00", 1002),
    "fragmented ping": (b"\x09\x80\x00\x00\x00\x00", 1002),
    "ping over 125 bytes": (b"\x89\xfe\x00\x7e\x00\x00\x00\x00" + b"x" * 126, 1002),
    "continuation with nothing to continue": (b"\x80\x80\x00\x00\x00\x00", 1002),
    "text frame inside a fragmented message": (b"\x01\x80\x00\x00\x00\x00" * 2, 1002),
    "close with an invalid code": (b"\x88\x82\x00\x00\x00\x00\x03\xe7", 1002),
    "close with a one-byte body": (b"\x88\x81\x00\x00\x00\x00\x03", 1002),
    "length field of 2**63-1": (b"\x81\xff\x7f" + b"\xff" * 7 + b"\x00" * 4, 1009),
}


async def test_protocol_violations_close_the_connection_and_leave_nothing_behind(
    stack: LocalStack,
) -> None:
    # RFC 6455: an endpoint that receives a malformed frame fails the connection (1002).
    room = unique("violations")
    observer = await open_peer(stack, unique("observer"))
    await observer.call("join", room=room)
    for why, (raw, code) in PROTOCOL_VIOLATIONS.items():
        victim = await open_peer(stack, unique("victim"))
        assert (await victim.call("join", room=room))["type"] == "joined"
        await observer.expect("presence", room=room, event="join", user=victim.user_json())
        victim.ws.transport.write(raw)
        assert await victim.closed() == code, why
        await observer.expect("presence", room=room, event="leave", user=victim.user_json())
    members = await observer.call("members", room=room)
    assert [m["id"] for m in members["members"]] == [observer.user]
    await observer.close()
