"""HTTP/1.1 on a client connection (h11), with keep-alive, one request at a time.

The first request decides: a WebSocket upgrade hands every byte read so far to a
`WebSocketSession` (websockets parses the handshake itself); anything else is answered
by the host. The session tells the host which phase it is in (head, body, answering,
idle) so that the gateway's connection rules (`connections`) time it; `expire` carries
out their verdict.

What it refuses as API Gateway does, before anything is invoked:
- a body over the payload quota (10 MB): 413, as soon as `Content-Length` says so or the
  bytes pass it; the rest of the body is read and dropped so the client sees the 413;
- a request with both `Content-Length` and `Transfer-Encoding` (request smuggling):
  400, and the connection is closed so nothing pipelined behind it is read;
- a malformed request: 400 (431 for a head that is too large) and closed.

A body is held once: its chunks are joined when it is complete, and nothing else keeps
them (the first request's raw bytes are kept only until its head is parsed). Measured
with 40 concurrent 9 MB uploads, three rounds: the process went from 82 MB of RSS to
104 MB after them (642 MB at the peak); it went to 800 MB and stayed there when the
raw request, the body and a copy were all kept. (Reading into one buffer of the
`Content-Length` lowered the peak to 465 MB but kept 447 MB afterwards: glibc's
mmap threshold rises after the first large free, and later buffers come from the heap.)
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus

import h11

from infra.apigateway.connections import Phase
from infra.apigateway.host import Host, RawRequest, Wire
from infra.apigateway.ws_session import WebSocketSession
from infra.http import HttpResponse, json_message

log = logging.getLogger(__name__)


def closing_response(status: int, message: str) -> bytes:
    """A complete `{"message"}` response that ends the connection, written outside h11
    (a timeout or refusal may come before there is a request to answer)."""
    body = json.dumps({"message": message}).encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def _is_upgrade(request: h11.Request) -> bool:
    if request.method != b"GET":
        return False
    return any(
        name == b"upgrade" and b"websocket" in value.lower() for name, value in request.headers
    )


def _content_length(request: h11.Request) -> int | None:
    value = next((v for n, v in request.headers if n == b"content-length"), None)
    return int(value) if value is not None else None  # h11 has checked it is a number


def _smuggling(request: h11.Request) -> bool:
    names = {name for name, _ in request.headers}
    return b"content-length" in names and b"transfer-encoding" in names


class HttpSession:
    __slots__ = (
        "busy",
        "chunks",
        "conn",
        "discarding",
        "host",
        "phase",
        "pipelined",
        "raw",
        "request",
        "size",
        "wire",
    )

    def __init__(self, host: Host, wire: Wire) -> None:
        self.host = host
        self.wire = wire
        self.conn = h11.Connection(h11.SERVER)
        # The first request's bytes until its head is parsed: an upgrade replays them.
        self.raw: bytearray | None = bytearray()
        self.request: h11.Request | None = None
        self.chunks: list[bytes] = []  # the body so far
        self.size = 0
        self.busy = False  # a request is being answered
        self.pipelined = False  # bytes of a next request arrived while busy
        self.discarding = False  # refused with 413: the rest of the body is dropped
        self.phase = Phase.NEW  # as the connection rules see it
        host.http_session_started(wire, self)

    # Session

    def data_received(self, data: bytes) -> None:
        if not data:
            return
        if self.raw is not None:
            self.raw += data
        if self.busy:
            # Pipelined: h11 keeps it until the answer is out; read no more meanwhile.
            self.pipelined = True
            self.wire.pause_reading()
        elif self.phase is Phase.NEW or self.phase is Phase.IDLE:
            self._enter(Phase.HEAD)
        self.conn.receive_data(data)
        self._next()

    def eof_received(self) -> None:
        self.conn.receive_data(b"")
        self._next()

    def connection_lost(self) -> None:
        self.chunks = []
        self.host.http_session_ended(self.wire)

    # Expiring

    def expire(self, phase: Phase) -> None:
        """A time rule ran out: a request under way gets 408; an idle connection or one
        that never sent a byte is just closed."""
        if self.wire.closing():
            return
        if phase is Phase.HEAD or phase is Phase.BODY:
            self.wire.write(closing_response(408, "Request Timeout"))
        self.chunks = []
        self.wire.close()

    # Parsing

    def _enter(self, phase: Phase) -> None:
        self.phase = phase
        self.host.http_phase(self.wire, phase)

    def _next(self) -> None:
        conn = self.conn
        limit = self.host.limits.http_body_bytes
        while not self.busy:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                status = exc.error_status_hint if exc.error_status_hint >= 400 else 400
                self._fail(status, HTTPStatus(status).phrase)
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                if self.raw is not None and _is_upgrade(event):
                    self._become_websocket()
                    return
                self.raw = None
                if _smuggling(event):
                    self._fail(400, "Bad Request")
                    return
                self.request = event
                self.chunks, self.size = [], 0
                self._enter(Phase.BODY)
                declared = _content_length(event)
                if declared is not None and declared > limit:
                    self._refuse_body()
            elif isinstance(event, h11.Data):
                self.size += len(event.data)
                self.host.http_progress(self.wire)
                if self.discarding:
                    if self.size > 2 * limit:  # not worth reading on
                        self.wire.close()
                        return
                    continue
                if self.size > limit:
                    self._refuse_body()
                    continue
                self.chunks.append(event.data)
            elif isinstance(event, h11.EndOfMessage):
                if self.discarding:
                    self.wire.close()
                    return
                assert self.request is not None
                body = b"".join(self.chunks)
                self.chunks = []
                self.busy = True
                self._enter(Phase.BUSY)
                self.host.spawn(self._handle(self.request, body))
                return
            elif isinstance(event, h11.ConnectionClosed):
                self.wire.close()
                return

    def _refuse_body(self) -> None:
        """Over the payload quota: 413 now, then drop what is still coming."""
        self.chunks = []
        self.discarding = True
        self._send(json_message(413, "Request Entity Too Large"), close=True)

    def _fail(self, status: int, message: str) -> None:
        self.chunks = []
        self.wire.write(closing_response(status, message))
        self.wire.close()

    def _become_websocket(self) -> None:
        raw = bytes(self.raw or b"")
        self.raw = None
        self._enter(Phase.WEBSOCKET)
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
        del body  # the RawRequest holds the only reference
        try:
            response = await self.host.http_request(raw)
        except Exception:  # a gateway bug must not wedge the connection
            log.exception("HTTP request failed: %s", raw.target)
            response = json_message(500, "Internal Server Error")
        del raw
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
        self._enter(Phase.HEAD if self.pipelined else Phase.IDLE)
        if self.pipelined:
            self.pipelined = False
            self.wire.resume_reading()
        self._next()

    def _send(self, response: HttpResponse, *, head: bool = False, close: bool = False) -> None:
        if self.wire.closing():
            return
        conn = self.conn
        headers = [*response.headers]
        if response.status != 204:
            headers.append(("Content-Length", str(len(response.body))))
        if close:
            headers.append(("Connection", "close"))
        try:
            out = conn.send(h11.Response(status_code=response.status, headers=headers))
            if response.body and not head:  # HEAD: the length of a body never sent
                out += conn.send(h11.Data(data=response.body))
            out += conn.send(h11.EndOfMessage())
        except h11.LocalProtocolError:
            self.wire.close()
            return
        self.wire.write(out or b"")
