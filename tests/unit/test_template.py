"""The packaged CloudFormation template: what `osls deploy` would create on AWS.

Reads `.serverless/` as written by scripts/package.sh (which `make test` runs first);
when the template is missing or older than serverless.yml (or handlers/), this module
packages first.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from wschat_protocol import ACTIONS

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / ".serverless"
TEMPLATE = OUT / "cloudformation-template-update-stack.json"
STAGE = "dev"  # what scripts/package.sh packages by default
ARCHITECTURE = "arm64"  # serverless.yml's default (custom.architecture)
LAYER_ZIP = REPO / "build" / f"layer-{ARCHITECTURE}.zip"
# ELF e_machine of the layer's native extensions, by Lambda architecture.
ELF_MACHINE = {"arm64": 183, "x86_64": 62}
# The first four bytes of a .pyc written by CPython 3.12 (importlib.util.MAGIC_NUMBER).
PYC_MAGIC_312 = (3531).to_bytes(2, "little") + b"\r\n"

ANSWERING_ROUTES = (*ACTIONS, "$default")
# In the python3.12 Lambda runtime, so deliberately not in the layer.
RUNTIME_MODULES = {"boto3", "botocore"}

Template = dict[str, Any]


def _stale() -> bool:
    """Missing, older than serverless.yml or the code it zips, or for another stage or
    architecture."""
    if not TEMPLATE.exists():
        return True
    sources = [
        REPO / "serverless.yml",
        *(REPO / "handlers").rglob("*.py"),
        *(REPO / "wschat_protocol").rglob("*.py"),
    ]
    if TEMPLATE.stat().st_mtime < max(p.stat().st_mtime for p in sources):
        return True
    resources = json.loads(TEMPLATE.read_text())["Resources"]
    api = resources.get("WebsocketsApi", {}).get("Properties", {})
    layer = resources.get("DepsLambdaLayer", {}).get("Properties", {})
    return bool(
        api.get("Name") != f"wschat-{STAGE}"
        or layer.get("CompatibleArchitectures") != [ARCHITECTURE]
    )


@pytest.fixture(scope="module")
def template() -> Template:
    if _stale():
        if not (REPO / "node_modules" / ".bin" / "osls").exists():
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=REPO, check=True)
        # The deployed default, whatever the local stack runs (tests/conftest.py).
        env = {**os.environ, "WSCHAT_ARCHITECTURE": ARCHITECTURE}
        subprocess.run([str(REPO / "scripts" / "package.sh"), STAGE], cwd=REPO, env=env, check=True)
    data: Template = json.loads(TEMPLATE.read_text())
    return data


def resources(t: Template, type_: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in t["Resources"].items() if v["Type"] == type_}


def props(t: Template, logical_id: str) -> dict[str, Any]:
    p: dict[str, Any] = t["Resources"][logical_id]["Properties"]
    return p


def ref(value: Any) -> str:
    """The logical id a `{"Ref": id}` or `{"Fn::GetAtt": [id, attr]}` points at."""
    assert isinstance(value, dict) and len(value) == 1, value
    if "Ref" in value:
        return str(value["Ref"])
    return str(value["Fn::GetAtt"][0])


def render(value: Any) -> str:
    """A resource ARN as text, intrinsics shown as {Name} / {Name.Attr} placeholders."""
    if isinstance(value, str):
        return value
    (fn, arg), *_ = value.items()
    if fn == "Ref":
        return "{" + str(arg) + "}"
    if fn == "Fn::GetAtt":
        return "{" + ".".join(arg) + "}"
    if fn == "Fn::Sub":
        return str(arg if isinstance(arg, str) else arg[0])
    if fn == "Fn::Join":
        sep, parts = arg
        return str(sep).join(render(p) for p in parts)
    raise AssertionError(f"unexpected intrinsic in a policy resource: {value}")


def too_broad(arn: str) -> bool:
    """`*`, or an ARN whose region, account or resource part is a bare wildcard."""
    if arn.strip() == "*":
        return True
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return False  # a {Table.Arn} placeholder: the resource itself
    _, _, service, region, account, resource = parts
    return "*" in service or region == "*" or account == "*" or resource.startswith("*")


def statements(t: Template) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every IAM policy statement in the template, with the resource that holds it."""
    for logical, res in t["Resources"].items():
        p = res.get("Properties", {})
        docs: list[Any] = []
        if res["Type"] == "AWS::IAM::Role":
            docs = [pol["PolicyDocument"] for pol in p.get("Policies", [])]
        elif res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            docs = [p["PolicyDocument"]]
        for doc in docs:
            for st in doc["Statement"]:
                yield logical, st


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_of(t: Template, function_id: str) -> str:
    return ref(props(t, function_id)["Role"])


