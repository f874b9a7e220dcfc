"""GatewayCore without sockets: inputs in, actions out, a hand-turned clock."""

from __future__ import annotations

import json

import pytest

from infra.apigateway.actions import (
    Abort,
    Accept,
    Close,
    Invoke,
    InvokeKind,
    Reject,
    SendText,
)
from infra.apigateway.core import Faults, GatewayCore, Limits, State
from infra.apigateway.events import Handshake
from infra.service import Invocation
from tests.unit.gateway.drive import (
    Clock,
    allow,
    handshake,
    make_spec,
    ok,
    only,
    open_connection,
    status_of,
)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def core(clock: Clock) -> GatewayCore:
    limits = Limits(idle_timeout_s=10, hard_timeout_s=100)
    return GatewayCore(make_spec(), limits=limits, clock=clock)


def test_handshake_runs_authorizer_then_connect_then_accepts(core: GatewayCore) -> None:
    connection_id, actions = core.handshake(handshake())
    auth = only(actions, Invoke)
    assert (auth.kind, auth.function) == (InvokeKind.AUTHORIZER, "auth")
    assert auth.event["methodArn"].endswith(":" + core.api.api_id + "/dev/$connect")
    assert core.state_of(connection_id) is not None

    connect = only(core.invoked(auth, allow(auth.event["methodArn"], team="a")), Invoke)
    assert connect.kind is InvokeKind.CONNECT
    assert connect.event["requestContext"]["authorizer"] == {"principalId": "u1", "team": "a"}
    accept = only(core.invoked(connect, ok({"statusCode": 200})), Accept)
    assert accept == Accept(connection_id, None)


def test_missing_identity_source_rejects_without_invoking(core: GatewayCore) -> None:
    connection_id, actions = core.handshake(handshake(query=""))
    assert only(actions, Reject).status == 401
    assert core.state_of(connection_id) is None


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (Invocation(ok=False, error_type="Exception", error_message="Unauthorized"), 401),
        (Invocation(ok=False, error_type="KeyError", error_message="'x'"), 500),
        (ok({"principalId": "u", "policyDocument": {"Statement": []}}), 500),
    ],
)
def test_authorizer_failures(core: GatewayCore, outcome: Invocation, status: int) -> None:
    _, actions = core.handshake(handshake())
    assert only(core.invoked(only(actions, Invoke), outcome), Reject).status == status


def test_policy_for_another_resource_is_403(core: GatewayCore) -> None:
    _, actions = core.handshake(handshake())
    auth = only(actions, Invoke)
    other = allow("arn:aws:execute-api:us-east-1:123456789012:zzz/dev/$connect")
    assert only(core.invoked(auth, other), Reject).status == 403


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (ok({"statusCode": 401, "body": "no"}), Reject),
        (ok({"statusCode": "204"}), Accept),
        (ok(None), Accept),
        (Invocation(ok=False, error_type="RuntimeError"), Reject),
    ],
)
def test_connect_outcomes(core: GatewayCore, outcome: Invocation, expected: type) -> None:
    _, actions = core.handshake(handshake())
    auth = only(actions, Invoke)
    connect = only(core.invoked(auth, allow(auth.event["methodArn"])), Invoke)
    action = only(core.invoked(connect, outcome), expected)
    if isinstance(action, Reject):
        assert action.status == (401 if outcome.ok else 502)


def test_subprotocol_comes_only_from_connect_headers(core: GatewayCore) -> None:
    _, actions = core.handshake(handshake())
    auth = only(actions, Invoke)
    connect = only(core.invoked(auth, allow(auth.event["methodArn"])), Invoke)
    result = {"statusCode": 200, "headers": {"sec-websocket-protocol": "v2"}}
    assert only(core.invoked(connect, ok(result)), Accept).subprotocol == "v2"


def test_no_connect_route_accepts_at_once(clock: Clock) -> None:
    core = GatewayCore(make_spec(connect=False), clock=clock)
    connection_id, actions = core.handshake(handshake(query=""))
    assert only(actions, Accept) == Accept(connection_id, None)


