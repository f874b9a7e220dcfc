"""A WebSocket opening handshake and nothing else: the cheapest real client a connection
bench can run.

`bench.scale` opens thousands of connections per second from processes on the same
two cores as the stack it measures, so every millisecond the client spends is one the
stack does not get. websockets' client costs ~0.8 ms of CPU per connection here (it
builds a full protocol object, a keepalive task and stream buffers); this one sends the
upgrade request, checks the `101` and its `Sec-WebSocket-Accept` as RFC 6455 §4.1
says a client must, and then holds the TCP connection without reading frames.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import ssl
from urllib.parse import urlsplit

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455's fixed accept suffix
_HEAD_LIMIT = 16 * 1024


class HandshakeRefused(Exception):
    """The server answered something other than a valid `101 Switching Protocols`."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status


class _Opening(asyncio.Protocol):
    def __init__(self, request: bytes, accept: bytes, done: asyncio.Future[None]) -> None:
        self.request = request
        self.accept = accept
        self.done = done
        self.head = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if self.done.done():
            return  # frames after the handshake: a bench holding connections ignores them
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            if len(self.head) > _HEAD_LIMIT:
                self.done.set_exception(HandshakeRefused(0, "response head too long"))
            return
        status_line, *fields = self.head[:end].split(b"\r\n")
        parts = status_line.split(b" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        if status != 101:
            self.done.set_exception(HandshakeRefused(status, "not switching protocols"))
            return
        headers = {}
        for field in fields:
            name, _, value = field.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if headers.get(b"sec-websocket-accept") != self.accept:
            self.done.set_exception(HandshakeRefused(status, "wrong Sec-WebSocket-Accept"))
            return
        self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(exc or ConnectionResetError("closed during the handshake"))


async def open_websocket(url: str, timeout_s: float) -> asyncio.Transport:
    """Open `url` (ws:// or wss://) and return the transport once the server has accepted
    the upgrade. Raises HandshakeRefused, OSError or TimeoutError."""
    parts = urlsplit(url)
    secure = parts.scheme == "wss"
    host = parts.hostname or "localhost"
    port = parts.port or (443 if secure else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    key = base64.b64encode(os.urandom(16))
    accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key.decode()}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    context = ssl.create_default_context() if secure else None
    async with asyncio.timeout(timeout_s):
        transport, _ = await loop.create_connection(
            lambda: _Opening(request, accept, done), host, port, ssl=context
        )
        try:
            await done
        except BaseException:
            transport.abort()
            raise
    assert isinstance(transport, asyncio.Transport)
    return transport
