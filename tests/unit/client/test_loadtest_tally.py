"""The exactly-once verdict over what several tester processes recorded."""

from __future__ import annotations

from client.loadtest.record import JOINED, JOINING, LEAVING, LEFT, Recorder
from client.loadtest.tally import Tally, Verdict

TIMEOUT = 10.0


def ship(tally: Tally, *recorders: Recorder, final: bool = True) -> None:
    for r in recorders:
        tally.add(r.chunk(final=final))


def member(rec: Recorder, key: str, room: int, joined_at: float = 0.0):  # type: ignore[no-untyped-def]
    m = rec.member(key, room)
    rec.event(m, JOINING, joined_at - 0.1)
    rec.event(m, JOINED, joined_at)
    return m


def send(rec: Recorder, sender: str, seq: int, room: int, at: float, ack: float | None) -> None:
    r = rec.sent(sender, seq, room, at)
    r[4] = ack
    rec.settle(r)


def test_fixed_members_owe_every_message_once_per_member_across_workers() -> None:
    # Two workers, one room of four members (two on each): the old tester's count.
    w0, w1 = Recorder("w0"), Recorder("w1")
    ms = [member(w0, "w0.0", 0), member(w0, "w0.1", 0)]
    ms += [member(w1, "w1.0", 0), member(w1, "w1.1", 0)]
    send(w0, "w0.0", 1, 0, 1.0, 1.1)
    send(w1, "w1.0", 1, 0, 2.0, 2.1)
    for i, m in enumerate(ms):
        rec = w0 if i < 2 else w1
        rec.received(m, f"id-a{i}", "w0.0.1")
        rec.received(m, f"id-b{i}", "w1.0.1")
    tally = Tally(TIMEOUT)
    ship(tally, w0, w1)
    v = tally.verdict()
    assert (v.sent, v.expected, v.delivered, v.lost) == (2, 8, 8, 0)
    assert (v.duplicates, v.misrouted) == (0, 0)
    assert v.ok and v.seen == {"w0": 4, "w1": 4}


def test_a_missing_delivery_is_lost_and_a_repeat_is_a_duplicate() -> None:
    w = Recorder("w0")
    a, b = member(w, "w0.0", 0), member(w, "w0.1", 0)
    send(w, "w0.0", 1, 0, 1.0, 1.2)
    assert w.received(a, "id-1", "w0.0.1")
    assert not w.received(a, "id-1", "w0.0.1")  # the same frame again
    tally = Tally(TIMEOUT)
    ship(tally, w)
    v = tally.verdict()
    assert (v.expected, v.delivered, v.lost, v.duplicates) == (2, 1, 1, 1)
    assert not v.ok
    assert b.total == 0


def test_a_delivery_to_another_room_is_misrouted() -> None:
    w = Recorder("w0")
    a, other = member(w, "w0.0", 0), member(w, "w0.1", 1)
    send(w, "w0.0", 1, 0, 1.0, 1.2)
    w.received(a, "id-1", "w0.0.1")
    w.received(other, "id-1", "w0.0.1")
    tally = Tally(TIMEOUT)
    ship(tally, w)
    v = tally.verdict()
    assert (v.expected, v.delivered, v.lost, v.misrouted) == (1, 1, 0, 1)
    assert not v.ok


def test_a_refused_send_is_due_nowhere() -> None:
    w = Recorder("w0")
    member(w, "w0.0", 0)
    r = w.sent("w0.0", 1, 0, 1.0)
    r[5] = True  # answered with rate_limited
    w.settle(r)
    tally = Tally(TIMEOUT)
    ship(tally, w)
    v = tally.verdict()
    assert (v.sent, v.refused, v.expected, v.lost) == (1, 1, 0, 0)


def test_members_joining_late_or_leaving_early_are_owed_only_what_was_sent_meanwhile() -> None:
    w = Recorder("w0")
    early = member(w, "w0.0", 0, joined_at=0.0)
    late = member(w, "w0.1", 0, joined_at=5.0)
    send(w, "w0.0", 1, 0, 1.0, 1.1)  # before `late` joined: not owed to it
    send(w, "w0.0", 2, 0, 6.0, 6.1)
    w.event(early, LEAVING, 7.0)
    w.event(early, LEFT, 7.2)
    send(w, "w0.1", 1, 0, 8.0, 8.1)  # after `early` left: not owed to it
    for cmid in ("w0.0.1", "w0.0.2"):
        w.received(early, "id-" + cmid, cmid)
    for cmid in ("w0.0.2", "w0.1.1"):
        w.received(late, "id-" + cmid, cmid)
    tally = Tally(TIMEOUT)
    ship(tally, w)
    v = tally.verdict()
    assert (v.expected, v.delivered, v.lost, v.misrouted) == (4, 4, 0, 0)


