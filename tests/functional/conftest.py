"""Functional tier: the Lambda handlers driven with recorded AWS events, under moto's
in-process `mock_aws`. Deliveries go through the handlers' own Management API sender,
over real HTTP, to a loopback server (tests/mgmt_peer.py) that records each POST, or
answers 410 with `x-amzn-ErrorType: GoneException` for connections the test declared
stale, exactly as API Gateway does, so the handlers' GoneException path runs for real.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from moto import mock_aws

from client.tokens import mint_token
from handlers.chat import service
from tests.conftest import load_event
from tests.mgmt_peer import MgmtPeer, mgmt_peer
from wschat_protocol import ACTIONS

SECRET = "functional-test-secret-32-bytes-long!"
SHARD = 10  # CHAT_FANOUT_SHARD_SIZE under `lam`
FANOUT_FUNCTION = "wschat-test-fanout"
ROOT = Path(__file__).resolve().parents[2]

# Module-level code in the handlers reads these once, as on a cold start.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    CHAT_CONNECTIONS_TABLE="wschat-test-connections",
    CHAT_MESSAGES_TABLE="wschat-test-messages",
    CHAT_JWT_SECRET=SECRET,
    # test_limits.py and test_abuse.py test the limits at their defaults
    CHAT_RATE_LIMIT="100000",
    CHAT_PUBLISH_RATE_LIMIT="100000",
    CHAT_MAX_CONNECTIONS_PER_USER="100000",
    POWERTOOLS_TRACE_DISABLED="true",
    POWERTOOLS_SERVICE_NAME="wschat",
    POWERTOOLS_METRICS_NAMESPACE="wschat",
    POWERTOOLS_LOG_LEVEL="WARNING",
)
for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI"):
    os.environ.pop(name, None)


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data

    def read(self) -> bytes:
        return self._data


@dataclass
class Context:
    """What the Lambda runtime passes as `context`."""

    function_name: str = "wschat-test-message"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:wschat-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/wschat-test"
    log_stream_name: str = "2026/11/21/[$LATEST]0123456789abcdef"
    remaining_ms: int = 29_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class Gateway:
    """Plays API Gateway for the handlers: events in, route responses and deliveries out."""

    def __init__(self, peer: MgmtPeer) -> None:
        self.peer = peer  # the Management API the handlers post to
        self.inbox = peer.inbox
        self.stale = peer.stale  # connections whose POST answers 410
        self._n = 0
        self.users: dict[str, tuple[str, str]] = {}

    @property
    def posts(self) -> int:
        return self.peer.posts

    # -- events -----------------------------------------------------------------------

    def connect(self, sub: str, name: str | None = None) -> str:
        """Authorize and connect a client; returns its connection id."""
        conn_id, response = self.handshake(sub, name)
        assert response == {"statusCode": 200}
        return conn_id

    def handshake(self, sub: str, name: str | None = None) -> tuple[str, dict[str, Any]]:
        """Authorize a client and run $connect: its connection id and $connect's answer."""
        from handlers import authorizer, connect

        self._n += 1
        conn_id = f"Conn{self._n:011d}="
        event = load_event("ws_authorizer")
        event["queryStringParameters"] = {"token": mint_token(sub, name=name, secret=SECRET)}
        event["requestContext"]["connectionId"] = conn_id
        policy = authorizer.handler(event, Context())
        assert policy["policyDocument"]["Statement"][0]["Effect"] == "Allow"
        ctx = policy["context"]
        self.users[conn_id] = (ctx["userId"], ctx["userName"])
        event = load_event("ws_connect")
        event["requestContext"]["connectionId"] = conn_id
        event["requestContext"]["authorizer"] = {"principalId": policy["principalId"], **ctx}
        response: dict[str, Any] = connect.handler(event, Context())
        return conn_id, response

    def message_event(self, conn_id: str, body: str, route: str) -> dict[str, Any]:
        event = load_event("ws_message")
        uid, uname = self.users[conn_id]
        event["requestContext"].update(
            connectionId=conn_id,
            routeKey=route,
            authorizer={"principalId": uid, "userId": uid, "userName": uname},
            # Received now: by the service's clock, which tests move.
            requestTimeEpoch=service.now_ms(),
        )
        event["body"] = body
        return event

    def send_raw(self, conn_id: str, body: str, route: str = "$default") -> dict[str, Any]:
        response = self.respond(conn_id, body, route)
        assert response["statusCode"] == 200
        reply: dict[str, Any] = json.loads(response["body"])
        return reply

    def respond(self, conn_id: str, body: str, route: str = "$default") -> dict[str, Any]:
        """The message handler's whole answer to a frame (a route response, or none)."""
        from handlers import message

        response: dict[str, Any] = message.handler(
            self.message_event(conn_id, body, route), Context()
        )
        return response

    def late(self, conn_id: str, **frame: Any) -> dict[str, Any]:
        """A frame handled after its connection's $disconnect: the handler's answer."""
        route = frame.get("action")
        return self.respond(conn_id, json.dumps(frame), route if route in ACTIONS else "$default")

    def send(self, conn_id: str, **frame: Any) -> dict[str, Any]:
        """A frame as a client sends it, routed by `action` like the gateway does."""
        route = frame.get("action")
        return self.send_raw(conn_id, json.dumps(frame), route if route in ACTIONS else "$default")

    def disconnect(self, conn_id: str) -> None:
        from handlers import disconnect

        event = load_event("ws_disconnect")
        uid, uname = self.users[conn_id]
        event["requestContext"].update(
            connectionId=conn_id,
            authorizer={"principalId": uid, "userId": uid, "userName": uname},
        )
        assert disconnect.handler(event, Context()) == {"statusCode": 200}

    def take(self, conn_id: str) -> list[dict[str, Any]]:
        """Frames delivered to `conn_id` since the last take."""
        frames = self.inbox.pop(conn_id, [])
        return frames


