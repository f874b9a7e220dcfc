"""One TCP connection: plain HTTP parsed by h11, or a WebSocket driven by websockets'
sans-I/O `ServerProtocol`. No task per connection: asyncio calls `data_received`.

The first request on a connection decides: a WebSocket upgrade hands every byte read so
far to `ServerProtocol` (which parses the handshake itself); anything else is HTTP/1.1
with keep-alive, one request at a time.
"""

from __future__ import annotations

import asyncio
import http
import logging
from typing import TYPE_CHECKING, cast

import h11
from websockets.datastructures import Headers
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import CLOSING, CONNECTING, OPEN
from websockets.server import ServerProtocol

from infra.apigateway.actions import HttpResponse
from infra.apigateway.core import ABNORMAL
from infra.apigateway.events import Handshake

if TYPE_CHECKING:
    from infra.apigateway.server import GatewayServer

log = logging.getLogger(__name__)
# websockets logs every open and close at INFO: quiet unless asked for.
_WS_LOG = logging.getLogger("infra.apigateway.websocket")

MAX_HTTP_BODY = 10 * 1024 * 1024
_TEXT = (("Content-Type", "text/plain"),)
_JSON = (("Content-Type", "application/json"),)


def _is_upgrade(request: h11.Request) -> bool:
    if request.method != b"GET":
        return False
    return any(
        name == b"upgrade" and b"websocket" in value.lower() for name, value in request.headers
    )


