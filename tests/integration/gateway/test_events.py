"""Gateway spec items 23-25: the shape of every event."""

from __future__ import annotations

import dataclasses
import json
import re
import time

import pytest
from websockets.exceptions import InvalidStatus

from tests.echo_service.invoker import echo_spec
from tests.integration.gateway.conftest import Harness, StartGateway, recv

CLF_RE = re.compile(r"^\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000$")
COMMON_KEYS = {
    "routeKey",
    "eventType",
    "extendedRequestId",
    "requestTime",
    "requestTimeEpoch",
    "messageDirection",
    "stage",
    "connectedAt",
    "identity",
    "requestId",
    "domainName",
    "connectionId",
    "apiId",
    "authorizer",
}


async def test_item_23_request_context_of_every_event(gw: Harness) -> None:
    before_ms = int(time.time() * 1000)
    ws = await gw.connect(user_agent_header="item23-agent/1.0")
    connection_id = await gw.connection_id(ws)
    await ws.close()
    await gw.disconnect_of(connection_id)
    after_ms = int(time.time() * 1000)

    events = {r.route_key: r.event for r in gw.invoker.records if r.connection_id == connection_id}
    assert set(events) == {None, "$connect", "echo", "$disconnect"}  # None: the authorizer
    kinds = {"$connect": "CONNECT", "echo": "MESSAGE", "$disconnect": "DISCONNECT"}
    connected_at = events["$connect"]["requestContext"]["connectedAt"]
    api_id = events["$connect"]["requestContext"]["apiId"]
    for route, kind in kinds.items():
        event = events[route]
        ctx = event["requestContext"]
        extra = {"messageId"} if kind == "MESSAGE" else set()
        if kind == "DISCONNECT":
            extra = {"disconnectStatusCode", "disconnectReason"}
        assert set(ctx) == COMMON_KEYS | extra, route
        assert ctx["routeKey"] == route
        assert ctx["eventType"] == kind
        assert ctx["messageDirection"] == "IN"
        assert ctx["stage"] == "test"
        assert ctx["connectedAt"] == connected_at
        assert before_ms <= ctx["requestTimeEpoch"] <= after_ms
        assert CLF_RE.match(ctx["requestTime"]), ctx["requestTime"]
        assert (
            time.strftime("%d/%b/%Y:%H:%M", time.gmtime(ctx["requestTimeEpoch"] / 1000))
            in (ctx["requestTime"])
        )
        assert ctx["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "item23-agent/1.0"}
        assert ctx["apiId"] == api_id
        assert event["isBase64Encoded"] is False
    assert before_ms <= connected_at <= events["echo"]["requestContext"]["requestTimeEpoch"]


async def test_item_24_connect_headers_query_and_message_body(
    gw: Harness, start_gateway: StartGateway
) -> None:
    ws = await gw.connect("token=allow&room=a&room=b", additional_headers={"X-Room": "lobby"})
    await ws.send('{"action": "echo", "n": 1}')
    await recv(ws)
    (connect,) = gw.routes("$connect")
    assert connect.event["headers"]["X-Room"] == "lobby"
    assert connect.event["headers"]["Host"] == f"127.0.0.1:{gw.server.port}"
    assert connect.event["multiValueHeaders"]["X-Room"] == ["lobby"]
    assert connect.event["queryStringParameters"] == {"token": "allow", "room": "b"}
    assert connect.event["multiValueQueryStringParameters"]["room"] == ["a", "b"]
    (message,) = gw.routes("echo")
    assert message.event["body"] == '{"action": "echo", "n": 1}'
    assert "headers" not in message.event and "multiValueHeaders" not in message.event

    # Without a query string the query keys are absent (not empty, not null).
    spec = echo_spec()
    open_connect = dataclasses.replace(spec.websocket_routes["$connect"], authorizer=None)
    routes = {**spec.websocket_routes, "$connect": open_connect}
    anonymous = await start_gateway(dataclasses.replace(spec, websocket_routes=routes))
    await anonymous.connect("")
    (connect,) = anonymous.routes("$connect")
    assert "queryStringParameters" not in connect.event
    assert "multiValueQueryStringParameters" not in connect.event


async def test_item_25_stage_and_domain_name_are_the_real_ones(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway(echo_spec(stage="qa-7"))
    assert gw.server.ws_url == f"ws://127.0.0.1:{gw.server.port}/qa-7"
    ws = await gw.connect()
    connection_id = await gw.connection_id(ws)
    (record,) = gw.routes("echo", connection_id)
    ctx = record.event["requestContext"]
    assert ctx["stage"] == "qa-7"
    assert ctx["domainName"] == f"127.0.0.1:{gw.server.port}"

    # The stage-less root path is accepted too; another stage's path is not.
    base = f"ws://127.0.0.1:{gw.server.port}"
    root = await gw.connect_url(f"{base}/?token=allow")
    await root.send('{"action": "echo"}')
    assert json.loads(await recv(root))["route"] == "echo"
    with pytest.raises(InvalidStatus) as info:
        await gw.connect_url(f"{base}/dev?token=allow")
    assert info.value.response.status_code == 403
