"""Gateway spec items 26-29: the Management API (@connections), through boto3."""

from __future__ import annotations

import asyncio
import http.client
import json
from datetime import datetime
from typing import Any
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from tests.conftest import scaled
from tests.integration.gateway.conftest import Harness, StartGateway, closed, recv
from tests.integration.gateway.signing import signed_headers

UNKNOWN_ID = "AAAAAAAAAAAAAAA="


def raw_call(
    port: int, method: str, path: str, body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request without boto3 (signed as boto3 signs), to see the exact status,
    headers and body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=scaled(5))
    headers = signed_headers(method, f"http://127.0.0.1:{port}{path}", body)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


async def call(gw: Harness, method: str, path: str, body: bytes = b"") -> Any:
    return await asyncio.to_thread(raw_call, gw.server.port, method, path, body)


async def test_item_26_paths_with_and_without_stage_and_url_encoded_ids(gw: Harness) -> None:
    ws = await gw.connect()
    connection_id = await gw.connection_id(ws)
    assert connection_id.endswith("=")
    encoded = quote(connection_id, safe="")
    assert encoded.endswith("%3D")
    for path in (
        f"/test/@connections/{encoded}",
        f"/@connections/{encoded}",
        f"/test/@connections/{connection_id}",  # a raw "=" works as well
    ):
        status, _, _ = await call(gw, "POST", path, path.encode())
        assert status == 200, path
        assert await recv(ws) == path
    # Another stage's path is not this API.
    status, headers, _ = await call(gw, "POST", f"/prod/@connections/{encoded}", b"x")
    assert (status, headers["x-amzn-ErrorType"]) == (403, "ForbiddenException")


async def test_item_27_post_get_delete_answers(gw: Harness) -> None:
    ws = await gw.connect(user_agent_header="item27/2")
    connection_id = await gw.connection_id(ws)
    path = f"/test/@connections/{quote(connection_id, safe='')}"

    status, _, body = await call(gw, "POST", path, b'{"hello": 1}')
    assert (status, body) == (200, b"")
    assert await recv(ws) == '{"hello": 1}'

    status, _, body = await call(gw, "GET", path)
    assert status == 200
    info = json.loads(body)
    assert set(info) == {"connectedAt", "identity", "lastActiveAt"}
    assert info["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "item27/2"}
    for key in ("connectedAt", "lastActiveAt"):
        assert info[key].endswith("Z")
        datetime.fromisoformat(info[key])
    # boto3 parses them into datetimes (it drops keys it does not know).
    got = await asyncio.to_thread(gw.mgmt().get_connection, ConnectionId=connection_id)
    assert isinstance(got["ConnectedAt"], datetime)
    assert got["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "item27/2"}
    assert got["LastActiveAt"] >= got["ConnectedAt"]

    status, _, body = await call(gw, "DELETE", path)
    assert (status, body) == (204, b"")
    assert (await closed(ws))[0] == 1000


async def test_item_28_gone_bad_request_too_large_throttled(
    gw: Harness, start_gateway: StartGateway
) -> None:
    client = gw.mgmt()

    def post(connection_id: str, data: bytes) -> Any:
        return client.post_to_connection(ConnectionId=connection_id, Data=data)

    with pytest.raises(client.exceptions.GoneException):
        await asyncio.to_thread(post, UNKNOWN_ID, b"x")
    with pytest.raises(client.exceptions.GoneException):
        await asyncio.to_thread(client.get_connection, ConnectionId=UNKNOWN_ID)

    ws = await gw.connect()
    connection_id = await gw.connection_id(ws)
    await asyncio.to_thread(post, connection_id, b"x" * 131072)  # exactly the limit: fine
    assert len(await recv(ws)) == 131072
    with pytest.raises(client.exceptions.PayloadTooLargeException):
        await asyncio.to_thread(post, connection_id, b"x" * 131073)
    # botocore's model has no class for it: a ClientError with the code.
    with pytest.raises(ClientError) as info:
        await asyncio.to_thread(post, "not-an-id", b"x")
    assert info.value.response["Error"]["Code"] == "BadRequestException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    await ws.close()
    # Gone as soon as the closing handshake is done, $disconnect or not.
    with pytest.raises(client.exceptions.GoneException):
        await asyncio.to_thread(post, connection_id, b"closing")
    await gw.disconnect_of(connection_id)
    with pytest.raises(client.exceptions.GoneException):
        await asyncio.to_thread(post, connection_id, b"closed")
    with pytest.raises(client.exceptions.GoneException):
        await asyncio.to_thread(client.delete_connection, ConnectionId=connection_id)

    throttled = await start_gateway(throttle_rate=1.0)
    ws = await throttled.connect()
    connection_id = await throttled.connection_id(ws)
    throttled_client = throttled.mgmt()
    with pytest.raises(throttled_client.exceptions.LimitExceededException):
        await asyncio.to_thread(
            throttled_client.post_to_connection, ConnectionId=connection_id, Data=b"x"
        )


async def test_item_28_injected_gone_drops_the_connection(start_gateway: StartGateway) -> None:
    gw = await start_gateway(gone_rate=1.0, seed=7)
    ws = await gw.connect()
    connection_id = await gw.connection_id(ws)
    client = gw.mgmt()
    with pytest.raises(client.exceptions.GoneException):
        await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id, Data=b"x")
    await closed(ws)
    disconnect = await gw.disconnect_of(connection_id)
    assert disconnect.event["requestContext"]["disconnectStatusCode"] == 1006


async def test_item_29_errors_carry_x_amzn_errortype_so_handlers_catch_them(
    gw: Harness,
) -> None:
    big = b"x" * 131073
    cases = [
        ("POST", f"/test/@connections/{quote(UNKNOWN_ID)}", b"x", 410, "GoneException"),
        ("POST", "/test/@connections/bad", b"x", 400, "BadRequestException"),
        ("POST", f"/test/@connections/{UNKNOWN_ID}", big, 413, "PayloadTooLargeException"),
        ("POST", f"/other/@connections/{UNKNOWN_ID}", b"x", 403, "ForbiddenException"),
    ]
    for method, path, body, want_status, want_type in cases:
        status, headers, payload = await call(gw, method, path, body)
        assert (status, headers["x-amzn-ErrorType"]) == (want_status, want_type), path
        assert isinstance(json.loads(payload)["message"], str)

    # A handler's `except client.exceptions.GoneException` runs against the harness.
    ws = await gw.connect()
    await ws.send(json.dumps({"action": "post", "to": UNKNOWN_ID, "data": "hi"}))
    assert json.loads(await recv(ws)) == {"gone": UNKNOWN_ID}
    me = await gw.connection_id(ws)
    await ws.send(json.dumps({"action": "post", "to": me, "data": "to myself"}))
    replies = {await recv(ws), await recv(ws)}
    assert replies == {"to myself", json.dumps({"posted": me})}