class ClientConnection(asyncio.Protocol):
    """asyncio protocol for one client of the gateway."""

    __slots__ = (
        "body",
        "busy",
        "close_timer",
        "connection_id",
        "gateway",
        "h11",
        "pending_response",
        "raw",
        "request",
        "source_ip",
        "transport",
        "ws",
    )

    def __init__(self, gateway: GatewayServer) -> None:
        self.gateway = gateway
        self.transport: asyncio.Transport | None = None
        self.h11: h11.Connection | None = h11.Connection(h11.SERVER)
        self.raw: bytearray | None = bytearray()  # bytes of the first request, for upgrades
        self.request: h11.Request | None = None
        self.body = bytearray()
        self.busy = False
        self.ws: ServerProtocol | None = None
        self.connection_id: str | None = None
        self.pending_response: Response | None = None
        self.close_timer: asyncio.TimerHandle | None = None
        self.source_ip = "127.0.0.1"

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if peer:
            self.source_ip = str(peer[0])
        self.gateway.http_connections.add(self)

    def data_received(self, data: bytes) -> None:
        if self.ws is not None:
            self._ws_data(data)
            return
        if self.raw is not None:
            self.raw += data
        assert self.h11 is not None
        self.h11.receive_data(data)
        self._http_next()

    def eof_received(self) -> bool | None:
        if self.ws is not None:
            self.ws.receive_eof()
            self._flush()
            self._report_closed()
        elif self.h11 is not None:
            self.h11.receive_data(b"")
            self._http_next()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.gateway.http_connections.discard(self)
        if self.close_timer is not None:
            self.close_timer.cancel()
        self._report_closed()

    def _report_closed(self) -> None:
        """Tell the gateway once that this WebSocket is done (fires $disconnect)."""
        connection_id, self.connection_id = self.connection_id, None
        if connection_id is not None:
            code, reason = self._close_status()
            self.gateway.websocket_closed(connection_id, code, reason)

    # HTTP

    def _http_next(self) -> None:
        conn = self.h11
        while conn is not None and not self.busy:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError:
                self._http_send(
                    HttpResponse(400, (("Content-Type", "text/plain"),), b"Bad Request")
                )
                self._close_transport()
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
                if len(self.body) > MAX_HTTP_BODY:
                    self._http_send(HttpResponse(413, (), b""))
                    self._close_transport()
                    return
            elif isinstance(event, h11.EndOfMessage):
                self.raw = None
                self.busy = True
                assert self.request is not None
                self.gateway.spawn(self._http_handle(self.request, bytes(self.body)))
                return
            elif isinstance(event, h11.ConnectionClosed):
                self._close_transport()
                return

    async def _http_handle(self, request: h11.Request, body: bytes) -> None:
        headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in request.headers]
        try:
            response = await self.gateway.http_request(
                request.method.decode("ascii"),
                request.target.decode("latin-1"),
                headers,
                body,
                self.source_ip,
            )
        except Exception:  # a gateway bug must not wedge the connection
            log.exception("HTTP request failed: %s", request.target)
            response = HttpResponse(500, _JSON, b'{"message":"Internal Server Error"}')
        if self.transport is None or self.transport.is_closing():
            return
        self._http_send(response, head=request.method == b"HEAD")
        conn = self.h11
        if conn is None or conn.our_state is h11.MUST_CLOSE:
            self._close_transport()
            return
        try:
            conn.start_next_cycle()
        except h11.LocalProtocolError:
            self._close_transport()
            return
        self.busy = False
        self._http_next()

    def _http_send(self, response: HttpResponse, *, head: bool = False) -> None:
        conn = self.h11
        if conn is None or self.transport is None or self.transport.is_closing():
            return
        headers = [*response.headers]
        if response.status != 204:
            headers.append(("Content-Length", str(len(response.body))))
        try:
            out = conn.send(h11.Response(status_code=response.status, headers=headers))
            if response.body and not head:  # HEAD: the length of a body never sent
                out += conn.send(h11.Data(data=response.body))
            out += conn.send(h11.EndOfMessage())
        except h11.LocalProtocolError:
            self._close_transport()
            return
        self.transport.write(out or b"")

    def _close_transport(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    # WebSocket

    def _become_websocket(self) -> None:
        raw = bytes(self.raw or b"")
        self.raw = None
        self.h11 = None
        self.gateway.http_connections.discard(self)
        limits = self.gateway.core.limits
        # No extensions offered: API Gateway negotiates no permessage-deflate either.
        self.ws = ServerProtocol(
            max_size=(limits.message_bytes, limits.frame_bytes), logger=_WS_LOG
        )
        self._ws_data(raw)

    def _ws_data(self, data: bytes) -> None:
        ws = self.ws
        assert ws is not None
        ws.receive_data(data)
        for event in ws.events_received():
            if isinstance(event, Request):
                self._handshake(event)
                continue
            if self.connection_id is None or not isinstance(event, Frame):
                continue
            opcode = event.opcode
            if opcode is Opcode.TEXT:
                self.gateway.execute(
                    self.gateway.core.text_frame(self.connection_id, bytes(event.data), event.fin)
                )
            elif opcode is Opcode.CONT:
                self.gateway.execute(
                    self.gateway.core.continuation_frame(
                        self.connection_id, bytes(event.data), event.fin
                    )
                )
            elif opcode is Opcode.BINARY:
                self.gateway.execute(self.gateway.core.binary_frame(self.connection_id))
        self._flush()
        if ws.state is not OPEN and ws.state is not CONNECTING:
            # The client's close frame (or a limit the parser enforced) ended it: from now
            # on a POST for this id is 410, without waiting for TCP to wind down.
            self._report_closed()

    def _handshake(self, request: Request) -> None:
        ws = self.ws
        assert ws is not None and self.transport is not None
        response = ws.accept(request)
        if response.status_code != 101:
            ws.send_response(response)  # malformed handshake: $connect never runs
            return
        self.pending_response = response
        path, _, query = request.path.partition("?")
        sockname = self.transport.get_extra_info("sockname")
        port = int(sockname[1]) if sockname else 0
        hs = Handshake(
            path=path,
            query=query,
            headers=list(request.headers.raw_items()),
            source_ip=self.source_ip,
            domain_name=request.headers.get("Host") or self.gateway.authority,
            scheme="wss" if self.gateway.options.ssl else "ws",
            port=port,
        )
        self.connection_id = self.gateway.websocket_opening(self, hs)

    def accept(self, subprotocol: str | None) -> None:
        ws, response = self.ws, self.pending_response
        if ws is None or response is None:
            return
        self.pending_response = None
        if subprotocol:
            response.headers["Sec-WebSocket-Protocol"] = subprotocol
        ws.send_response(response)
        self._flush()

    def reject(self, status: int, body: bytes, headers: tuple[tuple[str, str], ...]) -> None:
        ws = self.ws
        self.pending_response = None
        self.connection_id = None  # never connected: no $disconnect
        if ws is None:
            return
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        response = Response(
            status,
            phrase,
            Headers([*headers, ("Content-Length", str(len(body))), ("Connection", "close")]),
            body,
        )
        ws.send_response(response)
        self._flush()

    def send_text(self, text: str) -> None:
        ws = self.ws
        if ws is None or ws.state is not OPEN:
            return
        data = text.encode()
        frame = self.gateway.core.limits.frame_bytes
        if len(data) <= frame:
            ws.send_text(data)
        else:
            # AWS splits a message over the 32 KB frame quota into ≤ 32 KB frames.
            ws.send_text(data[:frame], fin=False)
            for start in range(frame, len(data), frame):
                ws.send_continuation(data[start : start + frame], fin=start + frame >= len(data))
        self._flush()

    def close(self, code: int, reason: str) -> None:
        ws = self.ws
        if ws is None or ws.state is not OPEN:
            return
        ws.send_close(code, reason)
        self._flush()
        if self.transport is not None and ws.state is CLOSING:
            loop = asyncio.get_running_loop()
            self.close_timer = loop.call_later(self.gateway.options.close_timeout_s, self.abort)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _flush(self) -> None:
        ws, transport = self.ws, self.transport
        if ws is None or transport is None:
            return
        for chunk in ws.data_to_send():
            if chunk:
                transport.write(chunk)
            else:
                # websockets asks for EOF once the close handshake is done (or failed).
                transport.close()

    def _close_status(self) -> tuple[int, str]:
        """The code $disconnect reports, from what actually crossed the wire."""
        ws = self.ws
        if ws is None:
            return ABNORMAL, ""
        rcvd, sent = ws.close_rcvd, ws.close_sent
        if rcvd is not None and (sent is None or ws.close_rcvd_then_sent):
            return int(rcvd.code), rcvd.reason  # the client closed (1005: no code given)
        if sent is not None:
            return int(sent.code), sent.reason  # the gateway closed (e.g. 1009 on a limit)
        return ABNORMAL, ""
