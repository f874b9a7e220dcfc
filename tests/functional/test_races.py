"""Racing frames and retries (issue 13 items 3-6): dedup scoped to its target, a retried
clientMsgId delivered when the first attempt's fan-out did not finish, no ghost members
after $disconnect, presence once per user, and at most 100 rooms per connection."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from handlers.chat.service import ChatService
from handlers.chat.settings import Settings
from handlers.chat.store import Store
from tests.functional.conftest import Context, Gateway, room_of


def presence(frames: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(f["room"], f["event"], f["user"]["id"]) for f in frames if f["type"] == "presence"]


def items(pk: str) -> list[dict[str, Any]]:
    """Every item of partition `pk` in the connections table, expired or not."""
    settings = Settings.from_env()
    resp = boto3.client("dynamodb").query(
        TableName=settings.connections_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
    )
    found: list[dict[str, Any]] = resp["Items"]
    return found


def once(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, before: Callable[[], Any]) -> None:
    """Patch `owner.name` so that its first call runs `before()` first (a racing frame)."""
    original = getattr(owner, name)
    armed = [True]

    def racing(*args: Any, **kwargs: Any) -> Any:
        if armed[0]:
            armed[0] = False
            before()
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, racing)


# -- item 3: dedup is per user and target ----------------------------------------------


def test_a_client_msg_id_reused_in_another_room_is_a_new_message(gw: Gateway) -> None:
    a, b = room_of(gw, "alice", "bob", room="one")
    c = gw.connect("carol")
    gw.send(a, action="join", room="two")
    gw.send(c, action="join", room="two")
    gw.take(a), gw.take(c)
    first = gw.send(a, action="send", room="one", text="to one", clientMsgId="k1")
    again = gw.send(a, action="send", room="two", text="to two", clientMsgId="k1")
    assert (again["type"], again["room"], again["text"]) == ("message", "two", "to two")
    assert again["id"] != first["id"]
    assert gw.take(c) == [again]  # delivered, not swallowed as a repeat
    assert gw.take(b) == [first]
    assert [m["id"] for m in gw.send(a, action="history", room="two")["messages"]] == [again["id"]]
    # Still one message per target: the repeat in room two is the same message.
    assert gw.send(a, action="send", room="two", text="to two", clientMsgId="k1") == again


def test_a_send_is_never_acked_with_an_earlier_direct_frame(gw: Gateway) -> None:
    (a,) = room_of(gw, "alice")
    b = gw.connect("bob")
    direct = gw.send(a, action="direct", to="bob", text="psst", clientMsgId="k2")
    assert direct["type"] == "direct"
    sent = gw.send(a, action="send", room="lobby", text="hello all", clientMsgId="k2")
    assert (sent["type"], sent["room"], sent["text"]) == ("message", "lobby", "hello all")
    # And to two recipients, the same id is two messages; to one, the same one again.
    gw.connect("carol")
    other = gw.send(a, action="direct", to="carol", text="hi", clientMsgId="k2")
    assert other["id"] != direct["id"] and other["to"] == "carol"
    assert gw.send(a, action="direct", to="bob", text="psst", clientMsgId="k2") == direct
    assert gw.take(b) == [direct]


def test_recipient_ids_cannot_collide_in_the_dedup_key(gw: Gateway) -> None:
    """User ids may hold '#': `to`="a#b" + "c" and `to`="a" + "b#c" are different claims."""
    a = gw.connect("alice")
    gw.connect("x#y")
    gw.connect("x")
    one = gw.send(a, action="direct", to="x#y", text="1", clientMsgId="z")
    two = gw.send(a, action="direct", to="x", text="2", clientMsgId="y#z")
    assert one["id"] != two["id"] and (one["to"], two["to"]) == ("x#y", "x")


# -- item 4: a retry of an undelivered message delivers it -------------------------------


def test_a_retry_after_the_invocation_died_mid_fan_out_reaches_every_member(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, c = room_of(gw, "alice", "bob", "carol")
    deliver = ChatService._deliver_here

    def dies_after_the_first_post(self: ChatService, out: Any, recipients: Any, *rest: Any) -> None:
        deliver(self, out, list(recipients)[:1], *rest)
        raise RuntimeError("the sandbox died")  # mid fan-out: one member got it

    monkeypatch.setattr(ChatService, "_deliver_here", dies_after_the_first_post)
    crashed = gw.send(a, action="send", room="lobby", text="hello", clientMsgId="r1")
    assert crashed["code"] == "internal"
    monkeypatch.setattr(ChatService, "_deliver_here", deliver)
    got = {conn: gw.take(conn) for conn in (b, c)}
    assert sorted(len(frames) for frames in got.values()) == [0, 1]

    retry = gw.send(a, action="send", room="lobby", text="hello", clientMsgId="r1")
    assert retry["type"] == "message" and retry["clientMsgId"] == "r1"
    for conn in (b, c):
        assert gw.take(conn) == [retry]  # everybody gets it now (same id: clients dedup)
    stored = gw.send(a, action="history", room="lobby")["messages"]
    assert [m["id"] for m in stored] == [retry["id"]]  # stored once
    # Delivered now: a third attempt only acks.
    assert gw.send(a, action="send", room="lobby", text="hello", clientMsgId="r1") == retry
    assert gw.take(b) == [] and gw.take(c) == []


def test_a_retry_after_the_fan_out_ran_out_of_time_delivers_it(gw: Gateway) -> None:
    from handlers import message

    a, b = room_of(gw, "alice", "bob")
    frame = json.dumps({"action": "send", "room": "lobby", "text": "late", "clientMsgId": "r2"})
    response = message.handler(gw.message_event(a, frame, "send"), Context(remaining_ms=500))
    ack = json.loads(response["body"])
    assert ack["type"] == "message" and gw.take(b) == []  # stored, never posted
    assert gw.send(a, action="send", room="lobby", text="late", clientMsgId="r2") == ack
    assert gw.take(b) == [ack]


def test_a_retried_direct_message_is_delivered_too(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = gw.connect("alice"), gw.connect("bob")

    def dies(self: ChatService, *args: Any) -> None:
        raise RuntimeError("the sandbox died")

    with monkeypatch.context() as patch:
        patch.setattr(ChatService, "_deliver_here", dies)
        assert gw.send(a, action="direct", to="bob", text="hi", clientMsgId="r3")["code"] == (
            "internal"
        )
    retry = gw.send(a, action="direct", to="bob", text="hi", clientMsgId="r3")
    assert retry["type"] == "direct" and gw.take(b) == [retry]


# -- item 5: no ghosts -------------------------------------------------------------------


def test_frames_handled_after_disconnect_do_not_bring_the_connection_back(gw: Gateway) -> None:
    a, b = room_of(gw, "alice", "bob")
    gw.send(b, action="join", room="other")
    gw.take(b)
    gw.disconnect(a)
    assert presence(gw.take(b)) == [("lobby", "leave", "alice")]
    # The frames alice sent just before her socket closed, handled now.
    for frame in (
        {"action": "join", "room": "other"},
        {"action": "send", "room": "lobby", "text": "bye"},
        {"action": "whoami"},
        {"action": "ping"},
        {"action": "leave", "room": "lobby"},
        {"action": "nonsense"},
    ):
        assert gw.late(a, **frame) == {"statusCode": 200}, frame  # nobody left to answer
    assert items(f"C#{a}") == []  # no connection record recreated
    for room in ("lobby", "other"):
        assert [u["id"] for u in gw.send(b, action="members", room=room)["members"]] == ["bob"]
        assert all(i["sk"]["S"] != f"C#{a}" for i in items(f"R#{room}"))
    assert gw.take(b) == []  # no presence from the ghost, no message
    assert gw.send(b, action="history", room="lobby")["messages"] == []


def test_a_join_racing_disconnect_leaves_no_ghost_and_one_leave(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$disconnect runs between the join's read of the connection and its write."""
    a, b = room_of(gw, "alice", "bob")
    gw.send(b, action="join", room="other")
    gw.take(b)
    once(monkeypatch, Store, "add_membership", lambda: gw.disconnect(a))
    assert gw.late(a, action="join", room="other") == {"statusCode": 200}
    members = {
        r: [u["id"] for u in gw.send(b, action="members", room=r)["members"]]
        for r in ("lobby", "other")
    }
    assert members == {"lobby": ["bob"], "other": ["bob"]}
    assert presence(gw.take(b)) == [("lobby", "leave", "alice")]  # once, and no join
    assert items(f"C#{a}") == []
    assert [i["sk"]["S"] for i in items("RU#other")] == ["U#bob"]


