"""The Serverless Framework's variables: `${opt:}`, `${sls:}`, `${self:}`, `${env:}`,
`${aws:}`, `${param:}` and `${file(x.yml):key}`, nested and with fallbacks, resolved over
the raw document.

Sources that need AWS (`${ssm:}`, `${cf:}`, `${s3:}`) or code (`${file(x.js)}`) are a
`ConfigError` naming the place: their local value would be a guess.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from infra.template.errors import ConfigError
from infra.template.intrinsics import LOCAL_ACCOUNT_ID, scalar_str
from infra.template.tags import load_yaml

_VARIABLE_SOURCES = ("opt", "sls", "self", "env", "aws", "param")
_FILE_SOURCE = re.compile(r"^file\((?P<path>[^)]+)\)(?::(?P<address>.*))?$")

_MISSING = object()
_CFN_SUB_REFERENCE = re.compile(r"^\s*(AWS::[A-Za-z]+|!?[A-Za-z0-9_]+(\.[A-Za-z0-9_.]+)?)\s*$")


class Resolver:
    """Serverless Framework variable resolution over the raw YAML document.

    `stage` is `${sls:stage}`: set it once the stage is known (`resolve_stage`).
    """

    def __init__(
        self,
        doc: Mapping[str, Any],
        options: Mapping[str, str],
        env: Mapping[str, str],
        base_dir: Path | None = None,
    ) -> None:
        self.doc = doc
        self.options = options
        self.env = env
        self.base_dir = base_dir or Path.cwd()
        self._in_progress: set[str] = set()
        self.stage: str | None = None
        self.region = ""

    def resolve_stage(self, default: str = "dev") -> str:
        """The stage as the Framework picks it: --stage, else provider.stage, else `default`."""
        stage = self.options.get("stage")
        if not stage:
            provider = self.doc.get("provider")
            raw = provider.get("stage") if isinstance(provider, Mapping) else None
            stage = scalar_str(self.resolve(raw, "provider.stage")) if raw is not None else ""
        self.stage = stage or default
        return self.stage

    # -- values -------------------------------------------------------------------------
    def resolve(self, value: Any, where: str) -> Any:
        """`value` with every `${...}` resolved, recursively through lists and mappings."""
        if isinstance(value, str):
            return self._resolve_string(value, where)
        if isinstance(value, Mapping):
            return {
                self.resolve(k, where) if isinstance(k, str) else k: self.resolve(v, f"{where}.{k}")
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.resolve(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return value

    def _resolve_string(self, text: str, where: str) -> Any:
        # Fn::Sub's own references (${AWS::Region}, ${Table}, ${Table.Arn}) are not the
        # Framework's variables, which always name a source: they stay for Fn::Sub.
        spans = [
            (start, end)
            for start, end in _top_level_variables(text, where)
            if not _CFN_SUB_REFERENCE.match(text[start + 2 : end - 1])
        ]
        if not spans:
            return text
        if len(spans) == 1 and spans[0] == (0, len(text)):
            # A whole-string reference keeps the referenced value's type.
            return self._resolve_variable(text[2:-1], where)
        out: list[str] = []
        last = 0
        for start, end in spans:
            out.append(text[last:start])
            value = self._resolve_variable(text[start + 2 : end - 1], where)
            if isinstance(value, Mapping | list):
                raise ConfigError(f"{where}: {text[start:end]} is not a string, cannot embed it")
            out.append(scalar_str(value))
            last = end
        out.append(text[last:])
        return "".join(out)

    def _resolve_variable(self, body: str, where: str) -> Any:
        for part in _split_fallbacks(body):
            value = self._lookup(part.strip(), where)
            if value is not _MISSING and value is not None:
                return value
        raise ConfigError(f"{where}: no value for ${{{body}}}")

    def _lookup(self, ref: str, where: str) -> Any:
        if not ref:
            return _MISSING
        literal = _literal(ref)
        if literal is not _MISSING:
            return literal
        if _top_level_variables(ref, where) == [(0, len(ref))]:
            return self._resolve_string(ref, where)  # a fallback that is a variable itself
        if "${" in ref:  # a variable inside the address: ${self:custom.${sls:stage}.table}
            ref = scalar_str(self._resolve_string(ref, where))
        file_ref = _FILE_SOURCE.match(ref)
        if file_ref:
            return self._file(file_ref.group("path"), file_ref.group("address"), where)
        source, sep, address = ref.partition(":")
        if not sep or source not in _VARIABLE_SOURCES:
            if source in ("file", "ssm", "cf", "s3", "strToBool"):
                raise ConfigError(f"{where}: ${{{ref}}} is not supported by the local harness")
            raise ConfigError(f"{where}: cannot resolve ${{{ref}}}")
        address = address.strip()
        if source == "opt":
            return self.options.get(address, _MISSING)
        if source == "env":
            return self.env.get(address, _MISSING)
        if source == "sls":
            if address == "stage":
                if self.stage is None:
                    raise ConfigError(f"{where}: ${{sls:stage}} is used to find the stage itself")
                return self.stage
            if address == "instanceId":
                return "local"
            raise ConfigError(f"{where}: ${{sls:{address}}} is not supported")
        if source == "aws":
            if address == "region":
                return self.region
            if address == "accountId":
                return LOCAL_ACCOUNT_ID
            raise ConfigError(f"{where}: ${{aws:{address}}} is not supported")
        if source == "param":
            return self._param(address, where)
        return self._self(address, where)

    def _param(self, address: str, where: str) -> Any:
        """`${param:x}`: `params.<stage>.x`, else `params.default.x` (v4: `stages:`)."""
        if self.stage is None:
            raise ConfigError(f"{where}: ${{param:{address}}} is used to find the stage")
        for section, inner in (("params", ()), ("stages", ("params",))):
            for stage in (self.stage, "default"):
                node = _walk(self.doc, (section, stage, *inner, address))
                if node is not _MISSING:
                    return self.resolve(node, f"{section}.{stage}.{address}")
        return _MISSING

    def _file(self, path: str, address: str | None, where: str) -> Any:
        """`${file(./config.yml):key}`: a YAML or JSON file beside the service."""
        target = (self.base_dir / path.strip()).resolve()
        if target.suffix not in (".yml", ".yaml", ".json"):
            raise ConfigError(f"{where}: ${{file({path})}}: only YAML and JSON files are read")
        try:
            content = load_yaml(target.read_text())
        except OSError:
            return _MISSING  # as the Framework: a missing file is a missing value
        except yaml.YAMLError as exc:
            raise ConfigError(f"{where}: ${{file({path})}}: {exc}") from exc
        node = _walk(content, tuple(k for k in (address or "").strip().split(".") if k))
        return node if node is _MISSING else self.resolve(node, f"file({path})")

    def _self(self, address: str, where: str) -> Any:
        if address in self._in_progress:
            raise ConfigError(f"{where}: ${{self:{address}}} refers to itself")
        node = _walk(self.doc, tuple(k for k in address.split(".") if k))
        if node is _MISSING:
            return _MISSING
        self._in_progress.add(address)
        try:
            return self.resolve(node, f"self:{address}")
        finally:
            self._in_progress.discard(address)


def _walk(node: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if isinstance(node, Mapping) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return _MISSING
    return node


def _top_level_variables(text: str, where: str) -> list[tuple[int, int]]:
    """(start, end) of each outermost `${...}` in `text`, nesting respected."""
    spans: list[tuple[int, int]] = []
    i = 0
    while True:
        start = text.find("${", i)
        if start < 0:
            return spans
        depth = 0
        j = start
        while j < len(text):
            if text.startswith("${", j):
                depth += 1
                j += 2
                continue
            if text[j] == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        if depth:
            raise ConfigError(f"{where}: unbalanced variable in {text!r}")
        spans.append((start, j + 1))
        i = j + 1


def _split_fallbacks(body: str) -> list[str]:
    """`opt:stage, 'dev'` -> ["opt:stage", " 'dev'"]; commas inside quotes or ${} stay."""
    parts: list[str] = []
    depth = 0
    quote = ""
    current: list[str] = []
    for i, ch in enumerate(body):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif body.startswith("${", i):
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
        elif ch == "," and not depth:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def _literal(ref: str) -> Any:
    if len(ref) >= 2 and ref[0] == ref[-1] and ref[0] in "'\"":
        return ref[1:-1]
    if _NUMBER.match(ref):
        return float(ref) if "." in ref else int(ref)
    if ref in ("true", "false"):
        return ref == "true"
    if ref == "null":
        return None
    return _MISSING
