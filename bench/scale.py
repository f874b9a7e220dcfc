"""Connection scale: how fast connections open through the authorizer, `$connect` and
DynamoDB, and what 10,000 idle connections cost the gateway.

    python -m bench.scale [--rate-connections 2000] [--idle 10000] [--clients 4]

Starts `python -m infra` in a child process; the clients run in `--clients` other
processes (each opens its share with up to `--in-flight` handshakes at once and reports
its own CPU, so a saturated client shows up). Phase 1 opens `--rate-connections` as
fast as the stack accepts them and reports connections/s, handshake latency and the
CPU each part of the stack spent per connection (from /proc: gateway, authorizer and
connect sandboxes, moto). Phase 2 holds `--idle` connections open and reports the
gateway process's RSS (and the total with sandboxes and moto).
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
    url: str, secret: str, count: int, in_flight: int, prefix: str, deadline_s: float
) -> None:
    from websockets.asyncio.client import ClientConnection, connect
    from websockets.exceptions import InvalidHandshake, InvalidStatus

    from client import protocol
    from client.tokens import mint_token

    tokens = [mint_token(f"{prefix}-{i}", secret=secret, ttl_s=7200) for i in range(count)]
    gate = asyncio.Semaphore(in_flight)
    conns: list[ClientConnection] = []
    latencies: list[float] = []
    errors: dict[str, int] = {}
    cpu0 = time.process_time()

    async def one(token: str) -> None:
        async with gate:
            t = time.perf_counter()
            try:
                ws = await connect(
                    protocol.with_token(url, token),
                    compression=None,
                    open_timeout=60,
                    ping_interval=None,
                    max_size=2**16,
                )
            except InvalidStatus as exc:
                key = f"http_{exc.response.status_code}"
                errors[key] = errors.get(key, 0) + 1
                return
            except (OSError, TimeoutError, InvalidHandshake) as exc:
                key = type(exc).__name__
                errors[key] = errors.get(key, 0) + 1
                return
            latencies.append((time.perf_counter() - t) * 1000)
            conns.append(ws)

    started = time.time()
    attempts = [asyncio.ensure_future(one(t)) for t in tokens]
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
    ws_url: str, secret: str, total: int, clients: int, in_flight: int, deadline_s: float = 1200
) -> tuple[list[asyncio.subprocess.Process], list[dict[str, Any]]]:
    """Start `clients` client processes opening `total` connections between them."""
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
                cwd=ROOT,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
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


def summarize(reports: list[dict[str, Any]], cpu: dict[str, float], wall: float) -> dict[str, Any]:
    opened = sum(r["opened"] for r in reports)
    latencies = sorted(x for r in reports for x in r["latencies_ms"])
    errors: dict[str, int] = {}
    for r in reports:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
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


async def connect_rate(args: argparse.Namespace) -> dict[str, Any]:
    options = ["--concurrency", str(args.concurrency)]
    async with running_harness(*options) as h:
        # A few connections first, so sandboxes are warm (cold starts are not the subject).
        procs, _ = await open_from_clients(
            h.ws_url, h.secret, args.concurrency * 2, 1, args.concurrency * 2
        )
        await drop_clients(procs)
        cpu0 = stack_cpu(h)
        t0 = time.perf_counter()
        procs, reports = await open_from_clients(
            h.ws_url, h.secret, args.rate_connections, args.clients, args.in_flight
        )
        wall = time.perf_counter() - t0
        cpu1 = stack_cpu(h)
        await drop_clients(procs)
    cpu = {k: cpu1[k] - cpu0[k] for k in cpu0}
    return summarize(reports, cpu, wall)


async def idle(args: argparse.Namespace) -> dict[str, Any]:
    options = ["--concurrency", str(args.concurrency)]
    async with running_harness(*options) as h:
        before = stack_rss(h)
        t0 = time.perf_counter()
        procs, reports = await open_from_clients(
            h.ws_url, h.secret, args.idle, args.clients, args.in_flight
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
        hs = rate["handshake_ms"]
        cpu = ", ".join(f"{k} {v:.2f}" for k, v in rate["cpu_ms_per_connection"].items())
        lines += [
            f"connect rate: {rate['opened']} connections (authorizer + $connect + DynamoDB) in "
            f"{rate['seconds']} s = {rate['per_s']:.0f}/s from {args.clients} client processes, "
            f"{args.in_flight} handshakes in flight each; errors {rate['errors'] or 'none'}",
            f"  handshake p50 {hs.get('p50')} ms, p99 {hs.get('p99')} ms, max {hs.get('max')} ms",
            f"  stack CPU per connection (ms): {cpu}; stack kept "
            f"{rate['stack_cpu_cores_busy']} cores busy",
            f"  client processes used {rate['client_cpu_share_of_core']} of a core each",
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
        url, secret, count, in_flight, prefix, deadline = argv[1:7]
        raise_fd_limit()
        asyncio.run(_client(url, secret, int(count), int(in_flight), prefix, float(deadline)))
        return 0
    p = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n")[0])
    p.add_argument("--rate-connections", type=int, default=2000, help="0 skips phase 1")
    p.add_argument("--idle", type=int, default=10000, help="0 skips phase 2")
    p.add_argument("--clients", type=int, default=4, help="client processes")
    p.add_argument("--in-flight", type=int, default=100, help="handshakes in flight per client")
    p.add_argument("--concurrency", type=int, default=4, help="sandboxes per function")
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
