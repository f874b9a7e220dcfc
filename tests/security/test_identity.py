"""Who a frame is from comes from the token alone, and rooms keep their members' secrets.

Spoofed `from` / `user` / `connectionId` / `sender` fields change nothing; send, history
and members are refused to non-members; `feed:` rooms are read-only over WebSocket.
"""

from __future__ import annotations

from infra.stack import LocalStack
from tests.tokens import chat_token
from tests.wire import Peer, bearer, open_peer, publish, unique


def spoof(victim: Peer, victim_conn: str) -> dict[str, object]:
    """Every field an attacker might hope the service reads as the sender."""
    return {
        "from": {"id": victim.user, "name": "Totally " + victim.user},
        "user": {"id": victim.user, "name": victim.user},
        "userId": victim.user,
        "sender": victim.user,
        "connectionId": victim_conn,
        "requestContext": {"connectionId": victim_conn, "authorizer": {"userId": victim.user}},
    }


async def pair(stack: LocalStack, room: str) -> tuple[Peer, Peer, str]:
    mallory = await open_peer(stack, unique("mallory"), "Mallory")
    alice = await open_peer(stack, unique("alice"), "Alice")
    for peer in (mallory, alice):
        assert (await peer.call("join", room=room))["type"] == "joined"
    alice_conn = (await alice.call("whoami"))["connectionId"]
    return mallory, alice, alice_conn


async def test_spoofed_sender_fields_in_send_change_nothing(stack: LocalStack) -> None:
    room = unique("spoof")
    mallory, alice, alice_conn = await pair(stack, room)
    ack = await mallory.call("send", room=room, text="I am Alice", **spoof(alice, alice_conn))
    assert ack["type"] == "message"
    assert ack["from"] == {"id": mallory.user, "name": "Mallory"}
    seen = await alice.wait_for(lambda f: f.get("type") == "message" and f["id"] == ack["id"])
    assert seen["from"] == {"id": mallory.user, "name": "Mallory"}
    history = await alice.call("history", room=room)
    assert [m["from"]["id"] for m in history["messages"]] == [mallory.user]


async def test_spoofed_sender_fields_in_direct_change_nothing(stack: LocalStack) -> None:
    room = unique("spoof")
    mallory, alice, alice_conn = await pair(stack, room)
    bob = await open_peer(stack, unique("bob"))
    sent = await mallory.call("direct", to=bob.user, text="from alice", **spoof(alice, alice_conn))
    assert sent["from"]["id"] == mallory.user
    got = await bob.expect("direct", id=sent["id"])
    assert got["from"] == {"id": mallory.user, "name": "Mallory"}
    # The copy for the sender's own connections went to Mallory's, not Alice's.
    await alice.send("ping")
    await alice.expect("pong")
    assert [f for f in alice.frames if f.get("type") == "direct"] == []


async def test_whoami_and_leave_act_on_the_callers_own_connection(stack: LocalStack) -> None:
    room = unique("spoof")
    mallory, alice, alice_conn = await pair(stack, room)
    me = await mallory.call("whoami", **spoof(alice, alice_conn))
    assert me["user"]["id"] == mallory.user and me["connectionId"] != alice_conn
    await mallory.call("leave", room=room, **spoof(alice, alice_conn))
    assert (await alice.call("whoami"))["rooms"] == [room]
    members = await alice.call("members", room=room)
    assert [m["id"] for m in members["members"]] == [alice.user]


async def test_non_members_can_neither_write_nor_read_a_room(stack: LocalStack) -> None:
    room = unique("private")
    alice = await open_peer(stack, unique("alice"))
    await alice.call("join", room=room)
    await alice.call("send", room=room, text="secret plans")
    eve = await open_peer(stack, unique("eve"))
    for action, fields in (
        ("send", {"text": "let me in"}),
        ("history", {}),
        ("members", {}),
    ):
        refused = await eve.refused(action, room=room, **fields)
        assert (refused["type"], refused["code"]) == ("error", "not_member"), action
        assert "secret plans" not in str(refused)
    # Nothing of Eve's reached the room.
    history = await alice.call("history", room=room)
    assert [m["text"] for m in history["messages"]] == ["secret plans"]
    assert [m["id"] for m in (await alice.call("members", room=room))["members"]] == [alice.user]


async def test_feed_rooms_are_read_only_over_websocket_but_take_publishes(
    stack: LocalStack,
) -> None:
    feed = unique("feed:alerts")
    reader = await open_peer(stack, unique("reader"))
    assert (await reader.call("join", room=feed))["type"] == "joined"
    refused = await reader.refused("send", room=feed, text="fake alert", data={"level": 9})
    assert (refused["type"], refused["code"]) == ("error", "read_only")
    token = chat_token(stack, "alerts-bot", "Alerts", scopes=("publish",))
    status, body = await publish(stack, feed, {"text": "real alert"}, bearer(token))
    assert status == 202 and body["delivered"] == 1
    message = await reader.expect("message", room=feed)
    assert message["from"] == {"id": "alerts-bot", "name": "Alerts"}
    history = await reader.call("history", room=feed)
    assert [m["text"] for m in history["messages"]] == ["real alert"]


async def test_a_client_msg_id_cannot_claim_another_users_message(stack: LocalStack) -> None:
    # Dedup is per user; user ids and clientMsgIds may both contain "#", so "acme" sending
    # "bob#m1" must not be taken for a repeat of "acme#bob" sending "m1" (and be answered
    # with that user's direct message).
    tenant = unique("acme")
    victim = await open_peer(stack, f"{tenant}#bob")
    attacker = await open_peer(stack, tenant)
    friend = await open_peer(stack, unique("friend"))
    secret = await victim.call("direct", to=friend.user, text="salary: 1M", clientMsgId="m1")
    assert secret["type"] == "direct"
    mine = await attacker.call("direct", to=friend.user, text="hello", clientMsgId="bob#m1")
    assert mine["type"] == "direct" and mine["id"] != secret["id"]
    assert (mine["from"]["id"], mine["text"]) == (tenant, "hello")
    assert (await friend.expect("direct", id=mine["id"]))["text"] == "hello"
