"""A WebSocket on a client connection, driven by websockets' sans-I/O `ServerProtocol`
(it parses the handshake and enforces the frame and message size limits).

The session turns bytes into frames for the host, and carries out what the host asks of
a `WebSocketPeer`: accept or reject the handshake, send, close, abort. It keeps no
timers: the close handshake's timeout is the core's (an `Abort` when it passes).
"""

from __future__ import annotations

import http
import logging

from websockets.datastructures import Headers
from websockets.frames import Frame
from websockets.http11 import Request, Response
from websockets.protocol import CONNECTING, OPEN
from websockets.server import ServerProtocol

from infra.apigateway.core import ABNORMAL
from infra.apigateway.events import Handshake
from infra.apigateway.host import Host, Wire

# websockets logs every open and close at INFO: quiet unless asked for.
_WS_LOG = logging.getLogger("infra.apigateway.websocket")


class WebSocketSession:
    __slots__ = ("connection_id", "host", "pending_response", "wire", "ws")

    def __init__(self, host: Host, wire: Wire) -> None:
        self.host = host
        self.wire = wire
        limits = host.limits
        # No extensions offered: API Gateway negotiates no permessage-deflate either.
        self.ws = ServerProtocol(
            max_size=(limits.message_bytes, limits.frame_bytes), logger=_WS_LOG
        )
        self.connection_id: str | None = None
        self.pending_response: Response | None = None

    # Session

    def data_received(self, data: bytes) -> None:
        ws = self.ws
        ws.receive_data(data)
        for event in ws.events_received():
            if isinstance(event, Request):
                self._handshake(event)
            elif self.connection_id is not None and isinstance(event, Frame):
                self.host.websocket_frame(self.connection_id, event)
        self._flush()
        if ws.state is not OPEN and ws.state is not CONNECTING:
            # The client's close frame (or a limit the parser enforced) ended it: from now
            # on a POST for this id is 410, without waiting for TCP to wind down.
            self._report_closed()

    def eof_received(self) -> None:
        self.ws.receive_eof()
        self._flush()
        self._report_closed()

    def connection_lost(self) -> None:
        self._report_closed()

    def _report_closed(self) -> None:
        """Tell the host once that this WebSocket is done (fires $disconnect)."""
        connection_id, self.connection_id = self.connection_id, None
        if connection_id is not None:
            code, reason = self._close_status()
            self.host.websocket_closed(connection_id, code, reason)

    def _handshake(self, request: Request) -> None:
        response = self.ws.accept(request)
        if response.status_code != 101:
            self.ws.send_response(response)  # malformed handshake: $connect never runs
            return
        self.pending_response = response
        path, _, query = request.path.partition("?")
        wire = self.wire
        hs = Handshake(
            path=path,
            query=query,
            headers=list(request.headers.raw_items()),
            source_ip=wire.source_ip,
            domain_name=request.headers.get("Host") or self.host.authority,
            scheme="wss" if wire.secure else "ws",
            port=wire.local_port,
        )
        self.connection_id = self.host.websocket_opening(self, hs)

    # WebSocketPeer

    def accept(self, subprotocol: str | None) -> None:
        response = self.pending_response
        if response is None:
            return
        self.pending_response = None
        if subprotocol:
            response.headers["Sec-WebSocket-Protocol"] = subprotocol
        self.ws.send_response(response)
        self._flush()

    def reject(self, status: int, body: bytes, headers: tuple[tuple[str, str], ...]) -> None:
        self.pending_response = None
        self.connection_id = None  # never connected: no $disconnect
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
        self.ws.send_response(response)
        self._flush()

    def send_text(self, text: str) -> None:
        ws = self.ws
        if ws.state is not OPEN:
            return
        data = text.encode()
        frame = self.host.limits.frame_bytes
        if len(data) <= frame:
            ws.send_text(data)
        else:
            # AWS splits a message over the 32 KB frame quota into ≤ 32 KB frames.
            ws.send_text(data[:frame], fin=False)
            for start in range(frame, len(data), frame):
                ws.send_continuation(data[start : start + frame], fin=start + frame >= len(data))
        self._flush()

    def close(self, code: int, reason: str) -> None:
        if self.ws.state is not OPEN:
            return
        self.ws.send_close(code, reason)
        self._flush()

    def abort(self) -> None:
        self.wire.abort()

    def _flush(self) -> None:
        wire = self.wire
        for chunk in self.ws.data_to_send():
            if chunk:
                wire.write(chunk)
            else:
                # websockets asks for EOF once the close handshake is done (or failed).
                wire.close()

    def _close_status(self) -> tuple[int, str]:
        """The code $disconnect reports, from what actually crossed the wire."""
        ws = self.ws
        rcvd, sent = ws.close_rcvd, ws.close_sent
        if rcvd is not None and (sent is None or ws.close_rcvd_then_sent):
            return int(rcvd.code), rcvd.reason  # the client closed (1005: no code given)
        if sent is not None:
            return int(sent.code), sent.reason  # the gateway closed (e.g. 1009 on a limit)
        return ABNORMAL, ""
