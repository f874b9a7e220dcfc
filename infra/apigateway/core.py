"""The gateway as a pure state machine: no sockets, no clock of its own, no tasks.

Inputs are method calls — a handshake arrived, a frame arrived, a connection closed, an
invocation finished, a Management API call came in, time passed — and outputs are
actions (`infra.apigateway.actions`) for the I/O adapter to carry out. Everything API
Gateway decides (routing, event shapes, authorizer and $connect outcomes, limits,
Management API semantics) is decided here, and so is every time rule: idle and hard
limits, the integration timeout, the close handshake's timeout. Time is the injected
`clock`; `next_deadline()` says when `tick()` has work, so tests turn the clock by hand.
"""

from __future__ import annotations

import enum
import heapq
import json
import random
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from infra.apigateway import errors, events
from infra.apigateway.actions import (
    Abort,
    Accept,
    Action,
    Close,
    Invoke,
    InvokeKind,
    Reject,
    SendText,
)
from infra.apigateway.authorizers import identity_values, policy_verdict, refusal
from infra.apigateway.ids import api_id_for, is_valid_id, new_id
from infra.apigateway.routing import RouteSelector, route_for
from infra.http import HttpResponse
from infra.service import Invocation, ServiceSpec, WebSocketRoute

# Close codes and the reasons the harness reports for closes it initiates.
CLOSE_NORMAL = (1000, "Connection Closed Normally")  # DeleteConnection
GOING_AWAY = (1001, "Going away")  # idle / hard timeout, gateway shutdown
UNSUPPORTED_DATA = (1003, "Binary frames are not supported")
INVALID_DATA = (1007, "Invalid UTF-8 in text frame")
MESSAGE_TOO_BIG = (1009, "Message too big")
NO_STATUS = 1005  # the client's close frame carried no code
ABNORMAL = 1006  # the TCP connection dropped without a closing handshake

_JSON = (("Content-Type", "application/json"),)
# How API Gateway words the handshake refusals of the $connect authorizer.
_REFUSALS = {401: "Unauthorized", 403: "Forbidden", 500: "Internal server error"}
_MGMT_PATH = re.compile(r"^(?:/(?P<stage>[^/]+))?/@connections/(?P<id>[^/]*)$")


@dataclass(frozen=True)
class Limits:
    """AWS's quotas (WebSocket quota table); times are configurable for tests."""

    frame_bytes: int = 32 * 1024
    message_bytes: int = 128 * 1024
    post_bytes: int = 131072
    idle_timeout_s: float = 600.0
    hard_timeout_s: float = 7200.0
    integration_timeout_s: float = 29.0
    # How long a client may take to answer the gateway's close frame before TCP is
    # dropped (not an AWS quota; AWS does not document it).
    close_timeout_s: float = 10.0


@dataclass(frozen=True)
class Faults:
    """Fault injection for the Management API and the connect quota (all off by default)."""

    gone_rate: float = 0.0
    throttle_rate: float = 0.0
    connect_rate_limit: float | None = None
    seed: int | None = None


class State(enum.Enum):
    CONNECTING = "connecting"
    OPEN = "open"
    CLOSING = "closing"


class Connection:
    """One client, from handshake to $disconnect."""

    __slots__ = (
        "client_gone",
        "close_code",
        "close_deadline_s",
        "close_reason",
        "connected_at_s",
        "disconnect_fired",
        "fragment_size",
        "fragments",
        "handshake",
        "info",
        "last_active_s",
        "state",
    )

    def __init__(self, info: events.ConnectionInfo, hs: events.Handshake, now_s: float) -> None:
        self.info = info
        self.handshake: events.Handshake | None = hs  # dropped once $connect is done
        self.state = State.CONNECTING
        self.connected_at_s = now_s
        self.last_active_s = now_s
        self.close_code: int | None = None  # set when the gateway starts the close
        self.close_reason = ""
        self.close_deadline_s = 0.0  # past it, a client that never answered is dropped
        self.client_gone = False  # the socket went away while $connect was running
        self.disconnect_fired = False
        self.fragments: list[bytes] | None = None
        self.fragment_size = 0

    @property
    def connection_id(self) -> str:
        return self.info.connection_id


