"""The embedded DynamoDB/SSM answers this machine's code, never a web page: a request a
browser made (Origin, Sec-Fetch-Site) or one for another host name (DNS rebinding) is
403 before moto sees it, and no answer carries CORS headers. boto3 is unaffected."""

from __future__ import annotations

import asyncio
import http.client
from collections.abc import AsyncIterator

import pytest

from infra.dynamodb import MotoServer, dynamodb_client, start_moto
from tests.conftest import scaled
from tests.integration.gateway.signing import signed_headers

LIST_TABLES = b"{}"


@pytest.fixture(scope="module")
async def moto() -> AsyncIterator[MotoServer]:
    server = await start_moto()
    yield server
    await server.close()


def port_of(moto: MotoServer) -> int:
    return int(moto.endpoint.rsplit(":", 1)[1])


def exchange(
    port: int, path: str, headers: dict[str, str], body: bytes, method: str = "POST"
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=scaled(10))
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def list_tables(moto: MotoServer, host: str | None = None, **extra: str) -> dict[str, str]:
    host = host or f"127.0.0.1:{port_of(moto)}"
    headers = signed_headers(
        "POST",
        f"http://{host}/",
        LIST_TABLES,
        service="dynamodb",
        headers={
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "Content-Type": "application/x-amz-json-1.0",
        },
    )
    return {**headers, "Host": host, **extra}


async def call(
    moto: MotoServer, headers: dict[str, str], body: bytes = LIST_TABLES, path: str = "/"
) -> tuple[int, dict[str, str], bytes]:
    return await asyncio.to_thread(exchange, port_of(moto), path, headers, body)


async def test_this_machines_code_is_served_without_cors(moto: MotoServer) -> None:
    status, headers, body = await call(moto, list_tables(moto))
    assert status == 200 and b"TableNames" in body
    assert not [h for h in headers if h.startswith("access-control-")]
    status, _, _ = await call(moto, list_tables(moto, f"localhost:{port_of(moto)}"))
    assert status == 200
    tables = await asyncio.to_thread(
        dynamodb_client(moto.endpoint, "us-east-1", dummy_credentials=True).list_tables
    )
    assert "TableNames" in tables


@pytest.mark.parametrize(
    "extra",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"},
    ],
)
async def test_a_browsers_request_is_refused(moto: MotoServer, extra: dict[str, str]) -> None:
    status, headers, body = await call(moto, list_tables(moto, **extra))
    assert (status, body) == (403, b'{"message": "Forbidden"}')
    assert not [h for h in headers if h.startswith("access-control-")]


async def test_a_preflight_gets_no_cors_answer(moto: MotoServer) -> None:
    preflight = {
        "Host": f"127.0.0.1:{port_of(moto)}",
        "Origin": "https://evil.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-amz-target,content-type",
    }
    status, headers, _ = await call(moto, preflight, b"", path="/")
    assert status == 403
    assert not [h for h in headers if h.startswith("access-control-")]


async def test_dns_rebinding_cannot_wipe_the_tables(moto: MotoServer) -> None:
    port = port_of(moto)
    rebound = {"Host": f"evil.example:{port}", "Content-Type": "text/plain"}
    status, _, _ = await call(moto, rebound, b"", path="/moto-api/reset")
    assert status == 403
    status, _, _ = await call(moto, list_tables(moto, f"evil.example:{port}"))
    assert status == 403
