"""Load a service definition into a `ServiceSpec`: a `serverless.yml` read here, a SAM or
CloudFormation template by `infra.template.cloudformation` (`load_service` tells them
apart by content).

The serverless.yml side covers what a WebSocket/HTTP/REST API service needs locally:
CloudFormation short tags, the Framework's variables (`infra.template.variables`),
provider/function settings (stage, runtime, name, environment, timeouts, layers),
websocket, httpApi and http events with their authorizers, DynamoDB tables, SSM
parameters, and the serverless-python-requirements and serverless-pseudo-parameters
plugins. Whatever the harness does not reproduce is listed in `ServiceSpec.ignored`, or
is a `ConfigError` naming the place when ignoring it would change what the code does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from infra.awslambda import native_code
from infra.service import (
    FunctionSpec,
    HttpAuthorizer,
    HttpRoute,
    ServiceSpec,
    WebSocketAuthorizer,
    WebSocketRoute,
)
from infra.template.cloudformation import load_template
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
    python_runtime,
    summarize_ignored_resources,
)
from infra.template.tags import load_yaml
from infra.template.variables import Resolver

__all__ = [
    "DEFINITION_KINDS",
    "LOCAL_ACCOUNT_ID",
    "ConfigError",
    "find_definition",
    "load_service",
]

DEFAULT_TIMEOUT_S = 6.0  # the framework's defaults
DEFAULT_MEMORY_MB = 1024
DEFAULT_ROUTE_SELECTION = "$request.body.action"
DEFAULT_WS_IDENTITY_SOURCE = "route.request.header.Auth"
DEFAULT_HTTP_IDENTITY_SOURCE = "$request.header.Authorization"

# What `--service` may name, in the order a directory is searched.
SERVERLESS_FILES = ("serverless.yml", "serverless.yaml", "serverless.json")
TEMPLATE_FILES = ("template.yaml", "template.yml", "template.json")
DEFINITION_KINDS = (
    "a serverless.yml (Serverless Framework) or a SAM / CloudFormation template "
    "(template.yaml, YAML or JSON)"
)

# -- what the serverless.yml reader knows of each section --------------------------------
# Keys with no local effect (deployment, IAM, naming, logging of the deployed stack).
_TOP_DEPLOY_ONLY = {
    "app",
    "org",
    "console",
    "dashboard",
    "frameworkVersion",
    "configValidationMode",
    "variablesResolutionMode",
    "deprecationNotificationMode",
    "disabledDeprecations",
    "unresolvedVariablesNotificationMode",
    "outputs",
    "license",
}
_TOP_READ = {"service", "provider", "functions", "resources", "custom", "plugins", "layers"}
_TOP_READ |= {"params", "stages", "useDotenv", "package"}
_PROVIDER_READ = {
    "name",
    "runtime",
    "stage",
    "region",
    "timeout",
    "memorySize",
    "environment",
    "websocketsApiRouteSelectionExpression",
    "httpApi",
    "layers",
    "architecture",
    "stackName",
}
_PROVIDER_DEPLOY_ONLY = {
    "profile",
    "deploymentBucket",
    "deploymentPrefix",
    "deploymentMethod",
    "deploymentRole",
    "iam",
    "iamRoleStatements",
    "iamManagedPolicies",
    "role",
    "rolePermissionsBoundary",
    "cfnRole",
    "tags",
    "stackTags",
    "stackPolicy",
    "stackParameters",
    "notificationArns",
    "disableRollback",
    "versionFunctions",
    "lambdaHashingVersion",
    "logRetentionInDays",
    "logDataProtectionPolicy",
    "logs",
    "websocketsApiName",
    "websocketsDescription",
    "websocket",
    "apiName",
    "description",
    "kmsKeyArn",
    "ecr",
    "runtimeManagement",
}
_HTTP_API_READ = {"authorizers", "payload"}
_HTTP_API_DEPLOY_ONLY = {
    "name",
    "id",
    "metrics",
    "useProviderTags",
    "shouldStartNameWithService",
    "disableDefaultEndpoint",
}
_FUNCTION_READ = {
    "handler",
    "name",
    "runtime",
    "timeout",
    "memorySize",
    "environment",
    "events",
    "layers",
    "reservedConcurrency",
    "architecture",
    "module",
    "package",
}
_FUNCTION_DEPLOY_ONLY = {
    "description",
    "role",
    "iamRoleStatements",
    "iamRoleStatementsName",
    "iamRoleStatementsInherit",
    "tags",
    "logRetentionInDays",
    "logDataProtectionPolicy",
    "disableLogs",
    "versionFunction",
    "kmsKeyArn",
    "runtimeManagement",
    "ephemeralStorageSize",
}
# Plugins whose effect the harness reproduces (or that have none on the running code).
_PYTHON_REQUIREMENTS = "serverless-python-requirements"
_PSEUDO_PARAMETERS = "serverless-pseudo-parameters"
_PLUGINS_REPRODUCED = {
    _PYTHON_REQUIREMENTS: "",
    _PSEUDO_PARAMETERS: "",
    "serverless-offline": "",  # the harness is its replacement
    "serverless-iam-roles-per-function": "",  # IAM only
    "serverless-prune-plugin": "",
    "serverless-deployment-bucket": "",
}
_PSEUDO_SYNTAX = re.compile(r"#\{([^}]*)\}")
# What the Framework leaves out of every package (package-service.js), before the
# service's own package.patterns.
_PACKAGE_DEFAULT_EXCLUDES = (
    ".git/**",
    ".gitignore",
    ".DS_Store",
    "npm-debug.log",
    "yarn-*.log",
    ".serverless/**",
    ".serverless_plugins/**",
)
_PACKAGE_READ = {"patterns", "individually", "artifact", "excludeDevDependencies", "disable"}


# -- the entry points --------------------------------------------------------------------


def find_definition(path: Path) -> Path:
    """`path` if it is a file; in a directory, its serverless.yml, else its template.yaml."""
    path = Path(path)
    if not path.is_dir():
        return path
    for name in (*SERVERLESS_FILES, *TEMPLATE_FILES):
        if (path / name).is_file():
            return path / name
    raise ConfigError(f"{path}: no {', '.join(SERVERLESS_FILES + TEMPLATE_FILES)} here")


def load_service(
    path: Path,
    stage: str | None = None,
    region: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    parameter_values: Mapping[str, str] | None = None,
    parameter_overrides: Mapping[str, str] | None = None,
) -> ServiceSpec:
    """Parse and resolve the definition at `path` (a serverless.yml or a SAM/CloudFormation
    template, told apart by content; a directory: its serverless.yml, else template.yaml).

    `stage`: `--stage` (serverless.yml: else provider.stage, else dev; a template: else the
    WebSocket API's StageName). `region`: else the file's, else us-east-1. `env` stands for
    the process environment in `${env:...}` (default `os.environ`). SSM parameter values:
    `custom.local.parameters` (name -> value) if the file declares it; otherwise every
    environment variable `X_PARAM` naming a parameter takes its value from
    `parameter_values[X]`, else `env[X]`. `parameter_overrides`: template Parameters
    (as `sam deploy --parameter-overrides`).
    """
    env = os.environ if env is None else env
    path = find_definition(path)
    doc = _read(path)
    if _is_template(doc):
        return load_template(
            path,
            doc,
            stage=stage,
            region=region,
            env=env,
            parameter_overrides=parameter_overrides or {},
            parameter_values=parameter_values or {},
        )
    if not _is_serverless(doc):
        raise ConfigError(f"not a service definition: this harness reads {DEFINITION_KINDS}")
    return _ServerlessReader(path, doc, stage, region, env, parameter_values or {}).read()


def _read(path: Path) -> Mapping[str, Any]:
    if path.suffix in (".js", ".ts", ".cjs", ".mjs"):
        raise ConfigError(
            f"{path.name}: a JavaScript/TypeScript definition is not read; "
            f"this harness reads {DEFINITION_KINDS}"
        )
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{exc.strerror or exc}; this harness reads {DEFINITION_KINDS}") from exc
    try:
        doc = load_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"not YAML or JSON ({exc}); this harness reads {DEFINITION_KINDS}"
        ) from exc
    if not isinstance(doc, Mapping):
        raise ConfigError(f"not a mapping; this harness reads {DEFINITION_KINDS}")
    return doc


def _is_template(doc: Mapping[str, Any]) -> bool:
    return "Resources" in doc or "AWSTemplateFormatVersion" in doc or "Transform" in doc


def _is_serverless(doc: Mapping[str, Any]) -> bool:
    return "service" in doc and ("provider" in doc or "functions" in doc)


# -- serverless.yml ------------------------------------------------------------------------


class _ServerlessReader:
    """One serverless.yml, read once."""

    def __init__(
        self,
        path: Path,
        doc: Mapping[str, Any],
        stage: str | None,
        region: str | None,
        env: Mapping[str, str],
        parameter_values: Mapping[str, str],
    ) -> None:
        self.path = path
        self.base = path.parent.resolve()
        self.doc = doc
        self.env = env
        self.parameter_values = parameter_values
        self.ignored: list[str] = []
        options = {"stage": stage} if stage else {}
        if region:
            options["region"] = region
        self.r = Resolver(doc, options, env, self.base)
        self.region_arg = region

    def note(self, line: str) -> None:
        self.ignored.append(line)

    def read(self) -> ServiceSpec:
        doc, r = self.doc, self.r
        stage = r.resolve_stage()
        provider = _mapping(doc.get("provider", {}), "provider")
        r.region = self.region_arg or scalar_str(
            r.resolve(provider.get("region", DEFAULT_REGION), "provider.region")
        )
        service = doc.get("service")
        if isinstance(service, Mapping):  # the old `service: {name: ...}` form
            service = service.get("name")
        if not service:
            raise ConfigError("no `service` name")
        self.service = service = scalar_str(r.resolve(service, "service"))
        self.stage = stage
        self.plugins = self._plugins()
        self.package = self._service_package()
        self._unread_keys(doc, "", _TOP_READ, _TOP_DEPLOY_ONLY)
        self._unread_keys(provider, "provider.", _PROVIDER_READ, _PROVIDER_DEPLOY_ONLY)
        if doc.get("useDotenv"):
            self.note("useDotenv: .env files are not loaded; ${env:} reads the environment")

        stack_name = scalar_str(
            r.resolve(provider.get("stackName", f"{service}-{stage}"), "provider.stackName")
        )
        custom = doc.get("custom")
        self.custom: Mapping[str, Any] = custom if isinstance(custom, Mapping) else {}
        self.resources = LocalResources(service, stage, r.region, stack_name)
        cfn = self._cloudformation_sections()
        self.intrinsics = Intrinsics(
            Pseudo(region=r.region, stack_name=stack_name),
            parameters=self._stack_parameters(cfn["Parameters"], provider),
            mappings=cfn["Mappings"],
            conditions=cfn["Conditions"],
            resources=self.resources,
        )
        raw_functions = _mapping(doc.get("functions") or {}, "functions")
        self._declare_resources(cfn["Resources"], raw_functions)
        # custom.local (harness settings): local values like everything else, intrinsic
        # functions included, since only the harness reads it.
        self.local = _mapping(
            self.value(self.custom.get("local") or {}, "custom.local"), "custom.local"
        )
        self._local_layers()

        functions: dict[str, FunctionSpec] = {}
        ws_events: list[tuple[str, Mapping[str, Any], str]] = []
        http_events: list[tuple[str, Any, str, str]] = []
        for name, raw in raw_functions.items():
            fn, events = self._function(str(name), raw, provider)
            functions[fn.name] = fn
            for i, event in enumerate(events):
                where = f"functions.{name}.events[{i}]"
                if isinstance(event, str):  # `- alexaSkill`: an event with no settings
                    event = {event: None}
                if not isinstance(event, Mapping) or len(event) != 1:
                    raise ConfigError(f"{where}: expected one event type")
                kind, body = next(iter(event.items()))
                if kind == "websocket":
                    ws_events.append((fn.name, _websocket_event(body, where), where))
                elif kind in ("httpApi", "http"):
                    http_events.append((fn.name, body, kind, where))
                else:
                    self.note(
                        f"{where} ({kind}): not reproduced locally; "
                        f"nothing invokes {name} on this event"
                    )

        websocket_routes: dict[str, WebSocketRoute] = {}
        for fn_name, ws, where in ws_events:
            route_key = str(ws["route"])
            if route_key in websocket_routes:
                raise ConfigError(f"websocket route {route_key} is declared twice")
            authorizer = _websocket_authorizer(ws.get("authorizer"), route_key, functions)
            websocket_routes[route_key] = WebSocketRoute(
                route_key=route_key,
                function=fn_name,
                route_response="routeResponseSelectionExpression" in ws,
                authorizer=authorizer,
            )
            self._unread_keys(
                ws,
                f"{where} (websocket).",
                {"route", "authorizer"},
                {"routeResponseSelectionExpression"},
            )

        http_api = _mapping(r.resolve(provider.get("httpApi") or {}, "provider.httpApi"), "httpApi")
        self._unread_keys(http_api, "provider.httpApi.", _HTTP_API_READ, _HTTP_API_DEPLOY_ONLY)
        http_authorizers = _http_authorizers(http_api, functions, self.note)
        payload = scalar_str(http_api.get("payload", "2.0"))
        if payload not in ("1.0", "2.0"):
            raise ConfigError(f"provider.httpApi.payload: {payload!r} is not 1.0 or 2.0")
        http_routes = tuple(
            _http_route(
                fn_name, r.resolve(body, where), http_authorizers, payload, where, self.note
            )
            if kind == "httpApi"
            else self._rest_route(fn_name, r.resolve(body, where), where)
            for fn_name, body, kind, where in http_events
        )

        selection = provider.get("websocketsApiRouteSelectionExpression", DEFAULT_ROUTE_SELECTION)
        tables = self._tables(cfn["Resources"])
        parameters = ssm_parameters(
            self.local,
            functions,
            self.env,
            self.parameter_values,
            known=self._ssm_parameters(cfn["Resources"]),
        )
        self.note_unused_requirements(functions)
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
            tables=tables,
            parameters=parameters,
            ignored=tuple(self.ignored),
            local=self.local,
            base_dir=self.base,
        )

    # -- values ------------------------------------------------------------------------
    def value(self, raw: Any, where: str) -> Any:
        """`raw` with variables, `#{...}` (serverless-pseudo-parameters) and intrinsic
        functions resolved."""
        return self.intrinsics.evaluate(
            self._pseudo_syntax(self.r.resolve(raw, where), where), where
        )

    def _pseudo_syntax(self, value: Any, where: str) -> Any:
        if isinstance(value, str):
            if not _PSEUDO_SYNTAX.search(value):
                return value
            if _PSEUDO_PARAMETERS not in self.plugins:
                raise ConfigError(
                    f"{where}: {value!r} uses serverless-pseudo-parameters' #{{...}} syntax "
                    f"but that plugin is not in plugins: (it would stay literal on AWS)"
                )
            # What the plugin does: #{X} -> Fn::Sub's ${X}.
            return {"Fn::Sub": _PSEUDO_SYNTAX.sub(lambda m: "${" + m.group(1) + "}", value)}
        if isinstance(value, Mapping):
            return {k: self._pseudo_syntax(v, f"{where}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [self._pseudo_syntax(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return value

    def _unread_keys(
        self, section: Mapping[str, Any], prefix: str, read: set[str], deploy_only: set[str]
    ) -> None:
        for key in section:
            if key not in read and key not in deploy_only:
                self.note(f"{prefix}{key}: not reproduced locally")

    # -- plugins -----------------------------------------------------------------------
    def _plugins(self) -> set[str]:
        raw = self.doc.get("plugins") or []
        if isinstance(raw, Mapping):  # {localPath: ..., modules: [...]}
            raw = raw.get("modules") or []
        if not isinstance(raw, list):
            raise ConfigError("plugins: expected a list")
        names = {scalar_str(self.r.resolve(p, "plugins")) for p in raw}
        for name in sorted(names):
            if name not in _PLUGINS_REPRODUCED:
                self.note(
                    f"plugins: {name}: not reproduced locally "
                    "(what it adds to the package or the template is not applied)"
                )
        return names

    # -- functions ---------------------------------------------------------------------
    def _function(
        self, name: str, raw: Any, provider: Mapping[str, Any]
    ) -> tuple[FunctionSpec, list[Any]]:
        where = f"functions.{name}"
        r = self.r
        fn = _mapping(r.resolve(raw, where), where)
        if "handler" not in fn:
            raise ConfigError(f"{where}: no handler (container images are not supported locally)")
        self._unread_keys(fn, f"{where}.", _FUNCTION_READ, _FUNCTION_DEPLOY_ONLY)
        runtime = fn.get("runtime", r.resolve(provider.get("runtime"), "provider.runtime"))
        if runtime is None:
            raise ConfigError(
                f"{where}: no runtime (provider.runtime or {where}.runtime); "
                "the Framework's default is nodejs"
            )
        runtime = python_runtime(scalar_str(runtime), where)
        source = raw if isinstance(raw, Mapping) else fn  # unresolved, when it can be
        environment = self._environment(provider.get("environment"), "provider.environment")
        environment.update(self._environment(source.get("environment"), f"{where}.environment"))
        timeout = fn.get(
            "timeout", r.resolve(provider.get("timeout", DEFAULT_TIMEOUT_S), "provider")
        )
        memory = fn.get(
            "memorySize", r.resolve(provider.get("memorySize", DEFAULT_MEMORY_MB), "provider")
        )
        reserved = fn.get("reservedConcurrency")
        architecture = scalar_str(
            fn.get("architecture", r.resolve(provider.get("architecture", "x86_64"), "provider"))
        )
        code_root = self.base
        requirements = None
        module = fn.get("module")
        if module is not None:
            if _PYTHON_REQUIREMENTS not in self.plugins:
                self.note(f"{where}.module: used by serverless-python-requirements only")
            else:
                code_root = (self.base / scalar_str(module)).resolve()
        if _PYTHON_REQUIREMENTS in self.plugins:
            candidate = code_root / self._requirements_file_name()
            requirements = candidate if candidate.is_file() else None
        layers = self._function_layers(
            source.get("layers") if "layers" in source else provider.get("layers"),
            f"{where}.layers" if "layers" in source else "provider.layers",
        )
        patterns: tuple[str, ...] = ()
        if module is None:  # serverless-python-requirements packages a module by itself
            artifact, patterns = self._function_package(fn.get("package"), where)
            if artifact is not None:
                code_root, requirements = artifact, None
        deployed = fn.get("name")
        spec = FunctionSpec(
            name=name,
            handler=str(fn["handler"]),
            timeout_s=float(timeout),
            memory_mb=int(memory),
            environment=environment,
            reserved_concurrency=int(reserved) if reserved is not None else None,
            runtime=runtime,
            code_root=code_root,
            package_patterns=patterns,
            requirements=requirements,
            layers=layers,
            deployed_name=self.intrinsics.string(deployed, f"{where}.name") if deployed else None,
            architecture=architecture,
        )
        return spec, list(fn.get("events") or [])

    # -- packages ----------------------------------------------------------------------
    def _service_package(self) -> Mapping[str, Any]:
        package = _mapping(self.r.resolve(self.doc.get("package") or {}, "package"), "package")
        self._package_keys(package, "package")
        return package

    def _package_keys(self, package: Mapping[str, Any], where: str) -> None:
        for key in package:
            if key in ("include", "exclude"):
                self.note(
                    f"{where}.{key}: not read (Framework v3 reads package.patterns only); "
                    "the package is built without it"
                )
            elif key not in _PACKAGE_READ:
                self.note(f"{where}.{key}: not reproduced locally")

    def _function_package(self, raw: Any, where: str) -> tuple[Path | None, tuple[str, ...]]:
        """(the prebuilt .zip that is the function's package, or None; the patterns that
        pick its files from the service directory, empty when it needs none), as the
        Framework packages a function."""
        own = _mapping(raw or {}, f"{where}.package")
        self._package_keys(own, f"{where}.package")
        service = self.package
        if own.get("artifact"):
            return self._artifact(own["artifact"], f"{where}.package.artifact"), ()
        individually = bool(own.get("individually") or service.get("individually"))
        if service.get("artifact") and not own.get("individually"):
            return self._artifact(service["artifact"], "package.artifact"), ()
        patterns = self._patterns(service.get("patterns"), "package.patterns")
        own_patterns = self._patterns(own.get("patterns"), f"{where}.package.patterns")
        if own_patterns and not individually:
            self.note(
                f"{where}.package.patterns: not applied, as by the Framework: function "
                "patterns need package.individually"
            )
        elif individually:
            patterns += own_patterns
        if not patterns:
            return None, ()  # the whole directory (what the default excludes drop is no code)
        return None, (*(f"!{p}" for p in self._default_excludes()), *patterns)

    def _default_excludes(self) -> list[str]:
        excludes = [*_PACKAGE_DEFAULT_EXCLUDES, self.path.name]
        plugins = self.doc.get("plugins")
        if isinstance(plugins, Mapping) and plugins.get("localPath"):
            excludes.append(scalar_str(self.r.resolve(plugins["localPath"], "plugins")))
        for name, raw in (self.doc.get("layers") or {}).items():
            layer = self.r.resolve(raw, f"layers.{name}")
            if isinstance(layer, Mapping) and layer.get("path") is not None:
                excludes.append(f"{scalar_str(layer['path']).removeprefix('./').rstrip('/')}/**")
        if self.doc.get("useDotenv"):
            excludes.append(".env*")
        return excludes

    def _patterns(self, raw: Any, where: str) -> tuple[str, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list) or not all(isinstance(p, str) for p in raw):
            raise ConfigError(f"{where}: expected a list of glob patterns")
        return tuple(raw)

    def _artifact(self, raw: Any, where: str) -> Path:
        artifact = scalar_str(raw)
        if artifact.startswith(("s3://", "https://")):
            raise ConfigError(
                f"{where}: {artifact} is not a local file; the harness runs local code"
            )
        path = (self.base / artifact).resolve()
        if not path.is_file():
            raise ConfigError(f"{where}: {path} does not exist (build it first)")
        return path

    def _requirements_file_name(self) -> str:
        options = self.custom.get("pythonRequirements")
        if isinstance(options, Mapping) and options.get("fileName"):
            return scalar_str(self.r.resolve(options["fileName"], "custom.pythonRequirements"))
        return "requirements.txt"

    def note_unused_requirements(self, functions: Mapping[str, FunctionSpec]) -> None:
        """A requirements.txt the Framework would not install: say so, as AWS would fail."""
        if _PYTHON_REQUIREMENTS in self.plugins:
            if not any(fn.requirements for fn in functions.values()):
                for other in ("Pipfile", "pyproject.toml"):
                    if (self.base / other).is_file():
                        self.note(
                            f"plugins: {_PYTHON_REQUIREMENTS}: {other} is not read locally; "
                            "only requirements.txt is installed"
                        )
            return
        if (self.base / "requirements.txt").is_file():
            self.note(
                "requirements.txt: not installed, as on AWS: no serverless-python-requirements "
                "in plugins: (the Framework packages no dependencies by itself)"
            )

    def _environment(self, raw: Any, where: str) -> dict[str, str]:
        if raw is None:
            return {}
        resolved = _mapping(self.value(raw, where), where)
        out: dict[str, str] = {}
        for key, value in resolved.items():
            if value is NO_VALUE:
                continue
            if isinstance(value, Mapping | list) or value is None:
                raise ConfigError(f"{where}.{key}: expected a string, got {value!r}")
            out[str(key)] = scalar_str(value)
        return out

    # -- layers ------------------------------------------------------------------------
    def _local_layer_path(self, raw: Any, where: str) -> Path:
        """A `custom.local.layers` value: a directory or .zip (relative to the file), or a
        mapping of architecture (`x86_64`, `arm64`) to one, of which this machine's is
        taken: functions run on this machine's architecture locally, whatever they
        declare, so a layer with compiled code needs a copy built for it."""
        if isinstance(raw, Mapping):
            host = native_code.host_architecture()
            if host not in raw:
                raise ConfigError(
                    f"{where}: no entry for this machine's architecture ({host}); "
                    f"it has {', '.join(map(str, raw)) or 'none'}"
                )
            raw, where = raw[host], f"{where}.{host}"
        if not isinstance(raw, str) or not raw:
            raise ConfigError(f"{where}: expected a path, or a mapping of architecture to path")
        return (self.base / raw).resolve()

    def _local_layers(self) -> None:
        """custom.local.layers: keys naming a layer of this service (under `layers:`) run
        that layer from the given local content instead of its package; other keys are
        the ARNs of layers from elsewhere (`_function_layers`)."""
        mapped = _mapping(self.local.get("layers") or {}, "custom.local.layers")
        own = _mapping(self.doc.get("layers") or {}, "layers")
        for key, raw in mapped.items():
            where = f"custom.local.layers.{key}"
            if key in own:
                logical = f"{_normalized(str(key))}LambdaLayer"
                self.resources.run_layer_from(logical, self._local_layer_path(raw, where))
            elif not str(key).startswith("arn:"):
                names = ", ".join(map(str, own)) or "none"
                raise ConfigError(
                    f"{where}: neither a layer of this service ({names} under layers:) "
                    "nor a layer ARN"
                )

    def _function_layers(self, raw: Any, where: str) -> tuple[Path, ...]:
        if not raw:
            return ()
        resolved = self.r.resolve(raw, where)
        if not isinstance(resolved, list):
            raise ConfigError(f"{where}: expected a list of layers")
        local_arns = self.local.get("layers") or {}
        out: list[Path] = []
        for i, item in enumerate(resolved):
            here = f"{where}[{i}]"
            if isinstance(item, Mapping) and set(item) == {"Ref"}:
                path = self.resources.layer_paths.get(str(item["Ref"]))
                if path is not None:
                    out.append(path)
                    continue
            arn = self.intrinsics.string(self._pseudo_syntax(item, here), here)
            path = self.resources.layer_paths_by_arn.get(arn)
            if path is None and arn in local_arns:
                path = self._local_layer_path(local_arns[arn], f"custom.local.layers.{arn}")
            if path is not None:
                out.append(path)
            else:
                self.note(
                    f"{here}: {arn} is not a layer of this service: its contents are not in "
                    "the sandbox, so imports from it fail locally (map the ARN to a local "
                    "directory or .zip under custom.local.layers to use one)"
                )
        return tuple(out)

    def _stack_parameters(
        self, declared: Mapping[str, Any], provider: Mapping[str, Any]
    ) -> dict[str, Any]:
        """resources.Parameters' values: provider.stackParameters', else their Default."""
        values = {
            str(name): spec.get("Default")
            for name, spec in declared.items()
            if isinstance(spec, Mapping)
        }
        given = self.r.resolve(provider.get("stackParameters") or [], "provider.stackParameters")
        for entry in given if isinstance(given, list) else []:
            if isinstance(entry, Mapping) and str(entry.get("ParameterKey")) in values:
                values[str(entry["ParameterKey"])] = entry.get("ParameterValue")
        return values

    # -- resources ---------------------------------------------------------------------
    def _cloudformation_sections(self) -> dict[str, dict[str, Any]]:
        resources = self.doc.get("resources") or {}
        blocks = resources if isinstance(resources, list) else [resources]
        merged: dict[str, dict[str, Any]] = {
            "Resources": {},
            "Conditions": {},
            "Mappings": {},
            "Parameters": {},
        }
        for block in blocks:
            block = _mapping(block, "resources")
            for section, values in block.items():
                if section in merged:
                    where = f"resources.{section}"
                    values = _mapping(values or {}, where)
                    if section != "Resources":  # Resources: resolved where they are read
                        values = self._pseudo_syntax(self.r.resolve(values, where), where)
                    merged[section].update(values)
                elif section == "extensions":
                    for target in _mapping(values or {}, "resources.extensions"):
                        if "LambdaPermission" not in str(target):  # permissions: no local effect
                            self.note(f"resources.extensions.{target}: not applied locally")
                elif section not in ("Outputs", "Description"):
                    self.note(f"resources.{section}: not reproduced locally")
        return merged

    def _declare_resources(
        self, resources: Mapping[str, Any], raw_functions: Mapping[str, Any]
    ) -> None:
        """Tell `self.resources` what each logical id the Framework would create stands for."""
        res = self.resources
        base = self.base
        for name, raw in raw_functions.items():
            declared = raw.get("name") if isinstance(raw, Mapping) else None
            res.add_function(
                f"{_normalized(str(name))}LambdaFunction", self._deployed_name(str(name), declared)
            )
        for name, raw in _mapping(self.doc.get("layers") or {}, "layers").items():
            where = f"layers.{name}"
            layer = _mapping(self.r.resolve(raw, where), where)
            package = layer.get("package")
            artifact = package.get("artifact") if isinstance(package, Mapping) else None
            if layer.get("path") is not None:
                content = (base / scalar_str(layer["path"])).resolve()
            elif artifact is not None:
                content = (base / scalar_str(artifact)).resolve()
            else:
                raise ConfigError(f"{where}: neither path nor package.artifact")
            layer_name = scalar_str(layer.get("name", f"{self.service}-{self.stage}-{name}"))
            res.add_layer(f"{_normalized(str(name))}LambdaLayer", layer_name, content)
        res.add_api("WebsocketsApi", "wss")
        res.add_api("HttpApi", "https")
        res.add_api("ApiGatewayRestApi", "https")
        for logical, body in resources.items():
            if not isinstance(body, Mapping) or "Type" not in body:
                continue
            if "Condition" in body and not self.intrinsics.condition(
                str(body["Condition"]), f"resources.Resources.{logical}.Condition"
            ):
                continue
            res.declare(str(logical), str(body["Type"]), body.get("Properties") or {}, self.value)
        lines = summarize_ignored_resources(resources, "resources.Resources")
        self.ignored.extend(lines)

    def _deployed_name(self, name: str, declared: Any) -> Callable[[], str]:
        def value() -> str:
            if declared is None:
                return f"{self.service}-{self.stage}-{name}"
            return self.intrinsics.string(self.value(declared, f"functions.{name}.name"), name)

        return value

    def _tables(self, resources: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...]:
        out = []
        for logical in self.resources.tables:
            where = f"resources.Resources.{logical}.Properties"
            props = dict(
                _mapping(self.value(resources[logical].get("Properties", {}), where), where)
            )
            props["TableName"] = self.resources.ref(logical, where)
            out.append(props)
        return tuple(out)

    def _ssm_parameters(self, resources: Mapping[str, Any]) -> dict[str, str]:
        out = {}
        for logical in self.resources.ssm_parameters:
            where = f"resources.Resources.{logical}.Properties"
            props = _mapping(self.value(resources[logical].get("Properties", {}), where), where)
            out[self.resources.ref(logical, where)] = scalar_str(props.get("Value", ""))
        return out

    # -- REST API events ---------------------------------------------------------------
    def _rest_route(self, fn_name: str, body: Any, where: str) -> HttpRoute:
        where = f"{where} (http)"
        if isinstance(body, str):
            method, _, path = body.strip().partition(" ")
            event: Mapping[str, Any] = {}
        else:
            event = _mapping(body, where)
            method = scalar_str(event.get("method", ""))
            path = scalar_str(event.get("path", ""))
        if not method:
            raise ConfigError(f"{where}: no method")
        integration = scalar_str(event.get("integration", "lambda-proxy")).lower()
        if integration not in ("lambda-proxy", "aws_proxy", "aws-proxy"):
            raise ConfigError(
                f"{where}: integration {integration!r} is not reproduced locally "
                "(only lambda-proxy, the default)"
            )
        if event.get("authorizer") is not None:
            raise ConfigError(
                f"{where}: REST API authorizers are not reproduced locally; "
                "without one every request would reach the function"
            )
        if event.get("private"):
            raise ConfigError(
                f"{where}: private (API key) endpoints are not reproduced locally; "
                "without the key check every request would reach the function"
            )
        if event.get("async"):
            raise ConfigError(f"{where}: async invocation is not reproduced locally")
        if event.get("cors"):
            self.note(f"{where}.cors: OPTIONS preflight answers are not reproduced locally")
        for key in event:
            if key not in ("method", "path", "cors", "integration", "authorizer", "private"):
                self.note(f"{where}.{key}: not reproduced locally")
        method = method.upper()
        return HttpRoute(
            method="*" if method == "ANY" else method,
            path="/" + path.strip().strip("/"),
            function=fn_name,
            api="rest",
            payload_version="1.0",
        )


def _normalized(name: str) -> str:
    """The Framework's normalized name in logical ids (getNormalizedFunctionName)."""
    name = name.replace("-", "Dash").replace("_", "Underscore")
    return name[:1].upper() + name[1:]


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


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
    http_api: Mapping[str, Any], functions: Mapping[str, FunctionSpec], note: Callable[[str], None]
) -> dict[str, HttpAuthorizer]:
    out: dict[str, HttpAuthorizer] = {}
    for name, body in (http_api.get("authorizers") or {}).items():
        where = f"provider.httpApi.authorizers.{name}"
        auth = _mapping(body, where)
        if auth.get("type") != "request":
            # JWT authorizers check tokens against the issuer's keys, which a local run
            # cannot reach: a route using one is refused (_http_route), the rest is noted.
            kind = scalar_str(auth.get("type") or "jwt")
            note(
                f"{where} ({kind}): not reproduced locally; "
                "an httpApi route that uses it is refused"
            )
            continue
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
    fn_name: str,
    body: Any,
    authorizers: Mapping[str, HttpAuthorizer],
    payload_version: str,
    where: str,
    note: Callable[[str], None],
) -> HttpRoute:
    where = f"{where} (httpApi)"
    authorizer: HttpAuthorizer | None = None
    if isinstance(body, str):
        method, _, path = body.strip().partition(" ")
        if body.strip() == "*":
            method, path = "*", "*"
    else:
        event = _mapping(body, where)
        method = str(event.get("method", "*"))
        path = str(event.get("path", "*"))
        for key in event:
            if key not in ("method", "path", "authorizer"):
                note(f"{where}.{key}: not reproduced locally")
        raw_auth = event.get("authorizer")
        if raw_auth is not None:
            name = raw_auth if isinstance(raw_auth, str) else _mapping(raw_auth, where).get("name")
            if isinstance(raw_auth, Mapping) and str(raw_auth.get("type", "")).lower() == "aws_iam":
                raise ConfigError(
                    f"{where}: IAM authorization is not reproduced locally; without it every "
                    "request would reach the function"
                )
            if not isinstance(name, str) or name not in authorizers:
                raise ConfigError(
                    f"{where}: authorizer {name!r} is not a request authorizer declared "
                    "under provider.httpApi.authorizers (JWT and IAM authorizers are not "
                    "reproduced locally)"
                )
            authorizer = authorizers[name]
    return HttpRoute(
        method=method.upper(),
        path=path,
        function=fn_name,
        authorizer=authorizer,
        api="http",
        payload_version=payload_version,
    )
