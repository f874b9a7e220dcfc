"""What the local gateway knows about a service: its definition, parsed and resolved.

Nothing here knows about the chat service; any serverless.yml or SAM/CloudFormation
template with WebSocket / HTTP routes can be described by these types. `infra.config` (the
loader) builds them; the gateway (`infra.gateway`) and the Lambda runtime (`infra.runtime`)
consume them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda function as `serverless.yml` declares it (after variable resolution)."""

    name: str  # logical name under `functions:` ("connect")
    handler: str  # "handlers/connect.handler" (path/module.attribute, as the framework writes it)
    timeout_s: float  # `timeout`, else provider.timeout, else 6 (the framework's default)
    memory_mb: int
    environment: Mapping[str, str]  # provider.environment merged with the function's own
    reserved_concurrency: int | None = None
    # As declared ("python3.9", ...); the loaders refuse non-python runtimes by function name.
    runtime: str = "python3.12"
    # The function's task root (/var/task): serverless -> the service dir; SAM -> its CodeUri
    # dir. None = the service file's dir.
    code_root: Path | None = None
    # requirements.txt to install for this function (serverless-python-requirements: the
    # service dir or the function's `module`; SAM: the CodeUri dir), None if none.
    requirements: Path | None = None
    # Local layer contents, each a dir or a .zip laid out as Lambda's /opt (python/ inside).
    layers: tuple[Path, ...] = ()
    # The function's `name:` (serverless) or FunctionName (SAM/CFN) if given.
    deployed_name: str | None = None
    architecture: str = "x86_64"


@dataclass(frozen=True)
class WebSocketAuthorizer:
    """A Lambda REQUEST authorizer on `$connect`."""

    function: str
    # As written in serverless.yml, e.g. "route.request.querystring.token" or
    # "route.request.header.Auth". All must be present or the handshake is 401.
    identity_sources: tuple[str, ...]


@dataclass(frozen=True)
class WebSocketRoute:
    route_key: str  # "$connect", "$disconnect", "$default", "send", ...
    function: str
    # routeResponseSelectionExpression given: the returned body reaches the client
    route_response: bool
    authorizer: WebSocketAuthorizer | None = None  # only ever on $connect


@dataclass(frozen=True)
class HttpAuthorizer:
    """An HTTP API (v2) Lambda authorizer."""

    name: str
    function: str
    identity_sources: tuple[str, ...]  # e.g. ("$request.header.Authorization",)
    simple_responses: bool
    payload_version: str  # "2.0" or "1.0"


@dataclass(frozen=True)
class HttpRoute:
    method: str  # "POST"
    path: str  # "/rooms/{room}/messages"
    function: str
    authorizer: HttpAuthorizer | None = None
    # "http" (HTTP API, payload 2.0 by default) or "rest" (serverless `http` event: REST API
    # proxy event, payload 1.0, served under /{stage}/path).
    api: str = "http"
    payload_version: str = "2.0"  # "1.0" or "2.0"


@dataclass(frozen=True)
class ServiceSpec:
    service: str
    stage: str
    region: str
    account_id: str
    route_selection_expression: str  # "$request.body.action"
    functions: Mapping[str, FunctionSpec]
    websocket_routes: Mapping[str, WebSocketRoute]  # keyed by route key
    http_routes: tuple[HttpRoute, ...] = ()
    # CloudFormation `Properties` of every AWS::DynamoDB::Table under resources.Resources.
    tables: tuple[Mapping[str, Any], ...] = ()
    # SSM parameters the service reads at run time, name -> local value (see infra.config).
    parameters: Mapping[str, str] = field(default_factory=dict)
    # What the definition declares that the harness does not reproduce, one human line each
    # ("functions.ping.events[0] (schedule): not reproduced locally"); printed at start.
    ignored: tuple[str, ...] = ()
    # The service's `custom.local` mapping (harness settings such as web, secrets, banner).
    local: Mapping[str, Any] = field(default_factory=dict)
    base_dir: Path | None = None  # the directory of the definition file

    def deployed_name(self, function: str) -> str:
        """The Lambda function's deployed name: its own `name:` if given, else the
        framework's service-stage-key."""
        declared = self.functions[function].deployed_name if function in self.functions else None
        return declared or f"{self.service}-{self.stage}-{function}"


@dataclass(frozen=True)
class Invocation:
    """The outcome of one Lambda invocation, as API Gateway sees it."""

    ok: bool  # the handler returned (its value is in `result`)
    result: Any = None  # the JSON-decoded return value (None when it returned None)
    error_type: str | None = None  # "Exception", "KeyError", "Sandbox.Timedout", ...
    error_message: str | None = None  # str(exc): "Unauthorized" matters to authorizers
    timed_out: bool = False
    duration_ms: float = 0.0


class Invoker(Protocol):
    """Runs a function of the service with an event, as the Lambda service would."""

    async def invoke(self, function: str, event: Mapping[str, Any]) -> Invocation: ...
