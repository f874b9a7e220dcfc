"""What the sans-I/O cores (`core.GatewayCore`, `http_api.HttpApiCore`) ask their I/O
adapter to do."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from infra.http import HttpResponse


class InvokeKind(enum.Enum):
    AUTHORIZER = "authorizer"  # the $connect REQUEST authorizer
    CONNECT = "connect"
    MESSAGE = "message"
    DISCONNECT = "disconnect"
    HTTP_AUTHORIZER = "http-authorizer"  # an HTTP / REST API route's Lambda authorizer
    HTTP_INTEGRATION = "http-integration"  # an HTTP / REST API route's function

    @property
    def http(self) -> bool:
        return self in (InvokeKind.HTTP_AUTHORIZER, InvokeKind.HTTP_INTEGRATION)


@dataclass(frozen=True, slots=True)
class Invoke:
    """Run `function` with `event`; hand the outcome back to the core's `invoked`.

    The core keeps the integration timeout itself (its `tick`): an outcome that arrives
    after it is ignored, as API Gateway ignores a Lambda that outlives it."""

    ref: str  # this invocation, unique while it runs (the event's request id)
    kind: InvokeKind
    function: str
    event: dict[str, Any]
    connection_id: str = ""  # WebSocket kinds: the connection it is for
    route_key: str = ""


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


@dataclass(frozen=True, slots=True)
class Respond:
    """Answer the HTTP request `ref` (an HTTP / REST API route) with `response`."""

    ref: str
    response: HttpResponse


Action = Invoke | Accept | Reject | SendText | Close | Abort | Respond
