"""One TCP connection to the gateway's port: plain or TLS, told apart by its first byte.

The connection hands plaintext to its current session (HTTP first; an upgrade swaps
in a WebSocket session) and writes what the session writes, encrypting it when the
client spoke TLS. No task or thread per connection: asyncio calls `data_received`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import cast

from infra.apigateway.host import Host, Session
from infra.apigateway.http_session import HttpSession, closing_response
from infra.apigateway.tls_layer import TlsLayer, looks_like_tls

log = logging.getLogger(__name__)


class _NoSession:
    """What a connection refused at the cap (or not yet made) hands its bytes to."""

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> None:
        pass

    def connection_lost(self) -> None:
        pass


class ClientConnection(asyncio.Protocol):
    """asyncio protocol for one client; the `Wire` its sessions write to."""

    __slots__ = (
        "_eof",
        "_host",
        "_sniffed",
        "_tls_context",
        "local_port",
        "secure",
        "session",
        "source_ip",
        "tls",
        "transport",
    )

    def __init__(self, host: Host, tls_context: ssl.SSLContext | None) -> None:
        self._host = host
        self.transport: asyncio.Transport | None = None
        self._tls_context = tls_context
        self._sniffed = False
        self._eof = False
        self.tls: TlsLayer | None = None
        self.secure = False
        self.source_ip = "127.0.0.1"
        self.local_port = 0
        self.session: Session = _NoSession()

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if peer:
            self.source_ip = str(peer[0])
        sockname = transport.get_extra_info("sockname")
        if sockname:
            self.local_port = int(sockname[1])
        if not self._host.connection_opened(self):
            # Over the connection cap with no idle connection to make room.
            self.transport.write(closing_response(503, "Service Unavailable"))
            self.transport.close()
            return
        self.session = HttpSession(self._host, self)

    def data_received(self, data: bytes) -> None:
        if not self._sniffed:
            self._sniffed = True
            if self._tls_context is not None and looks_like_tls(data):
                self.tls = TlsLayer(self._tls_context)
                self.secure = True
        if self.tls is not None:
            data = self._decrypt(data)
            if not data:
                return
        self.session.data_received(data)

    def _decrypt(self, data: bytes) -> bytes:
        assert self.tls is not None and self.transport is not None
        try:
            plain = self.tls.receive(data)
        except ssl.SSLError as exc:
            # A client that does not trust the certificate ends up here: nothing to say.
            log.debug("TLS from %s failed: %s", self.source_ip, exc)
            self.transport.write(self.tls.pending())
            self.transport.abort()
            return b""
        pending = self.tls.pending()
        if pending:
            self.transport.write(pending)
        if self.tls.peer_closed and not plain:
            self._end_of_input()
        return plain

    def eof_received(self) -> bool | None:
        self._end_of_input()
        return None

    def _end_of_input(self) -> None:
        """The client will send nothing more (TCP FIN, or TLS close_notify): once."""
        if not self._eof:
            self._eof = True
            self.session.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.session.connection_lost()
        self._host.connection_closed(self)

    # Wire

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(self.tls.encrypt(data) if self.tls is not None else data)

    def close(self) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            if self.tls is not None:
                transport.write(self.tls.shutdown())
            transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def closing(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    def become(self, session: Session) -> None:
        self.session = session

    def pause_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()
