"""Gateway spec items 1-6: the handshake and $connect."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import threading

import pytest
from websockets.exceptions import InvalidStatus

from tests.conftest import scaled
from tests.echo_service import handler
from tests.echo_service.invoker import echo_spec
from tests.integration.gateway.conftest import Harness, StartGateway, recv

ID_RE = re.compile(r"^[A-Za-z0-9_-]{15}=$")


async def refused(gw: Harness, query: str) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as info:
        await gw.connect(query)
    return info.value


async def test_item_01_connect_runs_before_upgrade_and_non_2xx_is_the_status(gw: Harness) -> None:
    ws = await gw.connect("token=allow")
    # The socket is open, so $connect has already returned (it runs before the 101).
    assert len(gw.routes("$connect")) == 1

    for status in (403, 418, 302):
        rejection = await refused(gw, f"token=allow&connect={status}")
        assert rejection.response.status_code == status
    # A refused client never connected: no $disconnect for it.
    await ws.close()
    await gw.record(lambda r: r.route_key == "$disconnect")
    assert len(gw.routes("$disconnect")) == 1


async def test_item_02_connect_that_raises_or_times_out_is_502(
    start_gateway: StartGateway,
) -> None:
    spec = echo_spec()
    connect_fn = dataclasses.replace(spec.functions["connect"], timeout_s=scaled(0.2))
    spec = dataclasses.replace(spec, functions={**spec.functions, "connect": connect_fn})
    gw = await start_gateway(spec)

    assert (await refused(gw, "token=allow&connect=raise")).response.status_code == 502

    gate = handler.GATES.setdefault("item02", threading.Event())
    try:
        rejection = await refused(gw, "token=allow&connect=gate&gate=item02")
        assert rejection.response.status_code == 502
    finally:
        gate.set()


async def test_item_03_connect_route_is_optional(start_gateway: StartGateway) -> None:
    spec = echo_spec()
    routes = {k: v for k, v in spec.websocket_routes.items() if k != "$connect"}
    gw = await start_gateway(dataclasses.replace(spec, websocket_routes=routes))

    ws = await gw.connect("")  # no $connect, hence no authorizer and no token either
    await ws.send(json.dumps({"action": "echo"}))
    assert json.loads(await recv(ws))["route"] == "echo"
    assert gw.routes("$connect") == []


async def test_item_04_post_while_connect_runs_is_gone(gw: Harness) -> None:
    gate = handler.GATES.setdefault("item04", threading.Event())
    client = gw.mgmt()
    opening = asyncio.create_task(gw.connect("token=allow&connect=gate&gate=item04"))
    try:
        event = await gw.invoker.wait_started(lambda fn, e: fn == "connect", seconds=scaled(5))
        connection_id = event["requestContext"]["connectionId"]
        with pytest.raises(client.exceptions.GoneException):
            await asyncio.to_thread(
                client.post_to_connection, ConnectionId=connection_id, Data=b"too early"
            )
    finally:
        gate.set()
    ws = await opening
    await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id, Data=b"now")
    assert await recv(ws) == "now"


async def test_item_05_subprotocol_only_when_connect_returns_one(gw: Harness) -> None:
    chosen = await gw.connect("token=allow&connect=protocol", subprotocols=["echo.v1", "echo.v2"])
    assert chosen.subprotocol == "echo.v2"
    assert chosen.response is not None
    assert chosen.response.headers["Sec-WebSocket-Protocol"] == "echo.v2"

    plain = await gw.connect("token=allow", subprotocols=["echo.v1", "echo.v2"])
    assert plain.subprotocol is None
    assert plain.response is not None
    assert "Sec-WebSocket-Protocol" not in plain.response.headers


async def test_item_06_ids_look_like_aws(gw: Harness) -> None:
    ws = await gw.connect()
    connection_id = await gw.connection_id(ws)
    assert ID_RE.match(connection_id), connection_id

    for route in ("$connect", "echo"):
        (record,) = gw.routes(route, connection_id)
        ctx = record.event["requestContext"]
        assert ctx["requestId"] == ctx["extendedRequestId"]
        assert ID_RE.match(ctx["requestId"]), ctx["requestId"]
    # The "=" must be URL-encoded in the Management API path; boto3 does (%3D) and works.
    client = gw.mgmt()
    await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id, Data=b"x")
    assert await recv(ws) == "x"
