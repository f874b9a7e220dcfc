"""The embedded DynamoDB's HTTP front end (infra.dynamodb.wsgi_server): HTTP/1.1 with keep-alive,
one request at a time, for any WSGI app (here a tiny one, so each behaviour shows)."""

from __future__ import annotations

import asyncio
import http.client
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import pytest

from infra.dynamodb.wsgi_server import serve
from tests.conftest import scaled

seen: list[dict[str, Any]] = []


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = environ["wsgi.input"].read()
    seen.append({**environ, "body": body})
    if environ["PATH_INFO"] == "/fail":
        raise RuntimeError("the app broke")
    # Framing headers from the app must not reach the wire twice.
    start_response("201 Created", [("Content-Type", "text/plain"), ("Connection", "close")])
    return [b"got ", body or environ["PATH_INFO"].encode()]


@pytest.fixture
async def port() -> AsyncIterator[int]:
    seen.clear()
    server = await serve(app, "127.0.0.1")
    yield int(server.sockets[0].getsockname()[1])
    server.close()
    await server.wait_closed()


Request = tuple[str, str, bytes, dict[str, str]]  # method, path, body, headers


def exchange(port: int, requests: list[Request]) -> list[Any]:
    """Send each request on ONE connection; (status, headers, body) each."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=scaled(5))
    out = []
    for method, path, body, headers in requests:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        out.append((r.status, dict(r.getheaders()), r.read()))
    conn.close()
    return out


async def test_requests_share_one_connection_and_reach_the_app_intact(port: int) -> None:
    requests = [
        ("POST", "/a%20b?x=1", b'{"k": 1}', {"X-Amz-Target": "DynamoDB_20120810.PutItem"}),
        ("GET", "/second", b"", {}),
    ]
    (s1, h1, b1), (s2, _h2, b2) = await asyncio.to_thread(exchange, port, requests)
    assert (s1, b1, s2, b2) == (201, b'got {"k": 1}', 201, b"got /second")
    assert h1["Content-Length"] == "12" and "Connection" not in h1
    first, second = seen
    assert first["PATH_INFO"] == "/a b" and first["QUERY_STRING"] == "x=1"
    assert first["HTTP_X_AMZ_TARGET"] == "DynamoDB_20120810.PutItem"
    assert first["REMOTE_ADDR"] == "127.0.0.1" and first["CONTENT_LENGTH"] == "8"
    # Same client port: the second request came over the first request's connection.
    assert first["REMOTE_PORT"] == second["REMOTE_PORT"]


async def test_a_client_expecting_100_continue_gets_it(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    )
    await writer.drain()
    assert (await asyncio.wait_for(reader.readline(), scaled(5))).startswith(b"HTTP/1.1 100")
    writer.write(b"hello")
    rest = await asyncio.wait_for(reader.readuntil(b"got hello"), scaled(5))
    assert b"HTTP/1.1 201" in rest
    writer.close()


async def test_an_app_error_is_a_500_and_the_server_goes_on(port: int) -> None:
    requests: list[Request] = [("GET", "/fail", b"", {}), ("GET", "/after", b"", {})]
    (s1, _, b1), (s2, _, b2) = await asyncio.to_thread(exchange, port, requests)
    assert (s1, b1) == (500, b"Internal Server Error") and (s2, b2) == (201, b"got /after")


async def test_garbage_closes_that_connection_only(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"\x16\x03\x01 not http at all\r\n\r\n")
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), scaled(5)) == b""  # closed
    ((status, _, body),) = await asyncio.to_thread(exchange, port, [("GET", "/ok", b"", {})])
    assert (status, body) == (201, b"got /ok")
