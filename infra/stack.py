"""The whole local stack in one `async with`: DynamoDB/SSM, the Lambda runtime, the gateway.

    async with local_stack(Path("serverless.yml"), stage="dev", port=0) as stack:
        async with websockets.connect(f"{stack.ws_url}?token={stack.token('alice')}") as ws:
            ...

Used by `python -m infra` (`make run`), by the tests and by the benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from client.tokens import SECRET_ENV, local_secret, mint_token
from infra.awslambda.logs import LogSink, ReportSink, print_log
from infra.awslambda.runtime import DEFAULT_CONCURRENCY, DEFAULT_IDLE_S, LambdaRuntime
from infra.config import load_service
from infra.dynamo import MotoServer, provision, start_moto
from infra.service import ServiceSpec
from infra.tls import CertFiles, self_signed

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
    """A running stack: where to reach it and how to sign in."""

    spec: ServiceSpec
    runtime: LambdaRuntime
    gateway: Any  # infra.gateway.server.GatewayServer
    moto: MotoServer
    host: str
    port: int
    secret: str
    dynamodb_endpoint: str
    cert: CertFiles | None = None
    _external_dynamodb: bool = field(default=False, repr=False)

    @property
    def stage(self) -> str:
        return self.spec.stage

    @property
    def http_url(self) -> str:
        """Base URL of the HTTP side: HTTP API routes, the web page, the Management API."""
        return f"{'https' if self.cert else 'http'}://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """The WebSocket API endpoint, stage included (`ws://127.0.0.1:8080/dev`)."""
        return f"{'wss' if self.cert else 'ws'}://{self.host}:{self.port}/{self.stage}"

    @property
    def mgmt_url(self) -> str:
        """The Management API endpoint (`endpoint_url` of `apigatewaymanagementapi`)."""
        return f"{self.http_url}/{self.stage}"

    @property
    def ssm_endpoint(self) -> str:
        return self.moto.endpoint

    def token(self, sub: str, name: str | None = None, scopes: Iterable[str] = ()) -> str:
        """A token the service accepts for user `sub`."""
        return mint_token(sub, name=name, secret=self.secret, scopes=scopes)

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
    stage: str = "dev",
    *,
    port: int = 0,
    host: str = "127.0.0.1",
    region: str | None = None,
    secret: str | None = None,
    moto: MotoServer | None = None,
    dynamodb_endpoint: str | None = None,
    tls: bool = False,
    cert: CertFiles | None = None,
    log: LogSink | None = print_log,
    report: ReportSink | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    warm: bool | int = False,
    sandbox_idle_s: float | None = DEFAULT_IDLE_S,
    environment: Mapping[str, str] | None = None,
    adapt: Callable[[ServiceSpec], ServiceSpec] | None = None,
    **gateway_options: Any,
) -> AsyncIterator[LocalStack]:
    """Start the stack for `service` (a serverless.yml); stop all of it on exit.

    `moto`: a running embedded server to use (it is reset, not stopped); by default one is
    started. `dynamodb_endpoint`: use that DynamoDB instead (tables created if missing).
    `tls` (or `cert`): wss/https with a self-signed certificate the sandboxes trust.
    `warm`: start sandboxes before returning (True for one per function API Gateway
    invokes, a number for that many, up to each function's concurrency) and keep them;
    otherwise a function's first invocation starts its first sandbox (a cold start) and
    sandboxes idle for `sandbox_idle_s` stop. `log` gets the functions' log lines,
    `report` one `InvocationReport` per invocation. `environment`: variables set in every
    sandbox over serverless.yml's (a setting tried without editing the file). `adapt`:
    applied to the loaded definition before anything starts (the artifact tests run the
    functions from packaged zips this way). Other keyword arguments are
    `GatewayOptions` fields (idle_timeout_s, gone_rate, static_dir, ...).
    """
    from infra.gateway.server import GatewayOptions, GatewayServer

    secret = secret or local_secret()
    service, spec = _load(service, stage, region, secret)
    if adapt is not None:  # e.g. functions run from packaged zips instead of the checkout
        spec = adapt(spec)
    async with contextlib.AsyncExitStack() as exits:
        if moto is None:
            moto = await start_moto(host)
            exits.push_async_callback(moto.close)
        elif dynamodb_endpoint is None:
            await moto.reset()
        dynamo = dynamodb_endpoint or moto.endpoint
        if tls and cert is None:
            cert_dir = Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="wschat-tls-")))
            cert = self_signed(
                cert_dir, hosts=tuple(dict.fromkeys((host, "127.0.0.1", "localhost")))
            )

        sandbox_env = {
            "AWS_ENDPOINT_URL_DYNAMODB": dynamo,
            "AWS_ENDPOINT_URL_SSM": moto.endpoint,
        }
        if cert is not None:
            sandbox_env["AWS_CA_BUNDLE"] = str(cert.cert)
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

        options = GatewayOptions(
            host=host,
            port=port,
            ssl=cert.server_context() if cert else None,
            **gateway_options,
        )
        gateway = GatewayServer(spec, runtime, options)
        await gateway.start()
        exits.push_async_callback(gateway.close)

        stack = LocalStack(
            spec=spec,
            runtime=runtime,
            gateway=gateway,
            moto=moto,
            host=host,
            port=gateway.port,
            secret=secret,
            dynamodb_endpoint=dynamo,
            cert=cert,
            _external_dynamodb=dynamodb_endpoint is not None,
        )
        # Known only now that the gateway is bound; sandboxes start after this.
        runtime.environment["AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI"] = stack.mgmt_url
        # Functions that invoke others (the chat's large fan-outs) reach the Invoke API.
        runtime.environment["AWS_ENDPOINT_URL_LAMBDA"] = gateway.base_url
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


def _load(service: Path, stage: str, region: str | None, secret: str) -> tuple[Path, ServiceSpec]:
    service = Path(service).resolve()
    return service, load_service(service, stage, region, parameter_values={SECRET_ENV: secret})


def _passthrough_credentials() -> Mapping[str, str] | None:
    found = {k: v for k, v in os.environ.items() if k in _CREDENTIAL_VARS}
    has_keys = "AWS_ACCESS_KEY_ID" in found or "AWS_PROFILE" in found
    return found if has_keys else None
