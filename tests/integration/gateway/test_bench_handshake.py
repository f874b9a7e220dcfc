"""bench.handshake, the bare opening handshake bench.scale opens connections with: it
must count as connected only what the gateway really accepted."""

from __future__ import annotations

import asyncio

import pytest

from bench.handshake import HandshakeRefused, _Opening, open_websocket
from tests.conftest import scaled
from tests.integration.gateway.conftest import Harness


async def test_an_accepted_handshake_is_a_live_connection(gw: Harness) -> None:
    transport = await open_websocket(f"{gw.server.ws_url}?token=allow", timeout_s=scaled(5))
    await gw.record(lambda r: r.route_key == "$connect")
    assert len(gw.routes("$connect")) == 1
    transport.abort()  # no close frame: the gateway notices TCP going away
    await gw.record(lambda r: r.route_key == "$disconnect")


@pytest.mark.parametrize(("query", "status"), [("token=deny", 403), ("token=unauthorized", 401)])
async def test_a_refused_handshake_raises_with_the_status(
    gw: Harness, query: str, status: int
) -> None:
    with pytest.raises(HandshakeRefused) as refused:
        await open_websocket(f"{gw.server.ws_url}?{query}", timeout_s=scaled(5))
    assert refused.value.status == status
    assert gw.routes("$connect") == []


async def test_a_101_with_the_wrong_accept_key_is_refused() -> None:
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    opening = _Opening(b"", b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", done)
    opening.data_received(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Accept: not-the-one\r\n\r\n"
    )
    with pytest.raises(HandshakeRefused, match="Sec-WebSocket-Accept"):
        await done
