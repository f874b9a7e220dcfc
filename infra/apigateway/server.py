"""The asyncio side of the gateway: a listener, action execution, HTTP dispatch, timers.

`GatewayCore` (WebSocket API, Management API), `HttpApiCore` (HTTP and REST API routes)
and `ConnectionTable` (the connection cap, HTTP header and keep-alive timeouts) decide;
this module only carries their decisions out: sockets, invocations, and one timer set to
the earliest deadline any of them reports. Plain and TLS clients share the port
(`wire.ClientConnection` tells them apart). The AWS APIs on the port (`@connections`,
the apps such as Lambda's Invoke API) are for signed, non-browser callers on this
machine's names only (`access`, `infra.sigv4`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import resource
import ssl as ssl_module
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from websockets.frames import Frame, Opcode

from infra import sigv4
from infra.apigateway import static
from infra.apigateway.access import Access
from infra.apigateway.actions import (
    Abort,
    Accept,
    Action,
    Close,
    Invoke,
    Reject,
    Respond,
    SendText,
)
from infra.apigateway.connections import ConnectionLimits, ConnectionTable, Phase
from infra.apigateway.core import Faults, GatewayCore, Limits
from infra.apigateway.events import Handshake
from infra.apigateway.host import Expiring, RawRequest, SessionLimits, WebSocketPeer, Wire
from infra.apigateway.http_api import HttpApiCore
from infra.apigateway.http_routes import HttpRequest
from infra.apigateway.ids import execute_api_host
from infra.apigateway.listener import Listener
from infra.apigateway.wire import ClientConnection
from infra.http import HttpApp, HttpResponse, header, json_message
from infra.service import Invocation, Invoker, ServiceSpec
from infra.tls import host_names

log = logging.getLogger(__name__)

_FORBIDDEN = (("x-amzn-ErrorType", "ForbiddenException"),)
# Distinct refused origins and hosts logged, at most (a page could vary them forever).
_REFUSALS_LOGGED = 100


def default_max_connections() -> int:
    """Three quarters of the file descriptors this process may open: the rest is for the
    sandboxes' pipes, DynamoDB clients and files (and a cap below the limit means the
    limit itself is not what stops new clients)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 100_000
    return max(soft * 3 // 4, 16)


def is_loopback_address(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address == "localhost"
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return (mapped or ip).is_loopback


def beyond_loopback_warning(addresses: Sequence[str]) -> str | None:
    """What to say when the gateway listens where other machines can reach it."""
    exposed = [a for a in addresses if not is_loopback_address(a)]
    if not exposed:
        return None
    return (
        f"WARNING: listening on {', '.join(exposed)}, beyond loopback: anyone who can reach "
        "this port can open WebSockets and call the Management API and the Lambda Invoke "
        "API (locally they check that a request is signed, not who signed it). Use only "
        "on a network you trust."
    )


@dataclass(frozen=True)
class GatewayOptions:
    host: str = "127.0.0.1"
    port: int = 8080  # 0 = pick a free port
    # Also accept TLS (https, wss) on the same port, with this context.
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
    # A static site: GET / (no Upgrade) serves static_dir/index.html, GET /x serves files
    static_dir: Path | None = None
    # Browser pages (an Origin header) from elsewhere that may open WebSockets; the
    # gateway's own pages always may. "*": any, as on AWS. (`access`)
    allowed_origins: tuple[str, ...] = ()
    # Connection limits (`connections`): not AWS quotas, the local gateway's defences.
    header_timeout_s: float = 10.0  # a request head must arrive whole within this
    keepalive_timeout_s: float = 60.0  # an idle connection, or a stalled body, is closed
    max_connections: int | None = None  # None: default_max_connections()
    # The time every rule is measured on. Tests pass a clock they turn by hand and then
    # call `GatewayServer.tick()`; the server's own timer follows the cores' deadlines.
    clock: Callable[[], float] = time.time


class GatewayServer:
    """API Gateway (WebSocket API, HTTP / REST API routes, @connections) for one service,
    plus the other AWS APIs (`apps`) that share its port."""

    def __init__(
        self,
        spec: ServiceSpec,
        invoker: Invoker,
        options: GatewayOptions,
        apps: Sequence[HttpApp] = (),
    ) -> None:
        self.spec = spec
        self.invoker = invoker
        self.options = options
        self.apps = tuple(apps)
        self.core = GatewayCore(
            spec,
            limits=Limits(
                idle_timeout_s=options.idle_timeout_s,
                hard_timeout_s=options.hard_timeout_s,
                integration_timeout_s=options.integration_timeout_s,
                close_timeout_s=options.close_timeout_s,
            ),
            faults=Faults(
                gone_rate=options.gone_rate,
                throttle_rate=options.throttle_rate,
                connect_rate_limit=options.connect_rate_limit,
                seed=options.seed,
            ),
            clock=options.clock,
            origin_allowed=self._origin_allowed,
        )
        self.http_api = HttpApiCore(spec, self.core.api, clock=options.clock)
        self.connections: ConnectionTable[Wire] = ConnectionTable(
            ConnectionLimits(
                max_connections=options.max_connections or default_max_connections(),
                header_timeout_s=options.header_timeout_s,
                keepalive_timeout_s=options.keepalive_timeout_s,
            ),
            clock=options.clock,
        )
        api_host = execute_api_host(self.core.api.api_id, spec.region)
        self.access = Access([*host_names(options.host), api_host], options.allowed_origins)
        self._refusals_logged: set[str] = set()
        self._at_cap = False
        self.limits = SessionLimits(
            frame_bytes=self.core.limits.frame_bytes,
            message_bytes=self.core.limits.message_bytes,
        )
        self._http_sessions: dict[Wire, Expiring] = {}
        self._websockets: dict[str, WebSocketPeer] = {}
        self._responses: dict[str, asyncio.Future[HttpResponse]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._changed: asyncio.Event | None = None
        self._server: Listener | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._port = options.port

    # Lifecycle

    async def start(self) -> None:
        self._changed = asyncio.Event()
        context = self.options.ssl
        listener = Listener(
            lambda: ClientConnection(self, context), open_connections=lambda: len(self.connections)
        )
        await listener.start(self.options.host, self.options.port, backlog=4096)
        self._server = listener
        self._port = listener.port
        log.info("gateway listening on %s (stage %s)", self.base_url, self.spec.stage)
        warning = beyond_loopback_warning(self.bound_addresses)
        if warning is not None:
            log.warning("%s", warning.removeprefix("WARNING: "))

    @property
    def port(self) -> int:
        return self._port

    @property
    def bound_addresses(self) -> list[str]:
        """The addresses the listening sockets are bound to (what is actually reachable)."""
        sockets = self._server.sockets if self._server is not None else []
        return [str(sock.getsockname()[0]) for sock in sockets]

    @property
    def authority(self) -> str:
        return f"{self.options.host}:{self._port}"

    @property
    def secure(self) -> bool:
        """Whether TLS clients are accepted too (on the same port)."""
        return self.options.ssl is not None

    @property
    def base_url(self) -> str:
        return f"http://{self.authority}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.authority}/{self.spec.stage}"

    @property
    def connection_count(self) -> int:
        """Connections the core knows about (connecting, open or closing)."""
        return len(self.core)

    async def close(self) -> None:
        """Close every client (1001, firing $disconnect, awaited) and the listener."""
        if self._server is not None:
            self._server.close()
        self._disarm()
        for wire in list(self._http_sessions):
            wire.abort()
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
                for peer in list(self._websockets.values()):
                    peer.abort()
                aborted = True
                deadline = loop.time() + self.options.integration_timeout_s
            elif remaining <= 0:
                for task in list(self._tasks):
                    task.cancel()
                break
            await self._wait_change(max(remaining, 0.05))
        self._disarm()
        self._server = None

    async def _wait_change(self, seconds: float) -> None:
        assert self._changed is not None
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), seconds)

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()

    # Time

    def tick(self) -> None:
        """Apply the time rules whose moment has come (by the options' clock)."""
        self._timer, self._timer_at = None, None
        for wire, phase in self.connections.tick():
            session = self._http_sessions.get(wire)
            if session is not None:
                session.expire(phase)
            else:
                wire.close()
        self.execute([*self.core.tick(), *self.http_api.tick()])

    def _arm(self) -> None:
        """Keep one timer at the earliest deadline any of the rules has."""
        rules = (self.core, self.http_api, self.connections)
        deadlines = [d for d in (rule.next_deadline() for rule in rules) if d]
        if not deadlines:
            return
        at = min(deadlines)
        if self._timer_at is not None and self._timer_at <= at:
            return  # already due first; `tick` re-arms for the rest
        if self._timer is not None:
            self._timer.cancel()
        delay = max(at - self.options.clock(), 0.0)
        self._timer = asyncio.get_running_loop().call_later(delay, self.tick)
        self._timer_at = at

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = None, None

    # Carrying out the cores' decisions

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("gateway task failed", exc_info=task.exception())
        self._notify()

    def execute(self, actions: Iterable[Action]) -> None:
        for action in actions:
            if isinstance(action, Invoke):
                self.spawn(self._invoke(action))
                continue
            if isinstance(action, Respond):
                future = self._responses.get(action.ref)
                if future is not None and not future.done():
                    future.set_result(action.response)
                continue
            peer = self._websockets.get(action.connection_id)
            if peer is None:
                continue
            if isinstance(action, SendText):
                peer.send_text(action.text)
            elif isinstance(action, Accept):
                peer.accept(action.subprotocol)
            elif isinstance(action, Reject):
                del self._websockets[action.connection_id]
                peer.reject(action.status, action.body, action.headers)
                self._notify()
            elif isinstance(action, Close):
                peer.close(action.code, action.reason)
            elif isinstance(action, Abort):
                peer.abort()
        if self._server is not None:
            self._arm()

    async def _invoke(self, action: Invoke) -> None:
        invocation = await self._call(action.function, action.event)
        core = self.http_api if action.kind.http else self.core
        self.execute(core.invoked(action, invocation))

    async def _call(self, function: str, event: dict[str, Any]) -> Invocation:
        # No timeout here: the cores apply API Gateway's, and the Lambda runtime the
        # function's own (a function may outlive API Gateway's wait, as on AWS).
        try:
            return await self.invoker.invoke(function, event)
        except Exception as exc:  # the invoker itself failed: the caller sees a 5xx
            log.exception("invoking %s failed", function)
            return Invocation(ok=False, error_type=type(exc).__name__, error_message=str(exc))

    # Host: what the client connections call

    def connection_opened(self, wire: Wire) -> bool:
        admission = self.connections.open(wire)
        full = admission.evicted is not None or not admission.admitted
        if full and not self._at_cap:  # one line each time the cap is reached
            self._at_cap = True
            log.warning(
                "%d connections open, the cap (--max-connections): new ones take the "
                "place of idle ones, or are refused with 503 when none is idle",
                self.connections.limits.max_connections,
            )
        if admission.evicted is not None:
            admission.evicted.close()
        if admission.admitted and self._server is not None:
            self._arm()
        return admission.admitted

    def connection_closed(self, wire: Wire) -> None:
        self.connections.close(wire)
        if self._at_cap and len(self.connections) < self.connections.limits.max_connections:
            self._at_cap = False

    def http_session_started(self, wire: Wire, session: Expiring) -> None:
        self._http_sessions[wire] = session

    def http_session_ended(self, wire: Wire) -> None:
        self._http_sessions.pop(wire, None)

    def http_phase(self, wire: Wire, phase: Phase) -> None:
        self.connections.enter(wire, phase)
        if self._server is not None:
            self._arm()

    def http_progress(self, wire: Wire) -> None:
        self.connections.progress(wire)  # a later deadline: the armed timer re-arms

    def websocket_opening(self, peer: WebSocketPeer, handshake: Handshake) -> str:
        connection_id, actions = self.core.handshake(handshake)
        self._websockets[connection_id] = peer
        self.execute(actions)
        return connection_id

    def websocket_frame(self, connection_id: str, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.TEXT:
            actions = self.core.text_frame(connection_id, bytes(frame.data), frame.fin)
        elif opcode is Opcode.CONT:
            actions = self.core.continuation_frame(connection_id, bytes(frame.data), frame.fin)
        elif opcode is Opcode.BINARY:
            actions = self.core.binary_frame(connection_id)
        else:
            return  # control frames: websockets answers pings itself
        self.execute(actions)

    def websocket_closed(self, connection_id: str, code: int, reason: str) -> None:
        self._websockets.pop(connection_id, None)
        self.execute(self.core.closed(connection_id, code, reason))
        self._notify()

    async def http_request(self, request: RawRequest) -> HttpResponse:
        """Another API's path, the Management API, an HTTP / REST API route, a file."""
        method = request.method
        raw_path, _, query = request.target.partition("?")
        for app in self.apps:
            if app.handles(raw_path):
                refused = self._front_door(request)
                if refused is not None:
                    return refused
                return await app.request(method, raw_path, query, request.headers, request.body)
        if "/@connections" in raw_path:
            refused = self._front_door(request) or sigv4.refusal(request.headers, "execute-api")
            if refused is not None:
                return refused
            if self.options.mgmt_latency_ms > 0:
                await asyncio.sleep(self.options.mgmt_latency_ms / 1000)
            managed = self.core.management(method, raw_path, request.body)
            if managed is not None:
                response, actions = managed
                self.execute(actions)
                return response
        path = unquote(raw_path)
        host = next((v for n, v in request.headers if n.lower() == "host"), self.authority)
        started = self.http_api.request(
            HttpRequest(method, path, query, request.headers, request.body, request.source_ip, host)
        )
        if started is not None:
            ref, actions = started
            future: asyncio.Future[HttpResponse] = asyncio.get_running_loop().create_future()
            self._responses[ref] = future
            try:
                self.execute(actions)
                return await future
            finally:
                self._responses.pop(ref, None)
        if self.options.static_dir is not None and method in ("GET", "HEAD"):
            found = static.resolve(self.options.static_dir, path)
            if found is not None:
                data = found.read_bytes()
                return HttpResponse(200, (("Content-Type", static.content_type(found)),), data)
        return json_message(404, "Not Found")

    # The local defences (`access`)

    def _front_door(self, request: RawRequest) -> HttpResponse | None:
        """The AWS APIs on this port take no browser request and only this machine's
        names: 403 ForbiddenException otherwise (a signature is checked next)."""
        host = header(request.headers, "host")
        if not self.access.serves_host(host):
            self._log_refusal(
                f"host {host!r}",
                "a request to the Management or Invoke API for another host name (DNS rebinding?)",
            )
            return json_message(403, "Forbidden", _FORBIDDEN)
        origin = header(request.headers, "origin")
        if origin is not None:
            self._log_refusal(
                f"origin {origin!r}",
                "a browser request to the Management or Invoke API (they take signed "
                "requests from code, never from pages)",
            )
            return json_message(403, "Forbidden", _FORBIDDEN)
        return None

    def _origin_allowed(self, origin: str, hs: Handshake) -> bool:
        allowed = self.access.origin_allowed(origin, hs.domain_name, self._port)
        if not allowed:
            self._log_refusal(
                f"origin {origin!r}",
                f"a WebSocket handshake from a page at {origin} (allow it with "
                "custom.local.allowedOrigins or --allow-origin)",
            )
        return allowed

    def _log_refusal(self, key: str, what: str) -> None:
        """One line per refused host or origin: a page retrying must not flood the log."""
        if key in self._refusals_logged or len(self._refusals_logged) >= _REFUSALS_LOGGED:
            return
        self._refusals_logged.add(key)
        log.warning("refused %s: 403", what)
