"""The whole local stack in one `async with`: DynamoDB/SSM, the Lambda runtime, the gateway.

    async with local_stack(Path("serverless.yml"), stage="dev", port=0) as stack:
        async with websockets.connect(stack.ws_url) as ws:
            ...

Used by `python -m infra` (`make run`), by the tests and by the benchmarks. It knows
nothing of any particular service: what a service wants locally (secrets, a web
directory) comes from its `custom.local` block (`infra.local_settings`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.awslambda.logs import LogSink, ReportSink, print_log
from infra.awslambda.runtime import DEFAULT_CONCURRENCY, DEFAULT_IDLE_S, LambdaRuntime
from infra.dynamodb import MotoServer, provision, start_moto
from infra.local_settings import LocalSettings, load
from infra.service import ServiceSpec
from infra.tls import CertFiles, ca_bundle, host_names, local_certificate

# Passed through to the sandboxes when DynamoDB is a real endpoint (AWS needs real keys).
_CREDENTIAL_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "HOME",
)


@dataclass
class LocalStack:
    """A running stack: where to reach it."""

    spec: ServiceSpec
    runtime: LambdaRuntime
    gateway: Any  # infra.apigateway.server.GatewayServer
    moto: MotoServer
    host: str
    port: int
    dynamodb_endpoint: str
    cert: CertFiles  # the gateway's certificate: https/wss on the same port as http/ws
    settings: LocalSettings
    # The service's `custom.local.secrets` as this run uses them (given or generated).
    secrets: Mapping[str, str] = field(default_factory=dict)
    generated_secrets: frozenset[str] = frozenset()  # the ones made up for this run
    dev_token: str | None = None
    tls: bool = False  # advertise https:// and wss:// (both schemes are served anyway)
    # Set when a part the stack cannot run without died (the embedded DynamoDB): what
    # happened is in `failure`. `python -m infra` stops on it.
    failed: asyncio.Event = field(default_factory=asyncio.Event)
    failure: str | None = None
    _external_dynamodb: bool = field(default=False, repr=False)

    def fail(self, reason: str) -> None:
        if self.failure is None:
            self.failure = reason
        self.failed.set()

    @property
    def stage(self) -> str:
        return self.spec.stage

    @property
    def http_url(self) -> str:
        """Base URL of the HTTP side: HTTP API routes, the web page, the Management API."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """The WebSocket API endpoint, stage included (`ws://127.0.0.1:8080/dev`)."""
        return f"{'wss' if self.tls else 'ws'}://{self.host}:{self.port}/{self.stage}"

    @property
    def mgmt_url(self) -> str:
        """The Management API endpoint (`endpoint_url` of `apigatewaymanagementapi`)."""
        return f"{self.http_url}/{self.stage}"

    @property
    def ca(self) -> Path:
        """The certificate clients trust to reach https:// and wss:// here."""
        return self.cert.trust

    @property
    def ssm_endpoint(self) -> str:
        return self.moto.endpoint

    async def reset(self) -> None:
        """Empty every table and restore the parameters (moto only: never wipes a real DB)."""
        if self._external_dynamodb:
            raise RuntimeError("reset() only works with the embedded DynamoDB")
        await self.moto.reset()
        await asyncio.to_thread(
            provision,
            self.spec,
            dynamodb_endpoint=self.dynamodb_endpoint,
            ssm_endpoint=self.moto.endpoint,
        )


