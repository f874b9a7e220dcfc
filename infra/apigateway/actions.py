"""What the sans-I/O core asks its I/O adapter to do."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class InvokeKind(enum.Enum):
    AUTHORIZER = "authorizer"
    CONNECT = "connect"
    MESSAGE = "message"
    DISCONNECT = "disconnect"


@dataclass(frozen=True, slots=True)
class Invoke:
    """Run `function` with `event`; hand the outcome back to `GatewayCore.invoked`."""

    connection_id: str
    kind: InvokeKind
    function: str
    event: dict[str, Any]
    request_id: str
    route_key: str
    timeout_s: float  # the integration timeout: past it the core hears `None`


@dataclass(frozen=True, slots=True)
class Accept:
    """Complete the WebSocket handshake (101), echoing `subprotocol` when not None."""

    connection_id: str
    subprotocol: str | None = None


@dataclass(frozen=True, slots=True)
class Reject:
    """Refuse the WebSocket handshake with an HTTP response."""

    connection_id: str
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)


@dataclass(frozen=True, slots=True)
class SendText:
    """Send one message to the client (split into ≤ 32 KB frames by the adapter)."""

    connection_id: str
    text: str


@dataclass(frozen=True, slots=True)
class Close:
    """Start the closing handshake with this code and reason."""

    connection_id: str
    code: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Abort:
    """Drop the TCP connection without a closing handshake (the client sees 1006)."""

    connection_id: str


Action = Invoke | Accept | Reject | SendText | Close | Abort


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A complete HTTP response (Management API, HTTP API, static files)."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    actions: tuple[Action, ...] = field(default=())
