"""Delivering one frame to many connections through the Management API.

Bounded concurrency (a shared thread pool the size of the client's connection pool),
GoneException caught before ClientError, one failure never stops the rest, and no new
delivery is started when the invocation is about to time out. The caller removes the
connections reported gone (the recipients, never the sender).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi import ApiGatewayManagementApiClient

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

    def merge(self, other: Deliveries) -> None:
        self.delivered += other.delivered
        self.gone.extend(other.gone)
        self.failed += other.failed
        self.elapsed_ms += other.elapsed_ms
        self.handed_off += other.handed_off


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
        client: ApiGatewayManagementApiClient,
        concurrency: int,
        remaining_ms: Callable[[], int] | None = None,
    ) -> None:
        self._client = client
        self._concurrency = concurrency
        self._remaining_ms = remaining_ms

    def deliver(self, connection_ids: Collection[str], payload: str) -> Deliveries:
        result = Deliveries()
        if not connection_ids:
            return result
        started = time.perf_counter()
        data = payload.encode()
        lock = threading.Lock()

        def one(conn_id: str) -> None:
            if self._remaining_ms is not None and self._remaining_ms() < DEADLINE_MARGIN_MS:
                outcome = "failed"
            else:
                outcome = self._post(conn_id, data)
            with lock:
                if outcome == "delivered":
                    result.delivered += 1
                elif outcome == "gone":
                    result.gone.append(conn_id)
                else:
                    result.failed += 1

        if len(connection_ids) == 1:
            one(next(iter(connection_ids)))  # no thread hop for the common single delivery
        else:
            pool = thread_pool(self._concurrency)
            for future in [pool.submit(one, c) for c in connection_ids]:
                future.result()
        result.elapsed_ms = (time.perf_counter() - started) * 1000
        return result

    def _post(self, conn_id: str, data: bytes) -> str:
        try:
            self._client.post_to_connection(ConnectionId=conn_id, Data=data)
            return "delivered"
        except self._client.exceptions.GoneException:
            return "gone"
        except (ClientError, BotoCoreError):
            # Throttling was already retried by the client; anything else is this
            # recipient's problem, not the other recipients'.
            return "failed"
