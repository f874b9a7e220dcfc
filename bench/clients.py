"""Many WebSocket clients in one asyncio process, cheap per frame.

Each `Member` counts the message frames it receives by `clientMsgId` and wakes whoever
waits for a given number of them, so a bench can time "one send until every member
has it" without a timer per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from client import protocol

now = time.perf_counter


def raise_fd_limit() -> int:
    """Soft limit of open files up to the hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@dataclass
class Arrivals:
    """Who has received which clientMsgId, and when the last one came in."""

    counts: dict[str, int] = field(default_factory=dict)
    first_at: dict[str, float] = field(default_factory=dict)
    last_at: dict[str, float] = field(default_factory=dict)
    waiting: dict[str, tuple[int, asyncio.Event]] = field(default_factory=dict)

    def arrived(self, cmid: str) -> None:
        n = self.counts.get(cmid, 0) + 1
        self.counts[cmid] = n
        t = self.last_at[cmid] = now()
        if n == 1:
            self.first_at[cmid] = t
        wanted = self.waiting.get(cmid)
        if wanted is not None and n >= wanted[0]:
            wanted[1].set()

    async def wait_for(self, cmid: str, n: int, timeout_s: float) -> bool:
        event = asyncio.Event()
        self.waiting[cmid] = (n, event)
        if self.counts.get(cmid, 0) >= n:
            return True
        try:
            await asyncio.wait_for(event.wait(), timeout_s)
            return True
        except TimeoutError:
            return False
        finally:
            self.waiting.pop(cmid, None)


@dataclass
class Member:
    ws: ClientConnection
    arrivals: Arrivals
    frames: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    reader: asyncio.Task[None] | None = None
    conn_id: str | None = None

    def start(self) -> None:
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        loads, arrived = json.loads, self.arrivals.arrived
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.ws:
                f = loads(raw)
                if f.get("type") == "message" and f.get("clientMsgId"):
                    arrived(f["clientMsgId"])
                else:
                    self.frames.put_nowait(f)

    async def request(self, frame: dict[str, Any], answer: str, timeout_s: float = 30) -> Any:
        """Send `frame`; return the next non-message frame (expected type `answer`)."""
        await self.ws.send(protocol.encode(frame))
        reply = await asyncio.wait_for(self.frames.get(), timeout_s)
        if reply.get("type") != answer:
            raise RuntimeError(f"expected {answer}, got {reply}")
        return reply

    async def close(self) -> None:
        await self.ws.close()
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)


async def open_members(
    url: str,
    tokens: Sequence[str],
    arrivals: Arrivals,
    *,
    max_in_flight: int = 100,
    open_timeout_s: float = 60,
    after_open: Callable[[Member], Any] | None = None,
) -> list[Member]:
    """Open one connection per token (at most `max_in_flight` handshakes at once)."""
    gate = asyncio.Semaphore(max_in_flight)

    async def one(token: str) -> Member:
        async with gate:
            ws = await connect(
                protocol.with_token(url, token),
                compression=None,
                open_timeout=open_timeout_s,
                ping_interval=None,
                close_timeout=5,
                max_size=2**20,
            )
            m = Member(ws, arrivals)
            m.start()
            if after_open is not None:
                await after_open(m)
            return m

    return list(await asyncio.gather(*(one(t) for t in tokens)))


async def close_all(members: Sequence[Member]) -> None:
    await asyncio.gather(*(m.close() for m in members), return_exceptions=True)
