"""The gateway's connection rules on a clock the test turns: the header timeout
(slowloris), the keep-alive idle timeout, a stalled body, and the connection cap.
No sockets: `tests/integration/gateway/test_robustness.py` checks what clients see."""

from __future__ import annotations

import pytest

from infra.apigateway.connections import ConnectionLimits, ConnectionTable, Phase
from tests.unit.gateway.drive import START, Clock

HEADER_S, IDLE_S = 10.0, 60.0


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def table(clock: Clock) -> ConnectionTable[str]:
    limits = ConnectionLimits(
        max_connections=3, header_timeout_s=HEADER_S, keepalive_timeout_s=IDLE_S
    )
    return ConnectionTable(limits, clock=clock)


def test_a_new_connection_must_send_its_head_within_the_header_timeout(
    table: ConnectionTable[str], clock: Clock
) -> None:
    table.open("a")
    assert table.next_deadline() == START + HEADER_S
    clock.now = START + 4
    table.enter("a", Phase.HEAD)  # a first byte does not buy more time...
    clock.now = START + 9.999
    table.progress("a")  # ...and neither do more bytes of the head
    assert table.tick() == []
    clock.now = START + HEADER_S
    assert table.tick() == [("a", Phase.HEAD)]
    assert len(table) == 0 and table.next_deadline() is None


def test_a_connection_that_sends_nothing_expires_as_new(
    table: ConnectionTable[str], clock: Clock
) -> None:
    table.open("a")
    clock.now = START + HEADER_S
    assert table.tick() == [("a", Phase.NEW)]  # closed without an answer


def test_the_next_head_on_a_kept_alive_connection_gets_its_own_header_timeout(
    table: ConnectionTable[str], clock: Clock
) -> None:
    table.open("a")
    table.enter("a", Phase.HEAD)
    table.enter("a", Phase.BUSY)
    clock.now = START + 100  # answering takes as long as it takes: no HTTP deadline
    assert table.next_deadline() is None and table.tick() == []
    table.enter("a", Phase.IDLE)
    assert table.next_deadline() == START + 100 + IDLE_S
    clock.now = START + 150
    table.enter("a", Phase.HEAD)
    assert table.next_deadline() == START + 150 + HEADER_S
    clock.now = START + 160
    assert table.tick() == [("a", Phase.HEAD)]


def test_an_idle_kept_alive_connection_closes_after_the_keepalive_timeout(
    table: ConnectionTable[str], clock: Clock
) -> None:
    table.open("a")
    table.enter("a", Phase.IDLE)
    clock.now = START + IDLE_S - 0.001
    assert table.tick() == []
    clock.now = START + IDLE_S
    assert table.tick() == [("a", Phase.IDLE)]


def test_a_body_that_keeps_coming_is_not_cut_but_one_that_stalls_is(
    table: ConnectionTable[str], clock: Clock
) -> None:
    table.open("a")
    table.enter("a", Phase.BODY)
    for second in range(1, 200):  # a slow upload, one chunk a second: fine
        clock.now = START + second
        table.progress("a")
        assert table.tick() == []
    assert table.next_deadline() == START + 199 + IDLE_S
    clock.now = START + 199 + IDLE_S
    assert table.tick() == [("a", Phase.BODY)]


def test_websockets_and_requests_being_answered_have_no_http_deadline(
    table: ConnectionTable[str], clock: Clock
) -> None:
    table.open("ws")
    table.enter("ws", Phase.WEBSOCKET)
    table.open("busy")
    table.enter("busy", Phase.BUSY)
    clock.now = START + 10 * IDLE_S
    assert table.tick() == [] and table.next_deadline() is None
    assert len(table) == 2


def test_at_the_cap_a_new_connection_takes_the_place_of_the_oldest_idle_one(
    table: ConnectionTable[str], clock: Clock
) -> None:
    for key in ("a", "b", "c"):
        table.open(key)
    table.enter("a", Phase.HEAD)  # sending its head: evicted only when no one is idler
    table.enter("b", Phase.BUSY)
    admission = table.open("d")
    assert (admission.admitted, admission.evicted) == (True, "c")  # the silent one
    table.enter("d", Phase.IDLE)
    assert table.open("e").evicted == "d"  # idle between requests goes first
    assert table.open("f").evicted == "e"  # then new ones (e was NEW)
    table.enter("f", Phase.WEBSOCKET)
    assert table.open("g").evicted == "a"  # then the oldest still sending a head
    table.enter("g", Phase.BODY)
    refused = table.open("h")  # a body, a request being answered, a WebSocket: none goes
    assert (refused.admitted, refused.evicted) == (False, None)
    assert sorted(k for k in "abcdefgh" if table.phase_of(k)) == ["b", "f", "g"]
    table.close("b")
    assert table.open("h").admitted


def test_the_evicted_connection_leaves_no_deadline_behind(
    table: ConnectionTable[str], clock: Clock
) -> None:
    for key in ("a", "b", "c", "d"):
        table.open(key)  # d evicts a
    clock.now = START + HEADER_S
    assert sorted(table.tick()) == [("b", Phase.NEW), ("c", Phase.NEW), ("d", Phase.NEW)]
