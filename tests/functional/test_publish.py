"""POST /rooms/{room}/messages: the publish handler, and where the HS256 secret comes from."""

from __future__ import annotations

import base64
import json
import warnings
from typing import Any

import boto3
import pytest

from tests.conftest import load_event
from tests.functional.conftest import SECRET, Context, Gateway


def publish(room: str, body: str, *, b64: bool = False) -> tuple[int, dict[str, Any]]:
    status, answer, _ = publish_response(room, body, b64=b64)
    return status, answer


def publish_response(
    room: str, body: str, *, b64: bool = False
) -> tuple[int, dict[str, Any], dict[str, str]]:
    from handlers import publish as publish_handler
    from handlers.chat import service

    event = load_event("http_publish")
    event["requestContext"]["timeEpoch"] = service.now_ms()  # by the clock tests move
    event["pathParameters"] = {"room": room}
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/rooms/{room}/messages"
    event["body"] = base64.b64encode(body.encode()).decode() if b64 else body
    event["isBase64Encoded"] = b64
    response = publish_handler.handler(event, Context())
    assert response["headers"]["content-type"] == "application/json"
    return response["statusCode"], json.loads(response["body"]), response["headers"]


def test_publish_delivers_to_every_member_of_a_feed(publishing: Gateway) -> None:
    gw = publishing
    a, b = gw.connect("alice"), gw.connect("bob")
    for c in (a, b):
        gw.send(c, action="join", room="feed:cpu")
    gw.take(a)
    status, answer = publish("feed:cpu", '{"data": {"cpu": 0.41}}')
    assert status == 202 and answer["delivered"] == 2
    for c in (a, b):
        (frame,) = gw.take(c)
        assert frame["type"] == "message" and frame["id"] == answer["id"]
        assert frame["from"] == {"id": "metrics-bot", "name": "Metrics"}
        assert frame["data"] == {"cpu": 0.41} and frame["room"] == "feed:cpu"
    history = gw.send(a, action="history", room="feed:cpu")["messages"]
    assert [m["id"] for m in history] == [answer["id"]]


def test_publish_to_an_empty_room_delivers_nothing(publishing: Gateway) -> None:
    status, answer = publish("quiet", '{"text": "anyone?"}')
    assert (status, answer["delivered"]) == (202, 0)


def test_publish_with_a_base64_body(publishing: Gateway) -> None:
    status, _ = publish("feed:x", '{"text": "b64"}', b64=True)
    assert status == 202


@pytest.mark.parametrize(
    ("room", "body", "status", "code"),
    [
        ("feed:cpu", "{oops", 400, "bad_request"),
        ("feed:cpu", "[]", 400, "bad_request"),
        ("feed:cpu", "{}", 400, "bad_request"),
        ("feed:cpu", '{"text": ""}', 400, "bad_request"),
        ("bad room", '{"text": "x"}', 400, "invalid_room"),
        ("feed:cpu", json.dumps({"text": "x" * 4001}), 413, "too_large"),
        ("feed:cpu", json.dumps({"data": "x" * 32767}), 413, "too_large"),
        ("feed:cpu", json.dumps({"text": "x" * 4000}), 202, None),
        ("feed:cpu", json.dumps({"data": "x" * 32766}), 202, None),
    ],
)
def test_publish_limits(
    publishing: Gateway, room: str, body: str, status: int, code: str | None
) -> None:
    got_status, answer = publish(room, body)
    assert got_status == status
    if code is not None:
        assert answer["code"] == code and answer["message"]


@pytest.mark.parametrize("body", ["", "   \n"])
def test_an_empty_body_is_refused_as_empty_not_as_bad_json(publishing: Gateway, body: str) -> None:
    status, answer = publish("feed:cpu", body)
    assert (status, answer["code"]) == (400, "bad_request")
    assert answer["message"] == 'empty body: expected a JSON object such as {"text": "hi"}'


def test_secret_from_ssm_securestring(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from handlers.chat.auth import TokenVerifier, secret_source
    from handlers.chat.settings import Settings

    boto3.client("ssm").put_parameter(
        Name="/wschat/test/jwt-secret", Value=SECRET, Type="SecureString"
    )
    settings = Settings(jwt_secret_param="/wschat/test/jwt-secret")
    from client.tokens import mint_token

    verifier = TokenVerifier(settings, secret_source(settings))
    assert verifier.verify(mint_token("carol", secret=SECRET)).user.id == "carol"


def emitted(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The EMF documents the handlers printed since the last call."""
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines() if '"_aws"' in line]


def metric_names(doc: dict[str, Any]) -> set[str]:
    return {m["Name"] for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}


def test_metrics_are_emitted_as_emf(gw: Gateway, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = gw.connect("alice"), gw.connect("bob")
    gw.send(a, action="join", room="lobby")
    gw.send(b, action="join", room="lobby")
    capsys.readouterr()
    gw.send(a, action="send", room="lobby", text="hi")
    names = set().union(*map(metric_names, emitted(capsys)))
    assert {"Frames", "Messages", "Deliveries", "FanOutTime"} <= names


def test_failed_deliveries_are_counted_in_all_and_by_error_code(
    gw: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b, c = gw.connect("alice"), gw.connect("bob"), gw.connect("carol")
    for conn in (a, b, c):
        gw.send(conn, action="join", room="lobby")
    gw.peer.refuse[b] = (413, "PayloadTooLargeException")
    gw.peer.refuse[c] = (403, "ForbiddenException")
    capsys.readouterr()
    gw.send(a, action="send", room="lobby", text="hi")
    docs = emitted(capsys)
    (invocation,) = [d for d in docs if "Frames" in metric_names(d)]
    # The alarm's series: all failures, with the service dimension only.
    assert invocation["FailedDeliveries"] == [2.0] and "code" not in invocation
    by_code = {d["code"]: d["FailedDeliveriesByCode"] for d in docs if "code" in d}
    assert by_code == {"PayloadTooLargeException": [1.0], "ForbiddenException": [1.0]}
    assert all(d["service"] == "wschat" for d in docs)


def test_refusals_are_counted_by_code(
    publishing: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    a = publishing.connect("alice")
    capsys.readouterr()
    assert publishing.send(a, action="send", room="lobby", text="hi")["code"] == "not_member"
    assert publish("lobby", "")[0] == 400
    frame_doc, publish_doc = emitted(capsys)
    assert metric_names(frame_doc) == {"RefusedFrames"} and frame_doc["code"] == "not_member"
    assert metric_names(publish_doc) == {"RejectedPublishes"}
    assert publish_doc["code"] == "bad_request"
    # The dimension belongs to the refused invocation only.
    publishing.send(a, action="ping")
    (ping_doc,) = emitted(capsys)
    assert "code" not in ping_doc


def test_a_frame_that_delivers_nothing_logs_no_empty_metrics_warning(gw: Gateway) -> None:
    a = gw.connect("alice")
    gw.send(a, action="join", room="lobby")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert gw.send(a, action="history", room="lobby")["type"] == "history"
        assert gw.send(a, action="ping")["type"] == "pong"
    assert [str(w.message) for w in caught] == []


def test_a_missing_ssm_secret_refuses_hs256_tokens_instead_of_failing(aws: None) -> None:
    from client.tokens import mint_token
    from handlers.chat.auth import TokenVerifier, secret_source
    from handlers.chat.errors import AuthError
    from handlers.chat.settings import Settings

    settings = Settings(jwt_secret_param="/wschat/test/never-created")
    verifier = TokenVerifier(settings, secret_source(settings))
    with pytest.raises(AuthError):
        verifier.verify(mint_token("carol", secret=SECRET))
