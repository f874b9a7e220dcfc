"""infra.config on SAM and plain CloudFormation templates (infra.template.cloudformation)."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from infra.config import ConfigError, load_service
from infra.service import ServiceSpec

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
SAM = "AWSTemplateFormatVersion: '2010-09-09'\nTransform: AWS::Serverless-2016-10-31\n"
# A WebSocket API with one route to one function: the skeleton most templates share.
WS_API = """
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: ws, ProtocolType: WEBSOCKET, RouteSelectionExpression: $request.body.op}
  Stage:
    Type: AWS::ApiGatewayV2::Stage
    Properties: {ApiId: !Ref Api, StageName: live}
  Route:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Api
      RouteKey: $default
      Target: !Sub integrations/${Integ}
  Integ:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Api
      IntegrationType: AWS_PROXY
      IntegrationUri: !Sub >-
        arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Fn.Arn}/invocations
"""
FN = """
  Fn:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src/, Handler: app.handler, Runtime: python3.12}
"""


def template(tmp_path: Path, body: str, name: str = "template.yaml") -> Path:
    (tmp_path / "src").mkdir(exist_ok=True)
    path = tmp_path / name
    if body.startswith(SAM):  # SAM's header + an indented block
        body = SAM + dedent(body[len(SAM) :])
    path.write_text(dedent(body))
    return path


def load(tmp_path: Path, body: str, **kwargs: object) -> ServiceSpec:
    return load_service(template(tmp_path, body), env={}, **kwargs)  # type: ignore[arg-type]


def test_the_sam_corpus_service_reads_as_sam_deploys_it() -> None:
    spec = load_service(CORPUS / "sam_chat", env={})
    assert (spec.service, spec.stage, spec.region) == ("sam-chat", "Prod", "us-east-1")
    assert spec.route_selection_expression == "$request.body.action"
    routes = {key: route.function for key, route in spec.websocket_routes.items()}
    assert routes == {
        "$connect": "OnConnectFunction",
        "$disconnect": "OnDisconnectFunction",
        "sendmessage": "SendMessageFunction",
    }
    send = spec.functions["SendMessageFunction"]
    assert send.code_root == CORPUS / "sam_chat" / "sendmessage"  # its own CodeUri
    assert (send.handler, send.runtime, send.memory_mb, send.timeout_s) == (
        "app.handler",
        "python3.12",
        256,
        15.0,
    )
    assert send.environment == {"TABLE_NAME": "simplechat_connections"}  # Globals + !Ref
    assert send.deployed_name is not None and send.deployed_name.startswith(
        "sam-chat-SendMessageFunction-"
    )
    assert [t["TableName"] for t in spec.tables] == ["simplechat_connections"]
    assert spec.tables[0]["SSESpecification"] == {"SSEEnabled": True}
    assert spec.ignored == ()


def test_the_cloudformation_corpus_service() -> None:
    spec = load_service(CORPUS / "cfn_websocket" / "template.yaml", env={})
    assert spec.stage == "production"
    connect = spec.websocket_routes["$connect"]
    assert connect.function == "EchoFunction"
    assert connect.authorizer is not None
    assert connect.authorizer.function == "AuthorizerFunction"
    assert connect.authorizer.identity_sources == ("route.request.querystring.token",)
    assert spec.websocket_routes["echo"].route_response
    assert not spec.websocket_routes["$default"].route_response
    echo = spec.functions["EchoFunction"]
    assert echo.code_root == CORPUS / "cfn_websocket" / "src"
    assert echo.deployed_name == "cfn-websocket-echo"
    assert spec.deployed_name("EchoFunction") == "cfn-websocket-echo"
    assert echo.environment["LOG_LEVEL"] == "INFO" and "TRACE_HEADER" not in echo.environment
    assert echo.environment["API_ENDPOINT"].startswith("wss://")
    assert echo.timeout_s == 10.0
    assert spec.functions["AuthorizerFunction"].timeout_s == 3.0  # CloudFormation's default
    assert spec.ignored == (
        "Resources: AWS::IAM::Role (FunctionRole): not created locally (IAM is not enforced)",
    )


def test_parameter_overrides_and_a_stage_of_the_template_own(tmp_path: Path) -> None:
    corpus = CORPUS / "cfn_websocket" / "template.yaml"
    spec = load_service(
        corpus, env={}, parameter_overrides={"StageName": "qa", "LogLevel": "DEBUG"}
    )
    assert spec.stage == "qa"
    env = spec.functions["EchoFunction"].environment
    assert env["LOG_LEVEL"] == "DEBUG" and env["TRACE_HEADER"] == "yes"
    with pytest.raises(ConfigError, match=r"StageName is 'production', not 'dev'"):
        load_service(corpus, "dev", env={})
    assert load_service(corpus, "production", env={}).stage == "production"
    with pytest.raises(ConfigError, match=r"no parameter named Nope"):
        load_service(corpus, env={}, parameter_overrides={"Nope": "x"})


def test_samconfig_gives_stack_name_region_and_overrides(tmp_path: Path) -> None:
    (tmp_path / "samconfig.toml").write_text(
        dedent(
            """
            version = 0.1
            [default.deploy.parameters]
            stack_name = "chat-stack"
            region = "eu-west-3"
            parameter_overrides = "Env=\\"blue green\\" Size=2"
            """
        )
    )
    spec = load(
        tmp_path,
        SAM
        + """
        Parameters:
          Env: {Type: String, Default: dev}
          Size: {Type: Number, Default: 1}
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: src/
              Handler: app.handler
              Runtime: python3.12
              Environment:
                Variables: {ENV: !Ref Env, SIZE: !Ref Size, STACK: !Ref AWS::StackName}
        """,
    )
    assert (spec.service, spec.region) == ("chat-stack", "eu-west-3")
    assert spec.functions["Fn"].environment == {
        "ENV": "blue green",
        "SIZE": "2",
        "STACK": "chat-stack",
    }


def test_a_directory_finds_its_template_when_it_has_no_serverless_yml(tmp_path: Path) -> None:
    template(tmp_path, SAM + "Resources:" + WS_API + FN, name="template.yml")
    spec = load_service(tmp_path, env={})
    assert spec.stage == "live" and spec.route_selection_expression == "$request.body.op"
    assert spec.websocket_routes["$default"].function == "Fn"


def test_sam_layers_simple_tables_events_and_globals(tmp_path: Path) -> None:
    (tmp_path / "layer" / "python").mkdir(parents=True)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "requirements.txt").write_text("requests\n")
    spec = load(
        tmp_path,
        SAM
        + """
        Globals:
          Function:
            Runtime: python3.11
            Architectures: [arm64]
            Timeout: 20
        Resources:
          Deps:
            Type: AWS::Serverless::LayerVersion
            Properties: {ContentUri: layer/}
          Items:
            Type: AWS::Serverless::SimpleTable
            Properties: {TableName: items}
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: src/
              Handler: app.handler
              FunctionName: the-fn
              ReservedConcurrentExecutions: 2
              Layers: [!Ref Deps]
              Environment:
                Variables: {TABLE: !Ref Items, ARN: !GetAtt Items.Arn}
              Events:
                Hello:
                  Type: HttpApi
                  Properties: {Path: /hello, Method: get}
                Legacy:
                  Type: Api
                  Properties: {Path: '/items/{id}', Method: any}
                Tick:
                  Type: Schedule
                  Properties: {Schedule: rate(1 hour)}
        """,
    )
    fn = spec.functions["Fn"]
    root = tmp_path.resolve()
    assert fn.layers == (root / "layer",)
    assert fn.requirements == root / "src" / "requirements.txt"
    assert (fn.runtime, fn.architecture, fn.timeout_s) == ("python3.11", "arm64", 20.0)
    assert (fn.deployed_name, fn.reserved_concurrency) == ("the-fn", 2)
    assert fn.environment["TABLE"] == "items"
    assert fn.environment["ARN"].endswith(":table/items")
    assert [t["TableName"] for t in spec.tables] == ["items"]
    routes = {(r.api, r.method, r.path, r.payload_version) for r in spec.http_routes}
    assert routes == {("http", "GET", "/hello", "2.0"), ("rest", "*", "/items/{id}", "1.0")}
    assert any(
        line.startswith("Resources.Fn.Properties.Events.Tick (Schedule)") for line in spec.ignored
    )


def test_http_api_resources_with_a_request_authorizer(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        SAM
        + dedent(
            """
        Resources:
          Http:
            Type: AWS::ApiGatewayV2::Api
            Properties: {Name: http, ProtocolType: HTTP}
          Auth:
            Type: AWS::ApiGatewayV2::Authorizer
            Properties:
              ApiId: !Ref Http
              AuthorizerType: REQUEST
              AuthorizerUri: !Join
                - ''
                - [!Sub 'arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/',
                   !GetAtt Authz.Arn, /invocations]
              IdentitySource: [$request.header.Authorization]
              AuthorizerPayloadFormatVersion: '2.0'
              EnableSimpleResponses: true
              Name: auth
          Integ:
            Type: AWS::ApiGatewayV2::Integration
            Properties:
              ApiId: !Ref Http
              IntegrationType: AWS_PROXY
              IntegrationUri: !GetAtt Fn.Arn
              PayloadFormatVersion: '1.0'
          Route:
            Type: AWS::ApiGatewayV2::Route
            Properties:
              ApiId: !Ref Http
              RouteKey: POST /rooms/{room}
              AuthorizationType: CUSTOM
              AuthorizerId: !Ref Auth
              Target: !Join [/, [integrations, !Ref Integ]]
        """
        )
        + FN
        + FN.replace("Fn:", "Authz:"),
    )
    (route,) = spec.http_routes
    assert (route.method, route.path, route.function, route.payload_version) == (
        "POST",
        "/rooms/{room}",
        "Fn",
        "1.0",
    )
    assert route.authorizer is not None
    assert (route.authorizer.function, route.authorizer.simple_responses) == ("Authz", True)
    assert route.authorizer.identity_sources == ("$request.header.Authorization",)


def test_inline_zipfile_code_is_laid_out_as_index_py(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        """
        Resources:
          Fn:
            Type: AWS::Lambda::Function
            Properties:
              Runtime: python3.12
              Handler: index.handler
              Role: arn:aws:iam::123456789012:role/x
              Code:
                ZipFile: |
                  def handler(event, context):
                      return {"statusCode": 200}
        """,
    )
    root = spec.functions["Fn"].code_root
    assert root is not None
    assert "def handler" in (root / "index.py").read_text()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            SAM + "Resources:" + WS_API + FN.replace("python3.12", "nodejs20.x"),
            r"Resources\.Fn\.Properties\.Runtime: runtime nodejs20\.x is not reproduced",
        ),
        (
            SAM + "Resources:" + WS_API + FN + WS_API.replace("Api:", "Api2:", 1),
            r"2 WebSocket APIs \(Api, Api2\)",
        ),
        (
            SAM + "Resources:" + WS_API.replace("AWS_PROXY", "MOCK") + FN,
            r"Resources\.Integ\.Properties\.IntegrationType: MOCK is not reproduced",
        ),
        (
            "Resources:\n  Fn:\n    Type: AWS::Lambda::Function\n    Properties:\n"
            "      Runtime: python3.12\n      Handler: a.b\n"
            "      Code: {S3Bucket: b, S3Key: k.zip}\n",
            r"Resources\.Fn\.Properties\.Code: the code is not local",
        ),
        (
            "Resources:\n  Fn:\n    Type: AWS::Lambda::Function\n    Properties:\n"
            "      Runtime: python3.12\n      Handler: a.b\n      Code: src/\n"
            "      Environment: {Variables: {X: !ImportValue shared}}\n",
            r"Resources\.Fn\.Properties\.Environment.*Fn::ImportValue has no local value",
        ),
        (
            SAM + "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n"
            "    Properties: {CodeUri: src/, Handler: a.b, Runtime: python3.12, "
            "Events: {X: {Type: Api, Properties: {Path: /x}}}}\n",
            r"the SAM transform refused this template: .*Method",
        ),
        (
            "Transform: AWS::LanguageExtensions\nResources: {}\n",
            r"Transform: AWS::LanguageExtensions is not reproduced",
        ),
    ],
)
def test_what_would_run_differently_is_refused_naming_the_place(
    tmp_path: Path, body: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, body)


def test_an_unreadable_definition_says_which_kinds_are_read(tmp_path: Path) -> None:
    path = tmp_path / "weird.yml"
    path.write_text("just: a mapping\n")
    with pytest.raises(ConfigError, match=r"serverless\.yml .* SAM / CloudFormation template"):
        load_service(path, env={})
    path.write_text("key: [unclosed\n")
    with pytest.raises(ConfigError, match=r"(?s)not YAML or JSON.*SAM / CloudFormation"):
        load_service(path, env={})
    with pytest.raises(ConfigError, match=r"JavaScript/TypeScript.*SAM / CloudFormation"):
        load_service(tmp_path / "serverless.ts", env={})
    with pytest.raises(ConfigError, match=r"no serverless\.yml.*template\.yaml"):
        load_service(tmp_path, env={})
