"""Least privilege in the packaged template, beyond tests/unit/test_template.py (which
checks wildcards, Scan, the tables and @connections resources, and the authorizers' SSM
parameter): who may assume the roles, which DynamoDB calls are granted (exactly the ones
the code makes), who may read the JWT secret, and who may invoke the functions.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.unit.test_template import (
    Template,
    actions_of,
    allowed,
    as_list,
    functions,
    render,
    resources,
    role_of,
)

REPO = Path(__file__).resolve().parents[2]
CHAT_FUNCTIONS = ("Connect", "Disconnect", "Message", "Publish")
AUTHORIZERS = ("Authorizer", "PublishAuthorizer")


def dynamodb_calls_in_code() -> set[str]:
    """IAM actions for every DynamoDB client method the handlers call."""
    source = "\n".join(p.read_text() for p in (REPO / "handlers").rglob("*.py"))
    methods = set(re.findall(r"_db\.(\w+)\(", source))
    assert methods, "no DynamoDB calls found: the store moved?"
    # A transaction is authorized item by item (PutItem, UpdateItem, DeleteItem inside it).
    methods.discard("transact_write_items")
    return {"dynamodb:" + "".join(w.title() for w in m.split("_")) for m in methods}


def test_roles_can_be_assumed_by_lambda_only(template: Template) -> None:
    roles = resources(template, "AWS::IAM::Role")
    assert roles
    for logical, role in roles.items():
        props = role["Properties"]
        for st in props["AssumeRolePolicyDocument"]["Statement"]:
            assert st["Effect"] == "Allow" and as_list(st["Action"]) == ["sts:AssumeRole"]
            assert st["Principal"] == {"Service": ["lambda.amazonaws.com"]}, logical
        # Inline policies only: a managed policy would grant what this template cannot show.
        assert not props.get("ManagedPolicyArns"), logical


def test_chat_functions_get_exactly_the_dynamodb_calls_the_code_makes(
    template: Template,
) -> None:
    needed = dynamodb_calls_in_code()
    for fn in CHAT_FUNCTIONS:
        role = role_of(template, f"{fn}LambdaFunction")
        granted = {a for a in actions_of(template, role) if a.startswith("dynamodb:")}
        assert granted == needed, fn


def test_only_the_authorizers_may_read_the_jwt_secret(template: Template) -> None:
    for fn in CHAT_FUNCTIONS:
        role = role_of(template, f"{fn}LambdaFunction")
        assert not [a for a in actions_of(template, role) if a.startswith(("ssm:", "kms:"))], fn
    for fn in AUTHORIZERS:
        role = role_of(template, f"{fn}LambdaFunction")
        assert allowed(template, role, "ssm:GetParameter"), fn


def test_only_this_services_apis_may_invoke_its_functions(template: Template) -> None:
    # Without a SourceArn, any API Gateway in any account that learns a function's ARN can
    # invoke it (the confused deputy): the $connect authorizer included.
    permissions = resources(template, "AWS::Lambda::Permission")
    invoked = {p["Properties"]["FunctionName"]["Fn::GetAtt"][0] for p in permissions.values()}
    # The fanout function has no resource policy at all: only IAM principals of this
    # account granted lambda:InvokeFunction (the chat role, below) can invoke it.
    assert invoked == set(functions(template)) - {"FanoutLambdaFunction"}
    for logical, permission in permissions.items():
        props = permission["Properties"]
        assert props["Principal"] == "apigateway.amazonaws.com", logical
        assert "SourceArn" in props, f"{logical} can be invoked by any API Gateway"
        arn = render(props["SourceArn"])
        assert re.fullmatch(
            r"arn:\{AWS::Partition\}:execute-api:\{AWS::Region\}:\{AWS::AccountId\}:"
            r"\{(WebsocketsApi|HttpApi)\}/.+",
            arn,
        ), (logical, arn)


def test_only_the_chat_functions_may_hand_shards_to_the_fanout_function(
    template: Template,
) -> None:
    fanout = functions(template)["FanoutLambdaFunction"]["FunctionName"]
    arn = f"arn:{{AWS::Partition}}:lambda:{{AWS::Region}}:{{AWS::AccountId}}:function:{fanout}"
    # The fanout function itself hands the rest of a partition range on: to itself only.
    for fn in (*CHAT_FUNCTIONS, "Fanout"):
        role = role_of(template, f"{fn}LambdaFunction")
        assert allowed(template, role, "lambda:InvokeFunction") == [arn], fn
    for fn in AUTHORIZERS:
        role = role_of(template, f"{fn}LambdaFunction")
        assert allowed(template, role, "lambda:InvokeFunction") == [], fn


def test_the_fanout_function_may_only_post_read_and_clean_its_room_hand_on_and_queue_failures(
    template: Template,
) -> None:
    role = role_of(template, "FanoutLambdaFunction")
    assert role not in {role_of(template, f"{fn}LambdaFunction") for fn in CHAT_FUNCTIONS}
    # Removing a gone connection updates the room's user index, and where it was the
    # user's last connection reads the room's members to tell them `leave`.
    cleanup = ("dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem")
    assert actions_of(template, role) == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        *cleanup,
        "dynamodb:Query",
        "execute-api:ManageConnections",
        "lambda:InvokeFunction",
        "sqs:SendMessage",
    }
    # Its failed shards go to its own failure queue, and nowhere else.
    assert allowed(template, role, "sqs:SendMessage") == ["{FanoutFailures.Arn}"]
    for action in (*cleanup, "dynamodb:Query"):
        assert allowed(template, role, action) == ["{ConnectionsTable.Arn}"]
    stage_arn = allowed(
        template, role_of(template, "MessageLambdaFunction"), "execute-api:ManageConnections"
    )
    assert allowed(template, role, "execute-api:ManageConnections") == stage_arn
