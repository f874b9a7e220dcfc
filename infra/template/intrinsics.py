"""CloudFormation's intrinsic functions and conditions, evaluated with local values.

`Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`, `Fn::If`/`Condition`, `Fn::Select`,
`Fn::Split`, `Fn::FindInMap`, `Fn::Equals`/`Not`/`And`/`Or`, `Fn::Base64`, `Fn::GetAZs`,
`Fn::Cidr`, `Fn::Length`, `Fn::ToJsonString` and the pseudo parameters, over template
parameters and the values of resources that exist locally (a table's name and ARN, a
function's name and ARN, the WebSocket API's id...). Whatever has no local value (another
stack's export, an S3 bucket's domain name) is a `ConfigError` naming the place: a guess
would run the code against something that is not there.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from infra.template.errors import ConfigError

# moto's default account: ARNs built locally then agree with the ones moto builds.
LOCAL_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"


class _NoValue:
    """`Ref: AWS::NoValue`: the property (or list item) is removed."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Any = _NoValue()


class ResourceValues(Protocol):
    """What a template reader knows of its resources' local values."""

    def ref(self, logical_id: str, where: str) -> Any: ...

    def get_att(self, logical_id: str, attribute: str, where: str) -> Any: ...

    def has(self, logical_id: str) -> bool: ...


class NoResources:
    """A context with no resources (e.g. the Parameters section)."""

    def ref(self, logical_id: str, where: str) -> Any:
        raise ConfigError(f"{where}: no resource {logical_id}")

    def get_att(self, logical_id: str, attribute: str, where: str) -> Any:
        raise ConfigError(f"{where}: no resource {logical_id}")

    def has(self, logical_id: str) -> bool:
        return False


@dataclass(frozen=True)
class Pseudo:
    """The pseudo parameters' local values."""

    region: str = DEFAULT_REGION
    account_id: str = LOCAL_ACCOUNT_ID
    stack_name: str = "local"
    partition: str = "aws"
    url_suffix: str = "amazonaws.com"

    def values(self) -> dict[str, Any]:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": (
                f"arn:{self.partition}:cloudformation:{self.region}:{self.account_id}:"
                f"stack/{self.stack_name}/00000000-0000-0000-0000-000000000000"
            ),
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": self.url_suffix,
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }


_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


