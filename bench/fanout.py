"""Fan-out into one room of 1,000 members, against a plain sequential loop.

    python -m bench.fanout [--members 1000] [--rounds 5] [--mgmt-latency-ms 20]
                           [--shard-size 250,off] [--fanout-concurrency 32,64]
                           [--baseline DIR] [--partition-size N] [--no-sequential]
                           [--profile N]

Starts `python -m infra --mgmt-latency-ms 20` (each Management API call waits 20 ms,
about what a call from Lambda to API Gateway costs) in a child process per variant,
opens the members (users of 100 connections each, put in the room straight in
DynamoDB, so that setting up fans no presence out) plus a sender, and times one `send`
until every member has the message. The variants (each CHAT_FANOUT_SHARD_SIZE x
CHAT_FANOUT_CONCURRENCY asked for; `off` = no splitting: the message function delivers
to everyone itself) all stay up and take their rounds in turn, so machine noise hits
them alike. In the same run, a sequential boto3 `post_to_connection` loop delivers to
the same connections. CPU per delivery is read from /proc for the `message` and
`fanout` functions' sandboxes, the gateway and moto, before and after each round.

Each variant's members are held by a child process of their own (one process may not
hold the 20,000 sockets of two 10,000-member rooms); it reports when a message reached
them all, on the same monotonic clock.

A variant runs on a copy of serverless.yml beside it with only those values changed
(deleted afterwards). `--baseline DIR` adds a first variant: another checkout (a worktree
of an older commit, with its own `.venv`) running its own serverless.yml unchanged, so
the other variants are read against it, in the same run; it is what the ratios compare to.

A checkout whose serverless.yml sets CHAT_ROOM_PARTITION_SIZE spreads a room past it over
partitions: there the members' memberships are written as that room would hold them
(its layout grown join by join, `store.next_extent`; each membership in the partition
its connection id gives), and the harness runs `--verbose` so the bench can read the
fan-out function's "shard delivered" lines: per message, how many invocations ran and
which partitions each one read (its `read`), checked to be one partition each, its
own, every partition once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import statistics
import sys
import time
from contextlib import AbstractContextManager, AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.clients import Arrivals, Member, close_all, now, open_members, raise_fd_limit
from bench.harness import (
    BENCH_SETTINGS,
    ROOT,
    Harness,
    handler_store,
    running_harness,
    service_with,
)
from bench.machine import describe
from bench.procs import cmdline, cpu_seconds, harness_processes
from client import protocol
from client.tokens import mint_token

SERVICE = ROOT / "serverless.yml"


# "off": a shard larger than any room here, so the message function delivers alone.
NO_SPLIT = 5000


@dataclass(frozen=True)
class Variant:
    shard_size: int | None  # None: serverless.yml's; NO_SPLIT: no splitting
    concurrency: int | None  # None: serverless.yml's
    root: Path = ROOT  # the checkout that runs it

    @property
    def service(self) -> Path:
        return self.root / "serverless.yml"

    @property
    def label(self) -> str:
        shard = (
            "off"
            if self.shard_size == NO_SPLIT
            else str(self.shard_size or configured("SHARD_SIZE", self.service))
        )
        conc = self.concurrency or configured("CONCURRENCY", self.service)
        where = "" if self.root == ROOT else f"{self.root.name}: "
        return f"{where}shard {shard}, concurrency {conc}"


def partition_size(service: Path) -> int | None:
    """The checkout's CHAT_ROOM_PARTITION_SIZE, or None (it keeps a room in one partition)."""
    m = re.search(r"CHAT_ROOM_PARTITION_SIZE:\s*'?(\d+)", service.read_text())
    return int(m.group(1)) if m else None


def grown_extent(members: int, size: int) -> int:
    """The partitions joins go to in a room that grew to `members` one join at a time."""
    from handlers.chat.store import next_extent

    extent = 1
    for n in range(1, members + 1):
        extent = next_extent(n, extent, size)
    return extent


