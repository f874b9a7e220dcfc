"""Soak: many connections in many rooms for a long time, with faults; nothing may be lost.

    python -m bench.soak                      # 2,000 connections, 50 rooms, 10 minutes
    python -m bench.soak --connections 200 --rooms 10 --duration 30   # a short one

(On the embedded DynamoDB the full size does not keep up: see docs/benchmarks.md, Soak.)

The CLI starts `python -m infra` in a child process (`--mgmt-latency-ms 20 --gone-rate
0.05` by default) and samples the RSS of the gateway, its Lambda sandboxes and moto every
`--sample-every` seconds. The same run is importable, for a test against any stack:

    from bench.soak import SoakConfig, run_soak
    async with local_stack(port=0, gone_rate=0.05, mgmt_latency_ms=20) as stack:
        result = await run_soak(
            SoakConfig(
                url=stack.ws_url,
                secret=chat_secret(stack),  # tests/tokens.py
                dynamodb_endpoint=stack.dynamodb_endpoint,
                connections=60, rooms=6, duration_s=5, rate=20,
                kill_every_s=0.2, ghost_every_s=0.5, sample_every_s=1,
            ),
            processes=lambda: stack_processes(stack),   # optional: RSS samples
        )
    assert result.ok, result.summary()

`run_soak(config, *, processes=None) -> SoakResult`. What happens during the run:
- `connections` clients join `rooms` rooms round-robin (`users_per_room` users per room,
  so a user has several connections, as with several tabs), each learns its connection
  id (`whoami`), then random joined clients send `rate` messages/s in total.
- Every `kill_every_s` a random client is killed without a close frame (TCP abort); every
  client that closes (killed, or dropped by the gateway's --gone-rate 410) is replaced,
  `reconnect_delay_s` later, by a new connection in the same room, so the population
  stays near `connections`.
- Every `ghost_every_s` a stale membership is written straight into DynamoDB (a
  connection id that never existed, as if its `$disconnect` never ran): the next fan-out
  into that room gets 410 and must remove it.
- At the end: churn stops and every room gets one message, twice (the sweeps). Before
  and after each sweep the room memberships in DynamoDB are compared with the
  connections still open.

SoakResult fields (all counts): `sent`, `acked` (the sender got its message back),
`expected` (deliveries owed to a live member: joined before the send, still open
`grace_s` after the ack), `delivered`, `lost` (owed, never came), `duplicates`,
`misrouted` (a message of another room), `killed`, `dropped` (closed by the service),
`reconnects`, `ghosts`, `stale` (memberships in DynamoDB of connections that are not
open, seen before a sweep and still there after it; ghosts included), `pending_at_end`
(such memberships first seen after the last sweep: a join or `$disconnect` still
queued when churn stopped; their next fan-out has not happened), `errors` (error frames
by code), `rss` (list of `RssSample(t_s, bytes_by_group)`), `duration_s`. `ok` is true
when nothing was lost, duplicated, misrouted or left stale and at least one message was
acked; `rss_growth()` gives last/first sample per group and `summary()` a printable
report.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from bench.procs import harness_processes, rss_bytes
from client import protocol
from client.tokens import mint_token

now = time.perf_counter
Processes = Callable[[], Mapping[str, Sequence[int]]]


@dataclass(frozen=True)
class SoakConfig:
    url: str  # the WebSocket API, e.g. ws://127.0.0.1:8080/dev
    secret: str  # HS256 secret the stack verifies tokens with
    dynamodb_endpoint: str  # where the stack keeps its tables (for ghosts and the final check)
    stage: str = "dev"
    region: str = "us-east-1"
    connections: int = 2000
    rooms: int = 50
    users_per_room: int = 4
    duration_s: float = 600.0
    rate: float = 2.0  # messages per second, all clients together
    kill_every_s: float | None = 4.0  # None: no kills
    ghost_every_s: float | None = 15.0  # None: no ghosts
    sample_every_s: float = 30.0
    ramp: float = 50.0  # new connections per second while ramping up (at most)
    grace_s: float = 1.0  # a member closed this soon after an ack may miss that message
    settle_s: float = 20.0  # max wait for the last acks and deliveries at the end
    open_timeout_s: float = 20.0
    max_connecting: int = 16  # connection attempts (with their join) in flight at once
    reconnect_delay_s: float = 1.0  # a closed client comes back after this
    seed: int = 0

    @property
    def connections_table(self) -> str:
        return f"wschat-{self.stage}-connections"

    @property
    def messages_table(self) -> str:
        return f"wschat-{self.stage}-messages"


@dataclass(frozen=True)
class RssSample:
    t_s: float  # seconds since the ramp finished
    bytes: Mapping[str, int]  # per group ("gateway", "workers", "moto", ...)


@dataclass
class SoakResult:
    config: SoakConfig
    duration_s: float = 0.0
    sent: int = 0
    acked: int = 0
    expected: int = 0
    delivered: int = 0
    lost: int = 0
    duplicates: int = 0
    misrouted: int = 0
    killed: int = 0
    dropped: int = 0
    reconnects: int = 0
    connect_failures: int = 0
    ghosts: int = 0
    stale: int = 0
    stale_ghosts: int = 0
    pending_at_end: int = 0
    open_at_end: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    rss: list[RssSample] = field(default_factory=list)
    lost_examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.acked > 0
            and self.lost == 0
            and self.duplicates == 0
            and self.misrouted == 0
            and self.stale == 0
        )

    def rss_growth(self) -> dict[str, float]:
        """Last sample / first sample, per group (1.0 = flat)."""
        if len(self.rss) < 2:
            return {}
        first, last = self.rss[0].bytes, self.rss[-1].bytes
        return {k: last.get(k, 0) / v for k, v in first.items() if v}

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["ok"] = self.ok
        out["rss_growth"] = self.rss_growth()
        return out

    def summary(self) -> str:
        c = self.config
        mib = 1024 * 1024
        lines = [
            f"soak          {c.connections} connections, {c.rooms} rooms, "
            f"{self.duration_s:.0f} s, {c.rate:g} msg/s",
            f"messages      sent {self.sent}, acked {self.acked}",
            f"deliveries    expected {self.expected}, delivered {self.delivered}, "
            f"lost {self.lost}, duplicated {self.duplicates}, misrouted {self.misrouted}",
            f"churn         killed {self.killed}, dropped by the service {self.dropped}, "
            f"reconnects {self.reconnects} ({self.connect_failures} failed), "
            f"open at the end {self.open_at_end}",
            f"stale         {self.stale} memberships of closed connections survived a sweep "
            f"({self.stale_ghosts} of {self.ghosts} ghosts); {self.pending_at_end} written "
            "after the last sweep read its room",
            f"errors        {', '.join(f'{k} {v}' for k, v in self.errors.items()) or 'none'}",
        ]
        for s in self.rss:
            parts = ", ".join(f"{k} {v / mib:.0f} MiB" for k, v in s.bytes.items())
            lines.append(f"rss t={s.t_s:6.0f}s  {parts}")
        if growth := self.rss_growth():
            lines.append("rss growth    " + ", ".join(f"{k} x{v:.2f}" for k, v in growth.items()))
        lines += [f"lost e.g.     {e}" for e in self.lost_examples]
        lines.append("PASS" if self.ok else "FAIL")
        return "\n".join(lines)


@dataclass
class _Client:
    idx: int
    room: str
    user: str
    ws: ClientConnection | None = None
    conn_id: str | None = None
    joined_at: float | None = None
    closed_at: float | None = None
    killed: bool = False
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    received: dict[str, int] = field(default_factory=dict)


@dataclass
class _Msg:
    cmid: str
    room: str
    sender: int
    sent_at: float
    acked_at: float | None = None


class _Soak:
    def __init__(self, cfg: SoakConfig, processes: Processes | None) -> None:
        self.cfg = cfg
        self.processes = processes
        self.rng = random.Random(cfg.seed)
        self.run_id = secrets.token_hex(3)
        self.rooms = [f"soak-{self.run_id}-{r}" for r in range(cfg.rooms)]
        self.clients: list[_Client] = []
        self.ready: list[_Client] = []  # joined, id known, maybe closed since (checked on use)
        self.msgs: dict[str, _Msg] = {}
        self.result = SoakResult(cfg)
        self.errors: Counter[str] = Counter()
        self.churn = True
        self.connecting = asyncio.Semaphore(cfg.max_connecting)
        self.tasks: set[asyncio.Task[Any]] = set()
        self.acked = asyncio.Event()
        self.ghost_ids: set[str] = set()
        self._store: Any = None
        self.by_room: dict[str, list[_Client]] = {}

    # -- clients ------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _new_client(self, room_index: int) -> _Client:
        idx = len(self.clients)
        user = f"soak-{self.run_id}-r{room_index}-u{idx % self.cfg.users_per_room}"
        c = _Client(idx, self.rooms[room_index], user)
        self.clients.append(c)
        return c

    async def _open(self, c: _Client) -> bool:
        cfg = self.cfg
        token = mint_token(c.user, secret=cfg.secret, ttl_s=int(cfg.duration_s) + 3600)
        # Connect, join and whoami under one slot: queued joins would otherwise pile up
        # behind the function's sandboxes until API Gateway's 29 s timeout.
        async with self.connecting:
            try:
                c.ws = await connect(
                    protocol.with_token(cfg.url, token),
                    compression=None,
                    open_timeout=cfg.open_timeout_s,
                    ping_interval=None,
                    close_timeout=2,
                    max_size=2**20,
                )
            except (OSError, TimeoutError, InvalidHandshake) as exc:
                self.result.connect_failures += 1
                self.errors[f"connect: {type(exc).__name__}"] += 1
                c.closed_at = now()
                return False
            self._spawn(self._read(c, c.ws))
            with contextlib.suppress(ConnectionClosed):
                await c.ws.send(protocol.encode(protocol.join(c.room)))
                await c.ws.send('{"action":"whoami"}')
            try:
                await asyncio.wait_for(c.ready.wait(), cfg.open_timeout_s)
            except TimeoutError:
                self.errors["join_timeout"] += 1
                return False
        if c.closed_at is None:
            self.ready.append(c)
        return True

    async def _read(self, c: _Client, ws: ClientConnection) -> None:
        msgs, loads = self.msgs, json.loads
        try:
            async for raw in ws:
                f: dict[str, Any] = loads(raw)
                kind = f.get("type")
                if kind == "message":
                    m = msgs.get(f.get("clientMsgId") or "")
                    if m is None:
                        continue  # someone else's message (another run in the same stack)
                    if m.room != c.room:
                        self.result.misrouted += 1
                    if m.sender == c.idx:
                        if m.acked_at is not None:
                            self.result.duplicates += 1
                        m.acked_at = now()
                        self.result.acked += 1
                        self.acked.set()
                    else:
                        seen = c.received.get(m.cmid, 0)
                        if seen:
                            self.result.duplicates += 1
                        c.received[m.cmid] = seen + 1
                elif kind == "joined":
                    c.joined_at = now()
                    if c.conn_id is not None:
                        c.ready.set()
                elif kind == "whoami":
                    c.conn_id = f.get("connectionId")
                    if c.joined_at is not None:
                        c.ready.set()
                elif kind == "error":
                    self.errors[str(f.get("code"))] += 1
                elif kind is None and "message" in f:
                    self.errors[f"gateway: {f['message']}"] += 1
        except ConnectionClosed:
            pass
        if c.closed_at is None:  # not killed by us: the service closed it
            c.closed_at = now()
            self.result.dropped += 1
        c.ready.set()
        if self.churn:
            self._spawn(self._reconnect(self.rooms.index(c.room)))

    async def _reconnect(self, room_index: int) -> None:
        # Like a real client's backoff; immediate reconnects turn a slow stack into a storm.
        await asyncio.sleep(self.cfg.reconnect_delay_s)
        if self.churn:
            self.result.reconnects += 1
            await self._open(self._new_client(room_index))

    def _kill(self) -> None:
        live = [c for c in self.ready if c.closed_at is None and c.ws is not None]
        if not live:
            return
        c = self.rng.choice(live)
        c.closed_at = now()
        c.killed = True
        self.result.killed += 1
        assert c.ws is not None
        c.ws.transport.abort()  # no close frame: the socket just vanishes

    # -- ghosts -------------------------------------------------------------------------

    def _store_client(self) -> Any:
        if self._store is None:
            import boto3

            from handlers.chat.settings import Settings
            from handlers.chat.store import Store

            db = boto3.client(
                "dynamodb",
                endpoint_url=self.cfg.dynamodb_endpoint,
                region_name=self.cfg.region,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            settings = Settings(
                connections_table=self.cfg.connections_table,
                messages_table=self.cfg.messages_table,
            )
            self._store = Store(db, settings)
        return self._store

    def _add_ghost(self, room: str) -> None:
        from handlers.chat.model import User
        from infra.apigateway.ids import new_id

        ghost = new_id()
        user = User(id=f"ghost-{self.run_id}", name="ghost")
        at = int(time.time() * 1000)
        store = self._store_client()
        store.put_connection(ghost, user, at)
        store.add_membership(ghost, user, room, at)
        self.ghost_ids.add(ghost)

    # -- the run ------------------------------------------------------------------------

    async def _send(self, c: _Client) -> None:
        if c.ws is None or c.closed_at is not None:
            return
        cmid = f"{self.run_id}.{len(self.msgs)}"
        m = _Msg(cmid, c.room, c.idx, now())
        self.msgs[cmid] = m
        self.result.sent += 1
        frame = {"action": "send", "room": c.room, "clientMsgId": cmid, "text": "soak"}
        try:
            await c.ws.send(protocol.encode(frame))
        except ConnectionClosed:
            m.sent_at = float("inf")  # never sent: nobody owes it

    def _pick(self) -> _Client | None:
        for _ in range(20):
            if not self.ready:
                return None
            c = self.rng.choice(self.ready)
            if c.closed_at is None:
                return c
        return None

    def _sample(self, started: float) -> None:
        if self.processes is None:
            return
        groups = self.processes()
        sample = {k: sum(rss_bytes(p) for p in pids) for k, pids in groups.items()}
        self.result.rss.append(RssSample(round(now() - started, 1), sample))

    async def run(self) -> SoakResult:
        cfg = self.cfg
        t0 = now()
        opening = []
        for i in range(cfg.connections):
            delay = t0 + i / cfg.ramp - now()
            if delay > 0:
                await asyncio.sleep(delay)  # pacing the ramp
            opening.append(asyncio.create_task(self._open(self._new_client(i % cfg.rooms))))
        await asyncio.gather(*opening)

        started = now()
        self._sample(started)
        next_sample = started + cfg.sample_every_s
        next_kill = started + (cfg.kill_every_s or float("inf"))
        next_ghost = started + (cfg.ghost_every_s or float("inf"))
        end = started + cfg.duration_s
        sent = 0
        while (t := now()) < end:
            due = int(cfg.rate * (t - started)) + 1
            while sent < due:
                sent += 1
                pick = self._pick()
                if pick is not None:
                    await self._send(pick)
            if t >= next_kill:
                self._kill()
                next_kill += cfg.kill_every_s or float("inf")
            if t >= next_ghost:
                room = self.rng.choice(self.rooms)
                await asyncio.to_thread(self._add_ghost, room)
                self.result.ghosts += 1
                next_ghost += cfg.ghost_every_s or float("inf")
            if t >= next_sample:
                self._sample(started)
                next_sample += cfg.sample_every_s
            await asyncio.sleep(max(0.0, min(started + sent / cfg.rate, end) - now()))
        self.result.duration_s = now() - started

        # Wind down: no more churn; wait for the last acks, then two sweeps (see _sweeps).
        self.churn = False
        await self._settle()
        await self._sweeps()
        self._sample(started)
        self._count_deliveries()
        await self._close()
        self.result.errors = dict(sorted(self.errors.items()))
        return self.result

    async def _settle(self) -> None:
        """Wait (bounded) until every message whose sender is open has been acked and
        every delivery owed for it has arrived."""
        deadline = now() + self.cfg.settle_s
        while now() < deadline:
            if self._outstanding() == 0:
                return
            self.acked.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.acked.wait(), 0.1)

    def _outstanding(self) -> int:
        clients = self.clients
        missing = 0
        for m in self.msgs.values():
            if m.acked_at is None:
                if clients[m.sender].closed_at is None and m.sent_at != float("inf"):
                    missing += 1
                continue
        if missing:
            return missing
        return sum(1 for _ in self._owed_missing())

    def _index_rooms(self) -> None:
        self.by_room = {}
        for c in self.clients:
            self.by_room.setdefault(c.room, []).append(c)

    def _owed(self, m: _Msg) -> list[_Client]:
        assert m.acked_at is not None
        limit = m.acked_at + self.cfg.grace_s
        return [
            c
            for c in self.by_room.get(m.room, [])
            if c.idx != m.sender
            and c.joined_at is not None
            and c.joined_at < m.sent_at
            and (c.closed_at is None or c.closed_at > limit)
        ]

    def _owed_missing(self) -> Any:
        self._index_rooms()
        for m in self.msgs.values():
            if m.acked_at is None:
                continue
            for c in self._owed(m):
                if m.cmid not in c.received:
                    yield m, c

    def _count_deliveries(self) -> None:
        r = self.result
        self._index_rooms()
        for m in self.msgs.values():
            if m.acked_at is None:
                continue
            for c in self._owed(m):
                r.expected += 1
                if m.cmid in c.received:
                    r.delivered += 1
                else:
                    r.lost += 1
                    if len(r.lost_examples) < 5:
                        r.lost_examples.append(
                            f"{m.cmid} in {m.room} (sent {m.sent_at:.3f}, acked "
                            f"{m.acked_at:.3f}) to client {c.idx} {c.conn_id} (joined "
                            f"{c.joined_at:.3f}, closed {c.closed_at})"
                        )

    async def _sweeps(self) -> None:
        """Every membership of a closed connection seen before a sweep must be gone after it.

        A sweep is one message into every room, so each such membership gets its next
        fan-out. A membership can also appear after a sweep has read the room (a join
        or a `$disconnect` still queued when churn stopped); the second sweep is that
        one's next fan-out. What survives the sweep that followed it is stale."""
        seen = await self._closed_memberships()
        stale: set[tuple[str, str]] = set()
        for _ in range(2):
            swept = await self._sweep()
            now_seen = await self._closed_memberships()
            stale |= {(room, conn) for room, conn in seen & now_seen if room in swept}
            seen = now_seen
        self.result.stale = len(stale)
        self.result.stale_ghosts = sum(conn in self.ghost_ids for _, conn in stale)
        self.result.pending_at_end = len(seen - stale)

    async def _sweep(self) -> set[str]:
        """One message into every room that has an open member; the rooms it reached."""
        swept = set()
        for room in self.rooms:
            members = [c for c in self.ready if c.room == room and c.closed_at is None]
            if members:
                await self._send(self.rng.choice(members))
                swept.add(room)
        await self._settle()
        return swept

    async def _closed_memberships(self) -> set[tuple[str, str]]:
        """(room, connection id) of every membership in DynamoDB whose connection is not
        open (ghosts included)."""
        open_ids = {c.conn_id for c in self.clients if c.closed_at is None and c.conn_id}
        self.result.open_at_end = len(open_ids)
        store = self._store_client()
        at = int(time.time() * 1000)
        found = set()
        for room in self.rooms:
            for member in await asyncio.to_thread(store.room_members, room, at):
                if member.connection_id not in open_ids:
                    found.add((room, member.connection_id))
        return found

    async def _close(self) -> None:
        closing = [c for c in self.clients if c.ws is not None and c.closed_at is None]
        for c in closing:
            c.closed_at = now()  # our own close: not "dropped by the service"
        await asyncio.gather(*(c.ws.close() for c in closing if c.ws), return_exceptions=True)
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def run_soak(config: SoakConfig, *, processes: Processes | None = None) -> SoakResult:
    """Run one soak against the stack at `config.url`; see the module docstring."""
    _raise_fd_limit()
    return await _Soak(config, processes).run()


