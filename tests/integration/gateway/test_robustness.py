"""The gateway under hostile or broken HTTP clients, over real sockets: slow heads,
idle and stalled connections, a full house, oversized bodies, smuggling, deep JSON, NUL
bytes, lowercase methods. Each answer is what API Gateway gives (or, for the local
defences, a plain HTTP one). Time rules run on the manual clock: the tests assert
codes and order; when each deadline falls is `tests/unit/gateway/test_connections.py`'s."""

from __future__ import annotations

import asyncio
import http.client
import json
from collections.abc import Callable
from pathlib import Path

from infra.apigateway.connections import Phase
from tests.conftest import scaled
from tests.integration.gateway.conftest import Harness, StartGateway, recv

HEADER_S, IDLE_S = 10.0, 60.0
MB = 1024 * 1024


async def until(predicate: Callable[[], bool], what: str, seconds: float = 5) -> None:
    """Wait until the gateway has taken in what the test sent (a fact, checked often)."""
    deadline = asyncio.get_running_loop().time() + scaled(seconds)
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never: {what}")
        await asyncio.sleep(0.005)


async def opened(gw: Harness) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", gw.server.port)


async def everything(reader: asyncio.StreamReader) -> bytes:
    """All the gateway writes until it closes the connection."""
    return await asyncio.wait_for(reader.read(), scaled(5))


async def get(gw: Harness, path: str, method: str = "GET", body: bytes | None = None) -> int:
    def call() -> int:
        conn = http.client.HTTPConnection("127.0.0.1", gw.server.port, timeout=scaled(10))
        try:
            conn.request(method, path, body=body)
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    return await asyncio.to_thread(call)


async def manual(start_gateway: StartGateway, **options: object) -> Harness:
    return await start_gateway(
        manual_clock=True, header_timeout_s=HEADER_S, keepalive_timeout_s=IDLE_S, **options
    )


async def test_slow_heads_get_408_and_the_gateway_keeps_answering(
    start_gateway: StartGateway,
) -> None:
    gw = await manual(start_gateway)
    slow = [await opened(gw) for _ in range(20)]
    for _, writer in slow:
        writer.write(b"GET /plain HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the rest
    silent_reader, silent_writer = await opened(gw)  # sends nothing at all
    table = gw.server.connections
    await until(lambda: table.count(Phase.HEAD) == 20, "20 heads under way")
    assert await get(gw, "/nowhere") == 404  # others are served meanwhile
    gw.advance(HEADER_S)
    for reader, writer in slow:
        answer = await everything(reader)
        assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1]) == {"message": "Request Timeout"}
        writer.close()
    assert await everything(silent_reader) == b""  # closed without a word
    silent_writer.close()
    assert gw.invoker.started == []


async def test_an_idle_keep_alive_connection_is_closed_silently(
    start_gateway: StartGateway,
) -> None:
    gw = await manual(start_gateway)
    reader, writer = await opened(gw)
    request = b"GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    writer.write(request)
    assert (await reader.readuntil(b"}")).startswith(b"HTTP/1.1 404 ")
    await until(lambda: gw.server.connections.count(Phase.IDLE) == 1, "idle")
    gw.advance(IDLE_S - 1)  # not yet: the connection still serves
    writer.write(request)
    assert (await reader.readuntil(b"}")).startswith(b"HTTP/1.1 404 ")
    await until(lambda: gw.server.connections.count(Phase.IDLE) == 1, "idle again")
    gw.advance(IDLE_S)
    assert await everything(reader) == b""
    writer.close()


async def test_a_body_that_stops_arriving_gets_408(start_gateway: StartGateway) -> None:
    gw = await manual(start_gateway)
    reader, writer = await opened(gw)
    writer.write(b"POST /plain HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{")
    await until(lambda: gw.server.connections.count(Phase.BODY) == 1, "a body under way")
    gw.advance(IDLE_S)
    assert (await everything(reader)).startswith(b"HTTP/1.1 408 ")
    writer.close()
    assert gw.routes("POST /plain") == []


async def test_at_the_connection_cap_idle_connections_make_room_and_then_503(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway(max_connections=3)
    idle = [await opened(gw) for _ in range(3)]
    table = gw.server.connections
    await until(lambda: table.count(Phase.NEW) == 3, "three idle connections")
    assert await get(gw, "/nowhere") == 404  # served: the oldest idle one made room
    assert await everything(idle[0][0]) == b""
    sockets = [await gw.connect() for _ in range(3)]  # the rest make room for these
    for ws in sockets:
        assert (await gw.connection_id(ws)).endswith("=")
    reader, writer = await opened(gw)  # three WebSockets: nothing may go
    answer = await everything(reader)
    assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    writer.close()
    for _, w in idle:
        w.close()
    await sockets[0].close()
    await until(lambda: len(table) < 3, "a WebSocket gone")
    assert await get(gw, "/nowhere") == 404


async def test_a_body_over_10_mb_is_413_before_the_function_runs(gw: Harness) -> None:
    limit = 10 * MB
    at_limit = b'{"a": "' + b"x" * (limit - 9) + b'"}'
    assert len(at_limit) == limit
    assert await get(gw, "/plain", "POST", at_limit) == 200  # the quota itself is fine
    assert len(gw.routes("POST /plain")) == 1
    assert await get(gw, "/plain", "POST", at_limit + b" ") == 413
    # A declared length over the quota is answered before a byte of the body is sent.
    reader, writer = await opened(gw)
    writer.write(f"POST /plain HTTP/1.1\r\nHost: h\r\nContent-Length: {limit + 1}\r\n\r\n".encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), scaled(5))
    assert head.startswith(b"HTTP/1.1 413 ")
    writer.close()
    assert len(gw.routes("POST /plain")) == 1  # neither reached the function


async def test_content_length_and_transfer_encoding_together_are_400_and_the_end(
    gw: Harness,
) -> None:
    reader, writer = await opened(gw)
    writer.write(
        b"POST /plain HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
        b"GET /nowhere HTTP/1.1\r\nHost: h\r\n\r\n"  # smuggled behind it
    )
    answer = await everything(reader)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert answer.count(b"HTTP/1.1 ") == 1  # the pipelined request was never read
    writer.close()
    assert gw.routes("POST /plain") == []


async def test_a_lowercase_method_is_no_route_as_on_aws(gw: Harness) -> None:
    reader, writer = await opened(gw)
    writer.write(b"post /plain HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}")
    head = await asyncio.wait_for(reader.readuntil(b"}"), scaled(5))
    assert head.startswith(b"HTTP/1.1 404 ") and head.endswith(b'{"message": "Not Found"}')
    writer.close()
    assert gw.routes("POST /plain") == []
    assert await get(gw, "/plain", "POST", b"{}") == 200


async def test_a_nul_byte_in_a_static_path_is_404(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    (tmp_path / "index.html").write_text("<h1>hi</h1>")
    gw = await start_gateway(static_dir=tmp_path)
    for path in ("/a%00b", "/%00", "/index.html%00.js"):
        assert await get(gw, path) == 404, path
    assert await get(gw, "/index.html") == 200


async def test_a_10000_deep_json_frame_goes_to_default_and_the_connection_stays(
    gw: Harness,
) -> None:
    ws = await gw.connect()
    deep = "[" * 10_000 + "]" * 10_000
    await ws.send(deep)
    reply = json.loads(await recv(ws))
    assert reply["route"] == "$default" and reply["body"] == deep
    assert (await gw.connection_id(ws)).endswith("=")  # still connected, still routed
