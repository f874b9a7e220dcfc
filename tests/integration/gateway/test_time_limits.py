"""Gateway spec items 18-19: idle and hard timeouts (seconds here, not minutes)."""

from __future__ import annotations

import asyncio
import json

from websockets.exceptions import ConnectionClosed

from tests.conftest import scaled
from tests.integration.gateway.conftest import StartGateway, closed, recv


async def test_item_18_idle_and_hard_timeouts_close_with_1001(start_gateway: StartGateway) -> None:
    gw = await start_gateway(idle_timeout_s=scaled(0.3), hard_timeout_s=scaled(1.0))
    loop = asyncio.get_running_loop()
    busy = await gw.connect()
    busy_opened = loop.time()
    busy_id = await gw.connection_id(busy)
    idle = await gw.connect()
    idle_id = await gw.connection_id(idle)

    async def chatter() -> None:
        # Steady traffic keeps the idle timeout away, but not the hard limit.
        try:
            while loop.time() - busy_opened < scaled(5):
                await busy.send(json.dumps({"action": "echo"}))
                await recv(busy)
        except ConnectionClosed:
            pass

    chatting = asyncio.create_task(chatter())
    assert await closed(idle) == (1001, "Going away")
    # The chatty one outlived the idle one... (checked at the idle one's close: waiting
    # first for its $disconnect, which may start a sandbox, raced the hard limit)
    assert not chatting.done()
    disconnect = await gw.disconnect_of(idle_id)
    assert disconnect.event["requestContext"]["disconnectStatusCode"] == 1001

    await chatting
    assert await closed(busy) == (1001, "Going away")
    # ...until the hard limit (counted from the handshake, a little before `busy_opened`).
    assert loop.time() - busy_opened > scaled(0.8)
    disconnect = await gw.disconnect_of(busy_id)
    assert disconnect.event["requestContext"]["disconnectStatusCode"] == 1001


async def test_item_19_server_to_client_traffic_is_activity(start_gateway: StartGateway) -> None:
    gw = await start_gateway(idle_timeout_s=scaled(0.4))
    ws = await gw.connect()
    connection_id = await gw.connection_id(ws)
    client = gw.mgmt()
    before = await asyncio.to_thread(client.get_connection, ConnectionId=connection_id)

    # Only the gateway talks, for three idle periods: the connection stays open.
    loop = asyncio.get_running_loop()
    started = loop.time()
    while loop.time() - started < scaled(1.2):
        await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id, Data=b"p")
        assert await recv(ws) == "p"
    after = await asyncio.to_thread(client.get_connection, ConnectionId=connection_id)
    assert after["LastActiveAt"] > before["LastActiveAt"]
    assert after["ConnectedAt"] == before["ConnectedAt"]

    # Silence: now it times out.
    assert await closed(ws) == (1001, "Going away")
