"""Fixtures for the gateway's loopback tests: a gateway on port 0 running the echo
service with the in-process test invoker, websockets clients and the real boto3
Management API client."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.config import Config
from websockets.asyncio.client import ClientConnection, connect

from infra.apigateway import GatewayOptions, GatewayServer
from infra.awslambda.invoke_api import ASYNC_RETRY_DELAYS_S, InvokeApi
from infra.service import ServiceSpec
from tests.conftest import scaled
from tests.echo_service.invoker import InProcessInvoker, Record, echo_spec


class ManualClock:
    """A clock that moves only when the test says (gateway time rules without races)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class Harness:
    server: GatewayServer
    invoker: InProcessInvoker
    lambda_api: InvokeApi
    clock: ManualClock | None = None
    _clients: list[ClientConnection] = field(default_factory=list)

    def advance(self, seconds: float) -> None:
        """Move the gateway's manual clock on and let it apply its time rules."""
        assert self.clock is not None, "start_gateway(manual_clock=True)"
        self.clock.now += seconds
        self.server.tick()

    async def connect(self, query: str = "token=allow", **kwargs: Any) -> ClientConnection:
        """A WebSocket client; `query` is the query string (the authorizer wants a token)."""
        return await self.connect_url(self.server.ws_url + (f"?{query}" if query else ""), **kwargs)

    async def connect_url(self, url: str, **kwargs: Any) -> ClientConnection:
        kwargs.setdefault("open_timeout", scaled(5))
        kwargs.setdefault("ping_interval", None)  # keep control frames out of the tests
        kwargs.setdefault("close_timeout", scaled(2))
        ws = await connect(url, **kwargs)
        self._clients.append(ws)
        return ws

    def mgmt(self) -> Any:
        """boto3's apigatewaymanagementapi client, pointed at this gateway's stage."""
        return self.mgmt_with()

    def mgmt_with(self, **kwargs: Any) -> Any:
        return boto3.client(
            "apigatewaymanagementapi",
            endpoint_url=f"{self.server.base_url}/{self.server.spec.stage}",
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"mode": "standard", "max_attempts": 1}),
            **kwargs,
        )

    async def connection_id(self, ws: ClientConnection) -> str:
        """Ask the echo route who we are."""
        await ws.send(json.dumps({"action": "echo"}))
        reply = json.loads(await recv(ws))
        return str(reply["connectionId"])

    async def record(self, predicate: Callable[[Record], bool], seconds: float = 5) -> Record:
        return await self.invoker.wait_for(predicate, scaled(seconds))

    async def disconnect_of(self, connection_id: str) -> Record:
        """The $disconnect invocation of `connection_id` (waits for it)."""
        return await self.record(
            lambda r: r.route_key == "$disconnect" and r.connection_id == connection_id
        )

    def routes(self, key: str, connection_id: str | None = None) -> list[Record]:
        return self.invoker.find(
            lambda r: (
                r.route_key == key and (connection_id is None or r.connection_id == connection_id)
            )
        )

    async def close(self) -> None:
        for ws in self._clients:
            await ws.close()
        await self.server.close()
        self.lambda_api.close()
        self.invoker.close()


async def recv(ws: ClientConnection, seconds: float = 5) -> str:
    """The next text message, or TimeoutError."""
    message = await asyncio.wait_for(ws.recv(), scaled(seconds))
    assert isinstance(message, str)
    return message


async def closed(ws: ClientConnection, seconds: float = 5) -> tuple[int | None, str | None]:
    """Wait until the server closes `ws`; its close code and reason as the client saw them."""
    await asyncio.wait_for(ws.wait_closed(), scaled(seconds))
    rcvd = ws.protocol.close_rcvd
    return (rcvd.code, rcvd.reason) if rcvd else (None, None)


StartGateway = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def start_gateway() -> AsyncIterator[StartGateway]:
    """Start a gateway: `await start_gateway(spec=None, manual_clock=False, **options)`
    (GatewayOptions fields); with a manual clock, time passes by `Harness.advance`."""
    started: list[Harness] = []

    async def start(
        spec: ServiceSpec | None = None,
        *,
        lambda_retry_delays_s: tuple[float, ...] = ASYNC_RETRY_DELAYS_S,
        manual_clock: bool = False,
        **options: Any,
    ) -> Harness:
        spec = spec or echo_spec()
        invoker = InProcessInvoker(spec)
        lambda_api = InvokeApi(spec, invoker, lambda_retry_delays_s)
        clock = ManualClock() if manual_clock else None
        if clock is not None:
            options["clock"] = clock
        server = GatewayServer(spec, invoker, GatewayOptions(port=0, **options), [lambda_api])
        await server.start()
        harness = Harness(server, invoker, lambda_api, clock)
        started.append(harness)
        return harness

    yield start
    for harness in started:
        await harness.close()


@pytest.fixture
async def gw(start_gateway: StartGateway) -> Harness:
    """A gateway with default options running the echo service (stage "test")."""
    return await start_gateway()
