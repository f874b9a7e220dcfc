"""Gateway spec items 11-17: routing, route responses, errors, frame limits, concurrency."""

from __future__ import annotations

import dataclasses
import json
import threading
from typing import Any

from infra.service import ServiceSpec, WebSocketRoute
from tests.conftest import scaled
from tests.echo_service.handler import GATES
from tests.echo_service.invoker import echo_spec
from tests.integration.gateway.conftest import Harness, StartGateway, closed, recv


def with_routes(spec: ServiceSpec, **changes: WebSocketRoute | None) -> ServiceSpec:
    routes: dict[str, WebSocketRoute] = dict(spec.websocket_routes)
    for key, route in changes.items():
        key = key.replace("DOLLAR_", "$")
        if route is None:
            routes.pop(key, None)
        else:
            routes[key] = route
    return dataclasses.replace(spec, websocket_routes=routes)


async def exchange(ws: Any, body: str) -> dict[str, Any]:
    await ws.send(body)
    reply: dict[str, Any] = json.loads(await recv(ws))
    return reply


async def test_item_11_route_selection_expression(start_gateway: StartGateway) -> None:
    spec = echo_spec()
    extra = {
        "5": WebSocketRoute("5", "echo", route_response=True),
        "true": WebSocketRoute("true", "echo", route_response=True),
    }
    spec = dataclasses.replace(spec, websocket_routes={**spec.websocket_routes, **extra})
    for expression in ("$request.body.action", "${request.body.action}"):
        gw = await start_gateway(dataclasses.replace(spec, route_selection_expression=expression))
        ws = await gw.connect()
        assert (await exchange(ws, '{"action": "echo"}'))["route"] == "echo"
        # Non-string values are stringified: 5 selects route "5", true selects "true".
        assert (await exchange(ws, '{"action": 5}'))["route"] == "5"
        assert (await exchange(ws, '{"action": true}'))["route"] == "true"
        # Not JSON, not an object, or no such path: no match, hence $default.
        for body in ("echo", '["echo"]', '{"other": "echo"}', '"echo"'):
            assert (await exchange(ws, body))["route"] == "$default", body


async def test_item_12_exact_match_else_default_else_forbidden(
    gw: Harness, start_gateway: StartGateway
) -> None:
    ws = await gw.connect()
    assert (await exchange(ws, '{"action": "Echo"}'))["route"] == "$default"
    assert (await exchange(ws, '{"action": "echo "}'))["route"] == "$default"

    strict = await start_gateway(with_routes(echo_spec(), DOLLAR_default=None))
    ws = await strict.connect()
    connection_id = await strict.connection_id(ws)
    reply = await exchange(ws, '{"action": "nope"}')
    assert reply["message"] == "Forbidden"
    assert reply["connectionId"] == connection_id
    assert isinstance(reply["requestId"], str) and reply["requestId"]
    assert set(reply) == {"message", "connectionId", "requestId"}


async def test_item_13_handler_error_frame_and_client_stays(gw: Harness) -> None:
    ws = await gw.connect()
    connection_id = await gw.connection_id(ws)
    reply = await exchange(ws, '{"action": "boom"}')
    assert reply["message"] == "Internal server error"
    assert reply["connectionId"] == connection_id
    (record,) = gw.routes("boom")
    assert reply["requestId"] == record.event["requestContext"]["requestId"]
    # Still connected and routed.
    assert (await exchange(ws, '{"action": "echo"}'))["route"] == "echo"


async def test_item_14_body_returned_only_with_route_response(gw: Harness) -> None:
    ws = await gw.connect()
    await ws.send('{"action": "oneway"}')
    oneway = await gw.record(lambda r: r.route_key == "oneway")
    assert "body" in oneway.invocation.result  # the handler did return a body...
    await ws.send('{"action": "nothing"}')
    nothing = await gw.record(lambda r: r.route_key == "nothing")
    assert nothing.invocation.ok and nothing.invocation.result is None
    # ...yet the first frame the client gets is the echo's: neither sent anything.
    assert (await exchange(ws, '{"action": "echo"}'))["route"] == "echo"


async def test_item_15_binary_frame_closes_1003(gw: Harness) -> None:
    ws = await gw.connect()
    connection_id = await gw.connection_id(ws)
    await ws.send(b"\x00\x01binary")
    code, _ = await closed(ws)
    assert code == 1003
    disconnect = await gw.disconnect_of(connection_id)
    assert disconnect.event["requestContext"]["disconnectStatusCode"] == 1003


async def test_item_16_frame_over_32k_or_message_over_128k_closes_1009(gw: Harness) -> None:
    # 100 KB in four 25 KB frames is fine: both limits hold.
    ws = await gw.connect()
    body = json.dumps({"action": "echo", "pad": "x" * 100_000})
    await ws.send([body[i : i + 25_000] for i in range(0, len(body), 25_000)])
    assert json.loads(await recv(ws))["body"] == body  # routed whole, answered whole
    # One 33 KB frame: over the frame limit although the message is small.
    connection_id = await gw.connection_id(ws)
    await ws.send(json.dumps({"action": "echo", "pad": "x" * 33 * 1024}))
    assert (await closed(ws))[0] == 1009
    disconnect = await gw.disconnect_of(connection_id)
    assert disconnect.event["requestContext"]["disconnectStatusCode"] == 1009

    # 130 KB in 30 KB frames: every frame is fine, the message is not.
    ws = await gw.connect()
    body = json.dumps({"action": "echo", "pad": "x" * 130 * 1024})
    await ws.send([body[i : i + 30_000] for i in range(0, len(body), 30_000)])
    assert (await closed(ws))[0] == 1009


async def test_item_17_concurrent_messages_and_timeouts(start_gateway: StartGateway) -> None:
    spec = echo_spec()
    sleepy = dataclasses.replace(spec.functions["sleepy"], timeout_s=scaled(0.2))
    spec = dataclasses.replace(spec, functions={**spec.functions, "sleepy": sleepy})
    gw = await start_gateway(spec, manual_clock=True)
    ws = await gw.connect()
    gate = GATES.setdefault("item17", threading.Event())
    gate.clear()
    try:
        # One connection's messages run concurrently: the quick one overtakes the held one.
        await ws.send(json.dumps({"action": "slow", "gate": "item17"}))
        assert (await exchange(ws, json.dumps({"action": "echo"})))["route"] == "echo"
        # Past the integration timeout (29 s) the client hears so, while the Lambda runs on.
        gw.advance(29)
        timed_out = json.loads(await recv(ws))
        assert timed_out["message"] == "Endpoint request timed out"
        gate.set()
        await gw.record(lambda r: r.route_key == "slow")
        # Its late answer never reaches the client: the next frame is the next echo.
        assert (await exchange(ws, json.dumps({"action": "echo"})))["route"] == "echo"
    finally:
        gate.set()
    # A Lambda that hits its own timeout is an error like any other.
    reply = await exchange(ws, json.dumps({"action": "timeout", "seconds": scaled(1)}))
    assert reply["message"] == "Internal server error"