def allowed(t: Template, role: str, action: str) -> list[str]:
    """Rendered resources `role` may perform `action` on."""
    out: list[str] = []
    for logical, st in statements(t):
        if logical == role and st["Effect"] == "Allow" and action in as_list(st["Action"]):
            out.extend(render(r) for r in as_list(st["Resource"]))
    return out


def actions_of(t: Template, role: str) -> set[str]:
    return {a for logical, st in statements(t) if logical == role for a in as_list(st["Action"])}


def ws_routes(t: Template) -> dict[str, dict[str, Any]]:
    routes = resources(t, "AWS::ApiGatewayV2::Route")
    return {
        r["Properties"]["RouteKey"]: {"id": k, **r["Properties"]}
        for k, r in routes.items()
        if ref(r["Properties"]["ApiId"]) == "WebsocketsApi"
    }


def functions(t: Template) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in resources(t, "AWS::Lambda::Function").items()}


# WebSocket API


def test_websocket_api_routes_each_protocol_action_by_its_name(template: Template) -> None:
    api = props(template, "WebsocketsApi")
    assert api["ProtocolType"] == "WEBSOCKET"
    assert api["RouteSelectionExpression"] == "$request.body.action"
    assert api["Name"] == f"wschat-{STAGE}"
    routes = ws_routes(template)
    assert set(routes) == {*ACTIONS, "$connect", "$disconnect", "$default"}


def test_connect_is_guarded_by_the_query_string_token_authorizer(template: Template) -> None:
    connect = ws_routes(template)["$connect"]
    assert connect["AuthorizationType"] == "CUSTOM"
    authorizer = props(template, ref(connect["AuthorizerId"]))
    assert authorizer["AuthorizerType"] == "REQUEST"
    assert authorizer["IdentitySource"] == ["route.request.querystring.token"]
    assert "{AuthorizerLambdaFunction.Arn}" in render(authorizer["AuthorizerUri"])
    # API Gateway only runs authorizers on $connect; nothing else claims one.
    others = [k for k, r in ws_routes(template).items() if k != "$connect" and "AuthorizerId" in r]
    assert others == []


def test_message_routes_answer_the_sender_and_lifecycle_routes_do_not(template: Template) -> None:
    routes = ws_routes(template)
    answered = {
        ref(r["Properties"]["RouteId"]): r["Properties"]["RouteResponseKey"]
        for r in resources(template, "AWS::ApiGatewayV2::RouteResponse").values()
    }
    for key in ANSWERING_ROUTES:
        assert routes[key].get("RouteResponseSelectionExpression") == "$default", key
        assert answered.get(routes[key]["id"]) == "$default", key
    for key in ("$connect", "$disconnect"):
        assert routes[key]["id"] not in answered


def test_websocket_routes_invoke_the_functions_serverless_yml_names(template: Template) -> None:
    integrations = resources(template, "AWS::ApiGatewayV2::Integration")
    expected = {"$connect": "Connect", "$disconnect": "Disconnect"}
    for key, route in ws_routes(template).items():
        integration_id = render(route["Target"]).removeprefix("integrations/").strip("{}")
        uri = render(integrations[integration_id]["Properties"]["IntegrationUri"])
        assert f"{{{expected.get(key, 'Message')}LambdaFunction.Arn}}" in uri, key


# HTTP API (publish)


