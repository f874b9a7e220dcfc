"""Read a SAM or plain CloudFormation template into a `ServiceSpec`.

SAM templates go through the SAM transform first (`infra.template.sam`, aws-sam-translator);
what comes out is read like any CloudFormation template:

- functions: AWS::Lambda::Function (Handler, Runtime, Timeout, MemorySize, Environment,
  Layers, FunctionName, Architectures, ReservedConcurrentExecutions); the code root is the
  function's CodeUri (SAM) or its local `Code` path (`aws cloudformation package` style)
  or its inline `Code.ZipFile`; requirements.txt in the code root is installed, as
  `sam build` does;
- the WebSocket API: AWS::ApiGatewayV2::Api (WEBSOCKET) with its Route, Integration
  (AWS_PROXY), Authorizer (REQUEST), RouteResponse and Stage resources;
- HTTP APIs: AWS::ApiGatewayV2::Api (HTTP) routes, from Route resources or the OpenAPI
  Body (SAM HttpApi events), with REQUEST authorizers; REST APIs: AWS::ApiGateway::RestApi
  OpenAPI bodies (SAM Api events), served as payload 1.0 under the stage;
- tables (AWS::DynamoDB::Table, SAM's SimpleTable), SSM parameters, layers.

Parameters take their Default, else `parameter_overrides`, else samconfig.toml's
parameter_overrides; the stack name and region come from samconfig.toml when it has them.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import tempfile
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from infra.service import (
    FunctionSpec,
    HttpAuthorizer,
    HttpRoute,
    ServiceSpec,
    WebSocketAuthorizer,
    WebSocketRoute,
)
from infra.template import sam
from infra.template.errors import ConfigError
from infra.template.intrinsics import (
    DEFAULT_REGION,
    LOCAL_ACCOUNT_ID,
    NO_VALUE,
    Intrinsics,
    Pseudo,
    scalar_str,
)
from infra.template.parameters import ssm_parameters
from infra.template.resources import (
    LocalResources,
    generated_name,
    python_runtime,
    short_id,
    summarize_ignored_resources,
)

# CloudFormation's defaults for AWS::Lambda::Function (SAM's are the same).
DEFAULT_TIMEOUT_S = 3.0
DEFAULT_MEMORY_MB = 128
DEFAULT_ROUTE_SELECTION = "$request.body.action"

_V2 = "AWS::ApiGatewayV2::"
# Resource types this reader turns into something local.
_READ_TYPES = {
    "AWS::Lambda::Function",
    "AWS::Lambda::LayerVersion",
    f"{_V2}Api",
    f"{_V2}Route",
    f"{_V2}Integration",
    f"{_V2}Authorizer",
    f"{_V2}RouteResponse",
    f"{_V2}Stage",
    f"{_V2}IntegrationResponse",
    "AWS::ApiGateway::RestApi",
    "AWS::ApiGateway::Stage",
    "AWS::Serverless::Function",
    "AWS::Serverless::LayerVersion",
    "AWS::Serverless::SimpleTable",
    "AWS::Serverless::Api",
    "AWS::Serverless::HttpApi",
}
_FUNCTION_READ = {
    "Handler",
    "Runtime",
    "Timeout",
    "MemorySize",
    "Environment",
    "Layers",
    "FunctionName",
    "Architectures",
    "ReservedConcurrentExecutions",
    "Code",
    "PackageType",
}
_FUNCTION_DEPLOY_ONLY = {
    "Role",
    "Tags",
    "Description",
    "KmsKeyArn",
    "CodeSigningConfigArn",
    "LoggingConfig",
    "RuntimeManagementConfig",
    "EphemeralStorage",
}
_TOP_READ = {
    "AWSTemplateFormatVersion",
    "Description",
    "Metadata",
    "Parameters",
    "Resources",
    "Conditions",
    "Mappings",
    "Outputs",
    "Rules",
}
_FUNCTION_IN_URI = re.compile(r"(arn:[^:]+:lambda:[^:]+:\d+:function:[^/:]+)")


def load_template(
    path: Path,
    doc: Mapping[str, Any],
    *,
    stage: str | None,
    region: str | None,
    env: Mapping[str, str],
    parameter_overrides: Mapping[str, str],
    parameter_values: Mapping[str, str],
) -> ServiceSpec:
    """The service a SAM / CloudFormation template `doc` (read from `path`) describes."""
    return _TemplateReader(
        path, doc, stage, region, env, parameter_overrides, parameter_values
    ).read()


class _TemplateReader:
    def __init__(
        self,
        path: Path,
        doc: Mapping[str, Any],
        stage: str | None,
        region: str | None,
        env: Mapping[str, str],
        overrides: Mapping[str, str],
        parameter_values: Mapping[str, str],
    ) -> None:
        self.path = path
        self.base = path.parent.resolve()
        self.doc = doc
        self.stage_arg = stage
        self.env = env
        self.parameter_values = parameter_values
        self.ignored: list[str] = []
        config = _samconfig(self.base)
        self.stack_name = str(config.get("stack_name") or _stack_name_from(self.base))
        self.region = region or str(config.get("region") or DEFAULT_REGION)
        self.overrides = {**_parse_overrides(config.get("parameter_overrides")), **overrides}

    def note(self, line: str) -> None:
        self.ignored.append(line)

    # -- the template ------------------------------------------------------------------
    def read(self) -> ServiceSpec:
        pseudo = Pseudo(region=self.region, stack_name=self.stack_name)
        parameters = self._parameters()
        code: dict[str, Path] = {}
        layer_content: dict[str, Path] = {}
        doc: Mapping[str, Any] = self.doc
        resources = _section(doc, "Resources")
        self.ignored.extend(summarize_ignored_resources(resources, "Resources", _READ_TYPES))
        if sam.is_sam(doc):
            done = sam.transform(doc, self.base, parameters, pseudo.values())
            self.ignored.extend(done.ignored)
            doc, code, layer_content = done.template, done.code, done.layers
        elif sam.transforms(doc):
            raise ConfigError(
                f"Transform: {', '.join(sam.transforms(doc))} is not reproduced locally "
                f"(only {sam.SAM_TRANSFORM})"
            )
        for key in doc:
            if key not in _TOP_READ:
                self.note(f"{key}: not reproduced locally")
        self.resources = _section(doc, "Resources")
        self.intrinsics = Intrinsics(
            pseudo,
            parameters=parameters,
            mappings=_section(doc, "Mappings"),
            conditions=_section(doc, "Conditions"),
        )
        # Resources whose Condition is false do not exist.
        self.resources = {
            logical: res
            for logical, res in self.resources.items()
            if not (isinstance(res, Mapping) and "Condition" in res)
            or self.intrinsics.condition(str(res["Condition"]), f"Resources.{logical}.Condition")
        }
        ws_apis = [
            logical
            for logical, res in self._of_type(f"{_V2}Api")
            if str(self._prop(logical, "ProtocolType", "")).upper() == "WEBSOCKET"
        ]
        if len(ws_apis) > 1:
            raise ConfigError(
                f"Resources: {len(ws_apis)} WebSocket APIs ({', '.join(ws_apis)}); "
                "the local gateway serves one"
            )
        self.ws_api = ws_apis[0] if ws_apis else None
        self.stage = self._stage()
        self.local = LocalResources(self.stack_name, self.stage, self.region, self.stack_name)
        self.intrinsics.resources = self.local
        self._declare(layer_content)

        functions = {
            logical: self._function(logical, code.get(logical)) for logical, _ in self._functions()
        }
        self.function_by_arn = {
            self.local.get_att(logical, "Arn", logical): logical for logical in functions
        }
        ws_routes, selection = self._websocket_routes()
        http_routes = self._http_routes()
        tables = tuple(self._table(logical) for logical in self.local.tables)
        known = {
            self.local.ref(logical, logical): scalar_str(
                self.local.get_att(logical, "Value", logical)
            )
            for logical in self.local.ssm_parameters
        }
        parameters_ssm = ssm_parameters({}, functions, self.env, self.parameter_values, known)
        return ServiceSpec(
            service=self.stack_name,
            stage=self.stage,
            region=self.region,
            account_id=LOCAL_ACCOUNT_ID,
            route_selection_expression=selection,
            functions=functions,
            websocket_routes=ws_routes,
            http_routes=http_routes,
            tables=tables,
            parameters=parameters_ssm,
            ignored=tuple(self.ignored),
            local={},
            base_dir=self.base,
        )

    def _parameters(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, spec in _section(self.doc, "Parameters").items():
            spec = spec if isinstance(spec, Mapping) else {}
            if name in self.overrides:
                value: Any = self.overrides[name]
            elif "Default" in spec:
                value = spec["Default"]
            else:
                continue  # a Ref to it says it has no value (Intrinsics)
            kind = str(spec.get("Type", "String"))
            if kind == "CommaDelimitedList" or kind.startswith("List<"):
                value = [v.strip() for v in scalar_str(value).split(",")] if value != "" else []
            else:
                value = scalar_str(value)
            out[str(name)] = value
        unknown = sorted(set(self.overrides) - set(_section(self.doc, "Parameters")))
        if unknown:
            raise ConfigError(f"parameter overrides: no parameter named {', '.join(unknown)}")
        return out

    def _stage(self) -> str:
        """The WebSocket API's stage (its AWS::ApiGatewayV2::Stage), else --stage, else dev."""
        declared: list[tuple[str, str]] = []
        for logical, _ in self._of_type(f"{_V2}Stage"):
            api = self._raw_prop(logical, "ApiId")
            if self.ws_api is None or api != {"Ref": self.ws_api}:
                continue
            where = f"Resources.{logical}.Properties.StageName"
            declared.append(
                (logical, self.intrinsics.string(self._raw_prop(logical, "StageName"), where))
            )
        if not declared:
            if self.ws_api is not None:
                self.note(
                    f"Resources.{self.ws_api}: no AWS::ApiGatewayV2::Stage; served as stage "
                    f"{self.stage_arg or 'dev'}"
                )
            return self.stage_arg or "dev"
        logical, stage = declared[0]
        if len(declared) > 1:
            self.note(
                f"Resources: the WebSocket API has {len(declared)} stages; served as "
                f"{stage} ({logical})"
            )
        if self.stage_arg and self.stage_arg != stage:
            raise ConfigError(
                f"Resources.{logical}.Properties.StageName is {stage!r}, not {self.stage_arg!r}: "
                "a template's stage is its own (use parameter overrides if it is a parameter)"
            )
        return stage

    # -- resources ---------------------------------------------------------------------
    def _declare(self, layer_content: Mapping[str, Path]) -> None:
        local = self.local
        for logical, res in self.resources.items():
            if not isinstance(res, Mapping) or "Type" not in res:
                continue
            kind = str(res["Type"])
            props = res.get("Properties") or {}
            if kind == "AWS::Lambda::Function":
                local.add_function(logical, self._function_name(logical))
            elif kind == "AWS::Lambda::LayerVersion":
                content = layer_content.get(sam.placeholder(props.get("Content")) or "")
                name = self._string_prop(logical, "LayerName", logical)
                if content is None:
                    content_where = f"Resources.{logical}.Properties.Content"
                    local.add(logical, kind)
                    self.note(f"{content_where}: not a local path; the layer is not used locally")
                else:
                    local.add_layer(logical, name, content)
            elif kind == f"{_V2}Api":
                protocol = str(self._prop(logical, "ProtocolType", "HTTP")).upper()
                local.add_api(logical, "wss" if protocol == "WEBSOCKET" else "https")
            elif kind == "AWS::ApiGateway::RestApi":
                local.add_api(logical, "https")
            elif kind in (f"{_V2}Stage", "AWS::ApiGateway::Stage"):
                local.add(logical, kind, ref=self._stage_name(logical))
            elif kind.startswith(_V2):  # routes, integrations...: ids of their own
                value = _constant(short_id(self.stack_name, logical))
                local.add(logical, kind, ref=value, **{kind.rsplit("::", 1)[1] + "Id": value})
            else:
                local.declare(logical, kind, props, self.intrinsics.evaluate)

    def _stage_name(self, logical: str) -> Callable[[], str]:
        return lambda: self._string_prop(logical, "StageName", logical)

    def _function_name(self, logical: str) -> Any:
        def name() -> str:
            if self._raw_prop(logical, "FunctionName") is None:
                return generated_name(self.stack_name, logical, 64)
            return self._string_prop(logical, "FunctionName", logical)

        return name

    def _of_type(self, kind: str) -> list[tuple[str, Mapping[str, Any]]]:
        return [
            (str(logical), res)
            for logical, res in self.resources.items()
            if isinstance(res, Mapping) and res.get("Type") == kind
        ]

    def _functions(self) -> list[tuple[str, Mapping[str, Any]]]:
        return self._of_type("AWS::Lambda::Function")

    def _raw_prop(self, logical: str, key: str) -> Any:
        res = self.resources.get(logical)
        props = res.get("Properties") if isinstance(res, Mapping) else None
        return props.get(key) if isinstance(props, Mapping) else None

    def _prop(self, logical: str, key: str, default: Any) -> Any:
        raw = self._raw_prop(logical, key)
        if raw is None:
            return default
        value = self.intrinsics.evaluate(raw, f"Resources.{logical}.Properties.{key}")
        return default if value is NO_VALUE else value

    def _string_prop(self, logical: str, key: str, default: str) -> str:
        value = self._prop(logical, key, default)
        return scalar_str(value)

    # -- functions ---------------------------------------------------------------------
    def _function(self, logical: str, code_dir: Path | None) -> FunctionSpec:
        where = f"Resources.{logical}.Properties"
        props = self.resources[logical].get("Properties") or {}
        for key in props:
            if key not in _FUNCTION_READ and key not in _FUNCTION_DEPLOY_ONLY:
                self.note(f"{where}.{key}: not reproduced locally")
        if str(props.get("PackageType", "Zip")) == "Image":
            raise ConfigError(f"{where}.PackageType: container images are not run locally")
        if code_dir is None:
            code_dir = self._code_root(logical, props.get("Code"), f"{where}.Code")
        runtime = self._prop(logical, "Runtime", None)
        if runtime is None:
            raise ConfigError(f"{where}: no Runtime")
        handler = self._prop(logical, "Handler", None)
        if handler is None:
            raise ConfigError(f"{where}: no Handler")
        env_raw = self._prop(logical, "Environment", {}) or {}
        variables = env_raw.get("Variables", {}) if isinstance(env_raw, Mapping) else {}
        environment = {str(k): scalar_str(v) for k, v in (variables or {}).items()}
        architectures = self._prop(logical, "Architectures", ["x86_64"]) or ["x86_64"]
        reserved = self._prop(logical, "ReservedConcurrentExecutions", None)
        requirements = code_dir / "requirements.txt"
        return FunctionSpec(
            name=logical,
            handler=scalar_str(handler),
            timeout_s=float(self._prop(logical, "Timeout", DEFAULT_TIMEOUT_S)),
            memory_mb=int(self._prop(logical, "MemorySize", DEFAULT_MEMORY_MB)),
            environment=environment,
            reserved_concurrency=int(reserved) if reserved is not None else None,
            runtime=python_runtime(scalar_str(runtime), where),
            code_root=code_dir,
            requirements=requirements if requirements.is_file() else None,
            layers=self._layers(logical, f"{where}.Layers"),
            deployed_name=str(self.local.ref(logical, where)),
            architecture=scalar_str(architectures[0]),
        )

    def _code_root(self, logical: str, code: Any, where: str) -> Path:
        if isinstance(code, str):  # `aws cloudformation package` style: a local path
            root = (self.base / code).resolve()
            if not root.is_dir():
                raise ConfigError(f"{where}: {code} is not a directory here")
            return root
        if isinstance(code, Mapping) and "ZipFile" in code:
            return _inline_code(self.intrinsics.string(code["ZipFile"], f"{where}.ZipFile"))
        raise ConfigError(
            f"{where}: the code is not local (an S3 object or image); give a local CodeUri "
            "(SAM) or Code path"
        )

    def _layers(self, logical: str, where: str) -> tuple[Path, ...]:
        raw = self._raw_prop(logical, "Layers") or []
        out: list[Path] = []
        for i, item in enumerate(raw if isinstance(raw, list) else []):
            here = f"{where}[{i}]"
            if isinstance(item, Mapping) and set(item) == {"Ref"}:
                path = self.local.layer_paths.get(str(item["Ref"]))
                if path is not None:
                    out.append(path)
                    continue
            value = self.intrinsics.evaluate(item, here)
            if value is NO_VALUE:
                continue
            path = self.local.layer_paths_by_arn.get(scalar_str(value))
            if path is None:
                self.note(
                    f"{here}: {value} is not a layer of this template: its contents are not "
                    "in the sandbox, so imports from it fail locally"
                )
            else:
                out.append(path)
        return tuple(out)

    def _integrated_function(self, uri: Any, where: str) -> str:
        """The function an integration URI (or a function ARN) names."""
        text = self.intrinsics.string(uri, where)
        match = _FUNCTION_IN_URI.search(text)
        if match and match.group(1) in self.function_by_arn:
            return self.function_by_arn[match.group(1)]
        raise ConfigError(f"{where}: {text} is not a function of this template")

    # -- the WebSocket API -------------------------------------------------------------
    def _websocket_routes(self) -> tuple[dict[str, WebSocketRoute], str]:
        if self.ws_api is None:
            return {}, DEFAULT_ROUTE_SELECTION
        api = self.ws_api
        selection = scalar_str(self._prop(api, "RouteSelectionExpression", DEFAULT_ROUTE_SELECTION))
        integrations = self._children(f"{_V2}Integration", api)
        authorizers = self._children(f"{_V2}Authorizer", api)
        answered = {
            str(ref.get("Ref")) if isinstance(ref, Mapping) else ""
            for logical, _ in self._children(f"{_V2}RouteResponse", api)
            for ref in [self._raw_prop(logical, "RouteId")]
        }
        routes: dict[str, WebSocketRoute] = {}
        for logical, _ in self._children(f"{_V2}Route", api):
            where = f"Resources.{logical}.Properties"
            key = self._string_prop(logical, "RouteKey", "")
            function = self._route_target(logical, integrations, where)
            authorizer = None
            if str(self._prop(logical, "AuthorizationType", "NONE")).upper() == "CUSTOM":
                auth = self._by_ref(self._raw_prop(logical, "AuthorizerId"), authorizers)
                if auth is None:
                    raise ConfigError(f"{where}.AuthorizerId: not an authorizer of this API")
                auth_where = f"Resources.{auth}.Properties"
                if str(self._prop(auth, "AuthorizerType", "")).upper() != "REQUEST":
                    raise ConfigError(f"{auth_where}.AuthorizerType: only REQUEST runs locally")
                sources = self._prop(auth, "IdentitySource", []) or []
                authorizer = WebSocketAuthorizer(
                    function=self._integrated_function(
                        self._raw_prop(auth, "AuthorizerUri"), f"{auth_where}.AuthorizerUri"
                    ),
                    identity_sources=tuple(scalar_str(s) for s in sources),
                )
            elif str(self._prop(logical, "AuthorizationType", "NONE")).upper() == "AWS_IAM":
                raise ConfigError(f"{where}.AuthorizationType: AWS_IAM is not reproduced locally")
            expression = self._prop(logical, "RouteResponseSelectionExpression", None)
            if expression and logical not in answered:
                self.note(
                    f"{where}.RouteResponseSelectionExpression: no AWS::ApiGatewayV2::"
                    "RouteResponse for this route, so no reply is sent (as on AWS)"
                )
            if key in routes:
                raise ConfigError(f"{where}.RouteKey: route {key} is declared twice")
            routes[key] = WebSocketRoute(
                route_key=key,
                function=function,
                route_response=bool(expression) and logical in answered,
                authorizer=authorizer,
            )
        return routes, selection

    def _children(self, kind: str, api: str) -> list[tuple[str, Mapping[str, Any]]]:
        return [
            (logical, res)
            for logical, res in self._of_type(kind)
            if self._raw_prop(logical, "ApiId") == {"Ref": api}
        ]

    def _by_ref(self, raw: Any, candidates: list[tuple[str, Mapping[str, Any]]]) -> str | None:
        if raw is None:
            return None
        ident = self.intrinsics.string(raw, "ref")
        for logical, _ in candidates:
            if self.local.ref(logical, logical) == ident:
                return logical
        return None

    def _route_target(
        self, route: str, integrations: list[tuple[str, Mapping[str, Any]]], where: str
    ) -> str:
        target = self._prop(route, "Target", None)
        if target is None:
            raise ConfigError(f"{where}.Target: a route with no integration is not served locally")
        ident = scalar_str(target).removeprefix("integrations/")
        for logical, _ in integrations:
            if self.local.ref(logical, logical) == ident:
                i_where = f"Resources.{logical}.Properties"
                kind = str(self._prop(logical, "IntegrationType", "")).upper()
                if kind != "AWS_PROXY":
                    raise ConfigError(
                        f"{i_where}.IntegrationType: {kind} is not reproduced locally "
                        "(only AWS_PROXY Lambda integrations)"
                    )
                return self._integrated_function(
                    self._raw_prop(logical, "IntegrationUri"), f"{i_where}.IntegrationUri"
                )
        raise ConfigError(f"{where}.Target: {target} is not an integration of this API")

    # -- HTTP and REST APIs ------------------------------------------------------------
    def _http_routes(self) -> tuple[HttpRoute, ...]:
        routes: list[HttpRoute] = []
        for api, _ in self._of_type(f"{_V2}Api"):
            if api == self.ws_api:
                continue
            routes += self._http_api_resources(api)
            body = self._raw_prop(api, "Body")
            if body is not None:
                routes += self._openapi(api, body, rest=False)
            if self._raw_prop(api, "BodyS3Location") is not None:
                self.note(f"Resources.{api}.Properties.BodyS3Location: an S3 body is not read")
        for api, _ in self._of_type("AWS::ApiGateway::RestApi"):
            body = self._raw_prop(api, "Body")
            if body is not None:
                routes += self._openapi(api, body, rest=True)
            stages = [
                self._string_prop(lg, "StageName", lg)
                for lg, _ in self._of_type("AWS::ApiGateway::Stage")
                if self._raw_prop(lg, "RestApiId") == {"Ref": api}
            ]
            if stages and self.stage not in stages:
                self.note(
                    f"Resources.{api}: REST API stage {stages[0]} is served as {self.stage} "
                    "(one stage locally)"
                )
        for logical, _ in self._of_type("AWS::ApiGateway::Method"):
            self.note(
                f"Resources.{logical} (AWS::ApiGateway::Method): REST methods declared as "
                "resources are not served locally (OpenAPI bodies and SAM Api events are)"
            )
        return tuple(routes)

    def _http_api_resources(self, api: str) -> list[HttpRoute]:
        integrations = self._children(f"{_V2}Integration", api)
        authorizers = self._children(f"{_V2}Authorizer", api)
        out = []
        for logical, _ in self._children(f"{_V2}Route", api):
            where = f"Resources.{logical}.Properties"
            key = self._string_prop(logical, "RouteKey", "")
            method, _, path = key.partition(" ")
            if key == "$default":
                method, path = "*", "*"
            function = self._route_target(logical, integrations, where)
            target = scalar_str(self._prop(logical, "Target", "")).removeprefix("integrations/")
            version = "2.0"
            for integ, _ in integrations:
                if self.local.ref(integ, integ) == target:
                    version = scalar_str(self._prop(integ, "PayloadFormatVersion", "2.0"))
            authorizer = None
            kind = str(self._prop(logical, "AuthorizationType", "NONE")).upper()
            if kind == "CUSTOM":
                auth = self._by_ref(self._raw_prop(logical, "AuthorizerId"), authorizers)
                if auth is None:
                    raise ConfigError(f"{where}.AuthorizerId: not an authorizer of this API")
                authorizer = self._http_authorizer(auth)
            elif kind != "NONE":
                raise ConfigError(f"{where}.AuthorizationType: {kind} is not reproduced locally")
            out.append(
                HttpRoute(
                    method=method.upper(),
                    path=path,
                    function=function,
                    authorizer=authorizer,
                    api="http",
                    payload_version=version,
                )
            )
        return out

    def _http_authorizer(self, logical: str) -> HttpAuthorizer:
        where = f"Resources.{logical}.Properties"
        if str(self._prop(logical, "AuthorizerType", "")).upper() != "REQUEST":
            raise ConfigError(
                f"{where}.AuthorizerType: only REQUEST (Lambda) authorizers run locally"
            )
        sources = self._prop(logical, "IdentitySource", []) or []
        return HttpAuthorizer(
            name=logical,
            function=self._integrated_function(
                self._raw_prop(logical, "AuthorizerUri"), f"{where}.AuthorizerUri"
            ),
            identity_sources=tuple(scalar_str(s) for s in sources),
            simple_responses=bool(self._prop(logical, "EnableSimpleResponses", False)),
            payload_version=scalar_str(
                self._prop(logical, "AuthorizerPayloadFormatVersion", "2.0")
            ),
        )

    def _openapi(self, api: str, body: Any, *, rest: bool) -> list[HttpRoute]:
        where = f"Resources.{api}.Properties.Body"
        if not isinstance(body, Mapping):
            raise ConfigError(f"{where}: expected an OpenAPI document")
        schemes = body.get("securityDefinitions") or {}
        components = body.get("components")
        if isinstance(components, Mapping):
            schemes = {**schemes, **(components.get("securitySchemes") or {})}
        default_security = body.get("security")
        out = []
        for path, item in (body.get("paths") or {}).items():
            if not isinstance(item, Mapping):
                continue
            for method, operation in item.items():
                op_where = f"{where}.paths.{path}.{method}"
                if not isinstance(operation, Mapping):
                    continue
                integration = operation.get("x-amazon-apigateway-integration")
                if not isinstance(integration, Mapping):
                    continue
                kind = str(integration.get("type", "")).lower()
                if kind != "aws_proxy":
                    raise ConfigError(
                        f"{op_where}: integration type {kind} is not reproduced locally "
                        "(only aws_proxy)"
                    )
                function = self._integrated_function(integration.get("uri"), f"{op_where}.uri")
                verb = method.upper()
                if verb == "X-AMAZON-APIGATEWAY-ANY-METHOD":
                    verb = "*"
                security = operation.get("security", default_security) or []
                authorizer = self._openapi_authorizer(security, schemes, op_where, rest)
                version = (
                    "1.0" if rest else scalar_str(integration.get("payloadFormatVersion", "2.0"))
                )
                out.append(
                    HttpRoute(
                        method=verb,
                        path=str(path),
                        function=function,
                        authorizer=authorizer,
                        api="rest" if rest else "http",
                        payload_version=version,
                    )
                )
        return out

    def _openapi_authorizer(
        self, security: Any, schemes: Mapping[str, Any], where: str, rest: bool
    ) -> HttpAuthorizer | None:
        names = [n for requirement in security for n in requirement]
        names = [n for n in names if isinstance(schemes.get(n), Mapping)]
        if not names:
            return None
        name = names[0]
        scheme = schemes[name]
        spec = scheme.get("x-amazon-apigateway-authorizer")
        if rest or not isinstance(spec, Mapping) or str(spec.get("type")).lower() != "request":
            raise ConfigError(
                f"{where}: authorizer {name} is not reproduced locally "
                "(HTTP API Lambda REQUEST authorizers are; JWT, IAM and REST ones are not)"
            )
        sources = spec.get("identitySource", "")
        if isinstance(sources, str):
            sources = [s.strip() for s in sources.split(",") if s.strip()]
        return HttpAuthorizer(
            name=name,
            function=self._integrated_function(spec.get("authorizerUri"), f"{where}.authorizer"),
            identity_sources=tuple(scalar_str(s) for s in sources),
            simple_responses=bool(spec.get("enableSimpleResponses", False)),
            payload_version=scalar_str(spec.get("authorizerPayloadFormatVersion", "2.0")),
        )

    # -- tables ------------------------------------------------------------------------
    def _table(self, logical: str) -> Mapping[str, Any]:
        where = f"Resources.{logical}.Properties"
        props = self.intrinsics.evaluate(self.resources[logical].get("Properties") or {}, where)
        if not isinstance(props, Mapping):
            raise ConfigError(f"{where}: expected a mapping")
        return {**props, "TableName": self.local.ref(logical, where)}


