"""Rooms over the wire: join, send, presence, history, members (protocol.md)."""

from __future__ import annotations

from collections.abc import Callable

from tests.integration.chat.conftest import Chat


async def test_join_answers_with_members_and_empty_history(
    chat: Chat, room: str, names: Callable[[str], str]
) -> None:
    alice = await chat.connect(names("alice"), "Alice")
    joined = await alice.call("join", room=room)
    assert joined == {
        "type": "joined",
        "room": room,
        "members": [{"id": alice.user, "name": "Alice"}],
        "memberCount": 1,
        "history": [],
    }


async def test_send_acks_the_sender_and_reaches_the_other_members(
    chat: Chat, room: str, names: Callable[[str], str]
) -> None:
    alice = await chat.connect(names("alice"), "Alice")
    bob = await chat.connect(names("bob"))
    await alice.call("join", room=room)
    await bob.call("join", room=room)
    await alice.send("send", room=room, text="hello bob", clientMsgId="c-1")
    ack = await alice.expect("message", room=room)
    got = await bob.expect("message", room=room)
    assert ack == got
    assert ack["text"] == "hello bob"
    assert ack["from"] == {"id": alice.user, "name": "Alice"}
    assert ack["clientMsgId"] == "c-1"
    assert isinstance(ack["id"], str) and isinstance(ack["ts"], int)


async def test_a_repeated_client_msg_id_is_delivered_once(
    chat: Chat, room: str, names: Callable[[str], str]
) -> None:
    alice = await chat.connect(names("alice"))
    bob = await chat.connect(names("bob"))
    await alice.call("join", room=room)
    await bob.call("join", room=room)
    await alice.send("send", room=room, text="once", clientMsgId="dup")
    first = await alice.expect("message", text="once")
    await alice.send("send", room=room, text="once", clientMsgId="dup")
    again = await alice.expect("message", text="once")
    assert again["id"] == first["id"]
    await alice.send("send", room=room, text="next")
    await bob.expect("message", text="once")
    await bob.expect("message", text="next")
    assert bob.pending("message") == []
    history = await bob.call("history", room=room)
    assert [m["text"] for m in history["messages"]] == ["once", "next"]


async def test_data_payloads_travel_as_json(
    chat: Chat, room: str, names: Callable[[str], str]
) -> None:
    alice = await chat.connect(names("alice"))
    await alice.call("join", room=room)
    await alice.send("send", room=room, data={"x": [1, 2.5, None, "y"]})
    message = await alice.expect("message", room=room)
    assert message["data"] == {"x": [1, 2.5, None, "y"]}
    assert "text" not in message


async def test_presence_on_join_and_on_disconnect(
    chat: Chat, room: str, names: Callable[[str], str]
) -> None:
    alice = await chat.connect(names("alice"), "Alice")
    await alice.call("join", room=room)
    bob = await chat.connect(names("bob"), "Bob")
    await bob.call("join", room=room)
    joined = await alice.expect("presence", room=room, event="join")
    assert joined["user"] == {"id": bob.user, "name": "Bob"}
    await bob.close()
    left = await alice.expect("presence", room=room, event="leave")
    assert left["user"] == {"id": bob.user, "name": "Bob"}


async def test_leave_tells_the_others(chat: Chat, room: str, names: Callable[[str], str]) -> None:
    alice = await chat.connect(names("alice"))
    bob = await chat.connect(names("bob"))
    await alice.call("join", room=room)
    await bob.call("join", room=room)
    assert await bob.call("leave", room=room) == {"type": "left", "room": room}
    left = await alice.expect("presence", room=room, event="leave")
    assert left["user"]["id"] == bob.user
    refused = await bob.refused("send", room=room, text="still here?")
    assert refused["code"] == "not_member"


async def test_members_lists_each_user_once(
    chat: Chat, room: str, names: Callable[[str], str]
) -> None:
    alice_id = names("alice")
    alice_phone = await chat.connect(alice_id, "Alice")
    alice_laptop = await chat.connect(alice_id, "Alice")
    bob = await chat.connect(names("bob"), "Bob")
    for client in (alice_phone, alice_laptop, bob):
        await client.call("join", room=room)
    members = await bob.call("members", room=room)
    assert sorted(members["members"], key=lambda u: u["id"]) == sorted(
        [{"id": alice_id, "name": "Alice"}, {"id": bob.user, "name": "Bob"}],
        key=lambda u: u["id"],
    )


async def test_history_pages_backwards_oldest_first(
    chat: Chat, room: str, names: Callable[[str], str]
) -> None:
    alice = await chat.connect(names("alice"))
    await alice.call("join", room=room)
    for i in range(5):
        await alice.send("send", room=room, text=f"m{i}")
        await alice.expect("message", text=f"m{i}")
    page = await alice.call("history", room=room, limit=2)
    assert [m["text"] for m in page["messages"]] == ["m3", "m4"]
    page = await alice.call("history", room=room, limit=2, before=page["nextBefore"])
    assert [m["text"] for m in page["messages"]] == ["m1", "m2"]
    page = await alice.call("history", room=room, limit=2, before=page["nextBefore"])
    assert [m["text"] for m in page["messages"]] == ["m0"]
    assert page["nextBefore"] is None
    # A late joiner gets the recent history with `joined`.
    bob = await chat.connect(names("bob"))
    joined = await bob.call("join", room=room)
    assert [m["text"] for m in joined["history"]] == ["m0", "m1", "m2", "m3", "m4"]


async def test_room_rules_are_enforced(chat: Chat, room: str, names: Callable[[str], str]) -> None:
    alice = await chat.connect(names("alice"))
    assert (await alice.refused("send", room=room, text="x"))["code"] == "not_member"
    assert (await alice.refused("history", room=room))["code"] == "not_member"
    assert (await alice.refused("join", room="no spaces allowed"))["code"] == "invalid_room"
    await alice.call("join", room=room)
    assert (await alice.refused("send", room=room))["code"] == "bad_request"
    assert (await alice.refused("send", room=room, text="x" * 4001))["code"] in (
        "too_large",
        "bad_request",
    )


async def test_past_the_rate_limit_frames_get_errors_not_a_dropped_connection(
    chat: Chat, room: str, names: Callable[[str], str]
) -> None:
    alice = await chat.connect(names("alice"))
    await alice.call("join", room=room)
    # Over twice the per-window limit (50 per 10 s): at least one window overflows.
    total = 110
    for i in range(total):
        await alice.send("send", room=room, text=f"burst {i}")
    answers = []
    for _ in range(total):
        answers.append(
            await alice.expect_any(("message", {"room": room}), ("error", {"action": "send"}))
        )
    limited = [a for a in answers if a["type"] == "error"]
    assert limited and all(a["code"] == "rate_limited" for a in limited)
    assert all(a["retryAfterMs"] > 0 for a in limited)
    assert alice.ws.close_code is None  # still connected