@dataclass
class Intrinsics:
    """Evaluates intrinsic functions within one template."""

    pseudo: Pseudo
    parameters: Mapping[str, Any] = field(default_factory=dict)  # name -> resolved value
    mappings: Mapping[str, Any] = field(default_factory=dict)
    conditions: Mapping[str, Any] = field(default_factory=dict)  # name -> raw condition
    resources: ResourceValues = field(default_factory=NoResources)
    _condition_values: dict[str, bool] = field(default_factory=dict, repr=False)
    _in_progress: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self._pseudo_values = self.pseudo.values()
        self._functions: dict[str, Callable[[Any, str], Any]] = {
            "Ref": self._ref,
            "Fn::GetAtt": self._get_att,
            "Fn::Sub": self._sub,
            "Fn::Join": self._join,
            "Fn::Select": self._select,
            "Fn::Split": self._split,
            "Fn::If": self._if,
            "Fn::Equals": self._equals,
            "Fn::Not": self._not,
            "Fn::And": self._and,
            "Fn::Or": self._or,
            "Condition": lambda arg, where: self.condition(str(arg), where),
            "Fn::FindInMap": self._find_in_map,
            "Fn::Base64": lambda arg, where: base64.b64encode(
                str(self._scalar(arg, where)).encode()
            ).decode(),
            "Fn::GetAZs": lambda arg, where: [
                f"{self._scalar(arg, where) or self.pseudo.region}{z}" for z in "abc"
            ],
            "Fn::Cidr": self._cidr,
            "Fn::Length": lambda arg, where: len(self._list(arg, where)),
            "Fn::ToJsonString": lambda arg, where: json.dumps(
                self.evaluate(arg, where), separators=(",", ":")
            ),
        }

    # -- the public side ----------------------------------------------------------------
    def evaluate(self, value: Any, where: str) -> Any:
        """`value` with every intrinsic function evaluated (NO_VALUE entries removed)."""
        if isinstance(value, Mapping):
            if len(value) == 1:
                (key, arg), *_ = value.items()
                if key in self._functions:
                    return self._functions[key](arg, f"{where}.{key}" if where else key)
                if isinstance(key, str) and key.startswith("Fn::"):
                    raise ConfigError(f"{where}: {key} has no local value")
            out: dict[Any, Any] = {}
            for k, v in value.items():
                item = self.evaluate(v, f"{where}.{k}")
                if item is not NO_VALUE:
                    out[k] = item
            return out
        if isinstance(value, list):
            items = (self.evaluate(v, f"{where}[{i}]") for i, v in enumerate(value))
            return [item for item in items if item is not NO_VALUE]
        return value

    def string(self, value: Any, where: str) -> str:
        """An evaluated value that must be a string (numbers and booleans as CFN writes them)."""
        result = self.evaluate(value, where)
        if isinstance(result, Mapping | list) or result is NO_VALUE or result is None:
            raise ConfigError(f"{where}: expected a string, got {result!r}")
        return scalar_str(result)

    def condition(self, name: str, where: str) -> bool:
        """The value of the condition `name` of the Conditions section."""
        if name in self._condition_values:
            return self._condition_values[name]
        if name not in self.conditions:
            raise ConfigError(f"{where}: no condition named {name}")
        if name in self._in_progress:
            raise ConfigError(f"{where}: condition {name} refers to itself")
        self._in_progress.add(name)
        try:
            value = self.evaluate(self.conditions[name], f"Conditions.{name}")
        finally:
            self._in_progress.discard(name)
        if not isinstance(value, bool):
            raise ConfigError(f"Conditions.{name}: not a condition function ({value!r})")
        self._condition_values[name] = value
        return value

    # -- the functions ------------------------------------------------------------------
    def _ref(self, arg: Any, where: str) -> Any:
        name = self._scalar(arg, where)
        if not isinstance(name, str):
            raise ConfigError(f"{where}: Ref takes a name, got {name!r}")
        if name in self._pseudo_values:
            return self._pseudo_values[name]
        if name.startswith("AWS::"):
            raise ConfigError(f"{where}: unknown pseudo parameter {name}")
        if name in self.parameters:
            return self.parameters[name]
        if self.resources.has(name):
            return self.resources.ref(name, where)
        raise ConfigError(f"{where}: Ref {name}: no parameter or resource of that name")

    def _get_att(self, arg: Any, where: str) -> Any:
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        if not isinstance(arg, list) or len(arg) != 2:
            raise ConfigError(f"{where}: Fn::GetAtt takes [LogicalId, Attribute]")
        logical, attribute = (self.string(a, where) for a in arg)
        if not self.resources.has(logical):
            raise ConfigError(f"{where}: Fn::GetAtt {logical}.{attribute}: no such resource")
        return self.resources.get_att(logical, attribute, where)

    def _sub(self, arg: Any, where: str) -> str:
        variables: Mapping[str, Any] = {}
        if isinstance(arg, list):
            if len(arg) != 2 or not isinstance(arg[1], Mapping):
                raise ConfigError(f"{where}: Fn::Sub takes a string or [string, {{variables}}]")
            text, variables = arg
        else:
            text = arg
        if not isinstance(text, str):
            raise ConfigError(f"{where}: Fn::Sub takes a string")

        def replace(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name.startswith("!"):  # ${!Literal} -> ${Literal}
                return "${" + name[1:] + "}"
            if name in variables:
                return self.string(variables[name], f"{where}.{name}")
            if "." in name and not name.startswith("AWS::"):
                logical, attribute = name.split(".", 1)
                return self.string({"Fn::GetAtt": [logical, attribute]}, where)
            return self.string({"Ref": name}, where)

        return _SUB_VARIABLE.sub(replace, text)

    def _join(self, arg: Any, where: str) -> str:
        if not isinstance(arg, list) or len(arg) != 2:
            raise ConfigError(f"{where}: Fn::Join takes [delimiter, [values]]")
        delimiter = self.string(arg[0], where)
        return delimiter.join(
            self.string(item, f"{where}[{i}]") for i, item in enumerate(self._list(arg[1], where))
        )

    def _select(self, arg: Any, where: str) -> Any:
        if not isinstance(arg, list) or len(arg) != 2:
            raise ConfigError(f"{where}: Fn::Select takes [index, [values]]")
        index = int(self._scalar(arg[0], where))
        items = self._list(arg[1], where)
        if not 0 <= index < len(items):
            raise ConfigError(f"{where}: index {index} is out of range ({len(items)} values)")
        return items[index]

    def _split(self, arg: Any, where: str) -> list[str]:
        if not isinstance(arg, list) or len(arg) != 2:
            raise ConfigError(f"{where}: Fn::Split takes [delimiter, string]")
        return self.string(arg[1], where).split(self.string(arg[0], where))

    def _if(self, arg: Any, where: str) -> Any:
        if not isinstance(arg, list) or len(arg) != 3:
            raise ConfigError(f"{where}: Fn::If takes [condition, value if true, value if false]")
        branch = arg[1] if self.condition(str(arg[0]), where) else arg[2]
        return self.evaluate(branch, where)

    def _equals(self, arg: Any, where: str) -> bool:
        if not isinstance(arg, list) or len(arg) != 2:
            raise ConfigError(f"{where}: Fn::Equals takes two values")
        a, b = (_comparable(self.evaluate(v, where)) for v in arg)
        return bool(a == b)

    def _not(self, arg: Any, where: str) -> bool:
        (value,) = self._conditions(arg, where, 1, 1)
        return not value

    def _and(self, arg: Any, where: str) -> bool:
        return all(self._conditions(arg, where, 2, 10))

    def _or(self, arg: Any, where: str) -> bool:
        return any(self._conditions(arg, where, 2, 10))

    def _conditions(self, arg: Any, where: str, least: int, most: int) -> list[bool]:
        if not isinstance(arg, list) or not least <= len(arg) <= most:
            raise ConfigError(f"{where}: takes {least} to {most} conditions")
        values = [self.evaluate(v, where) for v in arg]
        if not all(isinstance(v, bool) for v in values):
            raise ConfigError(f"{where}: not a condition: {values!r}")
        return values

    def _find_in_map(self, arg: Any, where: str) -> Any:
        if not isinstance(arg, list) or len(arg) not in (3, 4):
            raise ConfigError(f"{where}: Fn::FindInMap takes [map, top key, second key]")
        name, top, second = (self.string(a, where) for a in arg[:3])
        try:
            return self.evaluate(self.mappings[name][top][second], where)
        except (KeyError, TypeError):
            if len(arg) == 4 and isinstance(arg[3], Mapping) and "DefaultValue" in arg[3]:
                return self.evaluate(arg[3]["DefaultValue"], where)
            raise ConfigError(f"{where}: Mappings.{name}.{top}.{second} does not exist") from None

    def _cidr(self, arg: Any, where: str) -> list[str]:
        if not isinstance(arg, list) or len(arg) != 3:
            raise ConfigError(f"{where}: Fn::Cidr takes [ipBlock, count, cidrBits]")
        block = ipaddress.ip_network(self.string(arg[0], where), strict=False)
        count = int(self._scalar(arg[1], where))
        bits = int(self._scalar(arg[2], where))
        subnets = block.subnets(new_prefix=block.max_prefixlen - bits)
        return [str(next(subnets)) for _ in range(count)]

    # -- helpers ------------------------------------------------------------------------
    def _scalar(self, arg: Any, where: str) -> Any:
        value = self.evaluate(arg, where)
        if isinstance(value, Mapping | list):
            raise ConfigError(f"{where}: expected a single value, got {value!r}")
        return value

    def _list(self, arg: Any, where: str) -> list[Any]:
        value = self.evaluate(arg, where)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return value


def _comparable(value: Any) -> Any:
    return scalar_str(value) if isinstance(value, bool | int | float) else value


def scalar_str(value: Any) -> str:
    """A scalar as CloudFormation and the Framework write it in strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
