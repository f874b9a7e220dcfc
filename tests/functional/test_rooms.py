"""join / leave / members / presence / whoami / ping, through the handlers."""

from __future__ import annotations

from tests.functional.conftest import Gateway


def test_join_answers_members_and_recent_history(gw: Gateway) -> None:
    a = gw.connect("alice", "Alice")
    reply = gw.send(a, action="join", room="lobby")
    assert reply == {
        "type": "joined",
        "room": "lobby",
        "members": [{"id": "alice", "name": "Alice"}],
        "memberCount": 1,
        "history": [],
    }


def test_second_user_joining_is_announced_to_the_first(gw: Gateway) -> None:
    a, b = gw.connect("alice", "Alice"), gw.connect("bob")
    gw.send(a, action="join", room="lobby")
    reply = gw.send(b, action="join", room="lobby")
    assert sorted(u["id"] for u in reply["members"]) == ["alice", "bob"]
    assert {"id": "bob", "name": "bob"} in reply["members"]  # name defaults to sub
    assert gw.take(a) == [
        {"type": "presence", "room": "lobby", "event": "join", "user": {"id": "bob", "name": "bob"}}
    ]
    assert gw.take(b) == []  # nobody is told about themselves


def test_presence_only_for_first_connection_and_last_leave(gw: Gateway) -> None:
    a = gw.connect("alice")
    b1, b2 = gw.connect("bob"), gw.connect("bob")
    gw.send(a, action="join", room="lobby")
    gw.send(b1, action="join", room="lobby")
    gw.send(b2, action="join", room="lobby")
    assert [f["event"] for f in gw.take(a)] == ["join"]
    assert gw.send(b1, action="leave", room="lobby") == {"type": "left", "room": "lobby"}
    assert gw.take(a) == []  # bob is still there through b2
    gw.send(b2, action="leave", room="lobby")
    assert [(f["type"], f["event"]) for f in gw.take(a)] == [("presence", "leave")]


def test_members_lists_each_user_once(gw: Gateway) -> None:
    a1, a2, b = gw.connect("alice"), gw.connect("alice"), gw.connect("bob")
    for c in (a1, a2, b):
        gw.send(c, action="join", room="lobby")
    reply = gw.send(b, action="members", room="lobby")
    assert reply["type"] == "members" and reply["room"] == "lobby"
    assert sorted(u["id"] for u in reply["members"]) == ["alice", "bob"]


def test_members_history_and_send_need_membership(gw: Gateway) -> None:
    a = gw.connect("alice")
    for action, extra in (("members", {}), ("history", {}), ("send", {"text": "hi"})):
        reply = gw.send(a, action=action, room="lobby", **extra)
        assert reply["type"] == "error"
        assert reply["code"] == "not_member"
        assert reply["action"] == action


def test_join_is_idempotent(gw: Gateway) -> None:
    a, b = gw.connect("alice"), gw.connect("bob")
    gw.send(b, action="join", room="lobby")
    gw.send(a, action="join", room="lobby")
    gw.take(b)
    again = gw.send(a, action="join", room="lobby")
    assert again["type"] == "joined"
    assert gw.take(b) == []  # no second presence
    assert len(again["members"]) == 2


def test_leave_of_a_room_never_joined_still_answers_left(gw: Gateway) -> None:
    a = gw.connect("alice")
    assert gw.send(a, action="leave", room="elsewhere") == {"type": "left", "room": "elsewhere"}


def test_whoami_reports_connection_user_and_rooms(gw: Gateway) -> None:
    a = gw.connect("alice", "Alice")
    gw.send(a, action="join", room="b-room")
    gw.send(a, action="join", room="a-room")
    assert gw.send(a, action="whoami") == {
        "type": "whoami",
        "connectionId": a,
        "user": {"id": "alice", "name": "Alice"},
        "rooms": ["a-room", "b-room"],
    }


def test_ping_answers_pong(gw: Gateway) -> None:
    a = gw.connect("alice")
    assert gw.send(a, action="ping") == {"type": "pong"}


def test_disconnect_leaves_every_room_and_tells_the_others(gw: Gateway) -> None:
    a, b = gw.connect("alice"), gw.connect("bob")
    for room in ("r1", "r2"):
        gw.send(a, action="join", room=room)
        gw.send(b, action="join", room=room)
    gw.take(a)
    gw.disconnect(b)
    frames = gw.take(a)
    assert sorted((f["room"], f["event"], f["user"]["id"]) for f in frames) == [
        ("r1", "leave", "bob"),
        ("r2", "leave", "bob"),
    ]
    assert [u["id"] for u in gw.send(a, action="members", room="r1")["members"]] == ["alice"]


def test_disconnect_of_unknown_connection_is_harmless(gw: Gateway) -> None:
    a = gw.connect("alice")
    gw.disconnect(a)
    gw.disconnect(a)  # $disconnect may be delivered after cleanup already ran


def test_identity_in_the_body_is_ignored(gw: Gateway) -> None:
    a, b = gw.connect("alice", "Alice"), gw.connect("bob")
    gw.send(a, action="join", room="lobby")
    gw.send(b, action="join", room="lobby")
    reply = gw.send(a, action="send", room="lobby", text="hi", **{"from": {"id": "bob"}})
    assert reply["from"] == {"id": "alice", "name": "Alice"}
    assert gw.take(b)[0]["from"] == {"id": "alice", "name": "Alice"}