def configured(setting: str, service: Path = SERVICE) -> int:
    m = re.search(rf"CHAT_FANOUT_{setting}:\s*'?(\d+)", service.read_text())
    if m is None:
        raise RuntimeError(f"CHAT_FANOUT_{setting} not found in {service}")
    return int(m.group(1))


def service_file(variant: Variant, partition: int | None) -> AbstractContextManager[Path]:
    """serverless.yml, or a copy beside it with the variant's fan-out settings (and
    `partition`, a CHAT_ROOM_PARTITION_SIZE, where the checkout has that setting)."""
    changes = {"SHARD_SIZE": variant.shard_size, "CONCURRENCY": variant.concurrency}
    fanout = {f"CHAT_FANOUT_{k}": v for k, v in changes.items() if v is not None}
    settings: dict[str, object] = {**BENCH_SETTINGS, **fanout}
    if partition is not None:
        settings["CHAT_ROOM_PARTITION_SIZE"] = partition  # left out where not declared
    return service_with(settings, required=list(fanout), root=variant.root)


def cpu_groups(h: Harness) -> dict[str, float]:
    groups = harness_processes(h.pid)

    def sandboxes(function: str) -> float:
        pids = [p for p in groups["workers"] if any(a.endswith(function) for a in cmdline(p))]
        return sum(cpu_seconds(p) for p in pids)

    return {
        "message": sandboxes("-message"),
        "fanout": sandboxes("-fanout"),
        "gateway": cpu_seconds(h.pid),
        "moto": sum(cpu_seconds(p) for p in groups["moto"]),
    }


def store_for(h: Harness) -> Any:
    """The handlers' own Store, on the harness's DynamoDB."""
    return handler_store(h.dynamodb_endpoint, h.stage)


# The crowd's connections belong to users of this many each: few enough that `$connect`'s
# count of its user's connections (the per-user cap) stays cheap, which a crowd of one
# user of 10,000 connections made quadratic; and no presence is fanned out, as no member
# joins (`add_memberships`).
CONNECTIONS_PER_USER = 100


def crowd_users(user: str, members: int) -> list[str]:
    """The user of each of the crowd's `members` connections."""
    return [f"{user}-{i // CONNECTIONS_PER_USER}" for i in range(members)]


def add_memberships(h: Harness, user: str, members: int, room: str, extent: int) -> int:
    """Put every connection of the crowd of `user` in `room`, written straight to DynamoDB, spread
    over `extent` partitions (1: the room's one partition, as older checkouts keep it).

    Setup only: 1,000 `join`s would each Query the growing room (and moto's Query and
    TransactWriteItems cost grows with the table), which takes minutes. The items are
    the room side of what `Store.add_membership` writes (and the room's layout, as the
    fan-out that grew the room writes it), which is all a fan-out reads. The connections'
    own `rooms`/`parts` sets are not written: nothing measured here reads them.
    """
    from handlers.chat.model import User
    from handlers.chat.store import Layout, membership_item

    store, db, settings = store_for(h)
    at = int(time.time() * 1000)
    expires = at // 1000 + settings.connection_ttl_s
    if extent > 1 and not store.set_layout(room, Layout(), extent, at):
        raise RuntimeError(f"{room}'s layout was set already")
    items = [
        {"PutRequest": {"Item": membership_item(room, cid, User(u, u), extent, expires)}}
        for u in sorted(set(crowd_users(user, members)))
        for cid in store.user_connections(u, at)
    ]
    for i in range(0, len(items), 25):
        db.batch_write_item(RequestItems={settings.connections_table: items[i : i + 25]})
    return len(items)


def partition_counts(h: Harness, room: str, extent: int) -> list[int]:
    """Memberships in each of the room's partitions, read back from DynamoDB."""
    store, _db, _settings = store_for(h)
    at = int(time.time() * 1000)
    return [len(store.read_partition(room, i, at).members) for i in range(extent)]


