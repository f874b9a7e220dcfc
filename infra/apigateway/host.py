"""The narrow interface between a client connection and the gateway behind it.

A TCP connection (`wire.ClientConnection`) carries one session at a time: an HTTP
session (`http_session`), which may become a WebSocket session (`ws_session`). Sessions
see the gateway only as a `Host` and the socket only as a `Wire`; the gateway sees a
WebSocket session only as a `WebSocketPeer`. None of these modules imports the server.
"""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from websockets.frames import Frame

from infra.apigateway.connections import Phase
from infra.apigateway.events import Handshake
from infra.http import HttpResponse


@dataclass(frozen=True)
class SessionLimits:
    frame_bytes: int = 32 * 1024  # API Gateway's WebSocket frame and message quotas
    message_bytes: int = 128 * 1024
    http_body_bytes: int = 10 * 1024 * 1024  # API Gateway's payload quota (HTTP and REST)


@dataclass(frozen=True)
class RawRequest:
    """One HTTP request off the wire, before any routing."""

    method: str
    target: str  # path and query, as sent
    headers: tuple[tuple[str, str], ...]
    body: bytes
    source_ip: str
    secure: bool  # arrived over TLS


class Wire(Protocol):
    """The socket under a session (plain or TLS: the session cannot tell)."""

    source_ip: str
    local_port: int
    secure: bool

    def write(self, data: bytes) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...
    def closing(self) -> bool: ...
    def become(self, session: Session) -> None: ...
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...


class Session(Protocol):
    """What a wire hands its bytes to."""

    def data_received(self, data: bytes) -> None: ...
    def eof_received(self) -> None: ...
    def connection_lost(self) -> None: ...


class Expiring(Protocol):
    """An HTTP session, as the gateway's connection rules see it."""

    def expire(self, phase: Phase) -> None:
        """The deadline of `phase` passed (`infra.apigateway.connections`): end it."""
        ...


class WebSocketPeer(Protocol):
    """What the gateway does to one WebSocket client (on the core's actions)."""

    def accept(self, subprotocol: str | None) -> None: ...
    def reject(self, status: int, body: bytes, headers: tuple[tuple[str, str], ...]) -> None: ...
    def send_text(self, text: str) -> None: ...
    def close(self, code: int, reason: str) -> None: ...
    def abort(self) -> None: ...


class Host(Protocol):
    """What sessions need from the gateway."""

    @property
    def limits(self) -> SessionLimits: ...

    @property
    def authority(self) -> str:
        """host:port of the listener (the domain name when a client sent no Host)."""
        ...

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None: ...

    def connection_opened(self, wire: Wire) -> bool:
        """A client connected: False when it is refused (the connection cap)."""
        ...

    def connection_closed(self, wire: Wire) -> None: ...

    def http_session_started(self, wire: Wire, session: Expiring) -> None: ...
    def http_session_ended(self, wire: Wire) -> None: ...
    def http_phase(self, wire: Wire, phase: Phase) -> None:
        """Where the connection's HTTP exchange is (its time rules follow)."""
        ...

    def http_progress(self, wire: Wire) -> None:
        """Bytes of a request body arrived."""
        ...

    async def http_request(self, request: RawRequest) -> HttpResponse: ...

    def websocket_opening(self, peer: WebSocketPeer, handshake: Handshake) -> str:
        """A valid upgrade request: its connection id (the answer comes as actions)."""
        ...

    def websocket_frame(self, connection_id: str, frame: Frame) -> None: ...
    def websocket_closed(self, connection_id: str, code: int, reason: str) -> None: ...
