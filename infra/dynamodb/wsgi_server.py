"""A single-threaded HTTP/1.1 server with keep-alive for one WSGI app (the embedded moto).

Why not werkzeug's development server, which moto ships with: it closes every connection
after one response and starts a thread per connection, so each DynamoDB call paid a TCP
connect and a thread start: a third more server CPU per call, and more on the client
(`python -m bench.dynamo_front`; `docs/benchmarks.md`, section 3b).
moto's backends are not thread-safe anyway and must apply one request at a time, so one
thread serving every connection in turn loses nothing, and keeps boto3's pooled
connections open.

asyncio reads and writes; h11 parses; the app runs on the event loop's thread, one request
at a time, in the order the requests were read.
"""

from __future__ import annotations

import asyncio
import io
import logging
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import h11

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)

_READ_SIZE = 256 * 1024
# Headers the server owns: the app's framing must not reach the wire twice.
_HOP_BY_HOP = {b"connection", b"content-length", b"transfer-encoding", b"keep-alive"}


async def serve(app: WSGIApplication, host: str, port: int = 0) -> asyncio.Server:
    """Listen on `host:port` (0 = any free port); the caller runs the loop."""

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await _serve_connection(app, reader, writer, host)
        except (ConnectionError, h11.RemoteProtocolError):
            pass  # the client went away or spoke something that is not HTTP/1.1
        finally:
            writer.close()

    return await asyncio.start_server(connection, host, port, backlog=1024)


async def _serve_connection(
    app: WSGIApplication, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str
) -> None:
    conn = h11.Connection(h11.SERVER)
    peer = writer.get_extra_info("peername") or ("", 0)
    port = writer.get_extra_info("sockname")[1]
    while True:
        request: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                if conn.they_are_waiting_for_100_continue:
                    writer.write(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
                conn.receive_data(await reader.read(_READ_SIZE))
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            else:  # ConnectionClosed, or PAUSED after a close
                return
        assert request is not None
        environ = _environ(request, bytes(body), host, port, peer)
        status, headers, payload = _call(app, environ)
        if request.method == b"HEAD":
            payload = b""
        headers.append(("Content-Length", str(len(payload))))
        writer.write(conn.send(h11.Response(status_code=status, headers=headers)))
        if payload:
            writer.write(conn.send(h11.Data(data=payload)))
        writer.write(conn.send(h11.EndOfMessage()))
        await writer.drain()
        if conn.our_state is h11.MUST_CLOSE:
            return
        conn.start_next_cycle()


def _environ(
    request: h11.Request, body: bytes, host: str, port: int, peer: tuple[str, int]
) -> WSGIEnvironment:
    target = request.target.decode("latin-1")
    path, _, query = target.partition("?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method.decode("ascii"),
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote(path, encoding="latin-1"),
        "QUERY_STRING": query,
        "RAW_URI": target,
        "REQUEST_URI": target,
        "SERVER_NAME": host,
        "SERVER_PORT": str(port),
        "SERVER_PROTOCOL": f"HTTP/{request.http_version.decode('ascii')}",
        "REMOTE_ADDR": peer[0],
        "REMOTE_PORT": str(peer[1]),
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in request.headers:
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
        elif name != "CONTENT_LENGTH":
            key = f"HTTP_{name}"
            environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def _call(
    app: WSGIApplication, environ: WSGIEnvironment
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Run the app; (status, headers without framing ones, the whole body)."""
    started: dict[str, Any] = {}
    chunks: list[bytes] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        started["status"], started["headers"] = status, headers
        return chunks.append

    try:
        result: Iterable[bytes] = app(environ, start_response)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
    except Exception:
        log.exception("the app failed")
        return 500, [("Content-Type", "text/plain")], b"Internal Server Error"
    headers = [
        (k, v) for k, v in started["headers"] if k.lower().encode("latin-1") not in _HOP_BY_HOP
    ]
    return int(started["status"].split(" ", 1)[0]), headers, b"".join(chunks)
