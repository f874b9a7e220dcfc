"""Every time rule of the gateway, on a clock the test turns: idle and hard limits,
the close handshake's timeout, integration timeouts (WebSocket, HTTP API, REST API),
and when `next_deadline` says to look again. No sockets, no sleeps, no races."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from infra.apigateway.actions import (
    Abort,
    Accept,
    Close,
    Invoke,
    InvokeKind,
    Reject,
    Respond,
    SendText,
)
from infra.apigateway.core import GatewayCore, Limits
from infra.apigateway.events import iso_time
from infra.apigateway.http_api import HttpApiCore
from infra.apigateway.http_routes import HttpRequest
from infra.service import HttpRoute, Invocation
from tests.unit.gateway.drive import (
    START,
    Clock,
    accept,
    handshake,
    make_spec,
    ok,
    only,
    open_connection,
)

GOING_AWAY = (1001, "Going away")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def core(clock: Clock) -> GatewayCore:
    limits = Limits(idle_timeout_s=60, hard_timeout_s=600, close_timeout_s=3)
    return GatewayCore(make_spec(), limits=limits, clock=clock)


def chat(core: GatewayCore, connection_id: str) -> None:
    """One message on a one-way route, answered at once."""
    core.invoked(only(core.text_frame(connection_id, b'{"action": "quiet"}'), Invoke), ok())


def test_nothing_to_wait_for_without_connections(core: GatewayCore) -> None:
    assert core.next_deadline() is None
    assert core.tick() == []


def test_idle_timeout_closes_at_exactly_the_idle_limit(core: GatewayCore, clock: Clock) -> None:
    connection_id = open_connection(core)
    assert core.next_deadline() == START + 60
    clock.now = START + 59.999
    assert core.tick() == []
    clock.now = START + 60
    assert core.tick() == [Close(connection_id, *GOING_AWAY)]


def test_every_kind_of_traffic_moves_the_idle_deadline(core: GatewayCore, clock: Clock) -> None:
    connection_id = open_connection(core)
    clock.now = START + 50
    chat(core, connection_id)  # inbound
    assert core.next_deadline() == START + 110
    clock.now = START + 100
    core.management("POST", f"/dev/@connections/{connection_id}", b"hi")  # outbound (item 19)
    assert core.next_deadline() == START + 160
    clock.now = START + 150
    send = only(core.text_frame(connection_id, b'{"action": "send"}'), Invoke)
    clock.now = START + 170
    core.invoked(send, ok({"body": "answer"}))  # a route response is outbound too
    assert core.next_deadline() == START + 230
    clock.now = START + 229.9
    assert core.tick() == []
    get = core.management("GET", f"/dev/@connections/{connection_id}", b"")
    assert get is not None
    info = json.loads(get[0].body)
    assert (info["connectedAt"], info["lastActiveAt"]) == (iso_time(START), iso_time(START + 170))
    clock.now = START + 230
    assert core.tick() == [Close(connection_id, *GOING_AWAY)]


def test_hard_limit_counts_from_the_handshake_whatever_the_traffic(
    core: GatewayCore, clock: Clock
) -> None:
    connection_id, connect = accept(core)
    clock.now = START + 5  # $connect took five seconds
    only(core.invoked(connect, ok({"statusCode": 200})), Accept)
    for second in range(10, 600, 30):
        clock.now = START + second
        chat(core, connection_id)
        assert core.tick() == []
    assert core.next_deadline() == START + 600
    clock.now = START + 600
    assert core.tick() == [Close(connection_id, *GOING_AWAY)]


def test_the_quiet_connection_goes_first_the_busy_one_at_the_hard_limit(
    core: GatewayCore, clock: Clock
) -> None:
    """Gateway spec item 18 as the socket test sees it, in order."""
    busy, quiet = open_connection(core), open_connection(core)
    closes: list[tuple[float, Close]] = []
    while clock.now < START + 1000 and len(closes) < 2:
        clock.now += 1
        chat(core, busy)
        closes += [(clock.now - START, a) for a in core.tick() if isinstance(a, Close)]
    assert closes == [(60, Close(quiet, *GOING_AWAY)), (600, Close(busy, *GOING_AWAY))]


def test_a_client_that_never_answers_the_close_frame_is_dropped(
    core: GatewayCore, clock: Clock
) -> None:
    silent, polite = open_connection(core), open_connection(core)
    clock.now = START + 60
    assert core.tick() == [Close(silent, *GOING_AWAY), Close(polite, *GOING_AWAY)]
    clock.now = START + 61
    disconnect = only(core.closed(polite, 1001, "Going away"), Invoke)  # answered in time
    core.invoked(disconnect, ok())
    assert core.next_deadline() == START + 63
    clock.now = START + 63
    assert core.tick() == [Abort(silent)]
    # The dropped one reports the gateway's code on $disconnect.
    dropped = only(core.closed(silent, 1006, ""), Invoke)
    assert dropped.event["requestContext"]["disconnectStatusCode"] == 1001
    assert disconnect.event["requestContext"]["disconnectStatusCode"] == 1001


def test_connect_past_the_integration_timeout_is_504_and_its_late_answer_ignored(
    core: GatewayCore, clock: Clock
) -> None:
    connection_id, connect = accept(core)
    assert core.next_deadline() == START + 29
    clock.now = START + 28.9
    assert core.tick() == []
    clock.now = START + 29
    refused = only(core.tick(), Reject)
    assert (refused.status, json.loads(refused.body)) == (
        504,
        {"message": "Endpoint request timed out"},
    )
    assert core.invoked(connect, ok({"statusCode": 200})) == []
    assert core.state_of(connection_id) is None


def test_authorizer_past_the_integration_timeout_is_504(core: GatewayCore, clock: Clock) -> None:
    _, actions = core.handshake(handshake())
    only(actions, Invoke)
    clock.now = START + 29
    assert only(core.tick(), Reject).status == 504


def test_message_past_the_integration_timeout_gets_one_error_frame(
    core: GatewayCore, clock: Clock
) -> None:
    connection_id = open_connection(core)
    send = only(core.text_frame(connection_id, b'{"action": "send"}'), Invoke)
    clock.now = START + 29
    frame = json.loads(only(core.tick(), SendText).text)
    assert frame == {
        "message": "Endpoint request timed out",
        "connectionId": connection_id,
        "requestId": send.ref,
    }
    assert core.invoked(send, ok({"body": "too late"})) == []  # no second answer
    assert core.state_of(connection_id) is not None  # still connected


def test_a_disconnect_past_the_integration_timeout_forgets_the_connection(
    core: GatewayCore, clock: Clock
) -> None:
    connection_id = open_connection(core)
    disconnect = only(core.closed(connection_id, 1000, ""), Invoke)
    assert disconnect.kind is InvokeKind.DISCONNECT
    clock.now = START + 29
    assert core.tick() == []
    assert core.state_of(connection_id) is None


def _http(clock: Clock, route: HttpRoute) -> HttpApiCore:
    spec = replace(make_spec(), http_routes=(route,))
    return HttpApiCore(spec, GatewayCore(spec, clock=clock).api, clock=clock)


@pytest.mark.parametrize(
    ("route", "path", "seconds", "status", "message"),
    [
        (HttpRoute("GET", "/ping", "msg"), "/ping", 30, 503, "Service Unavailable"),
        (
            HttpRoute("GET", "/ping", "msg", api="rest", payload_version="1.0"),
            "/dev/ping",
            29,
            504,
            "Endpoint request timed out",
        ),
    ],
)
def test_http_and_rest_integration_timeouts(
    clock: Clock, route: HttpRoute, path: str, seconds: float, status: int, message: str
) -> None:
    api = _http(clock, route)
    started = api.request(HttpRequest("GET", path, "", [], b"", "127.0.0.1", "h:1"))
    assert started is not None
    ref, actions = started
    call = only(actions, Invoke)
    assert api.next_deadline() == START + seconds
    clock.now = START + seconds - 0.001
    assert api.tick() == []
    clock.now = START + seconds
    answer = only(api.tick(), Respond)
    assert answer.ref == ref
    assert (answer.response.status, json.loads(answer.response.body)) == (
        status,
        {"message": message},
    )
    assert api.invoked(call, Invocation(ok=True, result={"statusCode": 200})) == []
    assert api.next_deadline() is None
