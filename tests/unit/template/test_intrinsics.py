"""infra.template.intrinsics: CloudFormation functions over local values."""

from __future__ import annotations

from typing import Any

import pytest

from infra.template.errors import ConfigError
from infra.template.intrinsics import Intrinsics, Pseudo
from infra.template.resources import LocalResources
from infra.template.tags import load_yaml


def evaluate(text: str, **kwargs: Any) -> Any:
    resources = LocalResources("svc", "dev", "eu-west-1", "svc-dev")
    resources.declare("Table", "AWS::DynamoDB::Table", {"TableName": "items"}, lambda v, w: v)
    resources.declare("Bucket", "AWS::S3::Bucket", {}, lambda v, w: v)
    resources.declare("Cluster", "AWS::ECS::Cluster", {}, lambda v, w: v)
    intrinsics = Intrinsics(
        Pseudo(region="eu-west-1", stack_name="svc-dev"),
        parameters=kwargs.get("parameters", {"Env": "prod", "Names": ["a", "b"]}),
        mappings={"Sizes": {"prod": {"memory": 1024}, "dev": {"memory": 128}}},
        conditions={
            "IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
            "IsDev": {"Fn::Not": [{"Condition": "IsProd"}]},
            "Both": {"Fn::And": [{"Condition": "IsProd"}, {"Condition": "IsDev"}]},
            "Either": {"Fn::Or": [{"Condition": "IsProd"}, {"Condition": "IsDev"}]},
            "Loop": {"Condition": "Loop"},
        },
        resources=resources,
    )
    return intrinsics.evaluate(load_yaml(f"v: {text}")["v"], "here")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("!Ref AWS::Region", "eu-west-1"),
        ("!Ref AWS::AccountId", "123456789012"),
        ("!Ref AWS::StackName", "svc-dev"),
        ("!Ref AWS::Partition", "aws"),
        ("!Ref AWS::URLSuffix", "amazonaws.com"),
        ("!Ref Env", "prod"),
        ("!Ref Table", "items"),
        ("!GetAtt Table.Arn", "arn:aws:dynamodb:eu-west-1:123456789012:table/items"),
        ("!Sub '${Table}@${AWS::Region}'", "items@eu-west-1"),
        (
            "!Sub '${Table.Arn}/index/*'",
            "arn:aws:dynamodb:eu-west-1:123456789012:table/items/index/*",
        ),
        ("!Sub ['${X}-${Env}', {X: !Ref Table}]", "items-prod"),
        ("!Sub 'literal ${!NotAVariable}'", "literal ${NotAVariable}"),
        ("!Join ['-', [a, !Ref Env, 3]]", "a-prod-3"),
        ("!Join [',', !Ref Names]", "a,b"),
        ("!Select [1, !Ref Names]", "b"),
        ("!Select [2, !Split ['/', 'a/b/c']]", "c"),
        ("!If [IsProd, big, small]", "big"),
        ("!If [IsDev, big, small]", "small"),
        ("!If [Both, 'y', 'n']", "n"),
        ("!If [Either, 'y', 'n']", "y"),
        ("!FindInMap [Sizes, !Ref Env, memory]", 1024),
        ("!Base64 hi", "aGk="),
        ("!GetAZs ''", ["eu-west-1a", "eu-west-1b", "eu-west-1c"]),
        ("!Cidr [10.0.0.0/16, 2, 8]", ["10.0.0.0/24", "10.0.1.0/24"]),
        ("{a: 1, b: !Ref AWS::NoValue}", {"a": 1}),
        ("[1, !If [IsDev, 2, !Ref AWS::NoValue], 3]", [1, 3]),
    ],
)
def test_functions_evaluate_to_local_values(text: str, expected: Any) -> None:
    assert evaluate(text) == expected


def test_unnamed_resources_get_cloudformation_style_names_stable_across_runs() -> None:
    name = evaluate("!Ref Bucket")
    assert name.startswith("svc-dev-bucket-") and name == name.lower()
    assert evaluate("!Ref Bucket") == name


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("!ImportValue shared", r"here: Fn::ImportValue has no local value"),
        ("!GetAtt Table.StreamArn", r"Fn::GetAtt Table\.StreamArn \(AWS::DynamoDB::Table\) has no"),
        ("!Ref Cluster", r"Ref Cluster \(AWS::ECS::Cluster\) has no local value"),
        ("!Ref Nothing", r"Ref Nothing: no parameter or resource of that name"),
        ("!Ref AWS::Nope", r"unknown pseudo parameter AWS::Nope"),
        ("!If [Missing, a, b]", r"no condition named Missing"),
        ("!If [Loop, a, b]", r"condition Loop refers to itself"),
        ("!Select [5, [a]]", r"index 5 is out of range"),
        ("!FindInMap [Sizes, qa, memory]", r"Mappings\.Sizes\.qa\.memory does not exist"),
        ("!Sub '${Cluster.Arn}'", r"Fn::GetAtt Cluster\.Arn \(AWS::ECS::Cluster\)"),
    ],
)
def test_what_has_no_local_value_is_refused_naming_the_place(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        evaluate(text)
