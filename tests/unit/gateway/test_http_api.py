"""HTTP and REST API routes without sockets: matching, the authorizer and integration
steps, payload 1.0 and 2.0 events and result mapping, authorizer verdicts."""

from __future__ import annotations

import json

import pytest

from infra.apigateway.actions import Action, Invoke, InvokeKind, Respond
from infra.apigateway.authorizers import identity_values, policy_verdict, simple_verdict
from infra.apigateway.events import ApiInfo
from infra.apigateway.http_api import HttpApiCore
from infra.apigateway.http_routes import HttpRequest, HttpRoutes
from infra.apigateway.payload_v2 import integration_result
from infra.service import HttpAuthorizer, HttpRoute, Invocation, ServiceSpec
from tests.unit.gateway.drive import only


def test_literal_routes_beat_parameters_and_greedy_comes_last() -> None:
    routes = HttpRoutes(
        [
            HttpRoute("ANY", "/{proxy+}", "any"),
            HttpRoute("GET", "/rooms/{room}", "room"),
            HttpRoute("GET", "/rooms/lobby", "lobby"),
            HttpRoute("POST", "/rooms/{room}/messages", "publish"),
        ],
        "dev",
    )

    def function(method: str, path: str) -> str | None:
        match = routes.match(method, path)
        return match.route.function if match else None

    assert function("GET", "/rooms/lobby") == "lobby"
    assert function("GET", "/rooms/kitchen") == "room"
    match = routes.match("POST", "/rooms/a.b/messages")
    assert match is not None and match.path_parameters == {"room": "a.b"}
    assert match.route_key == "POST /rooms/{room}/messages"
    assert function("DELETE", "/x/y/z") == "any"
    assert HttpRoutes([], "dev").match("GET", "/") is None


def test_methods_are_case_sensitive_as_on_aws() -> None:
    """`post` is not POST: no route (404), not even ANY's."""
    routes = HttpRoutes([HttpRoute("POST", "/p", "p"), HttpRoute("ANY", "/a", "a")], "dev")
    assert routes.match("POST", "/p") is not None and routes.match("PUT", "/a") is not None
    for method in ("post", "Post", "put", "BREW"):
        assert routes.match(method, "/p") is None and routes.match(method, "/a") is None


def test_result_mapping() -> None:
    plain = integration_result(Invocation(ok=True, result={"a": 1}))
    assert (plain.status, plain.body) == (200, b'{"a": 1}')
    proxy = integration_result(
        Invocation(ok=True, result={"statusCode": 202, "body": "ok", "cookies": ["c=1"]})
    )
    assert proxy.status == 202 and ("Set-Cookie", "c=1") in proxy.headers
    assert integration_result(Invocation(ok=False, error_type="E")).status == 500
    assert integration_result(None).status == 503


def test_authorizer_verdicts() -> None:
    arn = "arn:aws:execute-api:us-east-1:1:api/dev/$connect"

    def policy(effect: str, resource: str, context: object = None) -> Invocation:
        statement = {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}
        result: dict[str, object] = {
            "principalId": "p",
            "policyDocument": {"Statement": [statement]},
        }
        if context is not None:
            result["context"] = context
        return Invocation(ok=True, result=result)

    assert policy_verdict(policy("Allow", arn), arn).allowed
    assert policy_verdict(policy("Allow", "arn:aws:execute-api:us-east-1:1:api/*"), arn).allowed
    assert policy_verdict(policy("Deny", arn), arn).status == 403
    assert policy_verdict(policy("Allow", arn, {"n": [1]}), arn).status == 500
    assert policy_verdict(policy("Allow", arn, {"n": 1, "b": True}), arn).context == {
        "n": 1,
        "b": True,
    }
    raised = Invocation(ok=False, error_type="Exception", error_message="Unauthorized")
    assert policy_verdict(raised, arn).status == 401
    timed_out = Invocation(ok=False, error_message="Unauthorized", timed_out=True)
    assert policy_verdict(timed_out, arn).status == 500
    assert simple_verdict(Invocation(ok=True, result={"isAuthorized": False})).status == 403
    assert simple_verdict(Invocation(ok=True, result={"isAuthorized": "yes"})).status == 500


def test_identity_sources_as_each_api_writes_them() -> None:
    headers = [("Authorization", "a"), ("X-Two", "1"), ("x-two", "2")]
    query = [("token", "t")]
    assert identity_values(["route.request.querystring.token"], headers, query) == ["t"]
    assert identity_values(["$request.header.authorization"], headers, query) == ["a"]
    assert identity_values(["method.request.header.X-Two"], headers, query) == ["1,2"]
    assert identity_values(["$request.querystring.missing"], headers, query) is None
    assert identity_values(["$context.identity.sourceIp"], headers, query) == []
    assert (
        identity_values(["route.request.header.Authorization"], [("Authorization", "")], []) is None
    )


def rest(method: str, path: str) -> HttpRoute:
    return HttpRoute(method, path, "fn", api="rest", payload_version="1.0")


def test_rest_routes_live_under_the_stage() -> None:
    routes = HttpRoutes(
        [rest("GET", "/ping"), rest("GET", "/"), rest("ANY", "/items/{proxy+}")], "dev"
    )
    ping = routes.match("GET", "/dev/ping")
    assert ping is not None and ping.resource_path == "/ping" and ping.rest
    assert routes.match("GET", "/dev/ping/") is not None
    assert routes.match("GET", "/ping") is None  # no stage, no REST API
    for root in ("/dev", "/dev/"):
        found = routes.match("GET", root)
        assert found is not None and found.resource_path == "/"
    items = routes.match("DELETE", "/dev/items/a/b")
    assert items is not None and items.path_parameters == {"proxy": "a/b"}
    assert routes.under_rest_stage("/dev/nothing") and not routes.under_rest_stage("/other")


