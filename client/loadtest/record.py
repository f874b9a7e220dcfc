"""What one tester process saw, kept cheap per delivery and shipped to the tally in chunks.

Each process (a Locust worker, or the single process of a local run) records its members'
receipts and membership changes and its senders' messages, and every second hands what is
new to the tally (`client.loadtest.tally`) — over Locust's custom messages when the tally
is on the master. Shipping as it goes is what makes a killed worker show up: its members
stay members in the tally's eyes, so every later message of their rooms is counted lost.

Keys: a member (one simulated user, across its reconnects) is `w<worker>.<n>`; its messages'
`clientMsgId`s are `<member>.<seq>`. Times are wall-clock seconds (time.time()): messages
carry the sender's send time, so workers on several machines need synchronised clocks
(NTP), as for any latency measured across machines.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

# Membership events, in the member's order (see tally.Member for what each means).
JOINED = "in"  # `joined` received: a member from here on
LEAVING = "leaving"  # `leave` sent (or the connection closed for good)
LEFT = "out"  # `left` received: not a member from here on
JOINING = "joining"  # `join` sent again


def latency_bucket(ms: float) -> int:
    """Two to three significant digits, as Locust keeps response times."""
    if ms < 100:
        return round(ms)
    if ms < 1000:
        return round(ms / 10) * 10
    return round(ms / 100) * 100


@dataclass
class MemberRecord:
    key: str
    room: int
    events: list[tuple[str, float]] = field(default_factory=list)
    received: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    caught: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))  # history
    seen_live: set[str] = field(default_factory=set)  # messages delivered live
    seen_caught: set[str] = field(default_factory=set)  # messages caught up from history
    duplicates: int = 0
    total: int = 0  # distinct messages it has (live and caught up)


class Recorder:
    """One process's records since the last chunk, plus running totals for its own summary."""

    def __init__(self, worker: str) -> None:
        self.worker = worker
        self.members: dict[str, MemberRecord] = {}
        self._dirty: set[str] = set()
        self._new_events: dict[str, list[tuple[str, float]]] = defaultdict(list)
        self._sent: list[list[Any]] = []  # [sender, seq, room, sent_at, acked_at|None, refused]
        self.counts: Counter[str] = Counter()  # frames, metered messages, invocations, ...
        self.errors: Counter[str] = Counter()
        self.close_codes: Counter[str] = Counter()
        self.connection_s = 0.0
        self.chunks = 0
        # Delivery latency per wall-clock second, for the plot: {second: {bucket_ms: n}}.
        self._latency: dict[int, Counter[int]] = defaultdict(Counter)
        self._latency_max: dict[int, float] = {}

    # -- members --------------------------------------------------------------------

    def member(self, key: str, room: int) -> MemberRecord:
        m = self.members.get(key)
        if m is None:
            m = self.members[key] = MemberRecord(key, room)
        return m

    def event(self, m: MemberRecord, kind: str, at: float) -> None:
        m.events.append((kind, at))
        self._new_events[m.key].append((kind, at))
        self._dirty.add(m.key)

    def received(self, m: MemberRecord, message_id: str, cmid: str, live: bool = True) -> bool:
        """A message reached member `m`; False when it is one it already had.

        Messages are told apart by `clientMsgId` (the service may store a retried send
        under a new id: that is a duplicate too), or by id when they carry none."""
        key = cmid or message_id
        if live:
            if key in m.seen_live:
                m.duplicates += 1
                self._dirty.add(m.key)
                return False
            m.seen_live.add(key)
            if key in m.seen_caught:
                # Caught up from history first, now delivered live: the race the protocol
                # warns about, not a duplicate delivery.
                return False
        elif key in m.seen_live or key in m.seen_caught:
            return False
        else:
            m.seen_caught.add(key)
        m.total += 1
        sender, _, seq = cmid.rpartition(".")
        if not (sender and seq.isdigit()):
            sender, seq = "?", "0"  # not one of ours: the tally counts it as unknown
        if live:
            m.received[sender].append(int(seq))
        else:
            # From history (a catch-up): it counts only where it was owed; history is
            # the room's past, not a delivery.
            m.caught[sender].append(int(seq))
        self._dirty.add(m.key)
        return True

    def latency(self, at: float, ms: float) -> None:
        """A delivery's latency, binned by the second it arrived in."""
        sec = int(at)
        self._latency[sec][latency_bucket(ms)] += 1
        if ms > self._latency_max.get(sec, -1.0):
            self._latency_max[sec] = ms

    # -- senders --------------------------------------------------------------------

    def sent(self, sender: str, seq: int, room: int, at: float) -> list[Any]:
        """A `send` went out; the returned record is completed by `acked` or `refused`."""
        rec: list[Any] = [sender, seq, room, at, None, False]
        return rec

    def settle(self, rec: list[Any]) -> None:
        """The send's outcome is known (acked, refused, or no answer in time): ship it."""
        self._sent.append(rec)

    # -- shipping -------------------------------------------------------------------

    def chunk(self, final: bool = False) -> dict[str, Any]:
        """Everything new since the last chunk, as plain lists and dicts (msgpack-able)."""
        members = {}
        for key in self._dirty:
            m = self.members[key]
            members[key] = {
                "room": m.room,
                "events": self._new_events.pop(key, []),
                "received": dict(m.received),
                "caught": dict(m.caught),
                "duplicates": m.duplicates,
            }
            m.received, m.caught = defaultdict(list), defaultdict(list)
        self._dirty.clear()
        sent, self._sent = self._sent, []
        latency = {sec: dict(c) for sec, c in self._latency.items()}
        latency_max, self._latency, self._latency_max = self._latency_max, defaultdict(Counter), {}
        self.chunks += 1
        return {
            "worker": self.worker,
            "n": self.chunks,
            "final": final,
            "members": members,
            "sent": sent,
            "counts": dict(self.counts),
            "errors": dict(self.errors),
            "close_codes": dict(self.close_codes),
            "connection_s": self.connection_s,
            "latency": latency,
            "latency_max": latency_max,
        }

    def seen_total(self) -> int:
        """Distinct messages its members have: what this process's members saw."""
        return sum(m.total for m in self.members.values())
