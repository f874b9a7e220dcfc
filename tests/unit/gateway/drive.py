"""Driving the sans-I/O gateway cores by hand: a clock the test turns, a small service,
and shortcuts through the handshake."""

from __future__ import annotations

from typing import Any

from infra.apigateway.actions import Accept, Action, Invoke
from infra.apigateway.core import GatewayCore
from infra.apigateway.events import Handshake
from infra.http import HttpResponse
from infra.service import (
    FunctionSpec,
    Invocation,
    ServiceSpec,
    WebSocketAuthorizer,
    WebSocketRoute,
)

START = 1_795_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def make_spec(*, authorizer: bool = True, connect: bool = True) -> ServiceSpec:
    names = ["auth", "conn", "disc", "msg"]
    functions = {n: FunctionSpec(n, f"h.{n}", 6.0, 128, {}) for n in names}
    routes = {
        "$disconnect": WebSocketRoute("$disconnect", "disc", False),
        "send": WebSocketRoute("send", "msg", True),
        "quiet": WebSocketRoute("quiet", "msg", False),
    }
    if connect:
        auth = WebSocketAuthorizer("auth", ("route.request.querystring.token",))
        routes["$connect"] = WebSocketRoute(
            "$connect", "conn", False, authorizer=auth if authorizer else None
        )
    return ServiceSpec(
        service="svc",
        stage="dev",
        region="us-east-1",
        account_id="123456789012",
        route_selection_expression="$request.body.action",
        functions=functions,
        websocket_routes=routes,
    )


def handshake(query: str = "token=t") -> Handshake:
    return Handshake(
        path="/dev",
        query=query,
        headers=[("Host", "127.0.0.1:9"), ("User-Agent", "ua")],
        source_ip="127.0.0.1",
        domain_name="127.0.0.1:9",
    )


def ok(result: Any = None) -> Invocation:
    return Invocation(ok=True, result=result)


def allow(arn: str, **context: Any) -> Invocation:
    statement = {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": arn}
    policy = {"Statement": [statement]}
    return ok({"principalId": "u1", "policyDocument": policy, "context": context})


def status_of(managed: tuple[HttpResponse, list[Action]] | None) -> int:
    assert managed is not None
    return managed[0].status


def only(actions: list[Action], kind: type) -> Any:
    assert len(actions) == 1 and isinstance(actions[0], kind), actions
    return actions[0]


def open_connection(core: GatewayCore) -> str:
    """Drive a connection through authorizer and $connect to OPEN."""
    connection_id, actions = core.handshake(handshake())
    auth = only(actions, Invoke)
    connect = only(core.invoked(auth, allow(auth.event["methodArn"], team="a")), Invoke)
    only(core.invoked(connect, ok({"statusCode": 200})), Accept)
    return connection_id


def accept(core: GatewayCore, query: str = "token=t") -> tuple[str, Invoke]:
    """Handshake and authorizer done: the connection id and its pending $connect."""
    connection_id, actions = core.handshake(handshake(query))
    auth = only(actions, Invoke)
    return connection_id, only(core.invoked(auth, allow(auth.event["methodArn"])), Invoke)