class Crowd:
    """`members` connections (`crowd_users`), held by a child process (`_crowd_main`)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc

    @classmethod
    async def start(cls, h: Harness, user: str, members: int) -> Crowd:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "bench.fanout", "_crowd", h.ws_url, h.secret, user, str(members)),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        crowd = cls(proc)
        if (await crowd._line(600)) != "ready":
            raise RuntimeError("the crowd could not connect")
        return crowd

    async def _line(self, timeout_s: float) -> str:
        assert self._proc.stdout is not None
        return (await asyncio.wait_for(self._proc.stdout.readline(), timeout_s)).decode().strip()

    async def wait_for(self, cmid: str, n: int, timeout_s: float) -> tuple[float, float]:
        """(first, last) arrival of `cmid` once `n` members have it (perf_counter)."""
        assert self._proc.stdin is not None
        self._proc.stdin.write(f"{cmid} {n} {timeout_s}\n".encode())
        await self._proc.stdin.drain()
        answer = json.loads(await self._line(timeout_s + 30))
        if answer["count"] < n:
            raise RuntimeError(f"only {answer['count']} of {n} deliveries arrived")
        return answer["first_at"], answer["last_at"]

    async def close(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        await self._proc.wait()


async def _crowd_main(url: str, secret: str, user: str, members: int) -> None:
    raise_fd_limit()
    arrivals = Arrivals()
    users = crowd_users(user, members)
    tokens = {u: mint_token(u, secret=secret, ttl_s=7200) for u in set(users)}
    crowd = await open_members(url, [tokens[u] for u in users], arrivals, max_in_flight=50)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        cmid, n, timeout_s = line.split()
        await arrivals.wait_for(cmid, int(n), float(timeout_s))
        answer = {
            "count": arrivals.counts.get(cmid, 0),
            "first_at": arrivals.first_at.get(cmid),
            "last_at": arrivals.last_at.get(cmid),
        }
        print(json.dumps(answer), flush=True)
    await close_all(crowd)


async def setup(h: Harness, members: int, room: str, extent: int) -> tuple[Crowd, Member, Arrivals]:
    user = f"fan-{secrets.token_hex(3)}"
    started = now()
    crowd = await Crowd.start(h, user, members)
    joined = await asyncio.to_thread(add_memberships, h, user, members, room, extent)
    if joined != members:
        raise RuntimeError(f"{joined} connections of {user}'s crowd, expected {members}")
    print(f"  {members} members connected and in the room in {now() - started:.1f} s")
    sender_arrivals = Arrivals()
    (sender,) = await open_members(
        h.ws_url, [mint_token("sender", secret=h.secret)], sender_arrivals
    )
    await sender.request(protocol.join(room), "joined", timeout_s=60)
    return crowd, sender, sender_arrivals


async def one_round(
    h: Harness, sender: Member, acks: Arrivals, crowd: Crowd, room: str, n: int
) -> dict[str, float]:
    cmid = secrets.token_hex(6)
    cpu0 = cpu_groups(h)
    t0 = now()
    await sender.ws.send(
        protocol.encode({"action": "send", "room": room, "text": "fan", "clientMsgId": cmid})
    )
    first_at, last_at = await crowd.wait_for(cmid, n, 120)
    all_in = last_at - t0
    first_in = first_at - t0
    if not await acks.wait_for(cmid, 1, 60):
        raise RuntimeError("the sender never got its ack")
    ack = acks.last_at[cmid] - t0
    cpu1 = cpu_groups(h)
    return {
        "all_in_s": all_in,
        "first_in_s": first_in,
        "ack_s": ack,
        **{f"cpu_us_per_delivery_{k}": (cpu1[k] - cpu0[k]) / n * 1e6 for k in cpu0},
    }


async def sequential(h: Harness, room: str, crowd: Crowd, exclude: set[str]) -> float:
    """A plain loop of boto3 post_to_connection to every member; seconds until all in."""
    import boto3

    store, _db, _settings = store_for(h)
    ids = [
        m.connection_id
        for m in store.room_members(room, int(time.time() * 1000))
        if m.user.id not in exclude
    ]
    mgmt = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=h.mgmt_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    cmid = secrets.token_hex(6)
    data = json.dumps({"type": "message", "room": room, "text": "seq", "clientMsgId": cmid})

    def loop() -> None:
        for cid in ids:
            mgmt.post_to_connection(ConnectionId=cid, Data=data.encode())

    t0 = now()
    await asyncio.to_thread(loop)
    _first_at, last_at = await crowd.wait_for(cmid, len(ids), 600)
    return last_at - t0


def profile_posts(h: Harness, ids: list[str], room: str) -> str:
    """CPU profile of one fan-out through the handlers' own sender (`FanOut.deliver`):
    where a delivery's CPU goes."""
    import cProfile
    import io
    import pstats

    from handlers.chat import aws
    from handlers.chat.fanout import FanOut

    # What the Lambda environment would provide.
    for name, value in (
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ):
        os.environ.setdefault(name, value)
    concurrency = configured("CONCURRENCY")
    fanout = FanOut(aws.management(h.mgmt_url, concurrency), concurrency)
    data = json.dumps({"type": "message", "room": room, "text": "profile"})
    fanout.deliver(ids, data)  # connections open, aiohttp imported
    cpu0 = time.process_time()
    fanout.deliver(ids, data)
    per_call = (time.process_time() - cpu0) / len(ids) * 1e6
    # Then the same under cProfile (which adds its own overhead: read the shares).
    profiler = cProfile.Profile()
    profiler.enable()
    fanout.deliver(ids, data)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
    return f"CPU per delivery of FanOut.deliver, no profiler: {per_call:.0f} us\n" + (
        out.getvalue()
    )


