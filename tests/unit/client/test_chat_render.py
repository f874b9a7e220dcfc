"""What the terminal shows for each service frame."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from client.chat.render import clock, render

ALICE = {"id": "alice", "name": "Alice"}
BOB = {"id": "bob", "name": "bob"}


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


NOW = 1_795_000_000_000  # 2026-11-18 11:06:40 UTC


def test_message_shows_time_room_sender_and_text() -> None:
    frame = {
        "type": "message",
        "room": "general",
        "id": "1",
        "from": ALICE,
        "text": "hi",
        "ts": NOW,
    }
    assert render(frame, now_ms=NOW) == ["[11:06:40] #general <Alice (alice)> hi"]


def test_timestamps_from_another_day_carry_the_date() -> None:
    assert clock(NOW - 86_400_000, now_ms=NOW) == "2026-11-17 11:06"
    assert clock(NOW - 1000, now_ms=NOW) == "11:06:39"


def test_data_payload_is_shown_as_compact_json() -> None:
    frame = {"type": "message", "room": "feed:cpu", "from": BOB, "data": {"cpu": 0.41}, "ts": NOW}
    assert render(frame, now_ms=NOW) == ['[11:06:40] #feed:cpu <bob> {"cpu":0.41}']


def test_terminal_escape_sequences_from_users_are_shown_not_obeyed() -> None:
    evil = "\x1b]0;pwned\x07\x1b[2Jhi"
    frame = {"type": "message", "room": "r", "from": BOB, "text": evil, "ts": NOW}
    (line,) = render(frame, now_ms=NOW)
    assert "\x1b" not in line and "\x07" not in line
    assert line.endswith("\\x1b]0;pwned\\x07\\x1b[2Jhi")


def test_direct_messages_say_who_to_whom() -> None:
    incoming = {"type": "direct", "from": ALICE, "to": "bob", "text": "psst", "ts": NOW}
    outgoing = {"type": "direct", "from": BOB, "to": "alice", "text": "yes?", "ts": NOW}
    assert render(incoming, me="bob", now_ms=NOW) == ["[11:06:40] (dm) Alice (alice) -> you: psst"]
    assert render(outgoing, me="bob", now_ms=NOW) == ["[11:06:40] (dm) you -> alice: yes?"]


def test_presence_and_membership() -> None:
    joined = {"type": "presence", "room": "general", "event": "join", "user": ALICE}
    left = {"type": "presence", "room": "general", "event": "leave", "user": BOB}
    assert render(joined, now_ms=NOW) == ["[11:06:40] * Alice (alice) joined #general"]
    assert render(left, now_ms=NOW) == ["[11:06:40] * bob left #general"]
    members = {"type": "members", "room": "general", "members": [ALICE, BOB]}
    assert render(members) == ["* #general: 2 here: Alice (alice), bob"]


def test_errors_say_code_action_and_when_to_retry() -> None:
    frame = {
        "type": "error",
        "code": "rate_limited",
        "message": "slow down",
        "action": "send",
        "retryAfterMs": 2500,
    }
    assert render(frame) == ["! rate_limited: slow down (send), retry in 2.5 s"]


def test_gateway_answers_without_a_type_are_shown_as_service_errors() -> None:
    frame = {"message": "Forbidden", "connectionId": "x=", "requestId": "y="}
    assert render(frame) == ["! service: Forbidden"]