def test_wrong_stage_path_is_403(core: GatewayCore) -> None:
    hs = Handshake("/prod", "token=t", [], "127.0.0.1", "h:1")
    assert only(core.handshake(hs)[1], Reject).status == 403


def test_messages_route_and_answer(core: GatewayCore) -> None:
    connection_id = open_connection(core)
    invoke = only(core.text_frame(connection_id, b'{"action": "send"}'), Invoke)
    assert (invoke.kind, invoke.route_key) == (InvokeKind.MESSAGE, "send")
    ctx = invoke.event["requestContext"]
    assert ctx["authorizer"] == {"principalId": "u1", "team": "a"}
    assert "messageId" in ctx
    sent = only(core.invoked(invoke, ok({"statusCode": 200, "body": "hi"})), SendText)
    assert sent == SendText(connection_id, "hi")

    quiet = only(core.text_frame(connection_id, b'{"action": "quiet"}'), Invoke)
    assert core.invoked(quiet, ok({"body": "ignored"})) == []

    # No route and no $default: a Forbidden frame naming the connection.
    forbidden = only(core.text_frame(connection_id, b'{"action": "nope"}'), SendText)
    assert '"Forbidden"' in forbidden.text and connection_id in forbidden.text
    # So does a frame too deeply nested to parse; the connection stays open.
    deep = only(core.text_frame(connection_id, b"[" * 10_000 + b"]" * 10_000), SendText)
    assert '"Forbidden"' in deep.text
    assert core.state_of(connection_id) is State.OPEN


def test_a_browser_handshake_goes_only_as_far_as_the_origin_policy_lets_it() -> None:
    seen: list[tuple[str, str]] = []

    def policy(origin: str, hs: Handshake) -> bool:
        seen.append((origin, hs.domain_name))
        return origin == "http://127.0.0.1:9"

    core = GatewayCore(make_spec(), origin_allowed=policy)
    page = Handshake("/dev", "token=t", [("Origin", "https://evil.example")], "127.0.0.1", "h:1")
    refused = only(core.handshake(page)[1], Reject)
    assert refused.status == 403 and json.loads(refused.body) == {"message": "Forbidden"}
    assert len(core) == 0  # the authorizer was never invoked
    own = Handshake("/dev", "token=t", [("origin", "http://127.0.0.1:9")], "127.0.0.1", "h:1")
    assert only(core.handshake(own)[1], Invoke).kind is InvokeKind.AUTHORIZER
    assert only(core.handshake(handshake())[1], Invoke)  # no Origin: not a browser
    assert seen == [("https://evil.example", "h:1"), ("http://127.0.0.1:9", "h:1")]
    # AWS's default: any origin (it leaves that to the authorizer).
    assert only(GatewayCore(make_spec()).handshake(page)[1], Invoke)


def test_handler_error_and_integration_timeout_frames(core: GatewayCore) -> None:
    connection_id = open_connection(core)
    invoke = only(core.text_frame(connection_id, b'{"action": "quiet"}'), Invoke)
    failed = only(core.invoked(invoke, Invocation(ok=False, error_type="E")), SendText)
    assert "Internal server error" in failed.text and invoke.ref in failed.text


def test_fragments_binary_and_size_limits(core: GatewayCore) -> None:
    connection_id = open_connection(core)
    assert core.text_frame(connection_id, b'{"action": ', fin=False) == []
    invoke = only(core.continuation_frame(connection_id, b'"send"}', fin=True), Invoke)
    assert invoke.event["body"] == '{"action": "send"}'

    assert only(core.text_frame(connection_id, b"x" * (32 * 1024 + 1)), Close).code == 1009
    other = open_connection(core)
    assert only(core.binary_frame(other), Close).code == 1003
    third = open_connection(core)
    core.text_frame(third, b"x" * 32 * 1024, fin=False)
    for _ in range(3):  # 128 KB so far: exactly the limit
        assert core.continuation_frame(third, b"x" * 32 * 1024, fin=False) == []
    assert only(core.continuation_frame(third, b"x", fin=True), Close).code == 1009


