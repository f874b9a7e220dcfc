"""send / history / direct / dedup, through the handlers."""

from __future__ import annotations

import json

from handlers.chat.ids import is_id
from tests.functional.conftest import Gateway, room_of


def test_send_acks_the_sender_and_delivers_to_every_other_connection(gw: Gateway) -> None:
    a1, a2, b = room_of(gw, "alice", "alice", "bob")
    reply = gw.send(a1, action="send", room="lobby", text="hello", clientMsgId="c-1")
    assert reply["type"] == "message"
    assert reply["room"] == "lobby" and reply["text"] == "hello"
    assert reply["from"] == {"id": "alice", "name": "alice"}
    assert reply["clientMsgId"] == "c-1"
    assert is_id(reply["id"]) and isinstance(reply["ts"], int)
    assert "data" not in reply
    assert gw.take(a2) == [reply]  # the sender's other connection
    assert gw.take(b) == [reply]
    assert gw.take(a1) == []  # the ack came as the route response, not twice


def test_send_data_and_text_together(gw: Gateway) -> None:
    a, b = room_of(gw, "alice", "bob")
    reply = gw.send(a, action="send", room="lobby", text="cpu", data={"cpu": 0.41, "n": [1, 2]})
    assert reply["data"] == {"cpu": 0.41, "n": [1, 2]} and reply["text"] == "cpu"
    assert gw.take(b) == [reply]


def test_send_data_null_is_a_value(gw: Gateway) -> None:
    (a,) = room_of(gw, "alice")
    reply = gw.send(a, action="send", room="lobby", data=None)
    assert reply["type"] == "message" and reply["data"] is None


def test_repeated_client_msg_id_is_not_delivered_twice(gw: Gateway) -> None:
    a, b = room_of(gw, "alice", "bob")
    first = gw.send(a, action="send", room="lobby", text="once", clientMsgId="retry-7")
    again = gw.send(a, action="send", room="lobby", text="once", clientMsgId="retry-7")
    assert again == first
    assert gw.take(b) == [first]
    history = gw.send(a, action="history", room="lobby")["messages"]
    assert [m["id"] for m in history] == [first["id"]]


def test_client_msg_id_is_per_user(gw: Gateway) -> None:
    a, b = room_of(gw, "alice", "bob")
    one = gw.send(a, action="send", room="lobby", text="x", clientMsgId="same")
    two = gw.send(b, action="send", room="lobby", text="y", clientMsgId="same")
    assert one["id"] != two["id"]


def test_history_pages_back_oldest_first(gw: Gateway) -> None:
    (a,) = room_of(gw, "alice")
    sent = [gw.send(a, action="send", room="lobby", text=f"m{i}")["id"] for i in range(120)]
    page1 = gw.send(a, action="history", room="lobby")
    assert [m["id"] for m in page1["messages"]] == sent[-50:]
    assert page1["nextBefore"] == sent[-50]
    page2 = gw.send(a, action="history", room="lobby", before=page1["nextBefore"])
    assert [m["id"] for m in page2["messages"]] == sent[-100:-50]
    page3 = gw.send(a, action="history", room="lobby", before=page2["nextBefore"], limit=100)
    assert [m["id"] for m in page3["messages"]] == sent[:20]
    assert page3["nextBefore"] is None


def test_history_limit_edges(gw: Gateway) -> None:
    (a,) = room_of(gw, "alice")
    for i in range(101):
        gw.send(a, action="send", room="lobby", text=str(i))
    assert len(gw.send(a, action="history", room="lobby", limit=1)["messages"]) == 1
    assert len(gw.send(a, action="history", room="lobby", limit=100)["messages"]) == 100
    for bad in (0, 101, "5", True, 2.5):
        reply = gw.send(a, action="history", room="lobby", limit=bad)
        assert (reply["type"], reply["code"]) == ("error", "bad_request"), bad
    reply = gw.send(a, action="history", room="lobby", before="not-an-id")
    assert reply["code"] == "bad_request"


def test_joined_carries_the_twenty_most_recent(gw: Gateway) -> None:
    (a,) = room_of(gw, "alice")
    sent = [gw.send(a, action="send", room="lobby", text=f"m{i}")["id"] for i in range(25)]
    b = gw.connect("bob")
    joined = gw.send(b, action="join", room="lobby")
    assert [m["id"] for m in joined["history"]] == sent[-20:]
    assert all(m["type"] == "message" and m["room"] == "lobby" for m in joined["history"])


def test_direct_reaches_every_connection_of_both_users(gw: Gateway) -> None:
    a1, a2 = gw.connect("alice"), gw.connect("alice")
    b1, b2 = gw.connect("bob"), gw.connect("bob")
    reply = gw.send(a1, action="direct", to="bob", text="psst", clientMsgId="d1")
    assert reply["type"] == "direct"
    assert (reply["to"], reply["from"]["id"], reply["text"]) == ("bob", "alice", "psst")
    assert "room" not in reply
    for c in (a2, b1, b2):
        assert gw.take(c) == [reply]
    assert gw.take(a1) == []


def test_direct_to_nobody_is_user_offline(gw: Gateway) -> None:
    a = gw.connect("alice")
    reply = gw.send(a, action="direct", to="ghost", text="hello?")
    assert (reply["type"], reply["code"], reply["action"]) == ("error", "user_offline", "direct")


def test_direct_to_a_user_whose_only_connection_is_stale(gw: Gateway) -> None:
    a, b = gw.connect("alice"), gw.connect("bob")
    gw.stale.add(b)  # bob's socket died without a $disconnect
    reply = gw.send(a, action="direct", to="bob", text="there?")
    assert reply["code"] == "user_offline"
    gw.stale.clear()
    posts = gw.posts
    assert gw.send(a, action="direct", to="bob", text="again")["code"] == "user_offline"
    assert gw.posts == posts  # the stale connection was forgotten, not retried


def test_broadcast_with_a_stale_member(gw: Gateway) -> None:
    a, b, c, d = room_of(gw, "alice", "bob", "carol", "dave")
    gw.stale.add(c)
    reply = gw.send(a, action="send", room="lobby", text="anyone?")
    carol = {"id": "carol", "name": "carol"}
    left = {"type": "presence", "room": "lobby", "event": "leave", "user": carol}
    # One gone member stops nobody, and the room hears that carol has left.
    assert gw.take(b) == [reply, left] and gw.take(d) == [reply, left]
    members = gw.send(a, action="members", room="lobby")["members"]
    assert sorted(u["id"] for u in members) == ["alice", "bob", "dave"]
    posts = gw.posts
    gw.send(a, action="send", room="lobby", text="again")
    assert gw.posts == posts + 2  # carol's connection is not posted to again


def test_sender_is_never_removed_as_gone(gw: Gateway) -> None:
    a, b = room_of(gw, "alice", "bob")
    gw.stale.add(b)
    gw.send(a, action="send", room="lobby", text="x")
    assert gw.send(a, action="whoami")["rooms"] == ["lobby"]


def test_fan_out_stops_starting_posts_near_the_deadline(gw: Gateway) -> None:
    from handlers import message
    from tests.functional.conftest import Context

    a, b = room_of(gw, "alice", "bob")
    event = gw.message_event(
        a, json.dumps({"action": "send", "room": "lobby", "text": "x"}), "send"
    )
    response = message.handler(event, Context(remaining_ms=500))
    assert json.loads(response["body"])["type"] == "message"  # the sender still gets its ack
    assert gw.take(b) == []