def test_publish_route_needs_the_bearer_token_authorizer(template: Template) -> None:
    http = {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in resources(template, "AWS::ApiGatewayV2::Route").values()
        if ref(r["Properties"]["ApiId"]) == "HttpApi"
    }
    assert set(http) == {"POST /rooms/{room}/messages"}
    route = http["POST /rooms/{room}/messages"]
    assert route["AuthorizationType"] == "CUSTOM"
    authorizer = props(template, ref(route["AuthorizerId"]))
    assert authorizer["AuthorizerType"] == "REQUEST"
    assert authorizer["IdentitySource"] == ["$request.header.Authorization"]
    assert authorizer["AuthorizerPayloadFormatVersion"] == "2.0"
    assert authorizer["EnableSimpleResponses"] is True
    assert "{PublishAuthorizerLambdaFunction.Arn}" in render(authorizer["AuthorizerUri"])
    integration = props(template, render(route["Target"]).split("/")[1].strip("{}"))
    assert ref(integration["IntegrationUri"]) == "PublishLambdaFunction"


def test_publish_knows_the_websocket_management_endpoint(template: Template) -> None:
    env = props(template, "PublishLambdaFunction")["Environment"]["Variables"]
    endpoint = render(env["CHAT_MANAGEMENT_ENDPOINT"])
    assert (
        endpoint
        == f"https://{{WebsocketsApi}}.execute-api.{{AWS::Region}}.{{AWS::URLSuffix}}/{STAGE}"
    )
    # The merge in resources.extensions must keep every variable the others get.
    others = props(template, "MessageLambdaFunction")["Environment"]["Variables"]
    assert others.items() <= env.items()


# DynamoDB


@pytest.mark.parametrize(
    ("logical", "env_var"),
    [("ConnectionsTable", "CHAT_CONNECTIONS_TABLE"), ("MessagesTable", "CHAT_MESSAGES_TABLE")],
)
def test_tables_are_on_demand_expire_items_and_are_the_ones_functions_use(
    template: Template, logical: str, env_var: str
) -> None:
    table = props(template, logical)
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table.get("TimeToLiveSpecification") == {"AttributeName": "expiresAt", "Enabled": True}
    assert table["TableName"].startswith(f"wschat-{STAGE}-")
    for name, fn in functions(template).items():
        assert fn["Environment"]["Variables"][env_var] == table["TableName"], name


# IAM


def test_the_wildcard_check_recognises_the_framework_default_grants() -> None:
    # The statements osls's default role would add; they are why the roles are our own.
    assert too_broad("*")
    assert too_broad("arn:${AWS::Partition}:execute-api:*:*:*/@connections/*")
    assert too_broad("arn:aws:dynamodb:us-east-1:123456789012:*")
    assert not too_broad("arn:aws:logs:{AWS::Region}:{AWS::AccountId}:log-group:/aws/lambda/x:*")


def test_no_policy_grants_everything_or_anything_everywhere(template: Template) -> None:
    found = list(statements(template))
    assert found, "no IAM statements found: the roles moved?"
    for logical, st in found:
        assert "NotResource" not in st and "NotAction" not in st, (logical, st)
        for action in as_list(st["Action"]):
            assert action != "*" and not action.endswith(":*"), (logical, action)
        for resource in as_list(st["Resource"]):
            assert not too_broad(render(resource)), (logical, render(resource))


def test_nothing_may_scan_a_table(template: Template) -> None:
    actions = {a.lower() for _, st in statements(template) for a in as_list(st["Action"])}
    assert "dynamodb:scan" not in actions


def test_chat_functions_reach_only_the_two_tables_and_this_apis_connections(
    template: Template,
) -> None:
    for fn in ("Connect", "Disconnect", "Message", "Publish"):
        role = role_of(template, f"{fn}LambdaFunction")
        for action in ("dynamodb:Query", "dynamodb:PutItem", "dynamodb:BatchWriteItem"):
            assert sorted(allowed(template, role, action)) == [
                "{ConnectionsTable.Arn}",
                "{MessagesTable.Arn}",
            ]
        assert allowed(template, role, "execute-api:ManageConnections") == [
            f"arn:{{AWS::Partition}}:execute-api:{{AWS::Region}}:{{AWS::AccountId}}:"
            f"{{WebsocketsApi}}/{STAGE}/POST/@connections/*"
        ]