def room_of(gw: Gateway, *subs: str, room: str = "lobby") -> list[str]:
    """A connection for each of `subs`, all joined to `room`, their inboxes drained."""
    conns = [gw.connect(s) for s in subs]
    for c in conns:
        gw.send(c, action="join", room=room)
    for c in conns:
        gw.take(c)
    return conns


@pytest.fixture
def aws() -> Iterator[None]:
    from handlers import adapter
    from handlers.chat import aws as chat_aws
    from infra.config import load_service
    from infra.dynamodb import create_tables

    with mock_aws():
        spec = load_service(ROOT / "serverless.yml", stage="test")
        create_tables(boto3.client("dynamodb"), spec.tables)
        adapter.settings.cache_clear()
        chat_aws._dynamodb = None
        chat_aws._management.clear()
        yield
        for sender in chat_aws._management.values():
            sender.close()
        chat_aws._management.clear()


@pytest.fixture
def gw(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    with mgmt_peer() as peer:
        # As the local stack does it: the configured endpoint beats the event's own.
        monkeypatch.setenv("AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI", f"{peer.url}/dev")
        yield Gateway(peer)


@pytest.fixture
def publishing(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> Gateway:
    """`gw` for the publish handler too. The publish route is on the HTTP API: it is told
    where the WebSocket API is."""
    from handlers import adapter

    endpoint = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/dev"
    monkeypatch.setenv("CHAT_MANAGEMENT_ENDPOINT", endpoint)
    adapter.settings.cache_clear()
    return gw


@dataclass
class LambdaService:
    """The Invoke API as the handlers' boto3 client sees it."""

    invokes: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    refuse: bool = False  # answer 403 AccessDeniedException (a missing grant)

    def answer_invoke(self, request: Any, **_: Any) -> AWSResponse:
        function = unquote(request.url.split("/functions/", 1)[1].split("/", 1)[0])
        kind = request.headers.get("X-Amz-Invocation-Type", b"RequestResponse")
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if self.refuse:
            headers = HTTPHeaders()
            headers["x-amzn-ErrorType"] = "AccessDeniedException"
            body = _Body(b'{"Message":"not authorized to perform: lambda:InvokeFunction"}')
            return AWSResponse(request.url, 403, headers, body)
        self.invokes.append((function, kind, json.loads(request.body)))
        return AWSResponse(request.url, 202, HTTPHeaders(), _Body(b""))

    def run_all(self) -> list[dict[str, Any]]:
        """Lambda running each queued event through the fan-out function, and the events
        those queue in turn (a partition range handed on), until none is left."""
        from handlers import fanout

        results = []
        while self.invokes:
            _, _, event = self.invokes.pop(0)
            results.append(fanout.handler(event, Context()))
        return results


@pytest.fixture
def lam(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> Iterator[LambdaService]:
    from handlers import adapter
    from handlers.chat import aws as chat_aws

    monkeypatch.setenv("CHAT_FANOUT_FUNCTION", FANOUT_FUNCTION)
    monkeypatch.setenv("CHAT_FANOUT_SHARD_SIZE", str(SHARD))
    monkeypatch.setenv(
        "CHAT_MANAGEMENT_ENDPOINT", "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/dev"
    )
    adapter.settings.cache_clear()
    chat_aws._lambda = None
    service = LambdaService()
    chat_aws.lambda_client().meta.events.register_first(
        "before-send.lambda.Invoke",
        service.answer_invoke,  # type: ignore[arg-type]  # a response short-circuits the send
    )
    yield service
    chat_aws._lambda = None
    adapter.settings.cache_clear()