@dataclass
class Running:
    variant: Variant
    harness: Harness
    crowd: Crowd
    sender: Member
    acks: Arrivals
    room: str
    extent: int = 1  # partitions the room's memberships are spread over
    partitions: list[int] = field(default_factory=list)  # memberships in each
    rounds: list[dict[str, float]] = field(default_factory=list)
    reads: list[dict[str, Any]] = field(default_factory=list)  # per round, `fanout_reads`


SHARD_LINE = '"shard delivered"'


async def fanout_reads(run: Running, since: int, timeout_s: float = 60) -> dict[str, Any]:
    """What the fan-out invocations of one message read, from their "shard delivered"
    lines after `since`: waits until every partition past the base was read (the lines
    come after the deliveries). `own_only`: each range invocation read one partition,
    the first of its range, each partition past the base was read once, and the
    invocations handed a list of ids read none."""
    lines = run.harness.log_lines
    deadline = time.monotonic() + timeout_s
    while True:
        docs = [json.loads(line[line.index("{") :]) for line in lines[since:]]
        read = sorted(i for d in docs for i, _n in d.get("read", ()))
        delivered = sum(d.get("delivered", 0) for d in docs)
        # Every partition read, and every member past the base's delivered (the base's
        # may be cut into id shards too, handed off; the sender, maybe among them, gets
        # its copy as its ack): no line of this message to come.
        expected = sum(run.partitions[1:]) - 1
        done = set(read) >= set(range(1, run.extent)) and delivered >= expected
        if done or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)  # polling for the lines, not hoping
    ranges = [d for d in docs if "partitions" in d]
    shards = [d for d in docs if "partitions" not in d]
    own_only = (
        read == list(range(1, run.extent))
        and all(len(d["read"]) == 1 and d["read"][0][0] == d["partitions"][0] for d in ranges)
        and all(not d["read"] for d in shards)
    )
    return {
        "invocations": len(docs),
        "range_invocations": len(ranges),
        "id_shard_invocations": len(shards),
        "memberships_read": sum(n for d in docs for _i, n in d.get("read", ())),
        "partitions_read": read,
        "own_only": own_only,
    }


