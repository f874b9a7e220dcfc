"""HTTP API helpers: route matching, authorizer verdicts, payload 2.0 result mapping."""

from __future__ import annotations

from infra.apigateway.authorizers import policy_verdict, simple_verdict
from infra.apigateway.http_api import HttpRoutes, integration_result
from infra.service import HttpRoute, Invocation


def test_literal_routes_beat_parameters_and_greedy_comes_last() -> None:
    routes = HttpRoutes(
        [
            HttpRoute("ANY", "/{proxy+}", "any"),
            HttpRoute("GET", "/rooms/{room}", "room"),
            HttpRoute("GET", "/rooms/lobby", "lobby"),
            HttpRoute("POST", "/rooms/{room}/messages", "publish"),
        ]
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
    assert HttpRoutes([]).match("GET", "/") is None


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
