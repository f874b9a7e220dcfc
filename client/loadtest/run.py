"""The load run: ramp connections up, join rooms, send at a steady rate, drain, close.

One asyncio process drives every connection: per delivery it does one `json.loads`, a
set lookup and a couple of appends (see `tally`), and sending is paced by a single loop
rather than a timer per connection, so thousands of connections stay cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import secrets
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from client import protocol
from client.loadtest.config import LoadConfig
from client.loadtest.cost import metered_messages
from client.loadtest.tally import Member, Tally
from client.tokens import mint_token

now = time.perf_counter


@dataclass
class Conn:
    index: int
    room_name: str
    member: Member
    token: str
    ws: ClientConnection | None = None
    opened_at: float = 0.0
    closed_at: float | None = None
    joined: asyncio.Event = field(default_factory=asyncio.Event)
    join_ok: bool = False
    given_up: bool = False  # closed by the tester: its join failed
    seq: int = 0


@dataclass
class Timeline:
    start: float = 0.0  # first connection attempt
    connected: float = 0.0  # every connection open and joined (or failed)
    send_start: float = 0.0
    send_end: float = 0.0
    drained: float = 0.0  # every delivery in, or the drain timeout
    end: float = 0.0  # every connection closed
    cpu_send_start: float = 0.0  # process CPU seconds when sending began
    cpu_drained: float = 0.0  # ... and when the last delivery was in


def raise_fd_limit() -> None:
    """Thousands of sockets need more than the usual soft limit of 1024 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class LoadRun:
    def __init__(self, cfg: LoadConfig) -> None:
        self.cfg = cfg
        self.run_id = secrets.token_hex(3)
        self.tally = Tally(cfg.rooms)
        self.rooms = [f"lt-{self.run_id}-{r}" for r in range(cfg.rooms)]
        self.conns: list[Conn] = []
        self.connect_ms: list[float] = []
        self.failed = 0
        self.close_codes: Counter[int] = Counter()  # closes the service started
        self.metered = 0  # billable messages, both directions
        self.metered_in_send_phase = 0
        self.metered_before_send = 0
        self.t = Timeline()
        self.closing = False
        self.readers: list[asyncio.Task[None]] = []
        # The send frame, pre-formatted: room, clientMsgId and padding are plain ASCII.
        pad = "x" * cfg.payload
        self.template = (
            '{"action":"send","room":"%s","clientMsgId":"%s","data":{"t":%d,"pad":"' + pad + '"}}'
        )

    def _token(self, i: int) -> str:
        if self.cfg.token:
            return self.cfg.token
        sub = f"lt-{self.run_id}-{i}"
        return mint_token(sub, name=f"load{i}", secret=self.cfg.secret, ttl_s=3600 * 3)

    async def run(self) -> None:
        raise_fd_limit()
        progress = asyncio.create_task(self._progress()) if self.cfg.progress else None
        try:
            await self._ramp()
            await self._send()
            await self._drain()
        finally:
            await self._close()
            if progress:
                progress.cancel()
                await asyncio.gather(progress, return_exceptions=True)
                print(file=sys.stderr)

    # -- phases ---------------------------------------------------------------------

    async def _ramp(self) -> None:
        cfg = self.cfg
        self.conns = [
            Conn(i, self.rooms[i % cfg.rooms], Member(i % cfg.rooms), self._token(i))
            for i in range(cfg.connections)
        ]
        self.t.start = now()
        opening = []
        for c in self.conns:
            delay = self.t.start + c.index / cfg.ramp - now()
            if delay > 0:
                await asyncio.sleep(delay)  # pacing the ramp
            opening.append(asyncio.create_task(self._open(c)))
        await asyncio.gather(*opening)
        self.t.connected = now()

    async def _open(self, c: Conn) -> None:
        started = now()
        try:
            ws = await connect(
                protocol.with_token(self.cfg.url, c.token),
                compression=None,
                open_timeout=self.cfg.open_timeout_s,
                ping_interval=None,  # runs are short; pings would only add traffic
                close_timeout=self.cfg.open_timeout_s,
                max_size=2**20,
            )
        except InvalidStatus as exc:
            self.failed += 1
            self.tally.error(f"http_{exc.response.status_code}")
            return
        except TimeoutError:
            self.failed += 1
            self.tally.error("connect_timeout")
            return
        except (OSError, InvalidHandshake):
            self.failed += 1
            self.tally.error("connect_failed")
            return
        c.opened_at = now()
        self.connect_ms.append((c.opened_at - started) * 1000)
        c.ws = ws
        self.readers.append(asyncio.create_task(self._read(c, ws)))
        try:
            await self._write(ws, protocol.encode(protocol.join(c.room_name)))
            await asyncio.wait_for(c.joined.wait(), self.cfg.open_timeout_s)
        except (TimeoutError, ConnectionClosed):
            pass
        if c.join_ok:
            self.tally.joined(c.member)
            return
        # Not a member in time: give the connection up, so it neither sends nor receives.
        if c.closed_at is not None:
            self.tally.error("closed_before_join")
        elif not c.joined.is_set():
            self.tally.error("join_timeout")  # (a refused join was counted by its code)
        self.failed += 1
        c.given_up = True
        await ws.close()

    async def _send(self) -> None:
        cfg, tally = self.cfg, self.tally
        ready = [c for c in self.conns if c.join_ok]
        self.t.send_start = start = now()
        self.t.cpu_send_start = time.process_time()
        self.metered_before_send = self.metered
        if not ready:
            self.t.send_end = start
            return
        sent, k, total = 0, 0, int(cfg.rate * cfg.duration_s)
        while sent < total:
            due = min(total, int(cfg.rate * (now() - start)) + 1)
            while sent < due:
                c = ready[k % len(ready)]
                k += 1
                if c.closed_at is not None:  # dropped by the service: skip it
                    if all(r.closed_at is not None for r in ready):
                        total = sent  # nobody left to send
                        break
                    continue
                sent += 1
                c.seq += 1
                cmid = f"{c.index}.{c.seq}"
                at = now()
                tally.sent(cmid, c.member.room, at)
                ws = c.ws
                try:
                    assert ws is not None
                    # data.t: wall-clock send time (ms) for anyone reading the messages;
                    # latency itself is measured on this process's monotonic clock.
                    frame = self.template % (c.room_name, cmid, time.time() * 1000)
                    await self._write(ws, frame)
                except ConnectionClosed:
                    tally.refused(c.member, "send_on_closed")
            # Pace: wake when the next message is due.
            wait = start + sent / cfg.rate - now()
            if wait > 0:
                await asyncio.sleep(wait)
        self.t.send_end = now()

    async def _drain(self) -> None:
        self.tally.check()
        # After the drain timeout, whatever is still missing is reported as lost.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.tally.all_in.wait(), self.cfg.drain_s)
        self.t.drained = now()
        self.t.cpu_drained = time.process_time()
        self.metered_in_send_phase = self.metered - self.metered_before_send

    async def _close(self) -> None:
        self.closing = True
        await asyncio.gather(
            *(c.ws.close() for c in self.conns if c.ws is not None), return_exceptions=True
        )
        await asyncio.gather(*self.readers, return_exceptions=True)
        self.t.end = now()

    # -- per connection ---------------------------------------------------------------

    async def _write(self, ws: ClientConnection, frame: str) -> None:
        self.metered += metered_messages(len(frame))
        await ws.send(frame)

    async def _read(self, c: Conn, ws: ClientConnection) -> None:
        tally, member, loads = self.tally, c.member, json.loads
        try:
            async for raw in ws:
                self.metered += metered_messages(len(raw))
                f: dict[str, Any] = loads(raw)
                kind = f.get("type")
                if kind == "message":
                    tally.received(member, f.get("id", ""), f.get("clientMsgId", ""), now())
                elif kind == "joined":
                    c.join_ok = True
                    c.joined.set()
                elif kind == "error":
                    code = str(f.get("code", "error"))
                    if f.get("action") == "send":
                        tally.refused(member, code)
                    else:
                        tally.error(code)
                        if f.get("action") == "join":
                            c.joined.set()
                elif kind is None and "message" in f:
                    # The gateway's own answers: "Forbidden", "Internal server error".
                    tally.error(f"gateway: {f['message']}")
        except ConnectionClosed:
            pass
        c.closed_at = now()
        c.joined.set()  # a join still awaited will not come
        if not (self.closing or c.given_up):
            self.close_codes[ws.close_code or 1006] += 1

    async def _progress(self) -> None:
        tty = sys.stderr.isatty()
        every = 1.0 if tty else 5.0
        while True:
            await asyncio.sleep(every)
            print(self.progress_line(), end="\r" if tty else "\n", file=sys.stderr, flush=True)

    def progress_line(self) -> str:
        t = self.tally
        open_ = sum(1 for c in self.conns if c.join_ok and c.closed_at is None)
        return (
            f"connections {open_}/{self.cfg.connections}  sent {t.sent_total}  "
            f"delivered {t.delivered}/{t.expected()}  errors {sum(t.errors.values())}  "
            f"closed {sum(self.close_codes.values())}   "
        )

    # -- results ----------------------------------------------------------------------

    def connection_minutes(self) -> float:
        end = self.t.end
        return sum(
            ((c.closed_at or end) - c.opened_at) / 60 for c in self.conns if c.ws is not None
        )