def test_a_delivery_to_a_member_that_had_left_is_misrouted() -> None:
    w = Recorder("w0")
    a, b = member(w, "w0.0", 0), member(w, "w0.1", 0)
    w.event(b, LEAVING, 2.0)
    w.event(b, LEFT, 2.1)
    send(w, "w0.0", 1, 0, 3.0, 3.1)
    w.received(a, "id-1", "w0.0.1")
    w.received(b, "id-1", "w0.0.1")
    tally = Tally(TIMEOUT)
    ship(tally, w)
    assert tally.verdict().misrouted == 1


def test_a_send_racing_a_join_may_arrive_or_not() -> None:
    w = Recorder("w0")
    member(w, "w0.0", 0, joined_at=0.0)
    racer = w.member("w0.1", 0)
    w.event(racer, JOINING, 1.0)
    send(w, "w0.0", 1, 0, 1.05, 1.2)  # sent while the join was on its way
    w.event(racer, JOINED, 1.3)
    w.received(w.members["w0.0"], "id-1", "w0.0.1")
    tally = Tally(TIMEOUT)
    ship(tally, w, final=False)
    v = tally.verdict()
    assert (v.expected, v.lost, v.misrouted) == (1, 0, 0)  # not owed to the racer
    w.received(racer, "id-1", "w0.0.1")
    ship(tally, w)
    v = tally.verdict()
    assert (v.expected, v.delivered, v.lost, v.misrouted) == (2, 2, 0, 0)  # and fine if it came


def test_what_a_reconnecting_member_missed_counts_only_once_caught_up() -> None:
    w = Recorder("w0")
    a, b = member(w, "w0.0", 0), member(w, "w0.1", 0)
    send(w, "w0.0", 1, 0, 1.0, 1.1)
    send(w, "w0.0", 2, 0, 2.0, 2.1)
    w.received(a, "id-1", "w0.0.1")
    w.received(a, "id-2", "w0.0.2")
    w.received(b, "id-1", "w0.0.1")  # b was away for the second: it is owed all the same
    tally = Tally(TIMEOUT)
    ship(tally, w, final=False)
    assert tally.verdict().lost == 1
    assert w.received(b, "id-2", "w0.0.2", live=False)  # from history, after reconnecting
    assert not w.received(b, "id-2", "w0.0.2")  # then live too: not a duplicate
    ship(tally, w)
    v = tally.verdict()
    assert (v.expected, v.delivered, v.lost, v.caught_up, v.duplicates) == (4, 4, 0, 1, 0)


def test_history_of_messages_from_before_joining_is_neither_delivery_nor_misroute() -> None:
    w = Recorder("w0")
    a = member(w, "w0.0", 0, joined_at=0.0)
    send(w, "w0.0", 1, 0, 1.0, 1.1)
    w.received(a, "id-1", "w0.0.1")
    late = member(w, "w0.1", 0, joined_at=5.0)
    w.received(late, "id-1", "w0.0.1", live=False)
    tally = Tally(TIMEOUT)
    ship(tally, w)
    v = tally.verdict()
    assert (v.expected, v.delivered, v.misrouted, v.caught_up) == (1, 1, 0, 0)


def test_a_worker_that_stops_reporting_leaves_its_members_owed_and_the_run_failing() -> None:
    w0, w1 = Recorder("w0"), Recorder("w1")
    a = member(w0, "w0.0", 0)
    member(w1, "w1.0", 0)
    tally = Tally(TIMEOUT)
    ship(tally, w1, final=False)  # w1 reported its member, then was killed
    for seq in range(1, 4):
        send(w0, "w0.0", seq, 0, float(seq), seq + 0.1)
        w0.received(a, f"id-{seq}", f"w0.0.{seq}")
    ship(tally, w0)
    assert tally.missing() == ["w1"]
    v = tally.verdict()
    assert (v.expected, v.delivered, v.lost, v.lost_in_missing) == (6, 3, 3, 3)
    assert not v.ok


def test_an_unanswered_send_is_owed_to_every_member_there_throughout_the_timeout() -> None:
    w = Recorder("w0")
    a, b = member(w, "w0.0", 0), member(w, "w0.1", 0)
    send(w, "w0.0", 1, 0, 1.0, None)  # no ack in time: stored or silently dropped?
    w.received(b, "id-1", "w0.0.1")
    tally = Tally(TIMEOUT)
    ship(tally, w)
    v = tally.verdict()
    assert (v.expected, v.delivered, v.lost) == (2, 1, 1)
    assert isinstance(v, Verdict) and a.total == 0


def test_chunks_carry_only_what_is_new() -> None:
    w = Recorder("w0")
    a = member(w, "w0.0", 0)
    send(w, "w0.0", 1, 0, 1.0, 1.1)
    w.received(a, "id-1", "w0.0.1")
    first = w.chunk()
    second = w.chunk()
    assert first["members"]["w0.0"]["received"] == {"w0.0": [1]} and len(first["sent"]) == 1
    assert second["members"] == {} and second["sent"] == []
