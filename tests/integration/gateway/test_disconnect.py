"""Gateway spec items 20-22: $disconnect, whatever closed the connection, exactly once."""

from __future__ import annotations

import asyncio

from tests.conftest import scaled
from tests.integration.gateway.conftest import Harness, StartGateway, closed


def status(record_event: dict[str, object]) -> tuple[object, object]:
    ctx = record_event["requestContext"]
    assert isinstance(ctx, dict)
    return ctx["disconnectStatusCode"], ctx["disconnectReason"]


async def test_item_20_disconnect_fires_once_whatever_closed_it(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway(manual_clock=True, idle_timeout_s=600)
    client = gw.mgmt()
    by_client, by_delete, by_drop, by_idle = [await gw.connect() for _ in range(4)]
    ids = [await gw.connection_id(ws) for ws in (by_client, by_delete, by_drop, by_idle)]

    await by_client.close()
    await asyncio.to_thread(client.delete_connection, ConnectionId=ids[1])
    assert (await closed(by_delete))[0] == 1000
    assert by_drop.transport is not None
    by_drop.transport.abort()  # TCP gone without a closing handshake
    expected = {
        ids[0]: (1000, ""),
        ids[1]: (1000, "Connection Closed Normally"),
        ids[2]: (1006, ""),
    }
    for connection_id, want in expected.items():
        assert status((await gw.disconnect_of(connection_id)).event) == want, connection_id
    gw.advance(600)  # ten idle minutes for the last one
    assert status((await gw.disconnect_of(ids[3])).event) == (1001, "Going away")

    other = await start_gateway()
    by_server = await other.connect()
    server_id = await other.connection_id(by_server)
    await other.server.close()  # awaits $disconnect of the connections it closes
    (record,) = other.routes("$disconnect", server_id)
    assert status(record.event) == (1001, "Going away")
    assert (await closed(by_server))[0] == 1001

    for connection_id in ids:
        assert len(gw.routes("$disconnect", connection_id)) == 1


async def test_item_21_disconnect_status_code_and_reason(gw: Harness) -> None:
    silent = await gw.connect()
    silent_id = await gw.connection_id(silent)
    polite = await gw.connect()
    polite_id = await gw.connection_id(polite)

    # A close frame without a code is 1005 on the gateway's side.
    await silent.close(None)  # type: ignore[arg-type]  # websockets sends an empty frame
    await polite.close(4001, "see you")

    assert status((await gw.disconnect_of(silent_id)).event) == (1005, "")
    polite_event = (await gw.disconnect_of(polite_id)).event
    assert status(polite_event) == (4001, "see you")
    assert "messageId" not in polite_event["requestContext"]
    assert "body" not in polite_event


async def test_item_22_disconnect_headers_are_fixed(gw: Harness) -> None:
    ws = await gw.connect(additional_headers={"X-Custom": "1", "Cookie": "a=b"})
    connection_id = await gw.connection_id(ws)
    await ws.close()
    event = (await gw.disconnect_of(connection_id)).event
    host = f"127.0.0.1:{gw.server.port}"
    assert event["headers"] == {
        "Host": host,
        "x-api-key": "",
        "X-Forwarded-For": "",
        "x-restapi": "",
    }
    assert event["multiValueHeaders"] == {
        "Host": [host],
        "x-api-key": [""],
        "X-Forwarded-For": [""],
        "x-restapi": [""],
    }


async def test_item_20_shutdown_does_not_wait_forever_for_a_silent_client(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway(close_timeout_s=scaled(0.2))
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.server.port)
    writer.write(
        b"GET /test?token=allow HTTP/1.1\r\n"
        + f"Host: 127.0.0.1:{gw.server.port}\r\n".encode()
        + b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), scaled(5))
    assert head.startswith(b"HTTP/1.1 101")
    # This client never answers the close frame; shutdown drops it after close_timeout_s.
    await asyncio.wait_for(gw.server.close(), scaled(5))
    (record,) = gw.routes("$disconnect")
    assert status(record.event) == (1001, "Going away")
    writer.close()