def test_authorizers_read_only_the_jwt_secret_parameter(template: Template) -> None:
    for fn in ("AuthorizerLambdaFunction", "PublishAuthorizerLambdaFunction"):
        role = role_of(template, fn)
        name = props(template, fn)["Environment"]["Variables"]["CHAT_JWT_SECRET_PARAM"]
        assert name == f"/wschat/{STAGE}/jwt-secret"
        assert allowed(template, role, "ssm:GetParameter") == [
            f"arn:{{AWS::Partition}}:ssm:{{AWS::Region}}:{{AWS::AccountId}}:parameter{name}"
        ]
        assert not [a for a in actions_of(template, role) if not a.startswith(("ssm:", "logs:"))]
        assert allowed(template, role, "execute-api:ManageConnections") == []


def test_every_function_can_write_its_own_log_group_which_expires(template: Template) -> None:
    for logical, fn in functions(template).items():
        group_id = logical.removesuffix("LambdaFunction") + "LogGroup"
        group = props(template, group_id)
        assert group["LogGroupName"] == f"/aws/lambda/{fn['FunctionName']}"
        assert group["RetentionInDays"] == 14
        role = role_of(template, logical)
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            assert f"{{{group_id}.Arn}}" in allowed(template, role, action), (logical, action)


# Operations: throttling, access logs, alarms, dashboard, fan-out failures, backups


def stage(t: Template, api: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        r["Properties"]
        for r in resources(t, "AWS::ApiGatewayV2::Stage").values()
        if ref(r["Properties"]["ApiId"]) == api
    ]
    assert len(found) == 1, api
    return found[0]


def test_both_apis_are_throttled_with_tighter_limits_on_connect_and_fan_out(
    template: Template,
) -> None:
    ws = stage(template, "WebsocketsApi")
    default = ws["DefaultRouteSettings"]
    assert 0 < default["ThrottlingRateLimit"] <= default["ThrottlingBurstLimit"]
    routes = ws["RouteSettings"]
    assert set(routes) == {"$connect", "send", "direct"}
    for key, limits in routes.items():
        # Each named route is held below the stage default, and below the account's
        # 500 new connections/s for $connect.
        assert limits["ThrottlingRateLimit"] < default["ThrottlingRateLimit"], key
        assert limits["ThrottlingRateLimit"] <= limits["ThrottlingBurstLimit"], key
    assert routes["$connect"]["ThrottlingRateLimit"] < 500
    assert set(routes) <= set(ws_routes(template))
    http = stage(template, "HttpApi")["DefaultRouteSettings"]
    assert 0 < http["ThrottlingRateLimit"] <= http["ThrottlingBurstLimit"]


@pytest.mark.parametrize(
    ("api", "fields"),
    [
        (
            "WebsocketsApi",
            {
                "requestId": "$context.requestId",
                "connectionId": "$context.connectionId",
                "routeKey": "$context.routeKey",
                "status": "$context.status",
                "integrationLatency": "$context.integrationLatency",
                "errorMessage": "$context.error.message",
            },
        ),
        (
            "HttpApi",
            {
                "requestId": "$context.requestId",
                "routeKey": "$context.routeKey",
                "status": "$context.status",
                "integrationLatency": "$context.integrationLatency",
                "errorMessage": "$context.error.message",
            },
        ),
    ],
)
def test_access_logs_are_json_with_what_on_call_needs(
    template: Template, api: str, fields: dict[str, str]
) -> None:
    settings = stage(template, api)["AccessLogSettings"]
    line = json.loads(settings["Format"])  # one JSON object per request
    assert fields.items() <= line.items()
    group = props(template, ref(settings["DestinationArn"]))
    assert group["RetentionInDays"] == 14
    assert group["LogGroupName"].startswith("/aws/apigateway/wschat-")


def alarms(t: Template) -> dict[str, dict[str, Any]]:
    return {
        v["Properties"]["AlarmName"]: v["Properties"]
        for v in resources(t, "AWS::CloudWatch::Alarm").values()
    }


def alarm_metrics(alarm: dict[str, Any]) -> set[tuple[str, str]]:
    """(namespace, metric name) pairs an alarm reads."""
    if "MetricName" in alarm:
        return {(alarm["Namespace"], alarm["MetricName"])}
    return {
        (m["MetricStat"]["Metric"]["Namespace"], m["MetricStat"]["Metric"]["MetricName"])
        for m in alarm["Metrics"]
        if "MetricStat" in m
    }


