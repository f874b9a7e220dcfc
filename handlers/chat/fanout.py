"""Delivering one frame to many connections through the Management API.

Bounded concurrency (the sender keeps that many POSTs in flight), one failure never
stops the rest, and no new delivery (nor retry) is started when the invocation is about
to time out. The caller removes the connections reported gone (the recipients, never
the sender).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from .management_api import GONE, Posted

# Stop starting deliveries when less than this is left of the invocation: one POST can
# take up to connect + read timeout, and the handler still has to answer.
DEADLINE_MARGIN_MS = 1500


@dataclass
class Deliveries:
    delivered: int = 0
    gone: list[str] = field(default_factory=list)
    failed: int = 0  # errors other than gone, and deliveries skipped near the deadline
    elapsed_ms: float = 0.0
    handed_off: int = 0  # recipients whose delivery another invocation took over
    # Why the failed ones failed, by error code (PayloadTooLargeException, NotStarted, ...).
    errors: dict[str, int] = field(default_factory=dict)

    def merge(self, other: Deliveries) -> None:
        self.delivered += other.delivered
        self.gone.extend(other.gone)
        self.failed += other.failed
        self.elapsed_ms += other.elapsed_ms
        self.handed_off += other.handed_off
        for code, n in other.errors.items():
            self.errors[code] = self.errors.get(code, 0) + n


class Sender(Protocol):
    """What FanOut posts through (`management_api.ManagementApi`)."""

    def post_many(
        self,
        connection_ids: Collection[str],
        data: bytes,
        *,
        concurrency: int | None = None,
        time_left: Callable[[], float] | None = None,
    ) -> Sequence[Posted]: ...


_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def thread_pool(size: int) -> ThreadPoolExecutor:
    """A pool of `size` threads, shared by every use of that size in this container."""
    with _pools_lock:
        pool = _pools.get(size)
        if pool is None:
            pool = _pools[size] = ThreadPoolExecutor(max_workers=size, thread_name_prefix="fanout")
        return pool


class FanOut:
    def __init__(
        self,
        sender: Sender,
        concurrency: int,
        remaining_ms: Callable[[], int] | None = None,
    ) -> None:
        self._sender = sender
        self._concurrency = concurrency
        self._remaining_ms = remaining_ms

    def deliver(self, connection_ids: Collection[str], payload: str) -> Deliveries:
        result = Deliveries()
        if not connection_ids:
            return result
        started = time.perf_counter()
        remaining_ms = self._remaining_ms
        time_left = None
        if remaining_ms is not None:

            def time_left() -> float:
                return (remaining_ms() - DEADLINE_MARGIN_MS) / 1000

        posted = self._sender.post_many(
            connection_ids, payload.encode(), concurrency=self._concurrency, time_left=time_left
        )
        for p in posted:
            if p.error is None:
                result.delivered += 1
            elif p.error == GONE:
                result.gone.append(p.connection_id)
            else:
                # Throttling was already retried by the sender; anything else is this
                # recipient's problem, not the other recipients'.
                result.failed += 1
                result.errors[p.error] = result.errors.get(p.error, 0) + 1
        result.elapsed_ms = (time.perf_counter() - started) * 1000
        return result
