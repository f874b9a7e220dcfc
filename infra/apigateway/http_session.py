"""HTTP/1.1 on a client connection (h11), with keep-alive, one request at a time.

The first request decides: a WebSocket upgrade hands every byte read so far to a
`WebSocketSession` (websockets parses the handshake itself); anything else is answered
by the host.
"""

from __future__ import annotations

import logging

import h11

from infra.apigateway.host import Host, RawRequest, Wire
from infra.apigateway.ws_session import WebSocketSession
from infra.http import HttpResponse, json_message

log = logging.getLogger(__name__)


def _is_upgrade(request: h11.Request) -> bool:
    if request.method != b"GET":
        return False
    return any(
        name == b"upgrade" and b"websocket" in value.lower() for name, value in request.headers
    )


class HttpSession:
    __slots__ = ("body", "busy", "conn", "host", "raw", "request", "wire")

    def __init__(self, host: Host, wire: Wire) -> None:
        self.host = host
        self.wire = wire
        self.conn = h11.Connection(h11.SERVER)
        self.raw: bytearray | None = bytearray()  # bytes of the first request, for upgrades
        self.request: h11.Request | None = None
        self.body = bytearray()
        self.busy = False
        host.http_session_started(wire)

    def data_received(self, data: bytes) -> None:
        if self.raw is not None:
            self.raw += data
        self.conn.receive_data(data)
        self._next()

    def eof_received(self) -> None:
        self.conn.receive_data(b"")
        self._next()

    def connection_lost(self) -> None:
        self.host.http_session_ended(self.wire)

    def _next(self) -> None:
        conn = self.conn
        while not self.busy:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError:
                self._send(HttpResponse(400, (("Content-Type", "text/plain"),), b"Bad Request"))
                self.wire.close()
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                if self.raw is not None and _is_upgrade(event):
                    self._become_websocket()
                    return
                self.request = event
                self.body = bytearray()
            elif isinstance(event, h11.Data):
                self.body += event.data
                if len(self.body) > self.host.limits.http_body_bytes:
                    self._send(json_message(413, "Request Entity Too Large"))
                    self.wire.close()
                    return
            elif isinstance(event, h11.EndOfMessage):
                self.raw = None
                self.busy = True
                assert self.request is not None
                self.host.spawn(self._handle(self.request, bytes(self.body)))
                return
            elif isinstance(event, h11.ConnectionClosed):
                self.wire.close()
                return

    def _become_websocket(self) -> None:
        raw = bytes(self.raw or b"")
        self.raw = None
        self.host.http_session_ended(self.wire)
        session = WebSocketSession(self.host, self.wire)
        self.wire.become(session)
        session.data_received(raw)

    async def _handle(self, request: h11.Request, body: bytes) -> None:
        raw = RawRequest(
            method=request.method.decode("ascii"),
            target=request.target.decode("latin-1"),
            headers=tuple((n.decode("latin-1"), v.decode("latin-1")) for n, v in request.headers),
            body=body,
            source_ip=self.wire.source_ip,
            secure=self.wire.secure,
        )
        try:
            response = await self.host.http_request(raw)
        except Exception:  # a gateway bug must not wedge the connection
            log.exception("HTTP request failed: %s", raw.target)
            response = json_message(500, "Internal Server Error")
        if self.wire.closing():
            return
        self._send(response, head=request.method == b"HEAD")
        conn = self.conn
        if conn.our_state is h11.MUST_CLOSE:
            self.wire.close()
            return
        try:
            conn.start_next_cycle()
        except h11.LocalProtocolError:
            self.wire.close()
            return
        self.busy = False
        self._next()

    def _send(self, response: HttpResponse, *, head: bool = False) -> None:
        if self.wire.closing():
            return
        conn = self.conn
        headers = [*response.headers]
        if response.status != 204:
            headers.append(("Content-Length", str(len(response.body))))
        try:
            out = conn.send(h11.Response(status_code=response.status, headers=headers))
            if response.body and not head:  # HEAD: the length of a body never sent
                out += conn.send(h11.Data(data=response.body))
            out += conn.send(h11.EndOfMessage())
        except h11.LocalProtocolError:
            self.wire.close()
            return
        self.wire.write(out or b"")
