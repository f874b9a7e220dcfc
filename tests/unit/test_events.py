"""handlers/events.py reads AWS's events (recorded in tests/events/) into the values the
handlers use, and refuses an event without a field a function needs, naming it."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

from handlers.chat.model import User
from handlers.events import (
    AuthorizerRequestEvent,
    BadEvent,
    FanOutEvent,
    PublishEvent,
    WebSocketEvent,
)
from tests.conftest import load_event


def test_the_websocket_events_read_as_aws_sends_them() -> None:
    connect = WebSocketEvent.read(load_event("ws_connect"))
    assert connect.route_key == "$connect"
    assert connect.user() == User("alice", "Alice")
    assert connect.domain_name and connect.stage == "dev"

    message = WebSocketEvent.read(load_event("ws_message"))
    assert (
        message.body
        and message.received_ms == load_event("ws_message")["requestContext"]["requestTimeEpoch"]
    )

    gone = WebSocketEvent.read(load_event("ws_disconnect"))
    assert (gone.disconnect_status_code, gone.disconnect_reason) == (
        1005,
        "Client-side close frame status not set",
    )


def test_a_disconnect_without_the_authorizer_context_reads_but_has_no_user() -> None:
    event = load_event("ws_disconnect")
    del event["requestContext"]["authorizer"]
    gone = WebSocketEvent.read(event)
    assert gone.connection_id
    with pytest.raises(BadEvent, match=r"requestContext\.authorizer"):
        gone.user()


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        (("requestContext", "connectionId"), None, "requestContext.connectionId"),
        (("requestContext", "requestTimeEpoch"), "1795255500023", "requestTimeEpoch"),
        (("requestContext", "requestTimeEpoch"), True, "requestTimeEpoch"),
        (("body",), {"action": "ping"}, "event.body"),
        (("requestContext",), None, "event.requestContext"),
    ],
)
def test_a_websocket_event_without_what_the_function_needs_is_refused_by_name(
    path: tuple[str, ...], value: Any, named: str
) -> None:
    event = load_event("ws_message")
    parent = event
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    with pytest.raises(BadEvent, match=re.escape(named)):
        WebSocketEvent.read(event)


def test_the_connect_authorizer_event_gives_the_token_and_the_method_arn() -> None:
    event = load_event("ws_authorizer")
    request = AuthorizerRequestEvent.read(event)
    assert request.method_arn == event["methodArn"]
    assert request.query_string_parameters.get("token") == event["queryStringParameters"]["token"]
    event["queryStringParameters"] = None  # API Gateway's value when there is no query
    assert AuthorizerRequestEvent.read(event).query_string_parameters == {}
    del event["methodArn"]
    with pytest.raises(BadEvent, match="methodArn"):
        AuthorizerRequestEvent.read(event)


def test_the_publish_event_reads_its_publisher_from_the_authorizer() -> None:
    ev = PublishEvent.read(load_event("http_publish"))
    assert ev.publisher == User("metrics-bot", "Metrics")
    assert ev.path_parameters["room"] == "feed:cpu"
    assert (ev.body, ev.is_base64_encoded) == ('{"data":{"cpu":0.41}}', False)

    event = load_event("http_publish")
    event["body"] = base64.b64encode(b"{}").decode()
    event["isBase64Encoded"] = True
    del event["requestContext"]["authorizer"]["lambda"]["userName"]
    ev = PublishEvent.read(event)
    assert ev.is_base64_encoded and ev.publisher == User("metrics-bot", "metrics-bot")

    del event["requestContext"]["authorizer"]
    with pytest.raises(BadEvent, match=r"requestContext\.authorizer"):
        PublishEvent.read(event)


def test_a_fanout_shard_reads_and_an_unreadable_one_is_refused() -> None:
    shard = {"room": "big", "payload": "{}", "connectionIds": ["a", "b"], "endpoint": None}
    assert FanOutEvent.read(shard) == FanOutEvent("big", "{}", ["a", "b"], None)
    for bad in (
        {**shard, "connectionIds": []},
        {**shard, "connectionIds": ["a", 7]},
        {**shard, "room": ""},
        {**shard, "payload": None},
    ):
        with pytest.raises(BadEvent):
            FanOutEvent.read(bad)
