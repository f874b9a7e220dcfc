"""Connection scale: how fast connections open through the authorizer, `$connect` and
DynamoDB, and what 10,000 idle connections cost the gateway.

    python -m bench.scale [--rate-connections 2000] [--rounds 5] [--idle 10000] [--clients 4]

Starts `python -m infra` in a child process; the clients run in `--clients` other
processes (each opens its share with up to `--in-flight` handshakes at once and reports
its own CPU, so a saturated client shows up). By default they open with
`bench.handshake`, a bare opening handshake, so the load costs the shared cores as
little as it can; `--client websockets` uses websockets' client instead.

Phase 1 opens `--rate-connections` as fast as `--in-flight` handshakes at once per
client allow (a closed loop), or at `--offered-rate` connections/s (an open loop, as
AWS's quota of new connections per second is stated; handshake latency then counts from
when each was due), closes them, waits until the stack is idle again, and does that
`--rounds` times on the same warm stack. It reports the median round's connections/s
(and every round's), handshake latency and the CPU each part of the stack spent per
connection (from /proc: gateway, authorizer and connect sandboxes, moto). Phase 2
holds `--idle` connections open and reports the gateway process's RSS (and the total
with sandboxes and moto).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from bench.clients import raise_fd_limit
from bench.harness import ROOT, Harness, running_harness
from bench.machine import describe
from bench.procs import cmdline, cpu_seconds, harness_processes, rss_bytes

MIB = 1024 * 1024


# -- the client process -------------------------------------------------------------------


async def _client(
    url: str,
    secret: str,
    count: int,
    in_flight: int,
    prefix: str,
    deadline_s: float,
    kind: str = "handshake",
    rate: float = 0.0,
) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidHandshake, InvalidStatus

    from bench.handshake import HandshakeRefused, open_websocket
    from client import protocol
    from client.tokens import mint_token

    tokens = [mint_token(f"{prefix}-{i}", secret=secret, ttl_s=7200) for i in range(count)]
    gate = asyncio.Semaphore(in_flight)
    conns: list[Any] = []
    latencies: list[float] = []
    errors: dict[str, int] = {}
    cpu0 = time.process_time()

    def count_error(key: str) -> None:
        errors[key] = errors.get(key, 0) + 1

    async def one(i: int, token: str) -> None:
        if rate:
            await asyncio.sleep(max(0.0, t_start + i / rate - time.perf_counter()))
        async with gate:
            # Open loop: from when the handshake was due, so time spent queued behind a
            # slow stack counts (no coordinated omission).
            t = t_start + i / rate if rate else time.perf_counter()
            target = protocol.with_token(url, token)
            try:
                if kind == "handshake":
                    conn: Any = await open_websocket(target, timeout_s=60)
                else:
                    conn = await connect(
                        target,
                        compression=None,
                        open_timeout=60,
                        ping_interval=None,
                        max_size=2**16,
                    )
            except HandshakeRefused as exc:
                count_error(f"http_{exc.status}")
                return
            except InvalidStatus as exc:
                count_error(f"http_{exc.response.status_code}")
                return
            except (OSError, TimeoutError, InvalidHandshake) as exc:
                count_error(type(exc).__name__)
                return
            latencies.append((time.perf_counter() - t) * 1000)
            conns.append(conn)

    started, t_start = time.time(), time.perf_counter()
    attempts = [asyncio.ensure_future(one(i, t)) for i, t in enumerate(tokens)]
    _finished, late = await asyncio.wait(attempts, timeout=deadline_s)
    for attempt in late:  # a stack that stopped answering: count, do not wait forever
        attempt.cancel()
    if late:
        errors["deadline"] = len(late)
    done = time.time()
    report = {
        "opened": len(conns),
        "errors": errors,
        "started": started,
        "done": done,
        "latencies_ms": latencies,
        "cpu_s": time.process_time() - cpu0,
    }
    print(json.dumps(report), flush=True)
    # Hold the connections until the parent closes our stdin, then drop them all at once.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    os._exit(0)


# -- the parent ---------------------------------------------------------------------------


def stack_cpu(h: Harness) -> dict[str, float]:
    groups = harness_processes(h.pid)
    out = {"gateway": cpu_seconds(h.pid), "moto": sum(cpu_seconds(p) for p in groups["moto"])}
    for fn in ("authorizer", "connect", "disconnect"):
        pids = [p for p in groups["workers"] if any(a.endswith(f"-{fn}") for a in cmdline(p))]
        out[fn] = sum(cpu_seconds(p) for p in pids)
    return out


def stack_rss(h: Harness) -> dict[str, int]:
    groups = harness_processes(h.pid)
    return {k: sum(rss_bytes(p) for p in pids) for k, pids in groups.items()}


async def open_from_clients(
    ws_url: str,
    secret: str,
    total: int,
    clients: int,
    in_flight: int,
    deadline_s: float = 1200,
    kind: str = "handshake",
    rate: float = 0.0,
) -> tuple[list[asyncio.subprocess.Process], list[dict[str, Any]]]:
    """Start `clients` client processes opening `total` connections between them, each
    with `bench.handshake` (kind "handshake") or websockets' client ("websockets"): as
    fast as `in_flight` handshakes at once allow, or at `rate` connections/s in all."""
    run = secrets.token_hex(3)
    procs = []
    for k in range(clients):
        share = total // clients + (1 if k < total % clients else 0)
        procs.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.scale",
                "client",
                ws_url,
                secret,
                str(share),
                str(in_flight),
                f"scale-{run}-{k}",
                str(deadline_s),
                kind,
                str(rate / clients),
                cwd=ROOT,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                # The report is one JSON line holding every latency: ~20 bytes each.
                limit=64 * 1024 + 32 * share,
            )
        )
    reports = []
    for p in procs:
        assert p.stdout is not None
        line = await asyncio.wait_for(p.stdout.readline(), deadline_s + 120)
        if not line:
            raise RuntimeError(f"client process exited: {await p.wait()}")
        reports.append(json.loads(line))
    return procs, reports


async def drop_clients(procs: list[asyncio.subprocess.Process]) -> None:
    for p in procs:
        if p.stdin is not None:
            p.stdin.close()
    for p in procs:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(p.wait(), 30)


def error_totals(reports: list[dict[str, Any]]) -> dict[str, int]:
    """The `errors` counts of several client reports (or rounds), added up by kind."""
    totals: dict[str, int] = {}
    for r in reports:
        for k, v in r["errors"].items():
            totals[k] = totals.get(k, 0) + v
    return totals


def summarize(reports: list[dict[str, Any]], cpu: dict[str, float], wall: float) -> dict[str, Any]:
    opened = sum(r["opened"] for r in reports)
    latencies = sorted(x for r in reports for x in r["latencies_ms"])
    errors = error_totals(reports)
    span = max(r["done"] for r in reports) - min(r["started"] for r in reports)

    def pct(p: float) -> float:
        return float(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))])

    client_cpu = [r["cpu_s"] / max(r["done"] - r["started"], 1e-9) for r in reports]
    return {
        "opened": opened,
        "errors": errors,
        "seconds": round(span, 2),
        "per_s": round(opened / span, 1),
        "handshake_ms": {
            "p50": round(pct(50), 1),
            "p99": round(pct(99), 1),
            "max": round(latencies[-1], 1),
        }
        if latencies
        else {},
        "cpu_ms_per_connection": {k: round(v / max(opened, 1) * 1000, 2) for k, v in cpu.items()},
        "client_cpu_share_of_core": [round(c, 2) for c in client_cpu],
        "stack_cpu_cores_busy": round(sum(cpu.values()) / max(wall, 1e-9), 2),
    }


async def wait_until_idle(h: Harness, limit_s: float = 300) -> None:
    """Until the stack has used under 5 % of a core for a second: the previous round's
    `$disconnect`s are done and do not eat into the next round."""
    deadline = time.monotonic() + limit_s
    before = sum(stack_cpu(h).values())
    while time.monotonic() < deadline:
        await asyncio.sleep(1)
        now = sum(stack_cpu(h).values())
        if now - before < 0.05:
            return
        before = now


async def connect_rate(args: argparse.Namespace) -> dict[str, Any]:
    """`args.rounds` rounds on one warm stack, each opening `args.rate_connections` and
    closing them all; the machine is shared, so one round is not a figure."""
    options = ["--concurrency", str(args.concurrency)]
    rounds = []
    async with running_harness(*options) as h:
        # A few connections first, so sandboxes are warm (cold starts are not the subject).
        procs, _ = await open_from_clients(
            h.ws_url, h.secret, args.concurrency * 2, 1, args.concurrency * 2
        )
        await drop_clients(procs)
        for _ in range(args.rounds):
            await wait_until_idle(h)
            cpu0 = stack_cpu(h)
            t0 = time.perf_counter()
            procs, reports = await open_from_clients(
                h.ws_url,
                h.secret,
                args.rate_connections,
                args.clients,
                args.in_flight,
                kind=args.client,
                rate=args.offered_rate,
            )
            wall = time.perf_counter() - t0
            cpu1 = stack_cpu(h)
            await drop_clients(procs)
            rounds.append(summarize(reports, {k: cpu1[k] - cpu0[k] for k in cpu0}, wall))
    by_rate = sorted(rounds, key=lambda r: float(r["per_s"]))
    # With an even number of rounds, the lower of the two middle ones: never flattering.
    return {"median": by_rate[(len(by_rate) - 1) // 2], "rounds": rounds}


async def idle(args: argparse.Namespace) -> dict[str, Any]:
    options = ["--concurrency", str(args.concurrency)]
    async with running_harness(*options) as h:
        before = stack_rss(h)
        t0 = time.perf_counter()
        procs, reports = await open_from_clients(
            h.ws_url, h.secret, args.idle, args.clients, args.in_flight, kind=args.client
        )
        wall = time.perf_counter() - t0
        # Idle for a moment: let the connect invocations' garbage settle.
        await asyncio.sleep(5)
        held = stack_rss(h)
        opened = sum(r["opened"] for r in reports)
        await drop_clients(procs)
    return {
        "opened": opened,
        "open_seconds": round(wall, 1),
        "rss_mib_before": {k: round(v / MIB, 1) for k, v in before.items()},
        "rss_mib_held": {k: round(v / MIB, 1) for k, v in held.items()},
        "gateway_kib_per_connection": round(
            (held["gateway"] - before["gateway"]) / max(opened, 1) / 1024, 1
        ),
    }


def report(rate: dict[str, Any] | None, held: dict[str, Any] | None, args: Any) -> str:
    lines = []
    if rate:
        med = rate["median"]
        hs = med["handshake_ms"]
        cpu = ", ".join(f"{k} {v:.2f}" for k, v in med["cpu_ms_per_connection"].items())
        per_round = ", ".join(f"{r['per_s']:.0f}" for r in rate["rounds"])
        errors = error_totals(rate["rounds"])
        load = (
            f"offered at {args.offered_rate:g}/s in all (open loop, at most {args.in_flight} "
            "in flight each)"
            if args.offered_rate
            else f"{args.in_flight} handshakes in flight each"
        )
        lines += [
            f"connect rate (authorizer + $connect + DynamoDB): median {med['per_s']:.0f}/s over "
            f"{len(rate['rounds'])} rounds of {args.rate_connections} connections (per round: "
            f"{per_round}/s) from {args.clients} {args.client} client processes, "
            f"{load}; errors {errors or 'none'}",
            "  the median round:",
            f"  handshake p50 {hs.get('p50')} ms, p99 {hs.get('p99')} ms, max {hs.get('max')} ms",
            f"  stack CPU per connection (ms): {cpu}; stack kept "
            f"{med['stack_cpu_cores_busy']} cores busy",
            f"  client processes used {med['client_cpu_share_of_core']} of a core each",
        ]
    if held:
        lines += [
            f"idle: {held['opened']} connections open (in {held['open_seconds']} s); RSS MiB "
            f"before {held['rss_mib_before']}, holding {held['rss_mib_held']}; gateway "
            f"{held['gateway_kib_per_connection']} KiB per connection",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["client"]:
        url, secret, count, in_flight, prefix, deadline, kind, per_s = argv[1:9]
        raise_fd_limit()
        asyncio.run(
            _client(
                url, secret, int(count), int(in_flight), prefix, float(deadline), kind, float(per_s)
            )
        )
        return 0
    p = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n")[0])
    p.add_argument("--rate-connections", type=int, default=2000, help="0 skips phase 1")
    p.add_argument("--rounds", type=int, default=5, help="phase 1 rounds; the median is reported")
    p.add_argument("--idle", type=int, default=10000, help="0 skips phase 2")
    p.add_argument("--clients", type=int, default=4, help="client processes")
    p.add_argument(
        "--in-flight",
        type=int,
        default=100,
        help="handshakes in flight per client (with --offered-rate, a cap)",
    )
    p.add_argument(
        "--offered-rate",
        type=float,
        default=0.0,
        help="phase 1 opens at this many connections/s in all (an open loop: latency "
        "counts from when each handshake was due); 0: as fast as --in-flight allows",
    )
    p.add_argument("--concurrency", type=int, default=4, help="sandboxes per function")
    p.add_argument(
        "--client",
        choices=("handshake", "websockets"),
        default="handshake",
        help="how clients open: bench.handshake (the cheapest) or websockets' client",
    )
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    raise_fd_limit()  # inherited by the harness and the client processes

    async def both() -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        rate = await connect_rate(args) if args.rate_connections else None
        held = await idle(args) if args.idle else None
        return rate, held

    rate, held = asyncio.run(both())
    print(describe())
    print(report(rate, held, args))
    if args.json:
        args.json.write_text(json.dumps({"rate": rate, "idle": held}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
