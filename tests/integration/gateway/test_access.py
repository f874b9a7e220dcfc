"""What a hostile page (or a forged `curl`) gets from the local stack, over real sockets:
the Management and Invoke APIs take only SigV4-signed requests (gateway-spec item 32),
never a browser's, and only for this machine's names; a browser handshake is accepted
only from the gateway's own pages and the origins configured. boto3 and clients that
are not browsers notice nothing (the rest of this package uses them throughout)."""

from __future__ import annotations

import asyncio
import http.client
import json
from typing import Any
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError
from websockets.exceptions import InvalidStatus

from infra.apigateway.ids import execute_api_host
from tests.conftest import scaled
from tests.integration.gateway.conftest import Harness, StartGateway, recv
from tests.integration.gateway.signing import signed_headers
from tests.integration.gateway.test_lambda_api import lambda_client


def exchange(
    port: int, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    """One request with exactly these headers (http.client adds Host only if absent)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=scaled(5))
    try:
        conn.putrequest(method, path, skip_host="Host" in headers, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


async def call(
    gw: Harness, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    return await asyncio.to_thread(exchange, gw.server.port, method, path, headers, body)


def signed(gw: Harness, method: str, path: str, body: bytes = b"", **kwargs: Any) -> dict[str, str]:
    return signed_headers(method, f"http://127.0.0.1:{gw.server.port}{path}", body, **kwargs)


async def handshake(gw: Harness, headers: dict[str, str]) -> bytes:
    """A WebSocket upgrade request with these headers; the status line of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.server.port)
    try:
        lines = [
            "GET /test?token=allow HTTP/1.1",
            *(f"{k}: {v}" for k, v in headers.items()),
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13",
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), scaled(5))
        return head.split(b"\r\n", 1)[0]
    finally:
        writer.close()


# -- Item 1: the Management API and the Invoke API -------------------------------------------


async def test_an_unsigned_management_call_is_refused_and_does_nothing(gw: Harness) -> None:
    ws = await gw.connect()
    connection_id = await gw.connection_id(ws)
    path = f"/test/@connections/{quote(connection_id, safe='')}"
    host = {"Host": f"127.0.0.1:{gw.server.port}"}
    for method, body in (("POST", b"forged"), ("DELETE", b""), ("GET", b"")):
        status, headers, payload = await call(gw, method, path, host, body)
        assert status == 403, method
        assert headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
        assert json.loads(payload) == {"message": "Missing Authentication Token"}
    # Nothing was delivered and the client is still connected: the next frame it gets is
    # the one boto3 posts.
    await asyncio.to_thread(gw.mgmt().post_to_connection, ConnectionId=connection_id, Data=b"ok")
    assert await recv(ws) == "ok"


async def test_a_signature_that_is_not_sigv4_for_execute_api_is_refused(gw: Harness) -> None:
    path = "/test/@connections/AAAAAAAAAAAAAAA%3D"
    host = f"127.0.0.1:{gw.server.port}"
    status, headers, _ = await call(
        gw, "POST", path, {"Host": host, "Authorization": "Bearer x"}, b"x"
    )
    assert (status, headers["x-amzn-ErrorType"]) == (403, "IncompleteSignatureException")
    for_lambda = signed(gw, "POST", path, b"x", service="lambda")
    status, headers, _ = await call(gw, "POST", path, for_lambda, b"x")
    assert (status, headers["x-amzn-ErrorType"]) == (403, "InvalidSignatureException")
    status, headers, _ = await call(gw, "POST", path, signed(gw, "POST", path, b"x"), b"x")
    assert (status, headers["x-amzn-ErrorType"]) == (410, "GoneException")  # signed: served


async def test_an_unsigned_invocation_is_refused_before_anything_runs(gw: Harness) -> None:
    name = gw.server.spec.deployed_name("mirror")
    path = f"/2015-03-31/functions/{name}/invocations"
    forged = json.dumps({"requestContext": {"authorizer": {"principalId": "ceo"}}}).encode()
    host = {"Host": f"127.0.0.1:{gw.server.port}", "Content-Type": "text/plain"}
    status, headers, payload = await call(gw, "POST", path, host, forged)
    assert (status, headers["x-amzn-ErrorType"]) == (403, "MissingAuthenticationTokenException")
    assert json.loads(payload) == {"message": "Missing Authentication Token"}
    status, headers, _ = await call(gw, "POST", path, signed(gw, "POST", path, forged), forged)
    assert (status, headers["x-amzn-ErrorType"]) == (403, "InvalidSignatureException")
    assert gw.invoker.find(lambda r: r.function == "mirror") == []
    # boto3's lambda client signs: it is served.
    resp = await asyncio.to_thread(lambda_client(gw).invoke, FunctionName=name, Payload=b'{"n": 1}')
    assert json.loads(resp["Payload"].read())["got"] == {"n": 1}


