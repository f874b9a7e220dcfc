"""The asyncio side of the gateway: a listener, action execution, HTTP dispatch.

`GatewayCore` decides; this module only carries decisions out (sockets, invocations,
timers). One periodic sweep drives idle / hard timeouts for every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl as ssl_module
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from infra.awslambda.invoke_api import ASYNC_RETRY_DELAYS_S, InvokeApi
from infra.gateway import http_api, static
from infra.gateway.actions import (
    Abort,
    Accept,
    Action,
    Close,
    HttpResponse,
    Invoke,
    Reject,
    SendText,
)
from infra.gateway.connection import ClientConnection
from infra.gateway.core import Faults, GatewayCore, Limits
from infra.gateway.events import Handshake
from infra.gateway.ids import new_id
from infra.service import Invocation, Invoker, ServiceSpec

log = logging.getLogger(__name__)

_JSON = (("Content-Type", "application/json"),)


@dataclass(frozen=True)
class GatewayOptions:
    host: str = "127.0.0.1"
    port: int = 8080  # 0 = pick a free port
    ssl: ssl_module.SSLContext | None = None
    # Timeouts
    idle_timeout_s: float = 600.0  # gateway-spec item 18
    hard_timeout_s: float = 7200.0
    integration_timeout_s: float = 29.0
    close_timeout_s: float = 10.0  # how long a client may take to answer our close frame
    # Fault injection
    mgmt_latency_ms: float = 0.0  # AWS-like delay on each Management API call
    gone_rate: float = 0.0  # fraction of POST @connections answered 410 (connection dropped)
    throttle_rate: float = 0.0  # fraction answered 429 LimitExceededException
    connect_rate_limit: float | None = None  # new connections per second (AWS: 500); None = off
    seed: int | None = None  # RNG seed for fault injection
    # The web client: GET / (no Upgrade) serves static_dir/index.html, GET /x serves files
    static_dir: Path | None = None
    # The Lambda Invoke API (infra.awslambda): delays before retrying a failed Event call
    lambda_retry_delays_s: tuple[float, ...] = ASYNC_RETRY_DELAYS_S


class GatewayServer:
    """API Gateway (WebSocket API + HTTP API routes + @connections) for one service."""

    def __init__(self, spec: ServiceSpec, invoker: Invoker, options: GatewayOptions) -> None:
        self.spec = spec
        self.invoker = invoker
        self.options = options
        self.core = GatewayCore(
            spec,
            limits=Limits(
                idle_timeout_s=options.idle_timeout_s,
                hard_timeout_s=options.hard_timeout_s,
                integration_timeout_s=options.integration_timeout_s,
            ),
            faults=Faults(
                gone_rate=options.gone_rate,
                throttle_rate=options.throttle_rate,
                connect_rate_limit=options.connect_rate_limit,
                seed=options.seed,
            ),
        )
        self.http_routes = http_api.HttpRoutes(spec.http_routes)
        self.http_connections: set[ClientConnection] = set()
        self._websockets: dict[str, ClientConnection] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        # Event invocations run (and wait to be retried) apart from the gateway's own
        # tasks: closing the gateway drops them instead of waiting minutes for a retry.
        self._async_invocations: set[asyncio.Task[Any]] = set()
        self.lambda_api = InvokeApi(
            spec, invoker, self._spawn_async_invocation, options.lambda_retry_delays_s
        )
        self._changed: asyncio.Event | None = None
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._port = options.port

    # Lifecycle

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self._server = await loop.create_server(
            lambda: ClientConnection(self),
            self.options.host,
            self.options.port,
            ssl=self.options.ssl,
            backlog=4096,
        )
        self._port = int(self._server.sockets[0].getsockname()[1])
        self._sweeper = asyncio.create_task(self._sweep())
        log.info("gateway listening on %s (stage %s)", self.base_url, self.spec.stage)

    @property
    def port(self) -> int:
        return self._port

    @property
    def bound_addresses(self) -> list[str]:
        """The addresses the listening sockets are bound to (what is actually reachable)."""
        sockets = self._server.sockets if self._server is not None else ()
        return [str(sock.getsockname()[0]) for sock in sockets]

    @property
    def authority(self) -> str:
        return f"{self.options.host}:{self._port}"

    @property
    def base_url(self) -> str:
        scheme = "https" if self.options.ssl else "http"
        return f"{scheme}://{self.authority}"

    @property
    def ws_url(self) -> str:
        scheme = "wss" if self.options.ssl else "ws"
        return f"{scheme}://{self.authority}/{self.spec.stage}"

    @property
    def connection_count(self) -> int:
        """Connections the core knows about (connecting, open or closing)."""
        return len(self.core)

    async def close(self) -> None:
        """Close every client (1001, firing $disconnect, awaited) and the listener."""
        if self._server is not None:
            self._server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        for conn in list(self.http_connections):
            conn.abort()
        for task in list(self._async_invocations):
            task.cancel()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.close_timeout_s
        aborted = False
        while self._websockets or self._tasks:
            # Connections still in $connect may open meanwhile: close them as they do.
            self.execute(self.core.close_all())
            remaining = deadline - loop.time()
            if remaining <= 0 and not aborted:
                # Clients that never answered the close frame: drop them, then give the
                # $disconnect invocations this causes one integration timeout to finish.
                for conn in list(self._websockets.values()):
                    conn.abort()
                aborted = True
                deadline = loop.time() + self.options.integration_timeout_s
            elif remaining <= 0:
                for task in list(self._tasks):
                    task.cancel()
                break
            await self._wait_change(max(remaining, 0.05))
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _wait_change(self, seconds: float) -> None:
        assert self._changed is not None
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), seconds)

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()

    async def _sweep(self) -> None:
        shortest = min(self.options.idle_timeout_s, self.options.hard_timeout_s)
        interval = min(max(shortest / 20, 0.01), 1.0)
        while True:
            await asyncio.sleep(interval)
            self.execute(self.core.tick())

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _spawn_async_invocation(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._async_invocations.add(task)
        task.add_done_callback(self._async_invocations.discard)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("gateway task failed", exc_info=task.exception())
        self._notify()

    # Carrying out the core's decisions

    def execute(self, actions: Iterable[Action]) -> None:
        for action in actions:
            if isinstance(action, Invoke):
                self.spawn(self._invoke(action))
                continue
            conn = self._websockets.get(action.connection_id)
            if conn is None:
                continue
            if isinstance(action, SendText):
                conn.send_text(action.text)
            elif isinstance(action, Accept):
                conn.accept(action.subprotocol)
            elif isinstance(action, Reject):
                del self._websockets[action.connection_id]
                conn.reject(action.status, action.body, action.headers)
                self._notify()
            elif isinstance(action, Close):
                conn.close(action.code, action.reason)
            elif isinstance(action, Abort):
                conn.abort()

    async def _invoke(self, action: Invoke) -> None:
        invocation = await self._call(action.function, action.event, action.timeout_s)
        self.execute(self.core.invoked(action, invocation))

    async def _call(
        self, function: str, event: dict[str, Any], timeout_s: float
    ) -> Invocation | None:
        """Invoke; None when the integration timeout passes first."""
        try:
            return await asyncio.wait_for(self.invoker.invoke(function, event), timeout_s)
        except TimeoutError:
            return None
        except Exception as exc:  # the invoker itself failed: the caller sees a 5xx
            log.exception("invoking %s failed", function)
            return Invocation(ok=False, error_type=type(exc).__name__, error_message=str(exc))

    # Called by connections

    def websocket_opening(self, conn: ClientConnection, hs: Handshake) -> str:
        connection_id, actions = self.core.handshake(hs)
        self._websockets[connection_id] = conn
        self.execute(actions)
        return connection_id

    def websocket_closed(self, connection_id: str, code: int, reason: str) -> None:
        self._websockets.pop(connection_id, None)
        self.execute(self.core.closed(connection_id, code, reason))
        self._notify()

    # HTTP: Management API, HTTP API routes, static files

    async def http_request(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        source_ip: str,
    ) -> HttpResponse:
        raw_path, _, query = target.partition("?")
        if self.lambda_api.handles(raw_path):
            r = await self.lambda_api.request(method, raw_path, query, headers, body)
            return HttpResponse(r.status, r.headers, r.body)
        if "/@connections" in raw_path:
            if self.options.mgmt_latency_ms > 0:
                await asyncio.sleep(self.options.mgmt_latency_ms / 1000)
            response = self.core.management(method, raw_path, body)
            if response is not None:
                self.execute(response.actions)
                return response
        path = unquote(raw_path)
        match = self.http_routes.match(method, path)
        if match is not None:
            host = next((v for n, v in headers if n.lower() == "host"), self.authority)
            request = http_api.HttpRequest(method, path, query, headers, body, source_ip, host)
            result = await self._http_api(request, match)
            return HttpResponse(result.status, result.headers, result.body)
        if self.options.static_dir is not None and method in ("GET", "HEAD"):
            found = static.resolve(self.options.static_dir, path)
            if found is not None:
                data = found.read_bytes()
                headers_out = (("Content-Type", static.content_type(found)),)
                return HttpResponse(200, headers_out, data)
        return HttpResponse(404, _JSON, b'{"message":"Not Found"}')

    async def _http_api(
        self, request: http_api.HttpRequest, match: http_api.Match
    ) -> http_api.Result:
        api = self.core.api
        context = None
        authorizer = match.route.authorizer
        if authorizer is not None:
            identity = http_api.identity_values(authorizer, request)
            if identity is None:
                return http_api.error_result(401, "Unauthorized")
            event = http_api.authorizer_event(api, request, match, identity, request_id=new_id())
            outcome = await self._call(authorizer.function, event, http_api.INTEGRATION_TIMEOUT_S)
            if outcome is None:
                outcome = Invocation(ok=False, error_type="Timeout", timed_out=True)
            verdict = http_api.authorizer_verdict(authorizer, outcome, event["routeArn"])
            if verdict.status == 401:
                return http_api.error_result(401, "Unauthorized")
            if verdict.status == 403:
                return http_api.error_result(403, "Forbidden")
            if verdict.status is not None:
                return http_api.error_result(500, "Internal Server Error")
            context = dict(verdict.context or {})
            if verdict.principal_id is not None:
                context.setdefault("principalId", verdict.principal_id)
        event = http_api.request_event(
            api, request, match, request_id=new_id(), authorizer_context=context
        )
        invocation = await self._call(match.route.function, event, http_api.INTEGRATION_TIMEOUT_S)
        return http_api.integration_result(invocation)
