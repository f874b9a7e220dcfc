"""YAML with CloudFormation's short tags (`!Ref`, `!GetAtt`, `!Sub`, ...) loaded as the long
form (`{"Ref": ...}`, `{"Fn::GetAtt": [...]}`, `{"Fn::Sub": ...}`), as CloudFormation and
the Serverless Framework read them.

A loader class of our own (not `yaml.SafeLoader` with constructors added globally, as
aws-sam-translator's helper does), so plain `yaml.safe_load` elsewhere is unaffected.
"""

from __future__ import annotations

from typing import Any

import yaml

from infra.template.errors import ConfigError

# Short tag -> the long form's key (CloudFormation's list of intrinsic functions).
SHORT_TAGS = {
    "Ref": "Ref",
    "Condition": "Condition",
    **{
        name: f"Fn::{name}"
        for name in (
            "And",
            "Base64",
            "Cidr",
            "Contains",
            "EachMemberEquals",
            "EachMemberIn",
            "Equals",
            "FindInMap",
            "ForEach",
            "GetAZs",
            "GetAtt",
            "If",
            "ImportValue",
            "Join",
            "Length",
            "Not",
            "Or",
            "RefAll",
            "Select",
            "Split",
            "Sub",
            "ToJsonString",
            "Transform",
            "ValueOf",
            "ValueOfAll",
        )
    },
}


class _TemplateLoader(yaml.SafeLoader):
    """SafeLoader plus CloudFormation's short tags."""


def _construct_short_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    key = SHORT_TAGS.get(tag_suffix)
    if key is None:
        mark = node.start_mark
        raise ConfigError(
            f"line {mark.line + 1}: unknown tag !{tag_suffix} "
            f"(CloudFormation's are {', '.join('!' + t for t in sorted(SHORT_TAGS))})"
        )
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":  # !GetAtt Resource.Attribute -> [Resource, Attribute]
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {key: value}


_TemplateLoader.add_multi_constructor("!", _construct_short_tag)


def load_yaml(text: str) -> Any:
    """Parse YAML (or JSON) text, short tags as their long form. YAMLError on bad syntax."""
    return yaml.load(text, Loader=_TemplateLoader)  # a SafeLoader subclass: safe
