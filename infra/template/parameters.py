"""SSM parameters a service reads at run time, and their local values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.service import FunctionSpec
from infra.template.errors import ConfigError
from infra.template.intrinsics import scalar_str

# Environment variables ending like this hold the name of an SSM parameter the function reads.
PARAMETER_SUFFIXES = ("_PARAMETER_NAME", "_PARAM_NAME", "_PARAMETER", "_PARAM")


def ssm_parameters(
    local: Mapping[str, Any],
    functions: Mapping[str, FunctionSpec],
    env: Mapping[str, str],
    defaults: Mapping[str, str],
    known: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Parameter name -> local value: `custom.local.parameters` if declared; otherwise
    each environment variable `X_PARAM` naming a parameter (/...) takes `defaults[X]`,
    else `env[X]`, else it is a ConfigError. `known`: parameters the definition creates
    itself (AWS::SSM::Parameter resources), included as they are."""
    if "parameters" in local:
        declared = local["parameters"]
        if not isinstance(declared, Mapping):
            raise ConfigError("custom.local.parameters: expected a mapping")
        return {**(known or {}), **{str(k): scalar_str(v) for k, v in declared.items()}}
    found: dict[str, str] = dict(known or {})
    for fn in functions.values():
        for var, value in fn.environment.items():
            source = parameter_source(var)
            if source is None or not value.startswith("/") or value in found:
                continue
            local_value = defaults.get(source) or env.get(source)
            if local_value is None:
                raise ConfigError(
                    f"{fn.name}: {var} names SSM parameter {value}; set {source} "
                    "or declare custom.local.parameters"
                )
            found[value] = local_value
    return found


def parameter_source(var: str) -> str | None:
    for suffix in PARAMETER_SUFFIXES:
        if var.endswith(suffix):
            return var[: -len(suffix)]
    return None
