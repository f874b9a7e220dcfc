"""Abuse and cost limits at their edges (issue 13 item 8): connections per user, the
publish rate limit, every frame counted (malformed ones too), and rate windows placed by
the time the gateway received a frame, not by when a slow invocation got to it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from handlers import message
from handlers.chat import service
from tests.functional.conftest import Context, Gateway
from tests.functional.test_publish import publish_response

T0 = 1_795_255_200_000  # the start of a 10 s window


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    now = [T0]
    monkeypatch.setattr(service, "now_ms", lambda: now[0])
    yield now


@pytest.fixture
def defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """The limits at their defaults (the functional tier raises them for other tests)."""
    from handlers import adapter

    for name in ("CHAT_RATE_LIMIT", "CHAT_PUBLISH_RATE_LIMIT", "CHAT_MAX_CONNECTIONS_PER_USER"):
        monkeypatch.delenv(name)
    adapter.settings.cache_clear()


# -- connections per user ---------------------------------------------------------------


def test_the_21st_connection_of_a_user_is_refused_with_429(gw: Gateway, defaults: None) -> None:
    conns = [gw.connect("alice") for _ in range(20)]
    assert gw.handshake("alice")[1] == {"statusCode": 429}  # the handshake's HTTP status
    assert gw.send(conns[0], action="whoami")["type"] == "whoami"  # the others are fine
    assert gw.handshake("bob")[1] == {"statusCode": 200}  # per user, not per service
    gw.disconnect(conns[0])
    assert gw.handshake("alice")[1] == {"statusCode": 200}  # room again
    assert gw.handshake("alice")[1] == {"statusCode": 429}


def test_the_connection_cap_is_a_setting(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    from handlers import adapter

    monkeypatch.setenv("CHAT_MAX_CONNECTIONS_PER_USER", "2")
    adapter.settings.cache_clear()
    gw.connect("alice"), gw.connect("alice")
    assert gw.handshake("alice")[1] == {"statusCode": 429}


# -- publish rate limit ---------------------------------------------------------------------


def test_the_101st_publish_in_ten_seconds_is_429_with_retry_after(
    publishing: Gateway, defaults: None, clock: list[int]
) -> None:
    for i in range(100):
        clock[0] = T0 + i * 10
        status, _, _ = publish_response("feed:cpu", '{"text": "tick"}')
        assert status == 202, i
    clock[0] = T0 + 1_000
    status, answer, headers = publish_response("feed:cpu", '{"text": "tick"}')
    assert status == 429
    assert answer["code"] == "rate_limited" and answer["message"]
    assert answer["retryAfterMs"] == 9_000
    assert headers["retry-after"] == "9"
    clock[0] = T0 + 10_000
    assert publish_response("feed:cpu", '{"text": "tick"}')[0] == 202  # the next window


def test_a_refused_publish_delivers_and_stores_nothing(
    publishing: Gateway, defaults: None, clock: list[int]
) -> None:
    a = publishing.connect("alice")
    publishing.send(a, action="join", room="feed:cpu")
    for _ in range(100):
        publish_response("feed:cpu", '{"text": "tick"}')
    publishing.take(a)
    assert publish_response("feed:cpu", '{"text": "over"}')[0] == 429
    assert publishing.take(a) == []
    texts = [m["text"] for m in publishing.send(a, action="history", room="feed:cpu")["messages"]]
    assert "over" not in texts


# -- every frame counts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad", ["{not json", "[1]", '{"action": 5}', '{"action": "fly"}', '{"action": "join"}']
)
def test_malformed_frames_count_against_the_rate_limit(
    gw: Gateway, defaults: None, clock: list[int], bad: str
) -> None:
    a = gw.connect("alice")
    for i in range(50):
        clock[0] = T0 + i
        reply = gw.send_raw(a, bad)
        assert reply["type"] == "error" and reply["code"] != "rate_limited", i
    clock[0] = T0 + 100
    refused = gw.send(a, action="ping")
    assert (refused["code"], refused["retryAfterMs"]) == ("rate_limited", 9_900)
    assert gw.send_raw(a, bad)["code"] == "rate_limited"  # a 52nd bad one too


# -- windows by the time the gateway received the frame ---------------------------------


def test_a_database_stall_does_not_crowd_a_steady_client_into_one_window(
    gw: Gateway, defaults: None, clock: list[int]
) -> None:
    """A client sends 5 frames a second: 50 per 10-second window, exactly the limit.
    For 6 seconds the invocations stall, so the last 30 frames of window 0 are handled
    in window 1, beside window 1's own 50."""
    a = gw.connect("alice")

    def frame(received: int, handled: int) -> dict[str, object]:
        clock[0] = received
        event = gw.message_event(a, '{"action": "ping"}', "ping")
        clock[0] = handled
        response = message.handler(event, Context())
        reply: dict[str, object] = json.loads(response["body"])
        return reply

    sent = [T0 + i * 200 for i in range(100)]  # 0 .. 19.8 s
    for received in sent:
        handled = max(received, T0 + 10_500) if received >= T0 + 4_000 else received
        assert frame(received, handled) == {"type": "pong"}, received - T0