@contextlib.asynccontextmanager
async def local_stack(
    service: Path = Path("serverless.yml"),
    stage: str | None = None,
    *,
    port: int = 0,
    host: str = "127.0.0.1",
    region: str | None = None,
    secrets: Mapping[str, str] | None = None,
    moto: MotoServer | None = None,
    dynamodb_endpoint: str | None = None,
    tls: bool = False,
    cert: CertFiles | None = None,
    cert_dir: Path | None = None,
    log: LogSink | None = print_log,
    report: ReportSink | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    warm: bool | int = False,
    sandbox_idle_s: float | None = DEFAULT_IDLE_S,
    environment: Mapping[str, str] | None = None,
    adapt: Callable[[ServiceSpec], ServiceSpec] | None = None,
    build: bool = False,
    build_output: bool = True,
    **gateway_options: Any,
) -> AsyncIterator[LocalStack]:
    """Start the stack for `service` (a serverless.yml or SAM/CloudFormation template);
    stop all of it on exit. `stage`: None for the definition's own (infra.config).

    `secrets`: values for the service's `custom.local.secrets` (else the environment's,
    else random). `moto`: a running embedded server to use (it is reset, not stopped);
    by default one is started on loopback (whatever `host` is: only this machine's code
    talks to it) and supervised: if it dies, `stack.failed` is set. `dynamodb_endpoint`:
    use that DynamoDB instead (tables created if missing). The gateway serves https/wss
    beside http/ws on its one port with `cert`, else a certificate of the local CA
    (cached in `cert_dir`); `tls` makes the advertised URLs https/wss. `warm`: start
    sandboxes before returning (True for one per function API Gateway invokes, a number
    for that many, up to each function's concurrency) and keep them; otherwise a
    function's first invocation starts its first sandbox (a cold start) and sandboxes
    idle for `sandbox_idle_s` stop. `log` gets the functions' log lines, `report` one
    `InvocationReport` per invocation. `environment`: variables set in every sandbox
    over the definition's (a setting tried without editing the file). `adapt`: applied
    to the loaded definition before anything starts (the artifact tests run the functions
    from packaged zips this way). `build`: run the service's `custom.local.build`
    commands first (their output shown unless not `build_output`). Other keyword
    arguments are `GatewayOptions` fields (idle_timeout_s, gone_rate, static_dir, ...).
    """
    from infra.apigateway.ids import api_id_for, execute_api_host
    from infra.apigateway.server import GatewayOptions, GatewayServer
    from infra.awslambda.invoke_api import InvokeApi

    loaded = await asyncio.to_thread(load, service, stage, region, given=secrets)
    service, settings, spec = loaded.path, loaded.settings, loaded.spec
    if build and settings.build:
        echo = (lambda line: print(line, file=sys.stderr, flush=True)) if build_output else None
        await asyncio.to_thread(settings.run_build, echo)
    if adapt is not None:  # e.g. functions run from packaged zips instead of the checkout
        spec = adapt(spec)
    secret_values, generated = dict(loaded.secrets), loaded.generated
    # The API's AWS host name too: sandboxes resolve it to the gateway (infra.awslambda).
    api_host = execute_api_host(api_id_for(spec.service, spec.stage), spec.region)
    if cert is None:
        names = [*host_names(host), api_host]
        cert = await asyncio.to_thread(local_certificate, names, cert_dir)
    bundle = await asyncio.to_thread(ca_bundle, cert, cert_dir)
    async with contextlib.AsyncExitStack() as exits:
        supervised = moto is None
        if moto is None:
            moto = await start_moto("127.0.0.1")
            exits.push_async_callback(moto.close)
        elif dynamodb_endpoint is None:
            await moto.reset()
        dynamo = dynamodb_endpoint or moto.endpoint

        sandbox_env = {
            "AWS_ENDPOINT_URL_DYNAMODB": dynamo,
            "AWS_ENDPOINT_URL_SSM": moto.endpoint,
            # Handlers that build https://{domainName}/{stage} reach the gateway's TLS side.
            "AWS_CA_BUNDLE": str(bundle),
        }
        sandbox_env.update(environment or {})
        runtime = LambdaRuntime(
            spec,
            root=service.parent,
            environment=sandbox_env,
            credentials=_passthrough_credentials() if dynamodb_endpoint else None,
            default_concurrency=concurrency,
            idle_s=None if warm else sandbox_idle_s,
            log=log,
            report=report,
        )
        exits.push_async_callback(runtime.close)

        if "static_dir" not in gateway_options and settings.web is not None:
            gateway_options["static_dir"] = settings.web  # custom.local.web
        gateway_options["allowed_origins"] = (  # custom.local.allowedOrigins, and the caller's
            *settings.allowed_origins,
            *gateway_options.get("allowed_origins", ()),
        )
        options = GatewayOptions(host=host, port=port, ssl=cert.server_context(), **gateway_options)
        # The Lambda Invoke API shares the gateway's port, as one endpoint for the sandboxes.
        invoke_api = InvokeApi(spec, runtime)
        exits.callback(invoke_api.close)
        gateway = GatewayServer(spec, runtime, options, apps=[invoke_api])
        await gateway.start()
        exits.push_async_callback(gateway.close)

        stack = LocalStack(
            spec=spec,
            runtime=runtime,
            gateway=gateway,
            moto=moto,
            host=host,
            port=gateway.port,
            dynamodb_endpoint=dynamo,
            cert=cert,
            settings=settings,
            secrets=secret_values,
            generated_secrets=frozenset(generated),
            dev_token=settings.mint_dev_token(secret_values),
            tls=tls,
            _external_dynamodb=dynamodb_endpoint is not None,
        )
        if supervised:
            moto.supervise(stack.fail)
        # Known only now that the gateway is bound; sandboxes start after this. Plain
        # http: the service's own deliveries skip TLS (both are served).
        runtime.environment["AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI"] = (
            f"{gateway.base_url}/{spec.stage}"
        )
        # Functions that invoke others (the chat's large fan-outs) reach the Invoke API.
        runtime.environment["AWS_ENDPOINT_URL_LAMBDA"] = gateway.base_url
        # https://{apiId}.execute-api.{region}.amazonaws.com/{stage}, as templates build
        # it, is this gateway in every sandbox (its TLS side serves that name too).
        runtime.hosts[api_host] = (_reachable(host), gateway.port)
        # Packaging (pip installs the first time) and cold starts overlap table creation.
        await asyncio.gather(
            asyncio.to_thread(
                provision,
                spec,
                dynamodb_endpoint=dynamo,
                ssm_endpoint=moto.endpoint,
                dummy_credentials=dynamodb_endpoint is None,
            ),
            runtime.warm(sandboxes=int(warm)) if warm else runtime.prepare(),
        )
        yield stack


def _reachable(bind_host: str) -> str:
    """The address a local client uses for a server bound to `bind_host`."""
    return {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(bind_host, bind_host)


def _passthrough_credentials() -> Mapping[str, str] | None:
    found = {k: v for k, v in os.environ.items() if k in _CREDENTIAL_VARS}
    has_keys = "AWS_ACCESS_KEY_ID" in found or "AWS_PROFILE" in found
    return found if has_keys else None
