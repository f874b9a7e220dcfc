"""Our emulator vs serverless-offline@13, same handlers, same load tester, one run.

    python -m bench.peer [--only PHASES] [--ladder 5,10,15,20,30,40,60,80] [--duration 15]
                         [--connections 50 --rooms 5] [--ramp 10]

Both run the project's serverless.yml against their own embedded DynamoDB (moto's
server, `infra.dynamodb`). Phases (`--only unmodified,capacity,connect,probes,none`, all
by default):

- unmodified: serverless-offline with the handlers exactly as they are, one connection
  attempt. Every other phase runs it with a shim that only adds the
  `identity.sourceIp` it drops (see `bench.peer.offline.SHIM`): without it nothing
  connects.
- capacity: the highest offered load each emulator sustains ("throughput"). Both start
  together and run the same ladder of `python -m client.loadtest` loads, alternating
  so machine noise hits both alike (ours, peer at step 1; ours, peer at step 2; ...).
  A step is --duration s of sending at one --ladder rate (msg/s) from 50 connections
  in 5 rooms of 10 members (by default), so it offers msg/s x 10 deliveries/s.

  A step is *sustained* when the load test lost no delivery, saw no duplicate or
  misrouted one, had no connection error (failed handshake or join, error frame,
  connection closed by the emulator), was not cut short (the emulator past
  MAX_PROCESSES processes: serverless-offline starts one per concurrent invocation and
  keeps it until it has been idle for 60 s), and its delivered deliveries/s
  (`throughput_per_s`: from the first send to the last delivery, so a backlog still
  draining after the sending counts against it) is at least 95 % of the offered.
  A side that fails a step is stopped there, so it no longer loads the machine, and
  the other goes on up the ladder. A side's capacity is its highest sustained
  deliveries/s; if it never failed, the ladder ended first and that is a lower bound.

  Reported per step and side: offered and delivered/s, p50/p99, lost, errors, the
  emulator's process and RSS peak; per side its capacity and the p99 there; then the
  capacity ratio ours/peer and both p99s at the peer's highest sustained step.

  Each load opens its connections at --ramp per s (10), because the ladder is about
  messages: a faster burst of handshakes makes serverless-offline start a cold Python
  process per concurrent authorizer / $connect call, whose start on 2 cores can pass
  the authorizer's 5 s timeout; it then kills that process but keeps it in its pool,
  and later calls on it fail (EPIPE, HTTP 500). Handshake bursts are the connect
  phase's subject. After each load the bench waits until that side is idle again
  (`settle`), so one side's aftermath (the peer's 50 $disconnect calls) does not run
  during the other's load.
- connect: connections opened from client processes (authorizer + $connect), on a fresh
  pair of emulators (after a warm-up load, then a burst at the measured concurrency so
  that neither side starts processes while measured), with the CPU each side used per
  connection (emulator and Lambda processes; moto); on the same pair:
- probes: correctness probes (`bench.peer.checks`): a stale member, a clean close, GET
  @connections of an unknown id;
- none: on the repo's echo service, a handler that returns None.
Prints every figure and the ratios ours / peer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.exceptions import InvalidHandshake

from bench.harness import ROOT, running_harness
from bench.machine import describe
from bench.peer import capacity, checks
from bench.peer.capacity import MAX_PROCESSES
from bench.peer.offline import running_offline
from bench.procs import cpu_seconds, descendants, harness_processes, rss_bytes
from bench.rates import rate_ladder
from bench.scale import drop_clients, open_from_clients, summarize
from client.tokens import SECRET_ENV, local_secret
from infra.config import load_service
from infra.dynamodb import provision, start_moto

ECHO = ROOT / "tests" / "echo_service" / "serverless.yml"
PHASES = ("unmodified", "capacity", "connect", "probes", "none")
LADDER = "5,10,15,20,30,40,60,80"


@dataclass(frozen=True)
class Target:
    name: str
    ws_url: str
    mgmt_url: str
    dynamodb_endpoint: str
    secret: str
    pid: int  # the emulator's own process; its descendants are its Lambda processes
    moto_pid: int  # its embedded DynamoDB (ours: a descendant; the peer's: not)


@contextlib.asynccontextmanager
async def peer_stack(shim: bool, log: Path) -> AsyncIterator[Target]:
    """serverless-offline on the project's serverless.yml with its own embedded moto."""
    moto = await start_moto()
    try:
        secret = local_secret()
        spec = load_service(ROOT / "serverless.yml", "dev", parameter_values={SECRET_ENV: secret})
        await asyncio.to_thread(
            provision, spec, dynamodb_endpoint=moto.endpoint, ssm_endpoint=moto.endpoint
        )
        env = {
            "AWS_ENDPOINT_URL_DYNAMODB": moto.endpoint,
            "AWS_ENDPOINT_URL_SSM": moto.endpoint,
            "AWS_REGION": spec.region,
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
        async with running_offline(ROOT / "serverless.yml", env, shim=shim, log=log) as off:
            yield Target(
                f"serverless-offline {off.version}" + (" + shim" if shim else ""),
                off.ws_url,
                off.mgmt_url,
                moto.endpoint,
                secret,
                off.pid,
                moto.proc.pid,
            )
    finally:
        await moto.close()


@contextlib.asynccontextmanager
async def our_stack(log: Path) -> AsyncIterator[Target]:
    async with running_harness(log=log) as h:
        (moto_pid,) = harness_processes(h.pid)["moto"]
        yield Target(
            "ours (python -m infra)",
            h.ws_url,
            h.mgmt_url,
            h.dynamodb_endpoint,
            h.secret,
            h.pid,
            moto_pid,
        )


def _emulator_pids(t: Target) -> list[int]:
    # Ours: gateway + sandboxes, not its moto (the peer's moto is not its child).
    return [p for p in [t.pid, *descendants(t.pid)] if p != t.moto_pid]


def _cpu(t: Target) -> dict[str, float]:
    """CPU seconds so far: the emulator (with its Lambda processes, living or reaped)
    and its embedded DynamoDB."""
    return {
        "emulator": sum(cpu_seconds(p, reaped=True) for p in _emulator_pids(t)),
        "moto": cpu_seconds(t.moto_pid),
    }


async def loadtest(
    t: Target, connections: int, rooms: int, rate: float, secs: float, ramp: float
) -> Any:
    """client.loadtest against `t`, watching how many processes and how much memory the
    emulator uses meanwhile (and cutting the load short past MAX_PROCESSES)."""
    # The peer's processes outlive a load (serverless-offline reaps idle ones after 60 s),
    # so a step may start with many: the count at the start says how close it began.
    peak = {"processes": 0, "rss_mib": 0.0, "processes_at_start": len(_emulator_pids(t))}
    proc: asyncio.subprocess.Process | None = None

    async def watch() -> None:
        while True:
            pids = _emulator_pids(t)
            peak["processes"] = max(peak["processes"], len(pids))
            peak["rss_mib"] = max(peak["rss_mib"], sum(rss_bytes(p) for p in pids) / 2**20)
            if len(pids) > MAX_PROCESSES and proc is not None and proc.returncode is None:
                peak["cut_short"] = True
                proc.terminate()
            await asyncio.sleep(0.5)  # sampling

    watcher = asyncio.create_task(watch())
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [
            sys.executable,
            "-m",
            "client.loadtest",
            "--url",
            t.ws_url,
            "--connections",
            str(connections),
            "--rooms",
            str(rooms),
            "--rate",
            str(rate),
            "--duration",
            str(secs),
            "--ramp",
            str(ramp),
            "--drain",
            "15",
            "--open-timeout",
            "30",
            "--secret",
            t.secret,
            "--json",
            out.name,
            "--quiet",
        ]
        proc = await asyncio.create_subprocess_exec(
            *cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        await proc.wait()
        watcher.cancel()
        text = await asyncio.to_thread(Path(out.name).read_text)
    result: dict[str, Any] = (
        json.loads(text) if text.strip() else {"ok": False, "error": "no result"}
    )
    result["emulator"] = peak
    return result


async def settle(t: Target, limit_s: float = 60.0) -> float:
    """Wait until `t` (all its processes, moto included) is idle: under 10 % of one core
    for a second, or `limit_s`. A load's aftermath (the peer's $disconnect invocations
    for 50 connections start 50 cold Python processes) would otherwise run during the
    other side's next load. Returns the seconds waited."""
    loop = asyncio.get_running_loop()
    start = loop.time()

    def cpu() -> float:
        return sum(_cpu(t).values())

    before = await asyncio.to_thread(cpu)
    while loop.time() - start < limit_s:
        await asyncio.sleep(1.0)  # sampling CPU time
        now = await asyncio.to_thread(cpu)
        # A drop means processes exited, which is activity too.
        if 0 <= now - before < 0.1:
            break
        before = now
    return round(loop.time() - start, 1)


async def capacity_ladder(
    args: argparse.Namespace, logs: Path, out: dict[str, Any], save: Callable[[], None]
) -> None:
    """The ladder, alternating ours / peer per step, into `out` (saved after each step);
    a side that fails is stopped."""
    n, rooms = args.connections, args.rooms
    out |= {
        "config": {
            "connections": n,
            "rooms": rooms,
            "duration_s": args.duration,
            "ladder": args.ladder,
            "ramp": args.ramp,
            "sustained_share": capacity.SUSTAINED_SHARE,
            "max_processes": MAX_PROCESSES,
        },
        "steps": [],
    }
    # One exit stack per side, so a side that fails can be shut down on its own: its
    # processes (the peer's hundred-odd idle Python workers) then no longer take RAM and
    # CPU from the other side's remaining steps.
    stacks = {k: contextlib.AsyncExitStack() for k in capacity.SIDES}
    async with contextlib.AsyncExitStack() as both:
        for side in stacks.values():
            await both.enter_async_context(side)
        targets = {
            "ours": await stacks["ours"].enter_async_context(our_stack(logs / "ours.log")),
            "peer": await stacks["peer"].enter_async_context(
                peer_stack(shim=True, log=logs / "offline-shim.log")
            ),
        }
        out["names"] = {k: t.name for k, t in targets.items()}
        for t in targets.values():  # warm both: first invocations start processes
            await loadtest(t, 10, 1, 5, 3, args.ramp)
            await settle(t)
        live = set(capacity.SIDES)
        for rate in args.ladder:
            offered = capacity.offered_per_s(rate, n, rooms)
            step: dict[str, Any] = {"rate": rate, "offered_per_s": offered}
            for k in capacity.SIDES:
                if k not in live:
                    step[k] = None
                    continue
                print(f"capacity {rate:g} msg/s ({offered:g} deliveries/s) on {k}", file=sys.stderr)
                r = await loadtest(targets[k], n, rooms, rate, args.duration, args.ramp)
                r["failed_because"] = capacity.failures(r, offered)
                r["sustained"] = not r["failed_because"]
                step[k] = r
                if not r["sustained"]:
                    print(f"  {k} failed: {'; '.join(r['failed_because'])}", file=sys.stderr)
                    live.discard(k)
                    await stacks[k].aclose()
                else:
                    r["settle_s"] = await settle(targets[k])
            out["steps"].append(step)
            out["summary"] = capacity.summarize(out["steps"])
            save()
            if not live:
                break
    out["summary"] = capacity.summarize(out["steps"])


async def connect_rate(t: Target, total: int) -> dict[str, Any]:
    # 10 handshakes in flight: serverless-offline starts one Python process per
    # concurrent invocation, so more would mostly measure process spawning and RAM.
    clients, in_flight = 2, 5
    # A burst at the measured concurrency first, so each side has started every process
    # it will use: otherwise the run measures cold starts too (docs/benchmarks.md, 4d).
    procs, _ = await open_from_clients(
        t.ws_url, t.secret, 5 * clients * in_flight, clients, in_flight, deadline_s=90
    )
    await drop_clients(procs)
    await settle(t)
    cpu0, t0 = _cpu(t), time.perf_counter()
    procs, reports = await open_from_clients(
        t.ws_url, t.secret, total, clients, in_flight, deadline_s=90
    )
    wall, cpu1 = time.perf_counter() - t0, _cpu(t)
    await drop_clients(procs)
    return summarize(reports, {k: cpu1[k] - cpu0[k] for k in cpu0}, wall)


async def probes(t: Target) -> dict[str, Any]:
    out: dict[str, Any] = {}
    ws_probes = {
        "stale member": checks.stale_member,
        "clean close": checks.clean_close_leaves_room,
    }
    for name, probe in ws_probes.items():
        try:
            out[name] = await probe(t.ws_url, t.secret, t.dynamodb_endpoint)
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            out[name] = {"ok": False, "outcome": f"could not connect: {exc}"}
    out["GET unknown id"] = await asyncio.to_thread(checks.unknown_id_get, t.mgmt_url)
    return out


async def none_checks(log: Path) -> dict[str, Any]:
    """The echo service's None-returning route under both."""
    results: dict[str, Any] = {}
    async with running_harness("--service", str(ECHO)) as h:
        results["ours"] = await checks.none_result(h.ws_url)
    async with running_offline(ECHO, {}, log=log) as off:
        results["peer"] = await checks.none_result(off.ws_url)
    return results


async def run(args: argparse.Namespace) -> dict[str, Any]:
    logs = Path(tempfile.mkdtemp(prefix="wschat-peer-"))
    result: dict[str, Any] = {"logs": str(logs)}
    print(f"logs in {logs}", file=sys.stderr)

    def save() -> None:
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n")

    if "unmodified" in args.only:
        async with peer_stack(shim=False, log=logs / "offline-plain.log") as plain:
            result["unmodified"] = await checks.first_connect(plain.ws_url, plain.secret)
        print(f"unmodified handlers: {result['unmodified']}", file=sys.stderr)
    if "capacity" in args.only:
        result["capacity"] = {}
        await capacity_ladder(args, logs, result["capacity"], save)
        save()
    if {"connect", "probes"} & args.only:
        # A fresh pair: after the ladder the peer is stopped or may be past its limits.
        async with (
            our_stack(logs / "ours-checks.log") as ours,
            peer_stack(shim=True, log=logs / "offline-shim-checks.log") as peer,
        ):
            targets = {"ours": ours, "peer": peer}
            result["names"] = {k: t.name for k, t in targets.items()}
            for t in targets.values():  # warm both: first invocations start processes
                await loadtest(t, 10, 1, 5, 3, args.ramp)
                await settle(t)
            if "connect" in args.only:
                result["connect"] = {}
                for k, t in targets.items():
                    print(f"connect rate on {k}", file=sys.stderr)
                    result["connect"][k] = await connect_rate(t, args.connect)
                save()
            if "probes" in args.only:
                result["probes"] = {}
                for k, t in targets.items():
                    result["probes"][k] = await probes(t)
    if "none" in args.only:
        result["none"] = await none_checks(logs / "offline-echo.log")
    return result


def _ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "n/a"
    return f"{a / b:.1f}x"


def report(r: dict[str, Any]) -> str:
    lines: list[str] = []
    if "unmodified" in r:
        lines.append(
            f"serverless-offline with the handlers unmodified: first connection -> "
            f"{r['unmodified']['outcome']} after {r['unmodified']['s']:.1f} s"
        )
    names = r.get("names") or r.get("capacity", {}).get("names")
    if names:
        lines.append(f"ours = {names['ours']}; peer = {names['peer']}")
    if "capacity" in r:
        lines += ["", *capacity.report(r["capacity"])]
    if "connect" in r:
        lines.append("")
        for k in ("ours", "peer"):
            c = r["connect"][k]
            lines.append(
                f"connect rate {k:5} {c['per_s']:7.1f}/s ({c['opened']} opened, errors "
                f"{c['errors'] or 'none'}; handshake p50 {c['handshake_ms'].get('p50')} ms, "
                f"p99 {c['handshake_ms'].get('p99')} ms); CPU per connection (ms): "
                + ", ".join(f"{n} {ms}" for n, ms in c["cpu_ms_per_connection"].items())
            )
        rates = r["connect"]["ours"]["per_s"], r["connect"]["peer"]["per_s"]
        lines.append(f"connect rate ratio ours/peer {_ratio(*rates)}")
    if "probes" in r or "none" in r:
        lines.append("")
    for name in r.get("probes", {}).get("ours", {}):
        for k in ("ours", "peer"):
            p = r["probes"][k][name]
            lines.append(f"{name:16} {k:5} {'OK  ' if p['ok'] else 'FAIL'} {p['outcome']}")
    for k, p in r.get("none", {}).items():
        lines.append(f"{'None result':16} {k:5} {'OK  ' if p['ok'] else 'FAIL'} {p['outcome']}")
    return "\n".join(lines)


def _phases(text: str) -> set[str]:
    chosen = {p.strip() for p in text.split(",") if p.strip()}
    if not chosen or chosen - set(PHASES):
        raise argparse.ArgumentTypeError(f"a comma-separated subset of {','.join(PHASES)}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.peer",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--only", type=_phases, default=",".join(PHASES), help="phases to run (comma-separated)"
    )
    p.add_argument("--ladder", type=rate_ladder, default=LADDER, help="capacity steps, msg/s")
    p.add_argument("--connections", type=int, default=50, help="connections per capacity step")
    p.add_argument("--rooms", type=int, default=5, help="rooms they spread over")
    p.add_argument("--duration", type=float, default=15.0, help="seconds of sending per step")
    p.add_argument(
        "--ramp", type=float, default=10.0, help="new connections/s at the start of each load"
    )
    p.add_argument("--connect", type=int, default=200, help="connections for the connect rate")
    p.add_argument("--skip-none-check", action="store_true", help="same as leaving out none")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if args.connections <= 0 or args.rooms <= 0 or args.connections % args.rooms:
        # Equal rooms, so that the offered deliveries/s is msg/s x members per room.
        p.error("--connections must be a positive multiple of --rooms")
    if args.skip_none_check:
        args.only = args.only - {"none"}
    result = asyncio.run(run(args))
    print(describe())
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
