"""Every error code and every limit of protocol.md at its edge, through the handlers."""

from __future__ import annotations

import json

import pytest

from handlers.chat import service
from tests.functional.conftest import Gateway


@pytest.fixture
def member(gw: Gateway) -> str:
    conn = gw.connect("alice")
    gw.send(conn, action="join", room="lobby")
    return conn


def error_code(reply: dict[str, object]) -> object:
    assert reply["type"] == "error", reply
    assert isinstance(reply["message"], str) and reply["message"]
    return reply["code"]


@pytest.mark.parametrize(
    "body",
    ["{not json", "", "[1,2]", '"send"', "null", "42", '{"action":"send"'],
)
def test_frames_that_are_not_json_objects(gw: Gateway, member: str, body: str) -> None:
    assert error_code(gw.send_raw(member, body)) == "bad_request"


def test_missing_and_mistyped_action(gw: Gateway, member: str) -> None:
    assert error_code(gw.send_raw(member, '{"room":"lobby"}')) == "bad_request"
    assert error_code(gw.send_raw(member, '{"action":5}')) == "bad_request"


def test_unknown_action_names_the_action(gw: Gateway, member: str) -> None:
    reply = gw.send(member, action="dance")
    assert error_code(reply) == "unknown_action"
    assert reply["action"] == "dance"


@pytest.mark.parametrize(
    "room",
    ["a" * 64, "A", "9", "room_1.x:y-z", "feed:cpu"],
)
def test_valid_room_names(gw: Gateway, member: str, room: str) -> None:
    assert gw.send(member, action="join", room=room)["type"] == "joined"


@pytest.mark.parametrize(
    "room",
    ["a" * 65, "", "_lead", "-lead", ".x", "has space", "lobby\n", "ünï", "a/b", "a#b"],
)
def test_invalid_room_names(gw: Gateway, member: str, room: str) -> None:
    assert error_code(gw.send(member, action="join", room=room)) == "invalid_room"


@pytest.mark.parametrize("room", [None, 5, ["lobby"]])
def test_missing_or_mistyped_room(gw: Gateway, member: str, room: object) -> None:
    frame = {"action": "join"} if room is None else {"action": "join", "room": room}
    assert error_code(gw.send_raw(member, json.dumps(frame), "join")) == "bad_request"


def test_text_length_edges(gw: Gateway, member: str) -> None:
    ok = gw.send(member, action="send", room="lobby", text="x" * 4000)
    assert ok["type"] == "message" and len(ok["text"]) == 4000
    assert gw.send(member, action="send", room="lobby", text="é" * 4000)["type"] == "message"
    assert error_code(gw.send(member, action="send", room="lobby", text="x" * 4001)) == "too_large"
    assert error_code(gw.send(member, action="send", room="lobby", text="")) == "bad_request"
    assert error_code(gw.send(member, action="send", room="lobby", text=7)) == "bad_request"
    assert error_code(gw.send(member, action="send", room="lobby")) == "bad_request"


def test_data_size_edges(gw: Gateway, member: str) -> None:
    # json.dumps of a string adds two quotes: 32766 characters serialize to 32768 bytes.
    at_limit = "x" * (32 * 1024 - 2)
    reply = gw.send(member, action="send", room="lobby", data=at_limit)
    assert reply["type"] == "message" and reply["data"] == at_limit
    over = "x" * (32 * 1024 - 1)
    assert error_code(gw.send(member, action="send", room="lobby", data=over)) == "too_large"


def test_client_msg_id_edges(gw: Gateway, member: str) -> None:
    ok = gw.send(member, action="send", room="lobby", text="a", clientMsgId="k" * 64)
    assert ok["clientMsgId"] == "k" * 64
    reply = gw.send(member, action="send", room="lobby", text="a", clientMsgId="k" * 65)
    assert error_code(reply) == "bad_request"
    assert error_code(gw.send(member, action="send", room="lobby", text="a", clientMsgId=1)) == (
        "bad_request"
    )


def test_feed_rooms_are_read_only_over_websocket(gw: Gateway, member: str) -> None:
    assert gw.send(member, action="join", room="feed:cpu")["type"] == "joined"
    reply = gw.send(member, action="send", room="feed:cpu", text="spoof")
    assert error_code(reply) == "read_only"
    assert gw.send(member, action="history", room="feed:cpu")["messages"] == []


def test_direct_target_must_be_a_user_id(gw: Gateway, member: str) -> None:
    assert error_code(gw.send(member, action="direct", text="x")) == "bad_request"
    assert error_code(gw.send(member, action="direct", to="", text="x")) == "bad_request"
    assert error_code(gw.send(member, action="direct", to="u" * 129, text="x")) == "bad_request"


def test_rate_limit_answers_with_an_error_frame_then_recovers(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    from handlers import adapter

    monkeypatch.delenv("CHAT_RATE_LIMIT")  # the protocol's default: 50 per 10 s
    adapter.settings.cache_clear()
    clock = [1_795_255_200_000]  # the start of a 10 s window
    monkeypatch.setattr(service, "now_ms", lambda: clock[0])
    conn = gw.connect("alice")
    for i in range(50):
        clock[0] += 10
        assert gw.send(conn, action="ping") == {"type": "pong"}, i
    clock[0] += 10
    reply = gw.send(conn, action="ping")
    assert error_code(reply) == "rate_limited"
    assert reply["action"] == "ping"
    assert reply["retryAfterMs"] == 10_000 - 510
    clock[0] += reply["retryAfterMs"]
    assert gw.send(conn, action="ping") == {"type": "pong"}  # never a dropped connection


def test_expired_memberships_are_ignored(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1_795_255_200_000]
    monkeypatch.setattr(service, "now_ms", lambda: clock[0])
    a = gw.connect("alice")
    gw.send(a, action="join", room="lobby")
    clock[0] += 3 * 3600 * 1000  # past the 2 h + margin TTL, which DynamoDB has not enforced
    b = gw.connect("bob")
    joined = gw.send(b, action="join", room="lobby")
    assert [u["id"] for u in joined["members"]] == ["bob"]
    assert gw.take(a) == []


def test_messages_expire_after_the_retention(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1_795_255_200_000]
    monkeypatch.setattr(service, "now_ms", lambda: clock[0])
    a = gw.connect("alice")
    gw.send(a, action="join", room="lobby")
    old = gw.send(a, action="send", room="lobby", text="old")
    clock[0] += 6 * 86400 * 1000
    assert [m["id"] for m in gw.send(a, action="history", room="lobby")["messages"]] == [old["id"]]
    clock[0] += 2 * 86400 * 1000  # 8 days: past the default 7-day retention
    b = gw.connect("bob")
    assert gw.send(b, action="join", room="lobby")["history"] == []


def test_dedup_window_is_five_minutes(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1_795_255_200_000]
    monkeypatch.setattr(service, "now_ms", lambda: clock[0])
    a = gw.connect("alice")
    gw.send(a, action="join", room="lobby")
    first = gw.send(a, action="send", room="lobby", text="x", clientMsgId="k")
    clock[0] += 299_000
    assert gw.send(a, action="send", room="lobby", text="x", clientMsgId="k") == first
    clock[0] += 2_000
    later = gw.send(a, action="send", room="lobby", text="x", clientMsgId="k")
    assert later["id"] != first["id"]
