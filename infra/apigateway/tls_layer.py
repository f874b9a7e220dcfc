"""Server-side TLS over memory buffers, for connections that turn out to be TLS.

The gateway serves plain and TLS on one port: a connection's first byte tells them
apart (0x16 opens a TLS handshake record; an HTTP request starts with a letter). By
then asyncio has read bytes off the socket, so its own `start_tls` (which starts from a
fresh socket) cannot take over; `ssl.SSLObject` over `MemoryBIO`s — the same machinery
asyncio's SSL transport uses — takes the bytes already read.
"""

from __future__ import annotations

import contextlib
import ssl

TLS_HANDSHAKE_RECORD = 0x16
_READ_SIZE = 256 * 1024


def looks_like_tls(first: bytes) -> bool:
    return bool(first) and first[0] == TLS_HANDSHAKE_RECORD


class TlsLayer:
    """Decrypts what the client sends and encrypts what the server writes."""

    __slots__ = ("_incoming", "_outgoing", "_ssl", "handshake_done", "peer_closed")

    def __init__(self, context: ssl.SSLContext) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self.handshake_done = False
        self.peer_closed = False  # the client sent close_notify

    def receive(self, data: bytes) -> bytes:
        """Feed bytes from the socket; returns the plaintext they complete (maybe b"").
        Raises `ssl.SSLError` when the handshake or a record fails."""
        self._incoming.write(data)
        if not self.handshake_done:
            try:
                self._ssl.do_handshake()
            except ssl.SSLWantReadError:
                return b""
            self.handshake_done = True
        chunks: list[bytes] = []
        while True:
            try:
                chunk = self._ssl.read(_READ_SIZE)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                self.peer_closed = True
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def encrypt(self, data: bytes) -> bytes:
        """The records carrying `data`, plus anything else pending for the client."""
        view = memoryview(data)
        while view:
            written = self._ssl.write(view)
            view = view[written:]
        return self._outgoing.read()

    def pending(self) -> bytes:
        """Handshake records (or a session ticket) waiting to go to the client."""
        return self._outgoing.read()

    def shutdown(self) -> bytes:
        """Our close_notify, when the handshake got that far."""
        if self.handshake_done:
            with contextlib.suppress(ssl.SSLError):
                self._ssl.unwrap()
        return self._outgoing.read()
