"""Gateway spec items 30-31: the connection-rate quota and unbatched deliveries."""

from __future__ import annotations

import asyncio

import pytest
from websockets.exceptions import InvalidStatus

from tests.integration.gateway.conftest import Harness, StartGateway, recv


async def test_item_30_connection_rate_quota(start_gateway: StartGateway) -> None:
    gw = await start_gateway(connect_rate_limit=2)
    await gw.connect()
    await gw.connect()
    with pytest.raises(InvalidStatus) as info:
        await gw.connect()
    assert info.value.response.status_code == 429
    # Refused before the authorizer or $connect ran.
    assert len(gw.routes("$connect")) == 2
    assert len(gw.invoker.find(lambda r: r.is_authorizer)) == 2


async def test_item_30_quota_is_off_by_default(gw: Harness) -> None:
    clients = await asyncio.gather(*(gw.connect() for _ in range(20)))
    assert len(clients) == 20
    assert gw.server.connection_count == 20


async def test_item_31_one_post_one_message(gw: Harness) -> None:
    # The client refuses any frame over 32 KB, so a big message must arrive fragmented.
    ws = await gw.connect(max_size=(2**20, 32 * 1024))
    connection_id = await gw.connection_id(ws)
    client = gw.mgmt()
    payloads = [b"first", b"second", b'{"third": 3}', b"x" * 100_000]
    for data in payloads:
        await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id, Data=data)
    # Each POST is its own message, never merged with the next one (the 100 KB one
    # travels as ≤ 32 KB frames of a single message, as on AWS).
    for data in payloads:
        assert await recv(ws) == data.decode()
