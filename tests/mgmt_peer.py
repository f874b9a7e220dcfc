"""The Management API on loopback for the unit and functional tiers.

The handlers post through real HTTP (handlers/chat/management_api.py); where no WebSocket
connections exist (the functional tier drives the handlers with recorded events), this
server answers their `POST [/{stage}]/@connections/{id}` as API Gateway does: 200, or 410
with `x-amzn-ErrorType: GoneException` for the ids a test declared stale, or another
error a test names for an id (`refuse`). It records what
it was sent, headers included, so a test can see the signature. The integration tiers
post to the real local gateway (infra.apigateway) instead.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote


@dataclass(frozen=True)
class Post:
    path: str
    headers: dict[str, str]
    body: bytes


class MgmtPeer:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        self.stale: set[str] = set()  # connection ids answered 410 GoneException
        # connection id -> (status, x-amzn-ErrorType) it is answered with
        self.refuse: dict[str, tuple[int, str]] = {}
        self.inbox: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        self.received: list[Post] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def posts(self) -> int:
        return len(self.received)

    def answer(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str | None, bytes]:
        """Status, x-amzn-ErrorType (None for a success) and body of the answer."""
        conn_id = unquote(path.rsplit("/", 1)[1])
        with self._lock:
            self.received.append(Post(path, headers, body))
            if conn_id in self.stale:
                return 410, "GoneException", b'{"message":null}'
            if conn_id in self.refuse:
                status, error = self.refuse[conn_id]
                return status, error, b'{"message":null}'
            self.inbox[conn_id].append(json.loads(body))
        return 200, None, b""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as API Gateway
    server: _Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        answer = self.server.peer.answer(self.path, dict(self.headers.items()), body)
        status, error, payload = answer
        self.send_response(status)
        if error is not None:
            self.send_header("x-amzn-ErrorType", error)
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    peer: MgmtPeer


@contextmanager
def mgmt_peer() -> Iterator[MgmtPeer]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.peer = MgmtPeer(server)
    thread = threading.Thread(
        target=server.serve_forever, args=(0.02,), name="mgmt-peer", daemon=True
    )
    thread.start()
    try:
        yield server.peer
    finally:
        server.shutdown()
        server.server_close()