def test_disconnect_fires_exactly_once_and_post_is_gone_meanwhile(core: GatewayCore) -> None:
    connection_id = open_connection(core)
    invoke = only(core.closed(connection_id, 1005, ""), Invoke)
    ctx = invoke.event["requestContext"]
    assert (ctx["disconnectStatusCode"], ctx["disconnectReason"]) == (1005, "")
    assert core.closed(connection_id, 1006, "") == []
    assert status_of(core.management("POST", f"/dev/@connections/{connection_id}", b"x")) == 410
    assert core.invoked(invoke, ok()) == []
    assert core.state_of(connection_id) is None


def test_gateway_initiated_close_reports_its_own_code(core: GatewayCore) -> None:
    connection_id = open_connection(core)
    managed = core.management("DELETE", f"/@connections/{connection_id}", b"")
    assert managed is not None and managed[0].status == 204
    assert only(managed[1], Close).code == 1000
    # The client never answered; TCP dropped after the close timeout.
    invoke = only(core.closed(connection_id, 1006, ""), Invoke)
    assert invoke.event["requestContext"]["disconnectStatusCode"] == 1000


def test_client_leaving_during_connect(core: GatewayCore) -> None:
    connection_id, actions = core.handshake(handshake())
    auth = only(actions, Invoke)
    connect = only(core.invoked(auth, allow(auth.event["methodArn"])), Invoke)
    assert core.closed(connection_id, 1006, "") == []
    # $connect succeeded after all: it was connected, so $disconnect runs (1006), no accept.
    invoke = only(core.invoked(connect, ok({"statusCode": 200})), Invoke)
    assert invoke.kind is InvokeKind.DISCONNECT
    assert invoke.event["requestContext"]["disconnectStatusCode"] == 1006


def test_management_api_semantics(core: GatewayCore) -> None:
    connection_id = open_connection(core)
    path = f"/dev/@connections/{connection_id.replace('=', '%3D')}"
    post = core.management("POST", path, b"hello")
    assert post is not None and (post[0].status, post[0].body) == (200, b"")
    assert post[1] == [SendText(connection_id, "hello")]
    get = core.management("GET", path, b"")
    assert get is not None and get[0].status == 200 and b'"lastActiveAt"' in get[0].body
    cases = [
        ("POST", path, b"x" * 131073, 413, "PayloadTooLargeException"),
        ("POST", "/dev/@connections/short", b"x", 400, "BadRequestException"),
        ("POST", "/dev/@connections/AAAAAAAAAAAAAAA=", b"x", 410, "GoneException"),
        ("POST", f"/prod/@connections/{connection_id}", b"x", 403, "ForbiddenException"),
        ("PUT", path, b"x", 403, "ForbiddenException"),
    ]
    for method, p, body, status, error_type in cases:
        managed = core.management(method, p, body)
        assert managed is not None
        assert managed[0].status == status
        assert ("x-amzn-ErrorType", error_type) in managed[0].headers
    assert core.management("GET", "/dev/other", b"") is None


def test_fault_injection(clock: Clock) -> None:
    core = GatewayCore(make_spec(), faults=Faults(gone_rate=1.0, seed=1), clock=clock)
    connection_id = open_connection(core)
    managed = core.management("POST", f"/@connections/{connection_id}", b"x")
    assert managed is not None and managed[0].status == 410
    assert managed[1] == [Abort(connection_id)]
    throttled = GatewayCore(make_spec(), faults=Faults(throttle_rate=1.0), clock=clock)
    assert status_of(throttled.management("POST", f"/@connections/{connection_id}", b"x")) == 429


def test_connect_rate_limit(clock: Clock) -> None:
    core = GatewayCore(make_spec(connect=False), faults=Faults(connect_rate_limit=2), clock=clock)
    statuses = [type(core.handshake(handshake())[1][0]) for _ in range(3)]
    assert statuses == [Accept, Accept, Reject]
    clock.now += 0.5  # one token back
    assert isinstance(core.handshake(handshake())[1][0], Accept)
    assert isinstance(core.handshake(handshake())[1][0], Reject)
