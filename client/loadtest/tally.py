"""The exactly-once verdict: every accepted message must reach every member of its room once.

The tally gathers the chunks every tester process ships (`client.loadtest.record`) and, at
the end, counts expected / delivered / lost / duplicated / misrouted deliveries over all of
them: a message sent by a user on one worker is due to the members on every worker.

Members come and go (stages ramp down, users leave and rejoin, reconnect and catch up),
so "due" is decided per message and member from the sender's send time `s` and the time
`a` its own copy came back (the ack: by then the service has read the room's members):

- **due** when the member was in the room throughout: its `joined` had arrived before `s`,
  and it sent no `leave` (nor closed for good) before `a`. Due and missing is **lost**.
  A member that reconnects stays in the room: it must catch up what it missed from
  history, or those messages are lost.
- **misrouted** when it reaches a member of another room, or a member that was surely out:
  its `left` had arrived before `s` and it sent no new `join` before `a`.
- otherwise (a join or leave racing the send) it may or may not arrive; when it does it
  counts as delivered (and expected), when it does not, as nothing.

A send the service refused with an error frame (e.g. `rate_limited`) is due nowhere. A send
never answered in time counts as acked at `s + open timeout`: if the service stored it,
every member is owed it; if it silently dropped it, it is lost for all of them.

A worker that stops reporting (killed, cut off) leaves its members in their rooms: every
later message of those rooms is owed to them and counted lost, so such a run cannot pass.
With a fixed set of members this is the old tester's count exactly: every message
accepted is expected once per member of its room.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from client.loadtest.record import JOINED, JOINING, LEAVING, LEFT

INF = math.inf


@dataclass
class Member:
    key: str
    worker: str
    room: int
    events: list[tuple[str, float]] = field(default_factory=list)
    received: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    caught: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    duplicates: int = 0

    def windows(self) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """(intervals surely in the room, intervals surely out of it)."""
        inside: list[tuple[float, float]] = []
        outside: list[tuple[float, float]] = []
        in_at: float | None = None
        out_at: float | None = -INF  # out of the room until the first join is sent
        for kind, t in sorted(self.events, key=lambda e: e[1]):
            if kind == JOINED and in_at is None:
                in_at = t
            elif kind == LEAVING and in_at is not None:
                inside.append((in_at, t))
                in_at = None
            elif kind == LEFT:
                out_at = t
            elif kind == JOINING and out_at is not None:
                outside.append((out_at, t))
                out_at = None
        if in_at is not None:
            inside.append((in_at, INF))
        if out_at is not None:
            outside.append((out_at, INF))
        return inside, outside


@dataclass
class Message:
    room: int
    sent_at: float
    acked_at: float | None
    refused: bool


@dataclass
class Verdict:
    sent: int = 0
    refused: int = 0
    expected: int = 0
    delivered: int = 0
    lost: int = 0
    duplicates: int = 0
    misrouted: int = 0
    unknown: int = 0  # deliveries of messages no reporting tester sent
    caught_up: int = 0  # deliveries that came from history after a reconnect
    members: int = 0
    lost_in_missing: int = 0  # of `lost`, owed to members of workers that stopped reporting
    seen: dict[str, int] = field(default_factory=dict)  # distinct messages per worker's members

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicates == 0 and self.misrouted == 0 and self.members > 0


class Tally:
    def __init__(self, ack_timeout_s: float) -> None:
        self.ack_timeout_s = ack_timeout_s
        self.members: dict[str, Member] = {}
        self.messages: dict[str, dict[int, Message]] = defaultdict(dict)
        self.counts: dict[str, Counter[str]] = {}  # per worker, running totals
        self.errors: dict[str, Counter[str]] = {}
        self.close_codes: dict[str, Counter[str]] = {}
        self.connection_s: dict[str, float] = {}
        self.finished: set[str] = set()  # workers that sent their final chunk
        self.last_chunk: dict[str, int] = {}
        self.changes = 0  # bumps with every chunk that brought anything
        self.latency: dict[int, Counter[int]] = defaultdict(Counter)  # second -> bucket -> n
        self.latency_max: dict[int, float] = {}

    # -- gathering ------------------------------------------------------------------

    def add(self, chunk: dict[str, Any]) -> None:
        worker = str(chunk["worker"])
        self.last_chunk[worker] = int(chunk["n"])
        for key, m in chunk["members"].items():
            member = self.members.get(key)
            if member is None:
                member = self.members[key] = Member(key, worker, int(m["room"]))
            member.events.extend((str(k), float(t)) for k, t in m["events"])
            for sender, seqs in m["received"].items():
                member.received[sender].extend(seqs)
            for sender, seqs in m.get("caught", {}).items():
                member.caught[sender].extend(seqs)
            member.duplicates = int(m["duplicates"])
        for sender, seq, room, sent_at, acked_at, refused in chunk["sent"]:
            self.messages[sender][int(seq)] = Message(int(room), sent_at, acked_at, refused)
        for sec, buckets in chunk.get("latency", {}).items():
            self.latency[int(sec)].update({int(b): int(n) for b, n in buckets.items()})
        for sec, ms in chunk.get("latency_max", {}).items():
            self.latency_max[int(sec)] = max(ms, self.latency_max.get(int(sec), ms))
        self.counts[worker] = Counter(chunk["counts"])
        self.errors[worker] = Counter(chunk["errors"])
        self.close_codes[worker] = Counter(chunk["close_codes"])
        self.connection_s[worker] = float(chunk["connection_s"])
        if chunk["final"]:
            self.finished.add(worker)
        if chunk["members"] or chunk["sent"]:
            self.changes += 1

    @property
    def workers(self) -> set[str]:
        return set(self.last_chunk)

    def missing(self) -> list[str]:
        """Workers that reported during the run but never sent their final chunk."""
        return sorted(self.workers - self.finished)

    def total(self, name: str) -> int:
        return sum(c.get(name, 0) for c in self.counts.values())

    def all_errors(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for c in self.errors.values():
            out.update(c)
        return out

    def all_close_codes(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for c in self.close_codes.values():
            out.update(c)
        return out

    # -- the verdict ----------------------------------------------------------------

    def _acked(self, m: Message) -> float:
        return m.acked_at if m.acked_at is not None else m.sent_at + self.ack_timeout_s

    def verdict(self, gone: set[str] | None = None) -> Verdict:
        v = Verdict()
        # Per room, the accepted messages ordered by send time, for counting what is due.
        by_room: dict[int, list[tuple[float, float]]] = defaultdict(list)
        for sent in self.messages.values():
            for msg in sent.values():
                v.sent += 1
                if msg.refused:
                    v.refused += 1
                else:
                    by_room[msg.room].append((msg.sent_at, self._acked(msg)))
        room_s: dict[int, list[float]] = {}
        room_a: dict[int, list[float]] = {}
        room_span: dict[int, float] = {}
        for room, msgs in by_room.items():
            msgs.sort()
            room_s[room] = [s for s, _ in msgs]
            room_a[room] = [a for _, a in msgs]
            room_span[room] = max(a - s for s, a in msgs)
        missing = set(self.missing()) if gone is None else gone
        v.members = len(self.members)
        for member in self.members.values():
            inside, outside = member.windows()
            due = 0
            ss, aa = room_s.get(member.room, []), room_a.get(member.room, [])
            span = room_span.get(member.room, 0.0)
            for start, end in inside:
                lo = bisect_left(ss, start)
                if end == INF:
                    due += len(ss) - lo
                    continue
                # Every message sent by `end - span` was acked by `end`; check the rest.
                sure = bisect_left(ss, end - span, lo)
                hi = bisect_left(ss, end, sure)
                due += sure - lo + sum(1 for i in range(sure, hi) if aa[i] <= end)
            got_due = optional = 0
            for sender, seqs in member.received.items():
                sent = self.messages.get(sender, {})
                for seq in seqs:
                    got = sent.get(seq)
                    if got is None or got.refused:
                        v.unknown += 1
                        continue
                    s, a = got.sent_at, self._acked(got)
                    if got.room != member.room or any(lo <= s and a <= hi for lo, hi in outside):
                        v.misrouted += 1
                    elif any(lo <= s and a <= hi for lo, hi in inside):
                        got_due += 1
                    else:
                        optional += 1
            for sender, seqs in member.caught.items():
                sent = self.messages.get(sender, {})
                for seq in seqs:
                    got = sent.get(seq)
                    if got is None or got.refused or got.room != member.room:
                        continue
                    s, a = got.sent_at, self._acked(got)
                    if any(lo <= s and a <= hi for lo, hi in inside):
                        got_due += 1
                        v.caught_up += 1
            lost = max(0, due - got_due)
            v.expected += due + optional
            v.delivered += got_due + optional
            v.lost += lost
            if member.worker in missing:
                v.lost_in_missing += lost
            v.duplicates += member.duplicates
            v.seen[member.worker] = v.seen.get(member.worker, 0) + sum(
                len(x) for x in member.received.values()
            )
        return v

    def outstanding(self, gone: set[str] = frozenset()) -> int:  # type: ignore[assignment]
        """Deliveries still owed to members of workers not in `gone` (what the drain
        waits for: a killed worker's members will never catch up)."""
        v = self.verdict(gone)
        return v.lost - v.lost_in_missing