def _constant(value: str) -> Callable[[], str]:
    return lambda: value


def _section(doc: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = doc.get(name) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name}: expected a mapping")
    return dict(value)


def _samconfig(base: Path) -> dict[str, Any]:
    """`sam deploy`'s settings in samconfig.toml (default environment), if any."""
    path = base / "samconfig.toml"
    if not path.is_file():
        return {}
    try:
        config = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"samconfig.toml: {exc}") from exc
    default = config.get("default") or {}
    out: dict[str, Any] = {}
    for command in ("global", "deploy"):
        params = (default.get(command) or {}).get("parameters") or {}
        out.update(params)
    return out


def _parse_overrides(raw: Any) -> dict[str, str]:
    """`Key=Value Key2="a b"` (or a list of them), as `--parameter-overrides` takes them."""
    if not raw:
        return {}
    items = raw if isinstance(raw, list) else shlex.split(str(raw))
    out = {}
    for item in items:
        text = str(item)
        long_form = re.fullmatch(r"ParameterKey=([^,]+),ParameterValue=(.*)", text)
        key, sep, value = long_form.groups() if long_form else text.partition("=")
        if not long_form and not sep:
            raise ConfigError(f"parameter overrides: {item!r} is not Key=Value")
        out[key] = value
    return out


def _stack_name_from(base: Path) -> str:
    """A stack name from the directory's name (SAM CLI asks for one; this is the local one)."""
    name = re.sub(r"[^A-Za-z0-9-]+", "-", base.name).strip("-")
    return name if name[:1].isalpha() else f"stack-{name}" if name else "stack"


def _inline_code(source: str) -> Path:
    """`Code.ZipFile` as Lambda lays it out: index.py in a directory of its own."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    root = Path(tempfile.gettempdir()) / "wschat-inline-code" / digest
    root.mkdir(parents=True, exist_ok=True)
    (root / "index.py").write_text(source)
    return root
