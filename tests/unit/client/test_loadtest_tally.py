"""Delivery accounting: lost, duplicated and refused messages are told apart."""

from __future__ import annotations

import pytest

from client.loadtest.tally import Member, Tally


def room_of(tally: Tally, room: int, size: int) -> list[Member]:
    members = [Member(room) for _ in range(size)]
    for m in members:
        tally.joined(m)
    return members


def test_every_member_receiving_once_is_complete() -> None:
    tally = Tally(rooms=1)
    members = room_of(tally, 0, 3)
    tally.sent("0.1", 0, at=10.0)
    for m in members:
        tally.received(m, "id1", "0.1", at=10.05)
    assert (tally.expected(), tally.delivered, tally.lost(), tally.duplicates) == (3, 3, 0, 0)
    assert tally.all_in.is_set()
    assert list(tally.latency_ms) == pytest.approx([50.0] * 3)


def test_a_member_missing_a_message_counts_as_lost() -> None:
    tally = Tally(rooms=2)
    a = room_of(tally, 0, 2)
    room_of(tally, 1, 2)
    tally.sent("0.1", 0, at=0.0)
    tally.sent("1.1", 1, at=0.0)  # nobody in room 1 gets it
    tally.received(a[0], "m1", "0.1", at=0.1)
    assert tally.expected() == 4
    assert tally.lost() == 1 + 2
    assert not tally.all_in.is_set()


def test_a_second_copy_on_the_same_connection_is_a_duplicate() -> None:
    tally = Tally(rooms=1)
    (m,) = room_of(tally, 0, 1)
    tally.sent("0.1", 0, at=0.0)
    tally.received(m, "m1", "0.1", at=0.1)
    tally.received(m, "m1", "0.1", at=0.2)
    assert (tally.delivered, tally.duplicates, tally.lost()) == (1, 1, 0)


def test_refused_sends_are_errors_not_losses() -> None:
    tally = Tally(rooms=1)
    members = room_of(tally, 0, 2)
    tally.sent("0.1", 0, at=0.0)
    tally.sent("0.2", 0, at=0.0)
    tally.refused(members[0], "rate_limited")
    for m in members:
        tally.received(m, "m1", "0.1", at=0.1)
    assert tally.errors == {"rate_limited": 1}
    assert (tally.expected(), tally.delivered, tally.lost()) == (2, 2, 0)
    assert tally.all_in.is_set()


def test_a_message_in_the_wrong_room_is_misrouted() -> None:
    tally = Tally(rooms=2)
    (a,) = room_of(tally, 0, 1)
    (b,) = room_of(tally, 1, 1)
    tally.sent("0.1", 0, at=0.0)
    tally.received(b, "m1", "0.1", at=0.1)
    tally.received(a, "m1", "0.1", at=0.1)
    assert (tally.misrouted, tally.delivered, tally.lost()) == (1, 1, 0)