async def test_browser_requests_are_refused_even_when_signed(gw: Harness) -> None:
    ws = await gw.connect()
    connection_id = await gw.connection_id(ws)
    mgmt = f"/test/@connections/{quote(connection_id, safe='')}"
    invoke = f"/2015-03-31/functions/{gw.server.spec.deployed_name('mirror')}/invocations"
    for path, service in ((mgmt, "execute-api"), (invoke, "lambda")):
        for origin in ("https://evil.example", f"http://127.0.0.1:{gw.server.port}", "null"):
            headers = {**signed(gw, "POST", path, b"{}", service=service), "Origin": origin}
            status, answer, _ = await call(gw, "POST", path, headers, b"{}")
            assert (status, answer["x-amzn-ErrorType"]) == (403, "ForbiddenException"), origin
            assert "Access-Control-Allow-Origin" not in answer
        # A CORS preflight finds no door either.
        preflight = {"Host": f"127.0.0.1:{gw.server.port}", "Origin": "https://evil.example"}
        status, answer, _ = await call(gw, "OPTIONS", path, preflight)
        assert status == 403 and "Access-Control-Allow-Origin" not in answer
    assert gw.invoker.find(lambda r: r.function == "mirror") == []
    await asyncio.to_thread(gw.mgmt().post_to_connection, ConnectionId=connection_id, Data=b"ok")
    assert await recv(ws) == "ok"


async def test_only_this_machines_names_are_served_dns_rebinding_is_refused(
    gw: Harness,
) -> None:
    path = "/test/@connections/AAAAAAAAAAAAAAA%3D"
    port = gw.server.port
    api_host = execute_api_host(gw.server.core.api.api_id, gw.server.spec.region)
    for host, want in (
        (f"evil.example:{port}", 403),  # a rebinding page's own name
        (f"127.0.0.1.nip.example:{port}", 403),
        (f"localhost:{port}", 410),
        (f"[::1]:{port}", 410),
        (api_host, 410),  # how sandboxes reach it from `https://{apiId}.execute-api...`
    ):
        headers = {**signed_headers("POST", f"http://{host}{path}", b"x"), "Host": host}
        status, answer, _ = await call(gw, "POST", path, headers, b"x")
        assert status == want, host
        if want == 403:
            assert answer["x-amzn-ErrorType"] == "ForbiddenException"


# -- Item 2: browser handshakes ------------------------------------------------------------------


async def test_a_page_elsewhere_cannot_open_a_websocket(gw: Harness) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await gw.connect(origin="https://evil.example")
    assert refused.value.response.status_code == 403
    assert json.loads(refused.value.response.body) == {"message": "Forbidden"}
    assert gw.invoker.started == []  # neither the authorizer nor $connect ran


async def test_dns_rebinding_cannot_open_a_websocket(gw: Harness) -> None:
    port = gw.server.port
    rebound = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
    assert await handshake(gw, rebound) == b"HTTP/1.1 403 Forbidden"
    own = {"Host": f"127.0.0.1:{port}", "Origin": f"http://127.0.0.1:{port}"}
    assert await handshake(gw, own) == b"HTTP/1.1 101 Switching Protocols"


async def test_the_gateways_own_pages_and_clients_without_origin_connect(gw: Harness) -> None:
    port = gw.server.port
    for origin in (f"http://127.0.0.1:{port}", f"http://localhost:{port}", None):
        ws = await gw.connect(origin=origin)
        assert (await gw.connection_id(ws)).endswith("=")
    with pytest.raises(InvalidStatus):  # another local server's page (a dev server)
        await gw.connect(origin="http://localhost:5173")


async def test_configured_origins_may_connect(start_gateway: StartGateway) -> None:
    gw = await start_gateway(allowed_origins=("http://localhost:5173",))
    ws = await gw.connect(origin="http://localhost:5173")
    assert (await gw.connection_id(ws)).endswith("=")
    with pytest.raises(InvalidStatus):
        await gw.connect(origin="http://localhost:5174")
    anyone = await start_gateway(allowed_origins=("*",))  # AWS's behaviour, asked for
    ws = await anyone.connect(origin="https://evil.example")
    assert (await anyone.connection_id(ws)).endswith("=")


async def test_boto3_handlers_notice_nothing(gw: Harness) -> None:
    """The echo service's own handler posts through boto3 from inside an invocation."""
    ws = await gw.connect()
    me = await gw.connection_id(ws)
    await ws.send(json.dumps({"action": "post", "to": me, "data": "to myself"}))
    assert {await recv(ws), await recv(ws)} == {"to myself", json.dumps({"posted": me})}
    with pytest.raises(ClientError):  # and a real AWS error still comes back as one
        await asyncio.to_thread(gw.mgmt().get_connection, ConnectionId="AAAAAAAAAAAAAAA=")