def _message(text: str) -> bytes:
    return json.dumps({"message": text}).encode()


class GatewayCore:
    """API Gateway's WebSocket behaviour for one service and stage."""

    def __init__(
        self,
        spec: ServiceSpec,
        *,
        limits: Limits | None = None,
        faults: Faults | None = None,
        clock: Callable[[], float] = time.time,
        origin_allowed: Callable[[str, events.Handshake], bool] = lambda origin, hs: True,
    ) -> None:
        """`origin_allowed(origin, handshake)`: whether a browser handshake (one with an
        `Origin` header) may go on; AWS leaves that to the authorizer (the default), the
        local server adds its own policy (`access`)."""
        self.spec = spec
        self.origin_allowed = origin_allowed
        self.limits = limits or Limits()
        self.faults = faults or Faults()
        self.clock = clock
        self.api = events.ApiInfo(
            api_id=api_id_for(spec.service, spec.stage),
            stage=spec.stage,
            region=spec.region,
            account_id=spec.account_id,
        )
        self.selector = RouteSelector(spec.route_selection_expression)
        self.routes: dict[str, WebSocketRoute] = dict(spec.websocket_routes)
        self._rng = random.Random(self.faults.seed)
        self._conns: dict[str, Connection] = {}
        # Open connections, least recently active first: the idle rule reads the front.
        self._idle: OrderedDict[str, Connection] = OrderedDict()
        # (connected at, id) of open connections, for the hard limit; entries of
        # connections no longer open are skipped when they reach the top.
        self._by_age: list[tuple[float, str]] = []
        # Connections the gateway is closing, in the order it started (one timeout for all).
        self._closing: OrderedDict[str, Connection] = OrderedDict()
        # Invocations still running, and (deadline, ref) of each for the integration timeout.
        self._running: dict[str, Invoke] = {}
        self._deadlines: list[tuple[float, str]] = []
        self._bucket = max(float(self.faults.connect_rate_limit or 0.0), 1.0)
        self._bucket_at = clock()

    # Queries

    def __len__(self) -> int:
        return len(self._conns)

    def state_of(self, connection_id: str) -> State | None:
        conn = self._conns.get(connection_id)
        return conn.state if conn else None

    def stage_paths(self) -> tuple[str, ...]:
        """Paths a WebSocket handshake may use: ``/{stage}`` and ``/``."""
        stage = self.spec.stage
        return ("/", f"/{stage}", f"/{stage}/")

    # Handshake

    def handshake(self, hs: events.Handshake) -> tuple[str, list[Action]]:
        """A valid WebSocket upgrade request arrived; returns its connection id and actions."""
        now = self.clock()
        connection_id = new_id()
        while connection_id in self._conns:
            connection_id = new_id()
        if hs.path not in self.stage_paths():
            return connection_id, [Reject(connection_id, 403, _message("Forbidden"))]
        origin = hs.header("origin")
        if origin is not None and not self.origin_allowed(origin, hs):
            return connection_id, [Reject(connection_id, 403, _message("Forbidden"))]
        if not self._take_connect_token(now):
            return connection_id, [Reject(connection_id, 429, _message("Too Many Requests"))]
        info = events.ConnectionInfo(
            connection_id=connection_id,
            connected_at_ms=int(now * 1000),
            source_ip=hs.source_ip,
            user_agent=hs.user_agent,
            domain_name=hs.domain_name,
        )
        conn = Connection(info, hs, now)
        route = self.routes.get("$connect")
        authorizer = route.authorizer if route else None
        if authorizer is not None:
            query = parse_qsl(hs.query, keep_blank_values=True)
            if identity_values(authorizer.identity_sources, hs.headers, query) is None:
                return connection_id, [Reject(connection_id, 401, _message("Unauthorized"))]
            self._conns[connection_id] = conn
            event = events.authorizer_event(self.api, info, hs, request_id=new_id(), now_s=now)
            return connection_id, [
                self._invoke(conn, InvokeKind.AUTHORIZER, "$connect", event, now)
            ]
        self._conns[connection_id] = conn
        return connection_id, self._run_connect(conn, now)

    def _take_connect_token(self, now: float) -> bool:
        rate = self.faults.connect_rate_limit
        if rate is None:
            return True
        # A token bucket holding one second's worth of connections (at least one).
        self._bucket = min(max(rate, 1.0), self._bucket + (now - self._bucket_at) * rate)
        self._bucket_at = now
        if self._bucket < 1.0:
            return False
        self._bucket -= 1.0
        return True

    def _invoke(
        self,
        conn: Connection,
        kind: InvokeKind,
        route_key: str,
        event: dict[str, Any],
        now: float,
    ) -> Invoke:
        route = self.routes[route_key]
        function = route.function
        if kind is InvokeKind.AUTHORIZER:
            assert route.authorizer is not None
            function = route.authorizer.function
        action = Invoke(
            ref=event["requestContext"]["requestId"],
            kind=kind,
            function=function,
            event=event,
            connection_id=conn.connection_id,
            route_key=route_key,
        )
        self._running[action.ref] = action
        deadline = now + self.limits.integration_timeout_s
        heapq.heappush(self._deadlines, (deadline, action.ref))
        return action

    def _run_connect(self, conn: Connection, now: float) -> list[Action]:
        if "$connect" not in self.routes:
            return self._accept(conn, None, now)
        assert conn.handshake is not None
        event = events.connect_event(
            self.api, conn.info, conn.handshake, request_id=new_id(), now_s=now
        )
        return [self._invoke(conn, InvokeKind.CONNECT, "$connect", event, now)]

    def _accept(self, conn: Connection, subprotocol: str | None, now: float) -> list[Action]:
        conn.handshake = None
        if conn.client_gone:
            # $connect succeeded but the client left meanwhile: it was connected, so
            # $disconnect runs, as on AWS.
            return self._disconnect(conn, ABNORMAL, "", now)
        conn.state = State.OPEN
        conn.last_active_s = now
        self._idle[conn.connection_id] = conn
        heapq.heappush(self._by_age, (conn.connected_at_s, conn.connection_id))
        return [Accept(conn.connection_id, subprotocol)]

    def _refuse(self, conn: Connection, status: int, body: bytes) -> list[Action]:
        self._conns.pop(conn.connection_id, None)
        if conn.client_gone:
            return []
        return [Reject(conn.connection_id, status, body)]

    # Invocation outcomes

    def invoked(self, action: Invoke, invocation: Invocation) -> list[Action]:
        """An invocation finished (ignored when its integration timeout passed first)."""
        if self._running.pop(action.ref, None) is None:
            return []
        return self._outcome(action, invocation)

    def _outcome(self, action: Invoke, invocation: Invocation | None) -> list[Action]:
        """What an invocation's outcome means; `None`: the integration timeout passed."""
        conn = self._conns.get(action.connection_id)
        if conn is None:
            return []
        now = self.clock()
        if action.kind is InvokeKind.AUTHORIZER:
            return self._authorized(conn, action, invocation, now)
        if action.kind is InvokeKind.CONNECT:
            return self._connected(conn, invocation, now)
        if action.kind is InvokeKind.MESSAGE:
            return self._answered(conn, action, invocation, now)
        if action.kind is InvokeKind.DISCONNECT:
            # The connection is forgotten only now, so POST during $disconnect is 410.
            self._conns.pop(conn.connection_id, None)
        return []

    def _authorized(
        self, conn: Connection, action: Invoke, invocation: Invocation | None, now: float
    ) -> list[Action]:
        if invocation is None:
            return self._refuse(conn, 504, _message("Endpoint request timed out"))
        verdict = policy_verdict(invocation, action.event["methodArn"])
        refused = refusal(verdict, _REFUSALS)
        if refused is not None:
            status, message = refused
            return self._refuse(conn, status, _message(message))
        conn.info.authorizer = {"principalId": verdict.principal_id, **(verdict.context or {})}
        return self._run_connect(conn, now)

    def _connected(
        self, conn: Connection, invocation: Invocation | None, now: float
    ) -> list[Action]:
        if invocation is None:
            return self._refuse(conn, 504, _message("Endpoint request timed out"))
        if not invocation.ok:
            return self._refuse(conn, 502, _message("Internal server error"))
        result = invocation.result
        status = 200
        subprotocol = None
        body = b""
        if isinstance(result, dict):
            try:
                status = int(result.get("statusCode", 200))
            except (TypeError, ValueError):
                return self._refuse(conn, 502, _message("Internal server error"))
            headers = result.get("headers") or {}
            if isinstance(headers, dict):
                for name, value in headers.items():
                    if str(name).lower() == "sec-websocket-protocol":
                        subprotocol = str(value)
            if isinstance(result.get("body"), str):
                body = result["body"].encode()
        if 200 <= status < 300:
            return self._accept(conn, subprotocol, now)
        return self._refuse(conn, status, body)

    def _answered(
        self, conn: Connection, action: Invoke, invocation: Invocation | None, now: float
    ) -> list[Action]:
        if conn.state is not State.OPEN:
            return []
        if invocation is None:
            return [self._error_frame(conn, "Endpoint request timed out", action.ref, now)]
        if not invocation.ok:
            return [self._error_frame(conn, "Internal server error", action.ref, now)]
        route = self.routes.get(action.route_key)
        if route is None or not route.route_response:
            return []  # one-way route: the return value goes nowhere
        text = _response_body(invocation.result)
        return [] if text is None else [self._send(conn, text, now)]

    def _error_frame(self, conn: Connection, message: str, request_id: str, now: float) -> Action:
        payload = {
            "message": message,
            "connectionId": conn.connection_id,
            "requestId": request_id,
        }
        return self._send(conn, json.dumps(payload), now)

    def _send(self, conn: Connection, text: str, now: float) -> SendText:
        self._touch(conn, now)  # server-to-client traffic is activity too
        return SendText(conn.connection_id, text)

    def _touch(self, conn: Connection, now: float) -> None:
        conn.last_active_s = now
        if conn.state is State.OPEN:
            self._idle.move_to_end(conn.connection_id)

    # Frames

    def text_frame(self, connection_id: str, data: bytes, fin: bool = True) -> list[Action]:
        """A text frame (or the first frame of a fragmented text message)."""
        conn = self._conns.get(connection_id)
        if conn is None or conn.state is not State.OPEN:
            return []
        self._touch(conn, self.clock())
        if len(data) > self.limits.frame_bytes:
            return self._close(conn, *MESSAGE_TOO_BIG, self.clock())
        if not fin:
            conn.fragments = [data]
            conn.fragment_size = len(data)
            return []
        return self._message(conn, data)

    def continuation_frame(self, connection_id: str, data: bytes, fin: bool) -> list[Action]:
        conn = self._conns.get(connection_id)
        if conn is None or conn.state is not State.OPEN:
            return []
        self._touch(conn, self.clock())
        if conn.fragments is None:  # continuing a binary message: already closed
            return []
        conn.fragment_size += len(data)
        if len(data) > self.limits.frame_bytes or conn.fragment_size > self.limits.message_bytes:
            return self._close(conn, *MESSAGE_TOO_BIG, self.clock())
        conn.fragments.append(data)
        if not fin:
            return []
        whole = b"".join(conn.fragments)
        conn.fragments = None
        conn.fragment_size = 0
        return self._message(conn, whole)

    def binary_frame(self, connection_id: str) -> list[Action]:
        """API Gateway only routes text: a binary frame closes with 1003."""
        conn = self._conns.get(connection_id)
        if conn is None or conn.state is not State.OPEN:
            return []
        return self._close(conn, *UNSUPPORTED_DATA, self.clock())

    def _message(self, conn: Connection, data: bytes) -> list[Action]:
        if len(data) > self.limits.message_bytes:
            return self._close(conn, *MESSAGE_TOO_BIG, self.clock())
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return self._close(conn, *INVALID_DATA, self.clock())
        return self.message(conn.connection_id, text)

    def message(self, connection_id: str, text: str) -> list[Action]:
        """A complete text message: route it."""
        conn = self._conns.get(connection_id)
        if conn is None or conn.state is not State.OPEN:
            return []
        now = self.clock()
        self._touch(conn, now)
        route_key = route_for(
            self.selector.select(text), self.routes, reserved=("$connect", "$disconnect")
        )
        request_id = new_id()
        if route_key is None:
            return [self._error_frame(conn, "Forbidden", request_id, now)]
        event = events.message_event(
            self.api,
            conn.info,
            route_key=route_key,
            body=text,
            request_id=request_id,
            message_id=new_id(),
            now_s=now,
        )
        return [self._invoke(conn, InvokeKind.MESSAGE, route_key, event, now)]

    # Closing

    def _close(self, conn: Connection, code: int, reason: str, now: float) -> list[Action]:
        if conn.state is not State.OPEN:
            return []
        conn.state = State.CLOSING
        conn.close_code, conn.close_reason = code, reason
        conn.close_deadline_s = now + self.limits.close_timeout_s
        self._idle.pop(conn.connection_id, None)
        self._closing[conn.connection_id] = conn
        return [Close(conn.connection_id, code, reason)]

    def closed(self, connection_id: str, code: int, reason: str = "") -> list[Action]:
        """The socket is gone. `code` / `reason`: the client's close frame (1005 when it
        had no code), or 1006 when TCP dropped without one. Fires $disconnect once."""
        conn = self._conns.get(connection_id)
        if conn is None or conn.disconnect_fired:
            return []
        self._closing.pop(connection_id, None)
        if conn.state is State.CONNECTING:
            conn.client_gone = True  # the pending authorizer / $connect outcome decides
            return []
        if conn.close_code is not None:
            # The gateway started this close: its code stands, even if the client never
            # echoed it and TCP was dropped after the close timeout.
            code, reason = conn.close_code, conn.close_reason
        return self._disconnect(conn, code, reason, self.clock())

    def _disconnect(self, conn: Connection, code: int, reason: str, now: float) -> list[Action]:
        conn.disconnect_fired = True
        conn.state = State.CLOSING
        self._idle.pop(conn.connection_id, None)
        if "$disconnect" not in self.routes:
            self._conns.pop(conn.connection_id, None)
            return []
        # The connection stays registered (CLOSING) until $disconnect returns, so a POST
        # from that handler or any other is 410.
        event = events.disconnect_event(
            self.api, conn.info, status_code=code, reason=reason, request_id=new_id(), now_s=now
        )
        return [self._invoke(conn, InvokeKind.DISCONNECT, "$disconnect", event, now)]

    # Time

    def tick(self) -> list[Action]:
        """Time passed: apply every time rule whose moment has come.

        Idle (10 min) and hard (2 h) limits close with 1001; a client that has not
        answered the gateway's close frame in `close_timeout_s` is dropped; an
        invocation past the integration timeout (29 s) gets API Gateway's answer for
        it, and its late outcome is ignored."""
        now = self.clock()
        actions: list[Action] = []
        # Each rule compares `start + limit <= now`, as `next_deadline` computes it, so a
        # tick at the reported deadline always does the work.
        idle_s, hard_s = self.limits.idle_timeout_s, self.limits.hard_timeout_s
        while self._idle:
            oldest = next(iter(self._idle.values()))
            if oldest.last_active_s + idle_s > now:
                break
            actions += self._close(oldest, *GOING_AWAY, now)
        while self._by_age and self._by_age[0][0] + hard_s <= now:
            _, connection_id = heapq.heappop(self._by_age)
            aged = self._conns.get(connection_id)
            if aged is not None:
                actions += self._close(aged, *GOING_AWAY, now)
        while self._closing:
            closing = next(iter(self._closing.values()))
            if closing.close_deadline_s > now:
                break
            del self._closing[closing.connection_id]
            actions.append(Abort(closing.connection_id))
        while self._deadlines and self._deadlines[0][0] <= now:
            _, ref = heapq.heappop(self._deadlines)
            action = self._running.pop(ref, None)
            if action is not None:
                actions += self._outcome(action, None)
        return actions

    def next_deadline(self) -> float | None:
        """When `tick` next has something to do (clock time), or None."""
        while self._by_age and self._by_age[0][1] not in self._idle:
            heapq.heappop(self._by_age)  # closed since: no hard limit left to apply
        while self._deadlines and self._deadlines[0][1] not in self._running:
            heapq.heappop(self._deadlines)  # finished in time
        candidates = []
        if self._idle:
            oldest = next(iter(self._idle.values()))
            candidates.append(oldest.last_active_s + self.limits.idle_timeout_s)
        if self._by_age:
            candidates.append(self._by_age[0][0] + self.limits.hard_timeout_s)
        if self._closing:
            candidates.append(next(iter(self._closing.values())).close_deadline_s)
        if self._deadlines:
            candidates.append(self._deadlines[0][0])
        return min(candidates, default=None)

    def close_all(self) -> list[Action]:
        """The gateway is shutting down: close every open connection (1001)."""
        actions: list[Action] = []
        now = self.clock()
        for conn in list(self._idle.values()):
            actions += self._close(conn, *GOING_AWAY, now)
        return actions

    # Management API

    def management(
        self, method: str, path: str, body: bytes
    ) -> tuple[HttpResponse, list[Action]] | None:
        """A call to ``[/{stage}]/@connections/{id}``: the answer, and what it does to the
        connection. None when `path` is not a Management API path."""
        if "/@connections" not in path:
            return None
        try:
            return self._management(method, path, body)
        except errors.ManagementError as exc:
            return _error_response(exc), []

    def _management(self, method: str, path: str, body: bytes) -> tuple[HttpResponse, list[Action]]:
        match = _MGMT_PATH.match(path)
        if match is None or match["stage"] not in (None, self.spec.stage):
            raise errors.ForbiddenException("Forbidden")
        if method not in ("POST", "GET", "DELETE"):
            raise errors.ForbiddenException("Forbidden")
        connection_id = unquote(match["id"])
        if self.faults.throttle_rate and self._rng.random() < self.faults.throttle_rate:
            raise errors.LimitExceededException("Rate exceeded")
        if not is_valid_id(connection_id):
            raise errors.BadRequestException(f"Invalid connectionId: {connection_id}")
        if method == "POST" and len(body) > self.limits.post_bytes:
            raise errors.PayloadTooLargeException("Message too long")
        conn = self._conns.get(connection_id)
        if conn is None or conn.state is not State.OPEN:
            raise errors.GoneException(f"Connection {connection_id} is gone")
        now = self.clock()
        if method == "GET":
            info = {
                "connectedAt": events.iso_time(conn.connected_at_s),
                "identity": {"sourceIp": conn.info.source_ip, "userAgent": conn.info.user_agent},
                "lastActiveAt": events.iso_time(conn.last_active_s),
            }
            return HttpResponse(200, _JSON, json.dumps(info).encode()), []
        if method == "DELETE":
            return HttpResponse(204), self._close(conn, *CLOSE_NORMAL, now)
        if self.faults.gone_rate and self._rng.random() < self.faults.gone_rate:
            # Fault injection: the client "vanished"; AWS answers 410 and drops it.
            conn.state = State.CLOSING
            self._idle.pop(connection_id, None)
            gone = errors.GoneException(f"Connection {connection_id} is gone")
            return _error_response(gone), [Abort(connection_id)]
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise errors.BadRequestException("Data is not valid UTF-8") from None
        return HttpResponse(200, _JSON), [self._send(conn, text, now)]


def _error_response(exc: errors.ManagementError) -> HttpResponse:
    return HttpResponse(exc.status, tuple(exc.headers()), exc.body())


def _response_body(result: Any) -> str | None:
    """What a route response sends back: the proxy result's `body`, else the result."""
    if result is None:
        return None
    if isinstance(result, dict) and "body" in result:
        body = result["body"]
        if body is None:
            return None
        return body if isinstance(body, str) else json.dumps(body)
    if isinstance(result, str):
        return result
    return json.dumps(result)
