"""One HTTP connection's session, fed bytes by hand (no sockets): a request body is held
once, an over-quota body is refused before anything is invoked, and a request that
could smuggle another one ends the connection."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from infra.apigateway.connections import Phase
from infra.apigateway.host import Expiring, RawRequest, Session, SessionLimits
from infra.apigateway.http_session import HttpSession
from infra.http import HttpResponse

MB = 1024 * 1024
CHUNK = 64 * 1024  # what a socket read hands over at a time


@dataclass
class StubWire:
    source_ip: str = "127.0.0.1"
    local_port: int = 8080
    secure: bool = False
    out: bytearray = field(default_factory=bytearray)
    closed: bool = False
    paused: bool = False

    def write(self, data: bytes) -> None:
        if not self.closed:
            self.out += data

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def closing(self) -> bool:
        return self.closed

    def become(self, session: Session) -> None:
        raise AssertionError("no upgrade here")

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False


@dataclass
class StubHost:
    limits: SessionLimits = field(default_factory=SessionLimits)
    authority: str = "127.0.0.1:8080"
    pending: list[Coroutine[Any, Any, Any]] = field(default_factory=list)
    requests: list[RawRequest] = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)
    held_while_answering: int = 0  # bytes traced when the request reached the host

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.pending.append(coro)

    def run_pending(self) -> None:
        while self.pending:
            asyncio.run(self.pending.pop(0))

    def connection_opened(self, wire: Any) -> bool:
        return True

    def connection_closed(self, wire: Any) -> None:
        pass

    def http_session_started(self, wire: Any, session: Expiring | None = None) -> None:
        pass

    def http_session_ended(self, wire: Any) -> None:
        pass

    def http_phase(self, wire: Any, phase: Phase) -> None:
        self.phases.append(phase)

    def http_progress(self, wire: Any) -> None:
        pass

    async def http_request(self, request: RawRequest) -> HttpResponse:
        if tracemalloc.is_tracing():
            self.held_while_answering = tracemalloc.get_traced_memory()[0]
        self.requests.append(request)
        return HttpResponse(200, (("Content-Type", "text/plain"),), b"ok")

    def websocket_opening(self, peer: Any, handshake: Any) -> str:
        raise AssertionError("no upgrade here")

    def websocket_frame(self, connection_id: str, frame: Any) -> None:
        pass

    def websocket_closed(self, connection_id: str, code: int, reason: str) -> None:
        pass


def session() -> tuple[HttpSession, StubHost, StubWire]:
    host, wire = StubHost(), StubWire()
    return HttpSession(host, wire), host, wire


def feed(s: HttpSession, data: bytes) -> None:
    view = memoryview(data)
    for start in range(0, len(data), CHUNK):
        s.data_received(bytes(view[start : start + CHUNK]))


def post(path: str, body: bytes, extra: bytes = b"") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: h\r\nContent-Length: {len(body)}\r\n".encode()
    return head + extra + b"\r\n" + body


def test_a_9_mb_body_is_held_once_while_the_request_is_answered() -> None:
    body = b"x" * (9 * MB)
    request = post("/upload", body)  # made before tracing: only the session's copies count
    s, host, _ = session()
    tracemalloc.start()
    try:
        feed(s, request)
        host.run_pending()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    (got,) = host.requests
    assert got.body == body
    # Once while answered (not the raw request, the chunks and a copy on top), and never
    # more than twice even for the moment the chunks are joined.
    assert host.held_while_answering < 1.2 * len(body), host.held_while_answering
    assert peak < 2.2 * len(body), peak


def test_a_body_over_the_quota_is_413_by_its_content_length_before_it_arrives() -> None:
    s, host, wire = session()
    declared = 10 * MB + 1
    s.data_received(f"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: {declared}\r\n\r\n".encode())
    assert wire.out.startswith(b"HTTP/1.1 413 ")
    assert b"Connection: close" in wire.out and not wire.closed
    # The body is still read (and dropped), so a client that sends it all before reading
    # sees the 413 instead of a reset; then the connection ends.
    feed(s, b"x" * declared)
    host.run_pending()
    assert wire.closed and host.requests == []


def test_a_chunked_body_over_the_quota_is_413_and_nothing_is_invoked() -> None:
    s, host, wire = session()
    s.data_received(b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"x" * MB
    for _ in range(11):
        s.data_received(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
    assert wire.out.startswith(b"HTTP/1.1 413 ")
    s.data_received(b"0\r\n\r\n")
    host.run_pending()
    assert wire.closed and host.requests == []


def test_exactly_the_quota_is_served() -> None:
    s, host, wire = session()
    feed(s, post("/x", b"y" * (10 * MB)))
    host.run_pending()
    assert len(host.requests[0].body) == 10 * MB
    assert wire.out.startswith(b"HTTP/1.1 200 ")


def test_content_length_with_transfer_encoding_is_400_and_nothing_behind_it_is_read() -> None:
    s, host, wire = session()
    smuggled = (
        b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\nGET /admin HTTP/1.1\r\nHost: h\r\n\r\n"
    )
    s.data_received(smuggled)
    host.run_pending()
    assert wire.out.startswith(b"HTTP/1.1 400 ") and wire.out.count(b"HTTP/1.1") == 1
    assert wire.closed and host.requests == []


def test_the_phases_the_connection_rules_see() -> None:
    s, host, _ = session()
    s.data_received(b"GET /a HTTP/1.1\r\nHost: h\r\n")
    s.data_received(b"\r\n")
    host.run_pending()
    s.data_received(b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{")
    assert host.phases == [Phase.HEAD, Phase.BODY, Phase.BUSY, Phase.IDLE, Phase.HEAD, Phase.BODY]