def test_a_connection_found_gone_tells_the_rooms_it_was_the_users_last_in(gw: Gateway) -> None:
    a, b, c = room_of(gw, "alice", "bob", "carol")
    b2 = gw.connect("bob")
    gw.send(b2, action="join", room="lobby")
    gw.take(a), gw.take(c)
    gw.stale.add(b2)  # one of bob's two connections died without $disconnect
    gw.send(a, action="send", room="lobby", text="one")
    assert presence(gw.take(c)) == []  # bob is still here through his other connection
    gw.stale.add(b)
    gw.send(a, action="send", room="lobby", text="two")
    assert presence(gw.take(c)) == [("lobby", "leave", "bob")]
    assert [u["id"] for u in gw.send(a, action="members", room="lobby")["members"]] == [
        "alice",
        "carol",
    ]


def test_concurrent_joins_of_one_user_announce_join_once(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    (a,) = room_of(gw, "alice")
    b1, b2 = gw.connect("bob"), gw.connect("bob")
    once(monkeypatch, Store, "add_membership", lambda: gw.send(b2, action="join", room="lobby"))
    gw.send(b1, action="join", room="lobby")
    assert presence(gw.take(a)) == [("lobby", "join", "bob")]


def test_concurrent_leaves_of_one_user_announce_leave_once(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    (a,) = room_of(gw, "alice")
    b1, b2 = gw.connect("bob"), gw.connect("bob")
    for conn in (b1, b2):
        gw.send(conn, action="join", room="lobby")
    gw.take(a)
    original = Store.remove_membership
    armed = [True]

    def racing(self: Store, *args: Any) -> Any:
        result = original(self, *args)
        if armed[0]:  # b1's leave is written; b2's whole leave runs before b1 goes on
            armed[0] = False
            gw.send(b2, action="leave", room="lobby")
        return result

    monkeypatch.setattr(Store, "remove_membership", racing)
    gw.send(b1, action="leave", room="lobby")
    assert presence(gw.take(a)) == [("lobby", "leave", "bob")]


def test_concurrent_disconnects_of_one_user_announce_leave_once(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    (a,) = room_of(gw, "alice")
    b1, b2 = room_of(gw, "bob", "bob")
    gw.take(a)
    original = Store.remove_connection
    armed = [True]

    def racing(self: Store, conn_id: str) -> Any:
        result = original(self, conn_id)
        if armed[0]:
            armed[0] = False
            gw.disconnect(b2)
        return result

    monkeypatch.setattr(Store, "remove_connection", racing)
    gw.disconnect(b1)
    assert presence(gw.take(a)) == [("lobby", "leave", "bob")]


# -- item 6: 100 rooms per connection ---------------------------------------------------


def test_the_101st_join_is_too_many_rooms(gw: Gateway) -> None:
    a = gw.connect("alice")
    for i in range(100):
        assert gw.send(a, action="join", room=f"r{i:03d}")["type"] == "joined", i
    refused = gw.send(a, action="join", room="r100")
    assert (refused["type"], refused["code"], refused["action"]) == (
        "error",
        "too_many_rooms",
        "join",
    )
    assert "100" in refused["message"]
    rooms = gw.send(a, action="whoami")["rooms"]
    assert len(rooms) == 100 and "r100" not in rooms  # the others are unaffected
    assert gw.send(a, action="join", room="r042")["type"] == "joined"  # already in it
    gw.send(a, action="leave", room="r042")
    assert gw.send(a, action="join", room="r100")["type"] == "joined"
    assert gw.send(gw.connect("alice"), action="join", room="r200")["type"] == "joined"


def test_two_joins_racing_for_the_last_room_slot(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both find 99 rooms; the conditional write lets exactly one in."""
    a = gw.connect("alice")
    for i in range(99):
        gw.send(a, action="join", room=f"r{i:03d}")
    racer: list[dict[str, Any]] = []
    once(
        monkeypatch,
        Store,
        "add_membership",
        lambda: racer.append(gw.send(a, action="join", room="first")),
    )
    second = gw.send(a, action="join", room="second")
    assert racer[0]["type"] == "joined"
    assert second["code"] == "too_many_rooms"
    assert len(gw.send(a, action="whoami")["rooms"]) == 100
    assert items("RU#second") == [] and items("R#second") == []
