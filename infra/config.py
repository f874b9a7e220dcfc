"""Load a `serverless.yml` into a `ServiceSpec`: variables resolved, defaults applied.

Covers what a WebSocket/HTTP API service needs locally: `${opt:}`, `${sls:}`, `${self:}`,
`${env:}`, `${aws:}` variables (nested, with fallbacks), provider/function environment and
timeouts, websocket and httpApi events with their authorizers, DynamoDB tables and the SSM
parameters the functions read. Anything it cannot reproduce locally is a `ConfigError`
naming the place, never a silent guess.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from infra.service import (
    FunctionSpec,
    HttpAuthorizer,
    HttpRoute,
    ServiceSpec,
    WebSocketAuthorizer,
    WebSocketRoute,
)

# moto's default account: ARNs built locally then agree with the ones moto builds.
LOCAL_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
DEFAULT_TIMEOUT_S = 6.0  # the framework's defaults
DEFAULT_MEMORY_MB = 1024
DEFAULT_ROUTE_SELECTION = "$request.body.action"
DEFAULT_WS_IDENTITY_SOURCE = "route.request.header.Auth"
DEFAULT_HTTP_IDENTITY_SOURCE = "$request.header.Authorization"
# Environment variables ending like this hold the name of an SSM parameter the function reads.
PARAMETER_SUFFIXES = ("_PARAMETER_NAME", "_PARAM_NAME", "_PARAMETER", "_PARAM")

_VARIABLE_SOURCES = ("opt", "sls", "self", "env", "aws")


class ConfigError(ValueError):
    """The serverless.yml cannot be loaded faithfully; the message names where and why."""


_MISSING = object()


class _Resolver:
    """Serverless Framework variable resolution over the raw YAML document."""

    def __init__(
        self,
        doc: Mapping[str, Any],
        options: Mapping[str, str],
        env: Mapping[str, str],
    ) -> None:
        self.doc = doc
        self.options = options
        self.env = env
        self._in_progress: set[str] = set()
        self.stage = ""
        self.region = ""

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
        spans = list(_top_level_variables(text, where))
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
            out.append(_scalar_str(value))
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
            ref = _scalar_str(self._resolve_string(ref, where))
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
        return self._self(address, where)

    def _self(self, address: str, where: str) -> Any:
        if address in self._in_progress:
            raise ConfigError(f"{where}: ${{self:{address}}} refers to itself")
        node: Any = self.doc
        for key in (k for k in address.split(".") if k):
            if isinstance(node, Mapping) and key in node:
                node = node[key]
            elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            else:
                return _MISSING
        self._in_progress.add(address)
        try:
            return self.resolve(node, f"self:{address}")
        finally:
            self._in_progress.discard(address)


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


def _scalar_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- the document ------------------------------------------------------------------------


def load_service(
    path: Path,
    stage: str,
    region: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    parameter_values: Mapping[str, str] | None = None,
) -> ServiceSpec:
    """Parse and resolve `path` for `stage` (and `region`, else the file's, else us-east-1).

    `env` stands for the process environment in `${env:...}` (default `os.environ`).
    SSM parameter values: `custom.local.parameters` (name -> value) if the file declares
    it; otherwise every environment variable `X_PARAM` naming a parameter takes its
    value from `parameter_values[X]`, else `env[X]`.
    """
    env = os.environ if env is None else env
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(exc.strerror or str(exc)) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(str(exc)) from exc
    if not isinstance(doc, Mapping):
        raise ConfigError("not a mapping")
    options = {"stage": stage}
    if region:
        options["region"] = region
    r = _Resolver(doc, options, env)
    r.stage = stage
    r.region = region or DEFAULT_REGION
    provider = _mapping(doc.get("provider", {}), "provider")
    if not region:
        r.region = _scalar_str(r.resolve(provider.get("region", DEFAULT_REGION), "provider.region"))

    service = doc.get("service")
    if isinstance(service, Mapping):  # the old `service: {name: ...}` form
        service = service.get("name")
    if not service:
        raise ConfigError("no `service` name")
    service = _scalar_str(r.resolve(service, "service"))

    resources = _tables(doc, r, f"{service}-{stage}")
    table_names = {logical: props["TableName"] for logical, props in resources.items()}
    intrinsics = _Intrinsics(table_names, r.region)

    provider_env = _environment(provider.get("environment"), "provider.environment", r, intrinsics)
    provider_timeout = r.resolve(provider.get("timeout", DEFAULT_TIMEOUT_S), "provider.timeout")
    provider_memory = r.resolve(
        provider.get("memorySize", DEFAULT_MEMORY_MB), "provider.memorySize"
    )

    functions: dict[str, FunctionSpec] = {}
    ws_events: list[tuple[str, Mapping[str, Any]]] = []
    http_events: list[tuple[str, Any]] = []
    rest_events: list[tuple[str, Any, str]] = []
    raw_functions = _mapping(doc.get("functions") or {}, "functions")
    for name, raw in raw_functions.items():
        where = f"functions.{name}"
        fn = _mapping(r.resolve(raw, where), where)
        if "handler" not in fn:
            raise ConfigError(f"{where}: no handler (container images are not supported locally)")
        environment = dict(provider_env)
        environment.update(
            _environment(fn.get("environment"), f"{where}.environment", r, intrinsics)
        )
        reserved = fn.get("reservedConcurrency")
        functions[name] = FunctionSpec(
            name=name,
            handler=str(fn["handler"]),
            timeout_s=float(fn.get("timeout", provider_timeout)),
            memory_mb=int(fn.get("memorySize", provider_memory)),
            environment=environment,
            reserved_concurrency=int(reserved) if reserved is not None else None,
        )
        for i, event in enumerate(fn.get("events") or []):
            if not isinstance(event, Mapping) or len(event) != 1:
                raise ConfigError(f"{where}.events[{i}]: expected one event type")
            kind, body = next(iter(event.items()))
            if kind == "websocket":
                ws_events.append((name, _websocket_event(body, f"{where}.events[{i}]")))
            elif kind == "httpApi":
                http_events.append((name, body))
            elif kind == "http":
                rest_events.append((name, body, f"{where}.events[{i}]"))

    websocket_routes: dict[str, WebSocketRoute] = {}
    for fn_name, ws in ws_events:
        route_key = ws["route"]
        if route_key in websocket_routes:
            raise ConfigError(f"websocket route {route_key} is declared twice")
        authorizer = _websocket_authorizer(ws.get("authorizer"), route_key, functions)
        websocket_routes[route_key] = WebSocketRoute(
            route_key=route_key,
            function=fn_name,
            route_response="routeResponseSelectionExpression" in ws,
            authorizer=authorizer,
        )

    http_authorizers = _http_authorizers(provider.get("httpApi"), r, functions)
    http_routes = tuple(
        _http_route(fn_name, body, http_authorizers, r, f"functions.{fn_name}.events.httpApi")
        for fn_name, body in http_events
    ) + tuple(_rest_route(fn_name, body, r, where) for fn_name, body, where in rest_events)

    selection = provider.get("websocketsApiRouteSelectionExpression", DEFAULT_ROUTE_SELECTION)
    parameters = _parameters(doc, r, functions, env, parameter_values or {})
    return ServiceSpec(
        service=service,
        stage=stage,
        region=r.region,
        account_id=LOCAL_ACCOUNT_ID,
        route_selection_expression=str(
            r.resolve(selection, "provider.websocketsApiRouteSelectionExpression")
        ),
        functions=functions,
        websocket_routes=websocket_routes,
        http_routes=http_routes,
        tables=tuple(resources.values()),
        parameters=parameters,
    )


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


class _Intrinsics:
    """The CloudFormation functions environment values commonly use, for local tables."""

    def __init__(self, tables: Mapping[str, str], region: str) -> None:
        self.tables = tables
        self.region = region

    def evaluate(self, value: Any, where: str) -> str:
        if not isinstance(value, Mapping):
            return _scalar_str(value)
        if len(value) == 1:
            fn, arg = next(iter(value.items()))
            if fn == "Ref" and arg in self.tables:
                return self.tables[arg]
            if fn == "Fn::GetAtt":
                logical, attr = arg.split(".", 1) if isinstance(arg, str) else arg
                if logical in self.tables and attr == "Arn":
                    return (
                        f"arn:aws:dynamodb:{self.region}:{LOCAL_ACCOUNT_ID}:"
                        f"table/{self.tables[logical]}"
                    )
            if fn == "Fn::Join":
                sep, items = arg
                return str(sep).join(self.evaluate(item, where) for item in items)
        raise ConfigError(f"{where}: {dict(value)} cannot be evaluated locally")


def _environment(raw: Any, where: str, r: _Resolver, intrinsics: _Intrinsics) -> dict[str, str]:
    if raw is None:
        return {}
    resolved = _mapping(r.resolve(raw, where), where)
    return {str(k): intrinsics.evaluate(v, f"{where}.{k}") for k, v in resolved.items()}


def _tables(doc: Mapping[str, Any], r: _Resolver, stack: str) -> dict[str, dict[str, Any]]:
    """Properties of every AWS::DynamoDB::Table, by logical id, each with a TableName."""
    resources = doc.get("resources") or {}
    blocks = resources if isinstance(resources, list) else [resources]
    tables: dict[str, dict[str, Any]] = {}
    for block in blocks:
        for logical, res in (_mapping(block, "resources").get("Resources") or {}).items():
            if not isinstance(res, Mapping) or res.get("Type") != "AWS::DynamoDB::Table":
                continue
            where = f"resources.Resources.{logical}.Properties"
            props = dict(_mapping(r.resolve(res.get("Properties", {}), where), where))
            if not props.get("TableName"):
                # CloudFormation's own naming: stack-logical-random; stable here.
                digest = hashlib.sha1(f"{stack}/{logical}".encode()).hexdigest()[:12].upper()
                props["TableName"] = f"{stack}-{logical}-{digest}"
            tables[logical] = props
    return tables


def _websocket_event(body: Any, where: str) -> Mapping[str, Any]:
    if isinstance(body, str):
        return {"route": body}
    ws = _mapping(body, where)
    if "route" not in ws:
        raise ConfigError(f"{where}: websocket event without route")
    return ws


def _websocket_authorizer(
    raw: Any, route_key: str, functions: Mapping[str, FunctionSpec]
) -> WebSocketAuthorizer | None:
    if raw is None:
        return None
    where = f"websocket route {route_key} authorizer"
    if route_key != "$connect":
        raise ConfigError(f"{where}: authorizers are only allowed on $connect")
    spec = {"name": raw} if isinstance(raw, str) else dict(_mapping(raw, where))
    name = spec.get("name")
    if not name:
        raise ConfigError(f"{where}: only authorizers of this service (by name) run locally")
    if name not in functions:
        raise ConfigError(f"{where}: no function named {name}")
    sources = spec.get("identitySource", [DEFAULT_WS_IDENTITY_SOURCE])
    if isinstance(sources, str):
        sources = [sources]
    return WebSocketAuthorizer(function=name, identity_sources=tuple(str(s) for s in sources))


def _http_authorizers(
    raw: Any, r: _Resolver, functions: Mapping[str, FunctionSpec]
) -> dict[str, HttpAuthorizer]:
    if not raw:
        return {}
    http_api = _mapping(r.resolve(raw, "provider.httpApi"), "provider.httpApi")
    out: dict[str, HttpAuthorizer] = {}
    for name, body in (http_api.get("authorizers") or {}).items():
        where = f"provider.httpApi.authorizers.{name}"
        auth = _mapping(body, where)
        if auth.get("type") != "request":
            continue  # JWT authorizers are verified by API Gateway itself: not emulated
        function = str(auth.get("functionName"))
        if function not in functions:
            raise ConfigError(f"{where}: functionName {function!r} is not a function here")
        sources = auth.get("identitySource", [DEFAULT_HTTP_IDENTITY_SOURCE])
        if isinstance(sources, str):
            sources = [sources]
        out[name] = HttpAuthorizer(
            name=name,
            function=function,
            identity_sources=tuple(str(s) for s in sources),
            simple_responses=bool(auth.get("enableSimpleResponses", False)),
            payload_version=str(auth.get("payloadVersion", "2.0")),
        )
    return out


def _http_route(
    fn_name: str, body: Any, authorizers: Mapping[str, HttpAuthorizer], r: _Resolver, where: str
) -> HttpRoute:
    body = r.resolve(body, where)
    authorizer: HttpAuthorizer | None = None
    if isinstance(body, str):
        method, _, path = body.strip().partition(" ")
        if body.strip() == "*":
            method, path = "*", "*"
    else:
        event = _mapping(body, where)
        method = str(event.get("method", "*"))
        path = str(event.get("path", "*"))
        raw_auth = event.get("authorizer")
        if raw_auth is not None:
            name = raw_auth if isinstance(raw_auth, str) else _mapping(raw_auth, where).get("name")
            if not isinstance(name, str) or name not in authorizers:
                raise ConfigError(
                    f"{where}: authorizer {name!r} is not a request authorizer declared "
                    "under provider.httpApi.authorizers"
                )
            authorizer = authorizers[name]
    return HttpRoute(method=method.upper(), path=path, function=fn_name, authorizer=authorizer)


def _rest_route(fn_name: str, body: Any, r: _Resolver, where: str) -> HttpRoute:
    """A serverless `http` event: a REST API route with the Lambda proxy integration."""
    body = r.resolve(body, where)
    if isinstance(body, str):
        method, _, path = body.strip().partition(" ")
    else:
        event = _mapping(body, where)
        if event.get("authorizer") is not None:
            raise ConfigError(f"{where}: REST API authorizers are not reproduced locally")
        if str(event.get("integration", "lambda-proxy")).lower() not in (
            "lambda-proxy",
            "aws_proxy",
        ):
            raise ConfigError(f"{where}: only the lambda-proxy integration is reproduced locally")
        method, path = str(event.get("method", "")), str(event.get("path", ""))
    if not method or not path:
        raise ConfigError(f"{where}: an http event needs a method and a path")
    return HttpRoute(
        method=method.upper(),
        path="/" + path.strip().strip("/"),
        function=fn_name,
        api="rest",
        payload_version="1.0",
    )


def _parameters(
    doc: Mapping[str, Any],
    r: _Resolver,
    functions: Mapping[str, FunctionSpec],
    env: Mapping[str, str],
    defaults: Mapping[str, str],
) -> dict[str, str]:
    custom = doc.get("custom")
    local = custom.get("local") if isinstance(custom, Mapping) else None
    if isinstance(local, Mapping) and "parameters" in local:
        declared = _mapping(r.resolve(local["parameters"], "custom.local.parameters"), "custom")
        return {str(k): _scalar_str(v) for k, v in declared.items()}
    found: dict[str, str] = {}
    for fn in functions.values():
        for var, value in fn.environment.items():
            source = _parameter_source(var)
            if source is None or not value.startswith("/"):
                continue
            local_value = defaults.get(source) or env.get(source)
            if local_value is None:
                raise ConfigError(
                    f"{fn.name}: {var} names SSM parameter {value}; set {source} "
                    "or declare custom.local.parameters"
                )
            found[value] = local_value
    return found


def _parameter_source(var: str) -> str | None:
    for suffix in PARAMETER_SUFFIXES:
        if var.endswith(suffix):
            return var[: -len(suffix)]
    return None