async def start(args: argparse.Namespace, variant: Variant, exits: AsyncExitStack) -> Running:
    print(f"{variant.label}:", flush=True)
    service = exits.enter_context(service_file(variant, args.partition_size))
    size = partition_size(service)
    h = await exits.enter_async_context(
        running_harness(
            "--service",
            str(service),
            "--mgmt-latency-ms",
            str(args.mgmt_latency_ms),
            root=variant.root,
            keep=None if size is None else (lambda line: SHARD_LINE in line),
        )
    )
    room = f"fan-{secrets.token_hex(3)}"
    extent = 1 if size is None else grown_extent(args.members, size)
    crowd, sender, acks = await setup(h, args.members, room, extent)
    run = Running(variant, h, crowd, sender, acks, room, extent)
    if size is not None:
        run.partitions = await asyncio.to_thread(partition_counts, h, room, extent)
        print(f"  memberships over {extent} partitions: {run.partitions}", flush=True)
    await measure(run, args.members)  # warm-up: every sandbox it needs has started
    run.rounds.clear()
    run.reads.clear()
    return run


async def measure(run: Running, members: int) -> None:
    since = len(run.harness.log_lines)
    run.rounds.append(
        await one_round(run.harness, run.sender, run.acks, run.crowd, run.room, members)
    )
    if run.extent > 1:
        run.reads.append(await fanout_reads(run, since))


async def bench(args: argparse.Namespace, variants: list[Variant]) -> list[dict[str, Any]]:
    async with AsyncExitStack() as exits:
        runs = [await start(args, v, exits) for v in variants]
        for _ in range(args.rounds):  # in turn, so a busy minute hits every variant
            for run in runs:
                await measure(run, args.members)
        first = runs[0]
        seq = None
        if args.sequential:
            seq = await sequential(first.harness, first.room, first.crowd, exclude={"sender"})
        profile = None
        if args.profile and args.sequential:
            store, _db, _settings = store_for(first.harness)
            members = store.room_members(first.room, int(time.time() * 1000))
            ids = [m.connection_id for m in members if m.user.id != "sender"][: args.profile]
            profile = await asyncio.to_thread(profile_posts, first.harness, ids, first.room)
        results = [
            summary(args, run, seq, profile) if i == 0 else summary(args, run)
            for i, run in enumerate(runs)
        ]
        # Published before the stacks stop: a minute-long teardown loses nothing.
        publish(args, results)
        for run in runs:
            await run.crowd.close()
            await close_all([run.sender])
    return results


def summary(
    args: argparse.Namespace, run: Running, seq: float | None = None, profile: str | None = None
) -> dict[str, Any]:
    med = {k: statistics.median(r[k] for r in run.rounds) for k in run.rounds[0]}
    return {
        "variant": run.variant.label,
        "members": args.members,
        "rounds": run.rounds,
        "median": med,
        "deliveries_per_s": args.members / med["all_in_s"],
        "partitions": run.partitions or [args.members],
        "fanout_reads": run.reads,
        "sequential_s": seq,
        "profile": profile,
    }


