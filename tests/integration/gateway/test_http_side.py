"""The HTTP side of the gateway: HTTP API routes (payload 2.0 + Lambda authorizer),
static files for the web client, keep-alive, and TLS (https / wss)."""

from __future__ import annotations

import asyncio
import http.client
import json
import ssl
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra.tls import self_signed
from tests.conftest import scaled
from tests.integration.gateway.conftest import Harness, StartGateway, recv
from tests.integration.gateway.signing import signed_headers


def requests(
    port: int, calls: list[tuple[str, str, dict[str, str], bytes]]
) -> list[tuple[int, dict[str, str], bytes]]:
    """Several requests over ONE keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=scaled(5))
    out = []
    try:
        for method, path, headers, body in calls:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            out.append((response.status, dict(response.getheaders()), response.read()))
    finally:
        conn.close()
    return out


async def call(
    gw: Harness, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    (result,) = await asyncio.to_thread(
        requests, gw.server.port, [(method, path, headers or {}, body)]
    )
    return result


async def test_http_route_with_lambda_authorizer(gw: Harness) -> None:
    assert (await call(gw, "GET", "/hello/ann"))[0] == 401
    assert gw.invoker.started == []  # missing identity source: nothing invoked
    for token, status in (("unauthorized", 401), ("deny", 403), ("error", 500)):
        got, _, body = await call(gw, "GET", "/hello/ann", {"Authorization": token})
        assert got == status, token
        assert "message" in json.loads(body)
    assert gw.routes("GET /hello/{name}") == []

    status, headers, body = await call(gw, "GET", "/hello/ann?x=1", {"Authorization": "allow"})
    assert (status, body) == (201, b"hello ann, from bob")
    assert headers["Content-Type"] == "text/plain"
    assert headers["X-Route"] == "GET /hello/{name}"
    (record,) = gw.routes("GET /hello/{name}")
    event = record.event
    assert event["version"] == "2.0"
    assert event["rawPath"] == "/hello/ann"
    assert event["rawQueryString"] == "x=1"
    assert event["pathParameters"] == {"name": "ann"}
    assert event["requestContext"]["http"]["method"] == "GET"
    assert event["requestContext"]["authorizer"] == {"lambda": {"user": "bob"}}
    auths = gw.invoker.find(lambda r: r.function == "httpAuthorizer")
    sources = [a.event["identitySource"] for a in auths]
    assert sources == [["unauthorized"], ["deny"], ["error"], ["allow"]]
    assert auths[-1].event["type"] == "REQUEST"
    assert auths[-1].event["routeArn"].endswith("/$default/GET/hello/ann")


async def test_http_route_plain_result_is_200_json(gw: Harness) -> None:
    status, headers, body = await call(gw, "POST", "/plain", body=b'{"a": 1}')
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"received": {"a": 1}, "stage": "$default"}
    assert (await call(gw, "GET", "/plain"))[0] == 404  # method is part of the route
    assert (await call(gw, "GET", "/nowhere"))[0] == 404


async def test_keep_alive_serves_several_requests_per_connection(gw: Harness) -> None:
    mgmt = "/test/@connections/AAAAAAAAAAAAAAA%3D"
    signed = signed_headers("GET", f"http://127.0.0.1:{gw.server.port}{mgmt}")
    results = await asyncio.to_thread(
        requests,
        gw.server.port,
        [
            ("POST", "/plain", {}, b'{"n": 1}'),
            ("GET", mgmt, signed, b""),
            ("POST", "/plain", {}, b'{"n": 2}'),
        ],
    )
    assert [status for status, _, _ in results] == [200, 410, 200]
    assert json.loads(results[2][2])["received"] == {"n": 2}


async def test_static_files_and_websocket_share_the_port(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    (tmp_path / "index.html").write_text("<h1>chat</h1>")
    (tmp_path / "app.js").write_text("console.log(1)")
    (tmp_path.parent / "secret.txt").write_text("no")
    gw = await start_gateway(static_dir=tmp_path)

    status, headers, body = await call(gw, "GET", "/")
    assert (status, body) == (200, b"<h1>chat</h1>")
    assert headers["Content-Type"].startswith("text/html")
    status, headers, body = await call(gw, "GET", "/app.js")
    assert (status, body) == (200, b"console.log(1)")
    assert "javascript" in headers["Content-Type"]
    status, headers, body = await call(gw, "HEAD", "/app.js")
    assert (status, headers["Content-Length"], body) == (200, "14", b"")
    assert (await call(gw, "GET", "/../secret.txt"))[0] == 404
    assert (await call(gw, "GET", "/%2e%2e/secret.txt"))[0] == 404

    ws = await gw.connect_url(f"ws://127.0.0.1:{gw.server.port}/?token=allow")
    await ws.send('{"action": "echo"}')
    assert json.loads(await recv(ws))["route"] == "echo"


async def test_one_port_serves_plain_and_tls_alike(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    """Item 33: the same port answers ws:// and wss://, http:// and https://, with no
    flag; a client that refuses the certificate does not disturb the others."""
    cert = self_signed(tmp_path)
    gw = await start_gateway(ssl=cert.server_context())
    port = gw.server.port
    secure = await gw.connect_url(
        f"wss://127.0.0.1:{port}/test?token=allow", ssl=cert.client_context()
    )
    plain = await gw.connect_url(f"ws://127.0.0.1:{port}/test?token=allow")
    secure_id = await gw.connection_id(secure)
    plain_id = await gw.connection_id(plain)

    with pytest.raises(ssl.SSLCertVerificationError):  # no trust: the handshake fails...
        await gw.connect_url(f"wss://127.0.0.1:{port}/test?token=allow")

    # ...and both APIs still answer over either scheme, from boto3 as handlers call it.
    https_client: Any = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=f"https://127.0.0.1:{port}/test",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        verify=str(cert.cert),
    )
    await asyncio.to_thread(https_client.post_to_connection, ConnectionId=plain_id, Data=b"a")
    await asyncio.to_thread(gw.mgmt().post_to_connection, ConnectionId=secure_id, Data=b"b")
    assert (await recv(plain), await recv(secure)) == ("a", "b")

    connects = {r.connection_id: r.event for r in gw.routes("$connect")}
    assert connects[secure_id]["headers"]["X-Forwarded-Proto"] == "https"
    assert connects[plain_id]["headers"]["X-Forwarded-Proto"] == "http"
    await secure.close()
    disconnect = await gw.disconnect_of(secure_id)
    assert disconnect.event["requestContext"]["disconnectStatusCode"] == 1000


async def test_rest_routes_are_served_under_the_stage_as_aws_answers(gw: Harness) -> None:
    status, headers, body = await call(gw, "GET", "/test/ping")
    assert (status, headers["X-Api"]) == (200, "rest")
    facts = json.loads(body)
    assert facts == {
        "resource": "/ping",
        "path": "/ping",
        "method": "GET",
        "proxy": None,
        "stage": "test",
        "contextPath": "/test/ping",
        "body": None,
    }
    status, _, body = await call(gw, "DELETE", "/test/items/a/b", body=b"x")
    assert status == 200
    assert json.loads(body)["proxy"] == "a/b" and json.loads(body)["body"] == "x"
    # A malformed proxy response is 502; an unknown resource or method is 403.
    status, _, body = await call(gw, "GET", "/test/ping?fail=1")
    assert (status, json.loads(body)) == (502, {"message": "Internal server error"})
    for method, path in (("GET", "/test/pong"), ("POST", "/test/ping")):
        status, _, body = await call(gw, method, path)
        assert (status, json.loads(body)) == (403, {"message": "Missing Authentication Token"})
    assert (await call(gw, "GET", "/ping"))[0] == 404  # outside the REST API's stage
