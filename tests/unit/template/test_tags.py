"""infra.template.tags: CloudFormation's short tags load as the long form."""

from __future__ import annotations

import pytest
import yaml

from infra.template.errors import ConfigError
from infra.template.tags import load_yaml


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("!Ref Table", {"Ref": "Table"}),
        ("!GetAtt Table.Arn", {"Fn::GetAtt": ["Table", "Arn"]}),
        ("!GetAtt Db.Endpoint.Address", {"Fn::GetAtt": ["Db", "Endpoint.Address"]}),
        ("!GetAtt [Table, Arn]", {"Fn::GetAtt": ["Table", "Arn"]}),
        ("!Sub '${AWS::StackName}-x'", {"Fn::Sub": "${AWS::StackName}-x"}),
        ("!Join ['', [a, !Ref B]]", {"Fn::Join": ["", ["a", {"Ref": "B"}]]}),
        ("!If [C, !Ref AWS::NoValue, 1]", {"Fn::If": ["C", {"Ref": "AWS::NoValue"}, 1]}),
        ("!Select [0, !Split [',', 'a,b']]", {"Fn::Select": [0, {"Fn::Split": [",", "a,b"]}]}),
        ("!FindInMap [M, k, v]", {"Fn::FindInMap": ["M", "k", "v"]}),
        ("!Equals [a, b]", {"Fn::Equals": ["a", "b"]}),
        ("!Not [!Condition C]", {"Fn::Not": [{"Condition": "C"}]}),
        (
            "!And [!Condition A, !Condition B]",
            {"Fn::And": [{"Condition": "A"}, {"Condition": "B"}]},
        ),
        ("!Or [!Condition A, !Condition B]", {"Fn::Or": [{"Condition": "A"}, {"Condition": "B"}]}),
        ("!ImportValue shared-vpc", {"Fn::ImportValue": "shared-vpc"}),
        ("!Base64 hello", {"Fn::Base64": "hello"}),
        ("!Cidr [10.0.0.0/16, 2, 8]", {"Fn::Cidr": ["10.0.0.0/16", 2, 8]}),
        ("!GetAZs ''", {"Fn::GetAZs": ""}),
        ("!Sub\n  - '${A}'\n  - {A: !Ref B}", {"Fn::Sub": ["${A}", {"A": {"Ref": "B"}}]}),
    ],
)
def test_short_tags_are_the_long_form(text: str, expected: object) -> None:
    assert load_yaml(f"value: {text}")["value"] == expected


def test_an_unknown_tag_names_its_line() -> None:
    with pytest.raises(ConfigError, match=r"line 3: unknown tag !Reff"):
        load_yaml("a: 1\nb: 2\nc: !Reff X\n")


def test_plain_yaml_loading_is_unaffected() -> None:
    load_yaml("a: !Ref X")
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load("a: !Ref X")


def test_json_templates_load_too() -> None:
    assert load_yaml('{"Resources": {"T": {"Type": "AWS::DynamoDB::Table"}}}') == {
        "Resources": {"T": {"Type": "AWS::DynamoDB::Table"}}
    }
