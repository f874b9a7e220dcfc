"""infra.config: serverless.yml as the local harness understands it."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from infra.config import LOCAL_ACCOUNT_ID, ConfigError, load_service
from infra.service import ServiceSpec

REPO = Path(__file__).resolve().parents[2]

BASE = """
service: svc
provider:
  name: aws
  runtime: python3.12
  stage: ${opt:stage, 'dev'}
  region: ${opt:region, 'eu-central-1'}
"""


def load(tmp_path: Path, body: str, stage: str = "dev", **kwargs: object) -> ServiceSpec:
    path = tmp_path / "serverless.yml"
    path.write_text(BASE + dedent(body))
    return load_service(path, stage, **kwargs)  # type: ignore[arg-type]


def test_stage_region_and_self_references_resolve(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        """
        custom:
          table: ${self:service}-${sls:stage}-items
          limits: {prod: 100, dev: 5}
          limit: ${self:custom.limits.${sls:stage}}
        functions:
          f:
            handler: h.f
            environment:
              TABLE: ${self:custom.table}
              LIMIT: ${self:custom.limit}
              WHERE: ${aws:region}/${aws:accountId}
              STAGE_AGAIN: ${self:provider.stage}
        """,
        stage="prod",
    )
    env = spec.functions["f"].environment
    assert (spec.stage, spec.region) == ("prod", "eu-central-1")
    assert env["TABLE"] == "svc-prod-items"
    assert env["LIMIT"] == "100"
    assert env["WHERE"] == f"eu-central-1/{LOCAL_ACCOUNT_ID}"
    assert env["STAGE_AGAIN"] == "prod"


def test_region_argument_beats_the_file(tmp_path: Path) -> None:
    spec = load(tmp_path, "functions: {}", region="ap-south-1")
    assert spec.region == "ap-south-1"


def test_env_variables_with_and_without_defaults(tmp_path: Path) -> None:
    body = """
        functions:
          f:
            handler: h.f
            environment:
              A: ${env:WSCHAT_TEST_A, 'fallback'}
              B: ${env:WSCHAT_TEST_B, ''}
              C: ${env:WSCHAT_TEST_C, ${self:service}}
        """
    spec = load(tmp_path, body, env={"WSCHAT_TEST_A": "set"})
    assert dict(spec.functions["f"].environment) == {"A": "set", "B": "", "C": "svc"}
    spec = load(tmp_path, body, env={})
    assert spec.functions["f"].environment["A"] == "fallback"


def test_a_variable_with_no_value_names_where_it_is(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"functions\.f.*WSCHAT_UNSET"):
        load(
            tmp_path,
            "functions: {f: {handler: h.f, environment: {X: '${env:WSCHAT_UNSET}'}}}",
            env={},
        )


def test_a_self_reference_loop_is_an_error_not_a_hang(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="refers to itself"):
        load(
            tmp_path,
            "custom: {a: '${self:custom.a}'}\n"
            "functions: {f: {handler: h.f, environment: {A: '${self:custom.a}'}}}",
        )


def test_environment_merge_timeouts_and_memory(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        """
          timeout: 10
          memorySize: 512
          environment: {SHARED: provider, ONLY_PROVIDER: p, FLAG: true, N: 3}
        functions:
          a: {handler: h.a, timeout: 29, environment: {SHARED: function}}
          b: {handler: h.b, memorySize: 128, reservedConcurrency: 2}
        """,
    )
    a, b = spec.functions["a"], spec.functions["b"]
    assert dict(a.environment) == {
        "SHARED": "function",
        "ONLY_PROVIDER": "p",
        "FLAG": "true",
        "N": "3",
    }
    assert b.environment["SHARED"] == "provider"
    assert (a.timeout_s, b.timeout_s) == (29.0, 10.0)
    assert (a.memory_mb, b.memory_mb) == (512, 128)
    assert (a.reserved_concurrency, b.reserved_concurrency) == (None, 2)


def test_framework_defaults(tmp_path: Path) -> None:
    spec = load(tmp_path, "functions: {f: {handler: dir/mod.fn, events: [{websocket: $default}]}}")
    f = spec.functions["f"]
    assert (f.timeout_s, f.memory_mb, f.handler) == (6.0, 1024, "dir/mod.fn")
    assert spec.route_selection_expression == "$request.body.action"
    assert spec.websocket_routes["$default"].route_response is False


def test_websocket_routes_responses_and_authorizer(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        """
          websocketsApiRouteSelectionExpression: $request.body.type
        functions:
          auth: {handler: h.auth}
          auth2: {handler: h.auth}
          conn:
            handler: h.conn
            events:
              - websocket:
                  route: $connect
                  authorizer: {name: auth, identitySource: [route.request.querystring.token]}
          msg:
            handler: h.msg
            events:
              - websocket: {route: send, routeResponseSelectionExpression: $default}
              - websocket: $disconnect
        """,
    )
    routes = spec.websocket_routes
    assert spec.route_selection_expression == "$request.body.type"
    assert set(routes) == {"$connect", "send", "$disconnect"}
    assert routes["send"].function == "msg" and routes["send"].route_response
    assert not routes["$disconnect"].route_response
    auth = routes["$connect"].authorizer
    assert auth is not None
    assert (auth.function, auth.identity_sources) == ("auth", ("route.request.querystring.token",))
    assert routes["send"].authorizer is None


def test_websocket_authorizer_default_identity_source(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        """
        functions:
          auth: {handler: h.auth}
          conn: {handler: h.c, events: [{websocket: {route: $connect, authorizer: auth}}]}
        """,
    )
    auth = spec.websocket_routes["$connect"].authorizer
    assert auth is not None and auth.identity_sources == ("route.request.header.Auth",)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "functions: {a: {handler: h.a, events: [{websocket: {route: send, authorizer: a}}]}}",
            "only allowed on \\$connect",
        ),
        (
            "functions: {a: {handler: h.a, events: [{websocket: x}, {websocket: x}]}}",
            "declared twice",
        ),
        (
            "functions: {a: {handler: h.a, events: "
            "[{websocket: {route: $connect, authorizer: nope}}]}}",
            "no function named nope",
        ),
        ("functions: {a: {image: some-image}}", "no handler"),
    ],
)
def test_websocket_mistakes_are_config_errors(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, body)


def test_http_api_routes_and_request_authorizers(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        """
          httpApi:
            authorizers:
              byHeader:
                type: request
                functionName: auth
                identitySource: $request.header.Authorization
                enableSimpleResponses: true
                payloadVersion: '2.0'
              jwt:
                identitySource: $request.header.Authorization
                issuerUrl: https://example.invalid
                audience: [x]
        functions:
          auth: {handler: h.auth}
          pub:
            handler: h.pub
            events:
              - httpApi:
                  method: post
                  path: '/rooms/{room}/messages'
                  authorizer: {name: byHeader}
              - httpApi: 'GET /health'
        """,
    )
    post, get = spec.http_routes
    assert (post.method, post.path, post.function) == ("POST", "/rooms/{room}/messages", "pub")
    assert post.authorizer is not None
    assert post.authorizer.function == "auth"
    assert post.authorizer.identity_sources == ("$request.header.Authorization",)
    assert post.authorizer.simple_responses and post.authorizer.payload_version == "2.0"
    assert (get.method, get.path, get.authorizer) == ("GET", "/health", None)


def test_http_route_with_an_undeclared_authorizer_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"provider\.httpApi\.authorizers"):
        load(
            tmp_path,
            "functions: {p: {handler: h.p, events: [{httpApi: {method: POST, path: /x, "
            "authorizer: {name: missing}}}]}}",
        )


def test_tables_resolved_named_and_referenced(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        """
        functions:
          f:
            handler: h.f
            environment:
              NAMED: {Ref: Named}
              UNNAMED: {Ref: Unnamed}
              ARN: {'Fn::GetAtt': [Named, Arn]}
        resources:
          Resources:
            Named:
              Type: AWS::DynamoDB::Table
              Properties:
                TableName: ${self:service}-${sls:stage}-named
                BillingMode: PAY_PER_REQUEST
                AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
                KeySchema: [{AttributeName: pk, KeyType: HASH}]
            Unnamed:
              Type: AWS::DynamoDB::Table
              Properties:
                AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
                KeySchema: [{AttributeName: pk, KeyType: HASH}]
            Bucket:
              Type: AWS::S3::Bucket
        """,
    )
    names = [t["TableName"] for t in spec.tables]
    assert names[0] == "svc-dev-named"
    assert names[1].startswith("svc-dev-Unnamed-")
    env = spec.functions["f"].environment
    assert env["NAMED"] == "svc-dev-named" and env["UNNAMED"] == names[1]
    assert env["ARN"] == f"arn:aws:dynamodb:eu-central-1:{LOCAL_ACCOUNT_ID}:table/svc-dev-named"


def test_parameters_come_from_the_named_variable(tmp_path: Path) -> None:
    body = """
        functions:
          f: {handler: h.f, environment: {APP_SECRET_PARAM: '/svc/${sls:stage}/secret'}}
        """
    spec = load(tmp_path, body, env={"APP_SECRET": "from-env"})
    assert dict(spec.parameters) == {"/svc/dev/secret": "from-env"}
    spec = load(
        tmp_path, body, env={"APP_SECRET": "from-env"}, parameter_values={"APP_SECRET": "given"}
    )
    assert dict(spec.parameters) == {"/svc/dev/secret": "given"}
    with pytest.raises(ConfigError, match="set APP_SECRET"):
        load(tmp_path, body, env={})


def test_parameters_declared_for_local_runs(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        """
        custom:
          local:
            parameters:
              /svc/${sls:stage}/a: ${env:WSCHAT_TEST_A, 'dev-a'}
        functions:
          f: {handler: h.f, environment: {A_PARAM: /svc/dev/a}}
        """,
        env={},
    )
    assert dict(spec.parameters) == {"/svc/dev/a": "dev-a"}


def test_the_chat_service_file(tmp_path: Path) -> None:
    spec = load_service(
        REPO / "serverless.yml", "prod", env={}, parameter_values={"CHAT_JWT_SECRET": "s"}
    )
    assert (spec.service, spec.stage, spec.region) == ("wschat", "prod", "us-east-1")
    assert spec.route_selection_expression == "$request.body.action"
    routes = spec.websocket_routes
    for action in ("join", "leave", "send", "history", "members", "direct", "whoami", "ping"):
        assert routes[action].function == "message" and routes[action].route_response
    assert routes["$default"].route_response
    connect = routes["$connect"]
    assert connect.authorizer is not None
    assert connect.authorizer.function == "authorizer"
    assert connect.authorizer.identity_sources == ("route.request.querystring.token",)
    assert not routes["$disconnect"].route_response
    (publish,) = spec.http_routes
    assert (publish.method, publish.path, publish.function) == (
        "POST",
        "/rooms/{room}/messages",
        "publish",
    )
    assert publish.authorizer is not None and publish.authorizer.function == "publishAuthorizer"
    assert spec.functions["message"].timeout_s == 29
    assert spec.functions["connect"].environment["CHAT_CONNECTIONS_TABLE"] == (
        "wschat-prod-connections"
    )
    assert {t["TableName"] for t in spec.tables} == {
        "wschat-prod-connections",
        "wschat-prod-messages",
    }
    assert dict(spec.parameters) == {"/wschat/prod/jwt-secret": "s"}


def test_the_echo_service_file() -> None:
    spec = load_service(REPO / "tests" / "echo_service" / "serverless.yml", "qa", env={})
    assert (spec.service, spec.stage, spec.region) == ("echo", "qa", "eu-west-1")
    assert spec.websocket_routes["oneway"].route_response is False
    assert spec.websocket_routes["timeout"].function == "sleepy"
    assert spec.functions["sleepy"].timeout_s == 1.0
    assert spec.functions["echo"].timeout_s == 5.0
    (hello, plain) = spec.http_routes
    assert hello.authorizer is not None and hello.authorizer.name == "headerAuth"
    assert (plain.method, plain.path, plain.authorizer) == ("POST", "/plain", None)