def test_alarms_watch_lambda_and_our_own_metrics_and_notify(template: Template) -> None:
    found = alarms(template)
    read = {pair for a in found.values() for pair in alarm_metrics(a)}
    assert {
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("wschat", "InternalErrors"),
        ("wschat", "FailedDeliveries"),
        ("wschat", "GoneConnections"),
        ("wschat", "Deliveries"),
        ("wschat", "FanOutTime"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    } <= read
    (p99,) = [a for a in found.values() if a.get("MetricName") == "FanOutTime"]
    assert p99["ExtendedStatistic"] == "p99"
    for name, alarm in found.items():
        assert name.startswith(f"wschat-{STAGE}-"), name
        assert [ref(a) for a in alarm["AlarmActions"]] == ["AlarmTopic"], name
        assert alarm["TreatMissingData"] == "notBreaching", name
        # Our metrics are read with the dimensions the handlers write (service only).
        if alarm.get("Namespace") == "wschat":
            assert alarm["Dimensions"] == [{"Name": "service", "Value": "wschat"}], name


def test_the_lambda_errors_alarm_leaves_out_the_authorizers(template: Template) -> None:
    # A refused token fails an authorizer's invocation by design (API Gateway's 401).
    (errors,) = [
        a for a in alarms(template).values() if ("AWS/Lambda", "Errors") in alarm_metrics(a)
    ]
    names = {
        d["Value"]
        for m in errors["Metrics"]
        if "MetricStat" in m
        for d in m["MetricStat"]["Metric"]["Dimensions"]
    }
    fns = {k: v["FunctionName"] for k, v in functions(template).items()}
    assert names == set(fns.values()) - {
        fns["AuthorizerLambdaFunction"],
        fns["PublishAuthorizerLambdaFunction"],
    }


def joined(value: Any) -> str:
    """A Fn::Join of strings and Refs, with each Ref shown as {Name}."""
    sep, parts = value["Fn::Join"]
    return str(sep).join(p if isinstance(p, str) else "{" + ref(p) + "}" for p in parts)


def test_the_dashboard_shows_the_services_own_metrics(template: Template) -> None:
    (dashboard,) = resources(template, "AWS::CloudWatch::Dashboard").values()
    body = json.loads(joined(dashboard["Properties"]["DashboardBody"]))
    shown = {
        (m[0], m[1])
        for w in body["widgets"]
        if w["type"] == "metric"
        for m in w["properties"]["metrics"]
        if isinstance(m[0], str)
    }
    for metric in (
        "Messages",
        "Deliveries",
        "FailedDeliveries",
        "GoneConnections",
        "InternalErrors",
        "FanOutTime",
        "Connections",
    ):
        assert ("wschat", metric) in shown, metric
    assert {("AWS/Lambda", "Errors"), ("AWS/Lambda", "Throttles")} <= shown
    assert all(
        w["properties"].get("region", "{AWS::Region}") == "{AWS::Region}" for w in body["widgets"]
    )


def test_fanout_is_not_retried_keeps_its_failures_and_has_reserved_concurrency(
    template: Template,
) -> None:
    fanout = functions(template)["FanoutLambdaFunction"]
    assert fanout["ReservedConcurrentExecutions"] > 0
    (config,) = [
        r["Properties"]
        for r in resources(template, "AWS::Lambda::EventInvokeConfig").values()
        if ref(r["Properties"]["FunctionName"]) == "FanoutLambdaFunction"
    ]
    # A retry would deliver the whole shard a second time.
    assert config["MaximumRetryAttempts"] == 0
    destination = config["DestinationConfig"]["OnFailure"]["Destination"]
    assert ref(destination) == "FanoutFailures"
    queue = props(template, "FanoutFailures")
    assert template["Resources"]["FanoutFailures"]["Type"] == "AWS::SQS::Queue"
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_the_message_history_can_be_restored_to_a_point_in_time(template: Template) -> None:
    pitr = props(template, "MessagesTable")["PointInTimeRecoverySpecification"]
    assert pitr == {"PointInTimeRecoveryEnabled": True}


# The optional web page (S3 + CloudFront)

WEB_RESOURCES = {
    "WebBucket": "AWS::S3::Bucket",
    "WebBucketPolicy": "AWS::S3::BucketPolicy",
    "WebOriginAccess": "AWS::CloudFront::OriginAccessControl",
    "WebApiUrl": "AWS::CloudFront::Function",
    "WebDistribution": "AWS::CloudFront::Distribution",
}


def test_web_hosting_is_optional_and_off_by_default(template: Template) -> None:
    assert template["Parameters"]["WebHosting"]["Default"] == "false"
    assert template["Conditions"]["HostWeb"] == {"Fn::Equals": [{"Ref": "WebHosting"}, "true"]}
    for logical, type_ in WEB_RESOURCES.items():
        assert template["Resources"][logical]["Type"] == type_
        assert template["Resources"][logical]["Condition"] == "HostWeb", logical


def test_only_the_distribution_reads_the_private_page_bucket(template: Template) -> None:
    bucket = props(template, "WebBucket")
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    (statement,) = props(template, "WebBucketPolicy")["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert statement["Action"] == ["s3:GetObject"]
    assert [render(r) for r in statement["Resource"]] == ["{WebBucket.Arn}/*"]
    source = render(statement["Condition"]["StringEquals"]["AWS:SourceArn"])
    assert (
        source == "arn:{AWS::Partition}:cloudfront::{AWS::AccountId}:distribution/{WebDistribution}"
    )
    config = props(template, "WebDistribution")["DistributionConfig"]
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    assert ref(config["Origins"][0]["OriginAccessControlId"]) == "WebOriginAccess"


def run_cloudfront_function(code: str, request: dict[str, Any]) -> dict[str, Any]:
    script = (
        code + "\nconsole.log(JSON.stringify(handler({request: " + json.dumps(request) + "})));"
    )
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


@pytest.mark.skipif(shutil.which("node") is None, reason="node runs the CloudFront function")
def test_the_page_is_sent_to_this_stages_websocket_api(template: Template) -> None:
    code = render(props(template, "WebApiUrl")["FunctionCode"])
    ws = f"wss://{{WebsocketsApi}}.execute-api.{{AWS::Region}}.{{AWS::URLSuffix}}/{STAGE}"
    page = run_cloudfront_function(
        code, {"uri": "/", "querystring": {"view": {"value": "dashboard"}}}
    )
    assert page["statusCode"] == 302
    location = page["headers"]["location"]["value"]
    query = dict(p.split("=", 1) for p in location.removeprefix("/?").split("&"))
    assert unquote(query["ws"]) == ws
    assert query["view"] == "dashboard"  # the rest of the query is kept
    # With ?ws= given, and for every other file, the request goes through untouched.
    for request in (
        {"uri": "/", "querystring": {"ws": {"value": "wss://elsewhere"}}},
        {"uri": "/app.js", "querystring": {}},
    ):
        assert run_cloudfront_function(code, request) == request


# Functions and packages


def test_every_function_runs_python312_on_arm64_with_the_deps_layer(template: Template) -> None:
    fns = functions(template)
    assert {k.removesuffix("LambdaFunction") for k in fns} == {
        "Authorizer",
        "Connect",
        "Disconnect",
        "Message",
        "PublishAuthorizer",
        "Publish",
        "Fanout",
    }
    for name, fn in fns.items():
        assert fn["Runtime"] == "python3.12", name
        assert fn["Architectures"] == [ARCHITECTURE], name
        assert fn["FunctionName"].startswith(f"wschat-{STAGE}-"), name
        assert [ref(layer) for layer in fn["Layers"]] == ["DepsLambdaLayer"], name
    layer = props(template, "DepsLambdaLayer")
    assert layer["CompatibleRuntimes"] == ["python3.12"]
    assert layer["CompatibleArchitectures"] == [ARCHITECTURE]


def test_function_zips_hold_the_handlers_and_nothing_else(template: Template) -> None:
    zips = sorted(p for p in OUT.glob("*.zip"))
    assert zips, "no function zip in .serverless/"
    ours = ("handlers/", "wschat_protocol/")  # the handlers and the protocol's facts
    for path in zips:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
        outside = [n for n in names if not n.startswith(ours)]
        assert outside == [], path.name
        assert "wschat_protocol/__init__.py" in names, path.name
        # Bytecode for every module, by python3.12 (scripts/zip_bytecode.py), and no other.
        sources = sorted(n for n in names if n.endswith(".py"))
        compiled = sorted(n for n in names if "__pycache__" in n)
        assert compiled == sorted(pyc_of(n) for n in sources), path.name
        with zipfile.ZipFile(path) as zf:
            assert [n for n in compiled if not is_unchecked_312(zf.read(n))] == []
        for fn in functions(template).values():
            module = fn["Handler"].rsplit(".", 1)[0]
            assert f"{module}.py" in names, (path.name, fn["Handler"])


class _Imports(ast.NodeVisitor):
    """Top-level modules imported at run time (`if TYPE_CHECKING:` blocks skipped)."""

    def __init__(self) -> None:
        self.found: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.found.update(alias.name.split(".")[0] for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            self.found.add(node.module.split(".")[0])


def _imported_top_level(root: Path) -> set[str]:
    visitor = _Imports()
    for path in root.rglob("*.py"):
        visitor.visit(ast.parse(path.read_text(), str(path)))
    return visitor.found


def test_the_layer_provides_every_library_the_handlers_import(template: Template) -> None:
    with zipfile.ZipFile(LAYER_ZIP) as zf:
        top = {n.split("/")[1] for n in zf.namelist() if n.startswith("python/") and "/" in n[7:]}
        binaries = [n for n in zf.namelist() if n.endswith(".so")]
    imported = _imported_top_level(REPO / "handlers") - set(sys.stdlib_module_names)
    missing = imported - {"handlers", "wschat_protocol"} - RUNTIME_MODULES - top
    assert missing == set(), f"imported by handlers/ but not in the layer: {missing}"
    assert {"aws_lambda_powertools", "jwt", "aiohttp", "aws_xray_sdk", "cryptography"} <= top
    assert not RUNTIME_MODULES & top, "boto3/botocore come with the runtime"
    # Compiled for the Lambda runtime, not for the Python running the tests.
    assert binaries
    machine = {"arm64": "aarch64", "x86_64": "x86_64"}[ARCHITECTURE]
    tag = rf"(cpython-312-{machine}-linux-gnu|abi3)\.so$"
    assert [n for n in binaries if not re.search(tag, n)] == []


def test_the_layers_native_code_is_for_the_functions_architecture() -> None:
    with zipfile.ZipFile(LAYER_ZIP) as zf:
        headers = {n: zf.read(n)[:20] for n in zf.namelist() if n.endswith(".so")}
    assert headers
    for name, head in headers.items():
        assert head[:4] == b"\x7fELF", name
        assert int.from_bytes(head[18:20], "little") == ELF_MACHINE[ARCHITECTURE], name


def pyc_of(source: str) -> str:
    folder, _, file = source.rpartition("/")
    return f"{folder}/__pycache__/{file[:-3]}.cpython-312.pyc"


def is_unchecked_312(pyc: bytes) -> bool:
    """Written by CPython 3.12, hash-based and unchecked (PEP 552 flags 0b01): valid
    whatever timestamps the unzipped sources get."""
    return pyc[:4] == PYC_MAGIC_312 and int.from_bytes(pyc[4:8], "little") == 0b01


def test_the_layer_ships_bytecode_compiled_by_python312() -> None:
    # /opt is read-only on Lambda: without these, every cold start compiles the libraries.
    with zipfile.ZipFile(LAYER_ZIP) as zf:
        names = set(zf.namelist())
        sources = [n for n in names if n.endswith(".py")]
        missing = [n for n in sources if pyc_of(n) not in names]
        wrong = [pyc_of(n) for n in sources if pyc_of(n) in names]
        wrong = [n for n in wrong if not is_unchecked_312(zf.read(n)[:8])]
    assert len(sources) > 300
    assert missing == []
    assert wrong == []


def test_no_handler_code_scans_a_table() -> None:
    calls: list[str] = []
    for path in (REPO / "handlers").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            args = [a.value for a in node.args if isinstance(a, ast.Constant)]
            if name == "scan" or (name == "get_paginator" and "scan" in args):
                calls.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert calls == []
