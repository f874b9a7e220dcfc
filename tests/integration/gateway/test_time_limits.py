"""Gateway spec items 18-19 over real sockets: idle and hard limits close with 1001 and
fire $disconnect; traffic from the gateway is activity too.

The gateway runs on a manual clock (`Harness.advance`): the tests assert what happens
and in which order, never a duration measured from the test's side. The exact moments
are the core's, tested in tests/unit/gateway/test_time_rules.py.
"""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.client import ClientConnection

from infra.apigateway.core import State
from tests.integration.gateway.conftest import Harness, StartGateway, closed, recv

GOING_AWAY = (1001, "Going away")


async def echo(gw: Harness, ws: ClientConnection) -> None:
    await ws.send(json.dumps({"action": "echo"}))
    assert json.loads(await recv(ws))["route"] == "echo"


async def test_item_18_idle_and_hard_limits_close_with_1001(start_gateway: StartGateway) -> None:
    gw = await start_gateway(manual_clock=True, idle_timeout_s=600, hard_timeout_s=7200)
    busy, idle = await gw.connect(), await gw.connect()
    busy_id, idle_id = await gw.connection_id(busy), await gw.connection_id(idle)

    gw.advance(599)
    await echo(gw, busy)
    assert gw.server.core.state_of(idle_id) is State.OPEN  # not yet
    gw.advance(1)  # ten minutes without a frame
    assert await closed(idle) == GOING_AWAY
    disconnect = await gw.disconnect_of(idle_id)
    assert disconnect.event["requestContext"]["disconnectStatusCode"] == 1001

    # Steady traffic keeps the idle limit away, but not the two-hour one.
    for _ in range(11):
        gw.advance(590)
        await echo(gw, busy)
    gw.advance(7200 - 600 - 11 * 590 - 1)
    await echo(gw, busy)  # a second short of two hours: still open
    gw.advance(1)
    assert await closed(busy) == GOING_AWAY
    disconnect = await gw.disconnect_of(busy_id)
    assert disconnect.event["requestContext"]["disconnectStatusCode"] == 1001


async def test_item_19_server_to_client_traffic_is_activity(start_gateway: StartGateway) -> None:
    gw = await start_gateway(manual_clock=True, idle_timeout_s=600)
    ws = await gw.connect()
    connection_id = await gw.connection_id(ws)
    client = gw.mgmt()
    before = await asyncio.to_thread(client.get_connection, ConnectionId=connection_id)

    # Only the gateway talks, for three idle periods: the connection stays open.
    for _ in range(3):
        gw.advance(500)
        await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id, Data=b"p")
        assert await recv(ws) == "p"
    after = await asyncio.to_thread(client.get_connection, ConnectionId=connection_id)
    assert after["LastActiveAt"] > before["LastActiveAt"]
    assert after["ConnectedAt"] == before["ConnectedAt"]

    # Silence: now it times out.
    gw.advance(600)
    assert await closed(ws) == GOING_AWAY