def stack_processes(stack: Any) -> dict[str, list[int]]:
    """RSS groups of an in-process `local_stack` (the gateway shares this process)."""
    groups = harness_processes(os.getpid())
    return {
        "gateway+client": groups["gateway"],
        "workers": groups["workers"],
        "moto": [stack.moto.proc.pid],
    }


def _raise_fd_limit() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# -- command line --------------------------------------------------------------------------


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n")[0])
    p.add_argument("--connections", type=int, default=2000)
    p.add_argument("--rooms", type=int, default=50)
    p.add_argument("--duration", type=float, default=600.0, help="seconds of traffic")
    p.add_argument("--rate", type=float, default=2.0, help="messages/s in total")
    p.add_argument("--kill-every", type=float, default=4.0, help="seconds between kills")
    p.add_argument("--users-per-room", type=int, default=4)
    p.add_argument("--ghost-every", type=float, default=15.0, help="seconds between ghosts")
    p.add_argument("--sample-every", type=float, default=30.0, help="seconds between RSS samples")
    p.add_argument("--gone-rate", type=float, default=0.05)
    p.add_argument("--mgmt-latency-ms", type=float, default=20.0)
    p.add_argument("--concurrency", type=int, default=4, help="sandboxes per function")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="write the result here")
    return p.parse_args(argv)


async def _main(args: argparse.Namespace) -> SoakResult:
    from bench.harness import running_harness

    options = [
        "--mgmt-latency-ms",
        str(args.mgmt_latency_ms),
        "--gone-rate",
        str(args.gone_rate),
        "--concurrency",
        str(args.concurrency),
        "--seed",
        str(args.seed),
    ]
    async with running_harness(*options) as h:
        cfg = SoakConfig(
            url=h.ws_url,
            secret=h.secret,
            dynamodb_endpoint=h.dynamodb_endpoint,
            stage=h.stage,
            connections=args.connections,
            rooms=args.rooms,
            duration_s=args.duration,
            rate=args.rate,
            kill_every_s=args.kill_every or None,
            users_per_room=args.users_per_room,
            ghost_every_s=args.ghost_every or None,
            sample_every_s=args.sample_every,
            seed=args.seed,
        )
        return await run_soak(cfg, processes=lambda: harness_processes(h.pid))


def main(argv: list[str] | None = None) -> int:
    from bench.machine import describe

    args = _parse(argv)
    result = asyncio.run(_main(args))
    print(describe())
    print(result.summary())
    if args.json:
        args.json.write_text(json.dumps(result.as_json(), indent=2, default=str) + "\n")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
