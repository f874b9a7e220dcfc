"""Gateway spec items 7-10: the Lambda REQUEST authorizer on $connect."""

from __future__ import annotations

import json

import pytest
from websockets.exceptions import InvalidStatus

from tests.integration.gateway.conftest import Harness, recv

ALICE = {"principalId": "alice", "user": "alice", "level": 3, "admin": True}


async def status_of(gw: Harness, query: str) -> int:
    with pytest.raises(InvalidStatus) as info:
        await gw.connect(query)
    return info.value.response.status_code


async def test_item_07_missing_identity_source_is_401_without_invoking(gw: Harness) -> None:
    assert await status_of(gw, "") == 401
    assert await status_of(gw, "token=") == 401  # present but empty counts as missing
    assert await status_of(gw, "other=1") == 401
    assert gw.invoker.started == []


async def test_item_08_unauthorized_401_deny_403_other_errors_500(gw: Harness) -> None:
    assert await status_of(gw, "token=unauthorized") == 401
    assert await status_of(gw, "token=deny") == 403
    assert await status_of(gw, "token=error") == 500
    # A context value that is not a string, number or boolean is an authorizer error too.
    assert await status_of(gw, "token=nested") == 500
    # None of them reached $connect.
    assert gw.routes("$connect") == []


async def test_item_09_authorizer_event_shape(gw: Harness) -> None:
    ws = await gw.connect("token=allow&tag=a&tag=b", additional_headers={"X-Trace": "t1"})
    connection_id = await gw.connection_id(ws)
    (record,) = gw.invoker.find(lambda r: r.is_authorizer)
    event = record.event
    api_id = event["requestContext"]["apiId"]
    assert event["type"] == "REQUEST"
    arn = f"arn:aws:execute-api:eu-west-1:123456789012:{api_id}/test/$connect"
    assert event["methodArn"] == arn
    assert event["headers"]["X-Trace"] == "t1"
    assert event["multiValueHeaders"]["X-Trace"] == ["t1"]
    assert event["queryStringParameters"] == {"token": "allow", "tag": "b"}
    assert event["multiValueQueryStringParameters"] == {"token": ["allow"], "tag": ["a", "b"]}
    assert event["stageVariables"] == {}
    assert event["requestContext"]["connectionId"] == connection_id
    assert event["requestContext"]["routeKey"] == "$connect"


async def test_item_10_principal_and_context_reach_every_later_event(gw: Harness) -> None:
    ws = await gw.connect("token=allow")
    connection_id = await gw.connection_id(ws)
    await ws.send(json.dumps({"action": "nothing"}))
    await ws.send(json.dumps({"action": "echo"}))
    await recv(ws)
    await gw.record(lambda r: r.route_key == "nothing")
    await ws.close()
    await gw.disconnect_of(connection_id)
    later = [r for r in gw.invoker.records if r.connection_id == connection_id]
    routes = {r.route_key for r in later if not r.is_authorizer}
    assert routes == {"$connect", "echo", "nothing", "$disconnect"}
    for record in later:
        if not record.is_authorizer:
            assert record.event["requestContext"]["authorizer"] == ALICE, record.route_key
