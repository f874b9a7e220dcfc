"""Delivery accounting: every accepted message must reach every member of its room once.

Kept cheap per event (a dict and a set lookup) because it runs once per delivery, which
at a few thousand connections is tens of thousands of times a second.

A message is identified by its `clientMsgId` (sender and sequence, chosen by the tester)
to find when and where it was sent, and by the service's message `id` to detect
duplicates per receiving connection. A `send` refused with an error frame (e.g.
`rate_limited`) is not expected anywhere; error frames do not say which send they refuse,
so refusals are counted per room.
"""

from __future__ import annotations

import asyncio
from array import array
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Member:
    """One receiving connection."""

    room: int
    seen: set[str] = field(default_factory=set)  # message ids received


class Tally:
    def __init__(self, rooms: int) -> None:
        self.room_size = [0] * rooms  # members joined in each room
        self.sent_room: dict[str, int] = {}  # clientMsgId -> room
        self.sent_at: dict[str, float] = {}  # clientMsgId -> send time (perf_counter s)
        self.sent_per_room = [0] * rooms
        self.refused_per_room = [0] * rooms
        self.receipts: Counter[str] = Counter()  # clientMsgId -> members that got it
        self.delivered = 0
        self.duplicates = 0
        self.misrouted = 0  # delivered to a connection that is not in the message's room
        self.unknown = 0  # messages the tester never sent (another client in the room?)
        self.errors: Counter[str] = Counter()
        self.latency_ms = array("d")
        self.received_at = array("d")  # perf_counter s of each first delivery, for the plot
        self._expected = 0  # running total of deliveries due (for `all_in`)
        self.all_in = asyncio.Event()

    def joined(self, member: Member) -> None:
        self.room_size[member.room] += 1

    def sent(self, client_msg_id: str, room: int, at: float) -> None:
        self.sent_room[client_msg_id] = room
        self.sent_at[client_msg_id] = at
        self.sent_per_room[room] += 1
        self._expected += self.room_size[room]
        self.all_in.clear()

    def refused(self, member: Member, code: str) -> None:
        """An error frame answering a `send` of this member."""
        self.errors[code] += 1
        self.refused_per_room[member.room] += 1
        self._expected -= self.room_size[member.room]
        self.check()

    def error(self, code: str) -> None:
        self.errors[code] += 1

    def received(self, member: Member, message_id: str, client_msg_id: str, at: float) -> None:
        if message_id in member.seen:
            self.duplicates += 1
            return
        member.seen.add(message_id)
        sent_at = self.sent_at.get(client_msg_id)
        if sent_at is None:
            self.unknown += 1
            return
        if self.sent_room[client_msg_id] != member.room:
            self.misrouted += 1
            return
        self.receipts[client_msg_id] += 1
        self.delivered += 1
        self.latency_ms.append((at - sent_at) * 1000)
        self.received_at.append(at)
        self.check()

    def check(self) -> None:
        """Set `all_in` when every delivery due so far has arrived."""
        if self.delivered >= self._expected:
            self.all_in.set()

    # -- the verdict ----------------------------------------------------------------

    @property
    def sent_total(self) -> int:
        return len(self.sent_at)

    def expected(self) -> int:
        return sum(
            (self.sent_per_room[r] - self.refused_per_room[r]) * self.room_size[r]
            for r in range(len(self.room_size))
        )

    def lost(self) -> int:
        """Deliveries due that never came (a refused send is not due anywhere)."""
        partial = 0
        unseen_per_room = [0] * len(self.room_size)
        for cmid, room in self.sent_room.items():
            got = self.receipts.get(cmid, 0)
            if got:
                partial += max(0, self.room_size[room] - got)
            else:
                unseen_per_room[room] += 1
        unseen = sum(
            max(0, unseen_per_room[r] - self.refused_per_room[r]) * self.room_size[r]
            for r in range(len(self.room_size))
        )
        return partial + unseen
