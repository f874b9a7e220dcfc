"""An unexpected error in any handler is counted (`InternalErrors`, the series the alarm
reads) and logged with the request ids; the WebSocket client still gets its `internal`
frame, and elsewhere the invocation fails so Lambda's Errors metric counts it."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from handlers.chat.service import ChatService
from tests.conftest import load_event
from tests.functional.conftest import Context, Gateway


class Boom(RuntimeError):
    pass


def _boom(*_: Any, **__: Any) -> Any:
    raise Boom("the table went away")


def logs_to_stdout(module: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the module's Powertools log handler at the current (captured) stdout for
    this test: it holds the stream that was stdout when it was created."""
    monkeypatch.setattr(module.logger.registered_handler, "stream", sys.stdout)


def printed(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def internal_error_docs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        d
        for d in docs
        if "_aws" in d
        and any(
            m["Name"] == "InternalErrors"
            for c in d["_aws"]["CloudWatchMetrics"]
            for m in c["Metrics"]
        )
    ]


def assert_counted_once_and_logged(docs: list[dict[str, Any]], request_id: str) -> None:
    (metric,) = internal_error_docs(docs)
    assert metric["InternalErrors"] in (1, [1])
    # One series whatever the handler: the alarm's dimensions are exactly these.
    assert metric["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert metric["service"] == "wschat"
    errors = [d for d in docs if d.get("level") == "ERROR"]
    assert len(errors) == 1
    assert errors[0]["function_request_id"] == request_id
    assert "Boom: the table went away" in errors[0]["exception"]


def test_a_failing_action_answers_internal_and_is_counted(
    gw: Gateway, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from handlers import message

    logs_to_stdout(message, monkeypatch)
    a = gw.connect("alice")
    capsys.readouterr()
    monkeypatch.setattr(ChatService, "handle", _boom)
    context = Context()
    event = gw.message_event(a, json.dumps({"action": "whoami"}), "whoami")
    response = message.handler(event, context)
    reply = json.loads(response["body"])
    assert (reply["type"], reply["code"], reply["action"]) == ("error", "internal", "whoami")
    docs = printed(capsys)
    assert_counted_once_and_logged(docs, context.aws_request_id)
    # API Gateway's request id too, to find the access log line.
    errors = [d for d in docs if d.get("level") == "ERROR"]
    assert errors[0]["correlation_id"] == event["requestContext"]["requestId"]


def test_a_failing_connect_fails_the_invocation_and_is_counted(
    gw: Gateway, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from handlers import connect

    logs_to_stdout(connect, monkeypatch)
    monkeypatch.setattr(ChatService, "connect", _boom)
    event = load_event("ws_connect")
    event["requestContext"]["authorizer"] = {
        "principalId": "alice",
        "userId": "alice",
        "userName": "Alice",
    }
    context = Context()
    capsys.readouterr()
    with pytest.raises(Boom):
        connect.handler(event, context)
    assert_counted_once_and_logged(printed(capsys), context.aws_request_id)


def test_a_failing_fanout_shard_fails_the_invocation_and_is_counted(
    aws: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from handlers import fanout

    logs_to_stdout(fanout, monkeypatch)
    monkeypatch.setattr(ChatService, "deliver_shard", _boom)
    event = {
        "room": "lobby",
        "payload": "{}",
        "connectionIds": ["Conn1="],
        "endpoint": "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/dev",
    }
    context = Context()
    with pytest.raises(Boom):
        fanout.handler(event, context)
    assert_counted_once_and_logged(printed(capsys), context.aws_request_id)


def test_a_refused_token_is_not_an_internal_error(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from handlers import authorizer

    event = load_event("ws_authorizer")
    event["queryStringParameters"] = {"token": "not-a-jwt"}
    capsys.readouterr()
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorizer.handler(event, Context())
    assert internal_error_docs(printed(capsys)) == []