def publish(args: argparse.Namespace, results: list[dict[str, Any]]) -> None:
    print(describe())
    print(report(results, args))
    for r in results:
        if r["profile"]:
            print(r["profile"])
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    sys.stdout.flush()


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        f"fan-out into one room of {args.members} members, Management API latency "
        f"{args.mgmt_latency_ms:g} ms, median of {args.rounds} rounds (taken in turn)",
        f"{'variant':>26} {'first in':>8} {'all in':>8} {'ack':>8} {'deliv/s':>8} "
        f"{'CPU/deliv: message':>19} {'fanout':>7} {'gateway':>8} {'moto':>6}  all rounds (s)",
    ]
    for r in results:
        m = r["median"]
        rounds = " ".join(f"{x['all_in_s']:.2f}" for x in r["rounds"])
        lines.append(
            f"{r['variant']:>26} {m['first_in_s']:7.3f}s {m['all_in_s']:7.3f}s "
            f"{m['ack_s']:7.3f}s {r['deliveries_per_s']:8.0f} "
            f"{m['cpu_us_per_delivery_message']:17.0f}us {m['cpu_us_per_delivery_fanout']:5.0f}us "
            f"{m['cpu_us_per_delivery_gateway']:6.0f}us {m['cpu_us_per_delivery_moto']:4.0f}us"
            f"  {rounds}"
        )
    for r in results:
        parts = r["partitions"]
        if len(parts) == 1:
            lines.append(
                f"{r['variant']}: one membership partition; each message Queries all "
                f"{parts[0]} members in the message function"
            )
            continue
        reads = r["fanout_reads"]
        own = sum(x["own_only"] for x in reads)
        last = reads[-1] if reads else {}
        lines.append(
            f"{r['variant']}: memberships over {len(parts)} partitions "
            f"({min(parts)}-{max(parts)} each, base {parts[0]}); per message: "
            f"{last.get('invocations')} fan-out invocations ({last.get('range_invocations')} "
            f"partition ranges, {last.get('id_shard_invocations')} id shards) reading "
            f"{last.get('memberships_read')} memberships, the base's {parts[0]} read by the "
            f"message function; each range invocation read only its own partition, every "
            f"partition once: {own} of {len(reads)} rounds"
        )
    base = results[0]["median"]["all_in_s"]
    for r in results[1:]:
        ratio = r["median"]["all_in_s"] / base
        lines.append(f"{r['variant']} / {results[0]['variant']}: {ratio:.2f}x the time")
    for r in results:
        if r["sequential_s"] is not None:
            ratio = r["sequential_s"] / r["median"]["all_in_s"]
            lines.append(
                f"sequential post_to_connection loop (same run, {r['variant']}): "
                f"{r['sequential_s']:.2f} s ({args.members / r['sequential_s']:.0f}/s); "
                f"the handler is {ratio:.1f}x faster"
            )
    return "\n".join(lines)


def _values(text: str) -> list[int | None]:
    return [NO_SPLIT if v == "off" else int(v) for v in text.split(",") if v] or [None]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_crowd"]:
        url, secret, user, members = argv[1:5]
        asyncio.run(_crowd_main(url, secret, user, int(members)))
        return 0
    p = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__.split("\n")[0])
    p.add_argument("--members", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--mgmt-latency-ms", type=float, default=20.0)
    p.add_argument(
        "--shard-size",
        default="",
        help="comma-separated CHAT_FANOUT_SHARD_SIZE values, `off` for no splitting "
        "(default: serverless.yml's)",
    )
    p.add_argument(
        "--fanout-concurrency",
        default="",
        help="comma-separated CHAT_FANOUT_CONCURRENCY values to try (default: serverless.yml's)",
    )
    p.add_argument(
        "--baseline",
        type=Path,
        help="another checkout (with its .venv) to run first, as it is, for comparison",
    )
    p.add_argument(
        "--partition-size",
        type=int,
        help="CHAT_ROOM_PARTITION_SIZE for checkouts that have it (default: serverless.yml's)",
    )
    p.add_argument("--no-sequential", dest="sequential", action="store_false")
    p.add_argument(
        "--profile", type=int, default=0, metavar="N", help="CPU-profile N sequential posts"
    )
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    raise_fd_limit()
    variants = [
        Variant(shard, concurrency)
        for shard in _values(args.shard_size)
        for concurrency in _values(args.fanout_concurrency)
    ]
    if args.baseline:
        variants.insert(0, Variant(None, None, args.baseline.resolve()))
    asyncio.run(bench(args, variants))
    return 0


if __name__ == "__main__":
    sys.exit(main())