class HttpClock:
    now = 1_795_000_000.0

    def __call__(self) -> float:
        return self.now


def api_with(*routes: HttpRoute) -> HttpApiCore:
    spec = ServiceSpec(
        service="svc",
        stage="dev",
        region="eu-west-1",
        account_id="123456789012",
        route_selection_expression="$request.body.action",
        functions={},
        websocket_routes={},
        http_routes=routes,
    )
    return HttpApiCore(
        spec, ApiInfo("abc123defg", "dev", "eu-west-1", "123456789012"), clock=HttpClock()
    )


def start(
    api: HttpApiCore, method: str, target: str, headers: tuple[tuple[str, str], ...] = ()
) -> tuple[str, list[Action]]:
    path, _, query = target.partition("?")
    started = api.request(HttpRequest(method, path, query, headers, b"", "10.0.0.1", "h:8080"))
    assert started is not None
    return started


def test_a_rest_route_gets_the_proxy_event_aws_sends() -> None:
    api = api_with(rest("GET", "/ping"))
    headers = [("Host", "h:8080"), ("User-Agent", "curl"), ("X-A", "1"), ("X-A", "2")]
    ref, actions = start(api, "GET", "/dev/ping?q=1&q=2", tuple(headers))
    call = only(actions, Invoke)
    assert (call.kind, call.function) == (InvokeKind.HTTP_INTEGRATION, "fn")
    event = call.event
    assert "version" not in event
    assert (event["resource"], event["path"], event["httpMethod"]) == ("/ping", "/ping", "GET")
    assert event["headers"]["X-A"] == "2" and event["multiValueHeaders"]["X-A"] == ["1", "2"]
    assert event["queryStringParameters"] == {"q": "2"}
    assert event["multiValueQueryStringParameters"] == {"q": ["1", "2"]}
    assert event["pathParameters"] is None and event["stageVariables"] is None
    assert (event["body"], event["isBase64Encoded"]) == (None, False)
    ctx = event["requestContext"]
    assert (ctx["stage"], ctx["path"], ctx["resourcePath"]) == ("dev", "/dev/ping", "/ping")
    assert ctx["identity"]["sourceIp"] == "10.0.0.1" and ctx["identity"]["userAgent"] == "curl"
    assert ctx["domainName"] == "h:8080" and ctx["apiId"] == "abc123defg"
    assert len(ctx["requestId"]) == 36  # a UUID, as REST APIs use
    answer = only(
        api.invoked(call, Invocation(ok=True, result={"statusCode": 200, "body": "pong"})), Respond
    )
    assert answer.ref == ref and (answer.response.status, answer.response.body) == (200, b"pong")


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (Invocation(ok=False, error_type="KeyError"), 502),
        (Invocation(ok=True, result="pong"), 502),
        (Invocation(ok=True, result={"body": "no status"}), 502),
        (Invocation(ok=True, result={"statusCode": 200, "body": {"not": "a string"}}), 502),
        (Invocation(ok=True, result={"statusCode": 201}), 201),
    ],
)
def test_rest_answers_a_failed_or_malformed_function_with_502(
    outcome: Invocation, status: int
) -> None:
    api = api_with(rest("GET", "/ping"))
    _, actions = start(api, "GET", "/dev/ping")
    answer = only(api.invoked(only(actions, Invoke), outcome), Respond)
    assert answer.response.status == status
    if status == 502:
        assert json.loads(answer.response.body) == {"message": "Internal server error"}


def test_rest_unknown_resource_is_403_missing_authentication_token() -> None:
    api = api_with(rest("GET", "/ping"))
    for method, target in (("GET", "/dev/pong"), ("POST", "/dev/ping")):
        ref, actions = start(api, method, target)
        answer = only(actions, Respond)
        assert answer.ref == ref and answer.response.status == 403
        assert json.loads(answer.response.body) == {"message": "Missing Authentication Token"}
    assert api.request(HttpRequest("GET", "/elsewhere", "", [], b"", "ip", "h")) is None


def test_http_api_authorizer_then_integration() -> None:
    authorizer = HttpAuthorizer("auth", "authfn", ("$request.header.Authorization",), True, "2.0")
    api = api_with(HttpRoute("GET", "/hello/{name}", "fn", authorizer=authorizer))
    # A missing identity source: 401 at once, nothing invoked.
    _, actions = start(api, "GET", "/hello/ann")
    assert only(actions, Respond).response.status == 401
    # Denied: 403 in the HTTP API's words.
    _, actions = start(api, "GET", "/hello/ann", (("Authorization", "x"),))
    step = only(actions, Invoke)
    assert step.kind is InvokeKind.HTTP_AUTHORIZER and step.event["identitySource"] == ["x"]
    denied = only(api.invoked(step, Invocation(ok=True, result={"isAuthorized": False})), Respond)
    assert json.loads(denied.response.body) == {"message": "Forbidden"}
    # Allowed: the integration runs with the authorizer's context.
    _, actions = start(api, "GET", "/hello/ann", (("Authorization", "x"),))
    step = only(actions, Invoke)
    allowed = Invocation(ok=True, result={"isAuthorized": True, "context": {"user": "ann"}})
    call = only(api.invoked(step, allowed), Invoke)
    assert call.kind is InvokeKind.HTTP_INTEGRATION
    assert call.event["requestContext"]["authorizer"] == {"lambda": {"user": "ann"}}
    assert call.event["pathParameters"] == {"name": "ann"}
    done = only(api.invoked(call, Invocation(ok=True, result={"hello": "ann"})), Respond)
    assert (done.response.status, json.loads(done.response.body)) == (200, {"hello": "ann"})
