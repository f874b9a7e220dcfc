"""The limits on the gateway's TCP connections, as a sans-I/O state machine.

A cap on open connections (HTTP and WebSocket alike), and the HTTP time rules:

- header timeout: a request's head (request line and headers) must arrive whole within
  `header_timeout_s` of its first byte, and a new connection's first head within that
  time of the connection (slowloris: a head sent a byte at a time);
- keep-alive idle timeout: a connection between requests, or a request body that stops
  arriving, is closed after `keepalive_timeout_s` without a byte.

A connection whose request is being answered, or which became a WebSocket, has no HTTP
deadline (the integration timeout and the WebSocket rules of `core` apply). At the cap a
new connection takes the place of the oldest one that is idle or still sending its head;
when there is none it is refused. Time is the injected clock, as in `core`: the I/O side
asks `next_deadline()` and calls `tick()`; tests turn the clock by hand.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K")


class Phase(enum.Enum):
    NEW = "new"  # connected, nothing sent yet
    IDLE = "idle"  # keep-alive: waiting for the next request's first byte
    HEAD = "head"  # a request's head is arriving
    BODY = "body"  # a request's body is arriving
    BUSY = "busy"  # the request is being answered
    WEBSOCKET = "websocket"  # upgraded: the WebSocket rules apply


_TIMED = (Phase.NEW, Phase.IDLE, Phase.HEAD, Phase.BODY)
# Who makes room at the cap, first choice first.
_EVICTABLE = (Phase.IDLE, Phase.NEW, Phase.HEAD)


@dataclass(frozen=True)
class ConnectionLimits:
    max_connections: int = 10_000
    header_timeout_s: float = 10.0
    keepalive_timeout_s: float = 60.0


@dataclass(frozen=True)
class Admission(Generic[K]):
    admitted: bool
    evicted: K | None = None  # closed to make room for the new one


class ConnectionTable(Generic[K]):
    """Every open connection's phase and deadline, keyed by whatever the I/O side uses."""

    def __init__(
        self, limits: ConnectionLimits | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.limits = limits or ConnectionLimits()
        self.clock = clock
        self._phase: dict[K, Phase] = {}
        self._deadline: dict[K, float] = {}  # of connections in a timed phase
        # (deadline, seq, key) of timed connections; an entry whose deadline is no longer
        # the connection's is skipped (or pushed again later) when it reaches the top.
        self._heap: list[tuple[float, int, K]] = []
        self._seq = itertools.count()
        # Per evictable phase, its connections in the order they entered it (oldest first).
        self._evictable: dict[Phase, dict[K, None]] = {p: {} for p in _EVICTABLE}

    def __len__(self) -> int:
        return len(self._phase)

    def phase_of(self, key: K) -> Phase | None:
        return self._phase.get(key)

    def count(self, phase: Phase) -> int:
        """How many connections are in `phase`."""
        return sum(1 for p in self._phase.values() if p is phase)

    def open(self, key: K) -> Admission[K]:
        """A connection was accepted: admit it (in phase NEW), making room if needed."""
        evicted = None
        if len(self._phase) >= self.limits.max_connections:
            evicted = next(
                (next(iter(self._evictable[p])) for p in _EVICTABLE if self._evictable[p]), None
            )
            if evicted is None:
                return Admission(False)
            self.close(evicted)
        self.enter(key, Phase.NEW)
        return Admission(True, evicted)

    def enter(self, key: K, phase: Phase) -> None:
        """The connection moved to `phase`: its deadline starts now, except for the head
        of a new connection's first request, which was due a header timeout after the
        connection opened."""
        old = self._phase.get(key)
        if old in self._evictable:
            self._evictable[old].pop(key, None)
        self._phase[key] = phase
        if phase in self._evictable:
            self._evictable[phase][key] = None
        if phase not in _TIMED:
            self._deadline.pop(key, None)
        elif not (old is Phase.NEW and phase is Phase.HEAD and key in self._deadline):
            self._set_deadline(key, self.clock() + self._timeout(phase))

    def progress(self, key: K) -> None:
        """Bytes of a request body arrived: its idle deadline moves on (a later deadline
        needs no new heap entry: the old one finds it when it reaches the top)."""
        if self._phase.get(key) is Phase.BODY:
            self._deadline[key] = self.clock() + self.limits.keepalive_timeout_s

    def close(self, key: K) -> None:
        phase = self._phase.pop(key, None)
        if phase in self._evictable:
            self._evictable[phase].pop(key, None)
        self._deadline.pop(key, None)

    def tick(self) -> list[tuple[K, Phase]]:
        """The connections whose deadline has come, with the phase they were in; they are
        forgotten (the I/O side closes them)."""
        now = self.clock()
        expired: list[tuple[K, Phase]] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            at, _, key = heapq.heappop(heap)
            deadline = self._deadline.get(key)
            if deadline is None or deadline < at:
                continue  # left its timed phase, or got a sooner deadline pushed since
            if deadline > at:
                heapq.heappush(heap, (deadline, next(self._seq), key))  # moved on
                continue
            phase = self._phase[key]
            self.close(key)
            expired.append((key, phase))
        return expired

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap:
            at, _, key = heap[0]
            deadline = self._deadline.get(key)
            if deadline == at:
                return at
            heapq.heappop(heap)
            if deadline is not None and deadline > at:
                heapq.heappush(heap, (deadline, next(self._seq), key))
        return None

    def _set_deadline(self, key: K, deadline: float) -> None:
        self._deadline[key] = deadline
        heapq.heappush(self._heap, (deadline, next(self._seq), key))

    def _timeout(self, phase: Phase) -> float:
        if phase in (Phase.NEW, Phase.HEAD):
            return self.limits.header_timeout_s
        return self.limits.keepalive_timeout_s
