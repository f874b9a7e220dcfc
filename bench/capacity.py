"""The local stack's capacity, against another checkout's, in one run: a ladder of the
README's load test at rising rates, both stacks taking each step in turn.

    python -m bench.capacity --baseline ../base-adceb62 [--ladder 25,50,75,100]
                             [--connections 200 --rooms 20 --duration 30]
                             [--max-p99-ms 5000] [--busy 1] [--json FILE]

Each side is `python -m infra` of its checkout (its own `.venv`, its own serverless.yml,
its own embedded DynamoDB), started once as `make run` starts it (sandboxes on first use,
the console log drained) and warmed by one short load. Every step runs this checkout's
`python -m client.loadtest` (every delivery checked exactly once) against each side, the
order alternating step by step so a busy minute hits both alike. A step is *sustained*
when the load tester passes (nothing lost, duplicated or misrouted, no error, delivery
p99 within `--max-p99-ms`) and it sent at least 90 % of the messages its schedule asked
for (each user waits for its send's ack, so a stack slower than a user's period shows
as fewer sends). A side stops at its first step not sustained; its capacity is its
highest sustained rate, and the ratio of the two capacities is the figure to read.

CPU per delivery of the whole local stack (gateway, moto, the Lambda sandboxes) is read
from /proc around every load, by process, so each step also gives the CPU ratio of the
two stacks at the same load; the load average is read with it. After each load the stack
is left to finish its teardown (its CPU under 5 % of a core) before the next. `--busy N` runs N
processes that spin on the CPU for the whole run (a host whose other users keep N cores
busy), so "on a busy host" is a setting, not luck.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import ROOT, Harness, running_harness
from bench.machine import describe, load_average
from bench.procs import cpu_seconds, harness_processes
from bench.rates import rate_ladder

LADDER = "25,50,75,100"
SIDES = ("base", "new")
SENT_SHARE = 0.9  # of the sends the schedule asked for
# Before the ladder: the first step's load, shorter, so that each function has started
# the sandboxes the load needs (make run starts them on first use, a second or so each).
WARM_UP_S = 10.0
# After each load the stack is left to finish its teardown (200 `$disconnect`s, each
# telling its room, many of them gone already) before the next load starts: else the
# next load's connects queue behind it and the ramp's latency is the last load's.
SETTLED_CPU_SHARE = 0.05  # of one core, over a second
SETTLE_MAX_S = 60.0


@dataclass(frozen=True)
class Side:
    name: str  # base | new
    root: Path
    harness: Harness


def function_of(pid: int) -> str:
    """A sandbox's function name (AWS_LAMBDA_FUNCTION_NAME, less the service-stage prefix)."""
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return "?"
    for entry in env:
        if entry.startswith(b"AWS_LAMBDA_FUNCTION_NAME="):
            return entry.split(b"=", 1)[1].decode().rsplit("-", 1)[-1]
    return "?"


def cpu_by_process(gateway_pid: int) -> dict[str, float]:
    """CPU seconds so far: "gateway", "moto", "sandbox <function>" (summed over its
    sandboxes) and "exited" (sandboxes that ended, as their parent reaped them)."""
    groups = harness_processes(gateway_pid)
    out = {
        "gateway": cpu_seconds(gateway_pid),
        "exited": cpu_seconds(gateway_pid, reaped=True) - cpu_seconds(gateway_pid),
        "moto": sum(cpu_seconds(p) for p in groups["moto"]),
    }
    for pid in groups["workers"]:
        key = f"sandbox {function_of(pid)}"
        out[key] = out.get(key, 0.0) + cpu_seconds(pid)
    return out


async def settle(side: Side) -> float:
    """Wait until the stack's processes use under SETTLED_CPU_SHARE of a core (at most
    SETTLE_MAX_S); the seconds waited."""
    started = time.monotonic()
    before = await asyncio.to_thread(cpu_by_process, side.harness.pid)
    while time.monotonic() - started < SETTLE_MAX_S:
        await asyncio.sleep(1.0)
        now = await asyncio.to_thread(cpu_by_process, side.harness.pid)
        if sum(spent(before, now).values()) < SETTLED_CPU_SHARE:
            break
        before = now
    return round(time.monotonic() - started, 1)


def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    # A sandbox that started during the load counts from zero; one that ended is in "exited".
    return {k: max(0.0, v - before.get(k, 0.0)) for k, v in after.items()}


@contextlib.contextmanager
def busy_host(n: int) -> Iterator[None]:
    """`n` processes spinning on the CPU until the block ends."""
    spinners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(max(0, n))
    ]
    try:
        yield
    finally:
        for p in spinners:
            p.kill()
            p.wait()


async def load(side: Side, args: argparse.Namespace, **given: Any) -> dict[str, Any]:
    """One `python -m client.loadtest` run against `side`, with the CPU each of its
    processes spent meanwhile and the load average before and after."""
    o = {
        "connections": args.connections,
        "rooms": args.rooms,
        "rate": args.rate,
        "duration": args.duration,
    } | given
    h = side.harness
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [
            sys.executable,
            "-m",
            "client.loadtest",
            "--url",
            h.ws_url,
            f"--secret={h.secret}",  # it may start with "-"
            "--connections",
            str(o["connections"]),
            "--rooms",
            str(o["rooms"]),
            "--rate",
            str(o["rate"]),
            "--duration",
            str(o["duration"]),
            "--drain",
            str(args.drain),
            "--max-p99-ms",
            str(args.max_p99_ms),
            "--json",
            out.name,
            "--quiet",
        ]
        load_before = load_average()
        cpu0 = await asyncio.to_thread(cpu_by_process, h.pid)
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            *cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        _, err = await proc.communicate()
        wall = time.monotonic() - started
        cpu1 = await asyncio.to_thread(cpu_by_process, h.pid)
        text = await asyncio.to_thread(Path(out.name).read_text)
    r: dict[str, Any] = json.loads(text) if text.strip() else {"ok": False}
    if not text.strip():
        r["error"] = err.decode(errors="replace").strip().splitlines()[-1:] or ["no result"]
    r["exit_status"] = proc.returncode
    r["stack_cpu_s"] = spent(cpu0, cpu1)
    r["load_average"] = [load_before, load_average()]
    r["wall_s"] = round(wall, 1)
    r["settled_s"] = await settle(side)
    return r


def verdict(r: dict[str, Any], rate: float, duration: float) -> list[str]:
    """Why a step was not sustained (empty: it was)."""
    if "delivered" not in r:
        return [f"no result: {r.get('error')}"]
    why: list[str] = []
    verdict_line = str(r.get("verdict", ""))
    if r.get("exit_status") or not verdict_line.startswith("PASS"):
        why.append(verdict_line.removeprefix("FAIL: ") or "load tester FAIL")
    if r["connections"]["failed"]:
        why.append(f"{r['connections']['failed']} connections failed")
    if r["errors"]:
        why.append("errors " + ", ".join(f"{k} x{v}" for k, v in r["errors"].items()))
    if r.get("close_codes"):
        why.append(f"closed by the stack {r['close_codes']}")
    share = r["sent"] / (rate * duration)
    if share < SENT_SHARE:
        why.append(f"sent {100 * share:.0f}% of the schedule")
    return why


def per_delivery_us(r: dict[str, Any]) -> dict[str, float]:
    """Microseconds of CPU per delivery, by process group and in all."""
    delivered = r.get("delivered") or 0
    if not delivered:
        return {}
    cpu = r["stack_cpu_s"]
    out = {k: 1e6 * v / delivered for k, v in cpu.items() if v}
    out["stack"] = 1e6 * sum(cpu.values()) / delivered
    return out


@contextlib.asynccontextmanager
async def stacks(args: argparse.Namespace, logs: Path) -> AsyncIterator[dict[str, Side]]:
    roots = {"new": ROOT}
    if args.baseline:
        roots = {"base": args.baseline.resolve(), **roots}
    async with contextlib.AsyncExitStack() as exits:
        sides = {}
        for name, root in roots.items():
            h = await exits.enter_async_context(
                running_harness(root=root, quiet=False, log=logs / f"{name}.log")
            )
            sides[name] = Side(name, root, h)
        yield sides


async def run(args: argparse.Namespace) -> dict[str, Any]:
    logs = Path(tempfile.mkdtemp(prefix="wschat-capacity-"))
    print(f"logs in {logs}", file=sys.stderr)
    result: dict[str, Any] = {
        "config": {
            k: str(v) if isinstance(v, Path) else v
            for k, v in vars(args).items()
            if k not in ("json",)
        },
        "steps": [],
    }
    with busy_host(args.busy):
        async with stacks(args, logs) as sides:
            result["sides"] = {k: str(s.root) for k, s in sides.items()}
            for s in sides.values():  # sandboxes start on first use: start them first
                await load(s, args, duration=WARM_UP_S)
            live = list(sides)
            for i, rate in enumerate(args.ladder):
                step: dict[str, Any] = {"rate": rate, "offered_per_s": rate * deliveries(args)}
                order = live if i % 2 == 0 else live[::-1]
                for name in order:
                    print(f"{rate:g} msg/s on {name}", file=sys.stderr)
                    r = await load(sides[name], args, rate=rate)
                    r["failed_because"] = verdict(r, rate, args.duration)
                    r["sustained"] = not r["failed_because"]
                    r["cpu_us_per_delivery"] = per_delivery_us(r)
                    step[name] = r
                    print(f"  {summary_line(name, r)}", file=sys.stderr)
                live = [n for n in live if step[n]["sustained"]]
                result["steps"].append(step)
                if args.json:
                    args.json.write_text(json.dumps(result, indent=2) + "\n")
                if not live:
                    break
    result["summary"] = summarize(result["steps"], list(result["sides"]))
    return result


def deliveries(args: argparse.Namespace) -> float:
    """Deliveries per message: every member of the room, the sender included."""
    return float(args.connections) / float(args.rooms)


def summary_line(name: str, r: dict[str, Any]) -> str:
    lat = r.get("latency_ms", {})
    us = r.get("cpu_us_per_delivery", {})
    state = "sustained" if r["sustained"] else "FAILED: " + "; ".join(r["failed_because"])
    return (
        f"{name:4} sent {r.get('sent', 0):5d} delivered {r.get('delivered', 0):6d} "
        f"p50 {lat.get('p50', 0):5.0f} p99 {lat.get('p99', 0):5.0f} ms  "
        f"stack CPU {us.get('stack', 0):5.0f} us/delivery  load {r['load_average'][1]}  {state}"
    )


def summarize(steps: list[dict[str, Any]], sides: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in sides:
        ok = [s["rate"] for s in steps if s.get(name, {}).get("sustained")]
        failed = [s["rate"] for s in steps if name in s and not s[name]["sustained"]]
        out[name] = {
            "capacity_msg_s": max(ok, default=None),
            "failed_at": failed[0] if failed else None,
        }
    if len(sides) == 2:
        a, b = (out[n]["capacity_msg_s"] for n in sides)
        out["capacity_ratio"] = b / a if a and b else None
        ratios = [
            s["new"]["cpu_us_per_delivery"]["stack"] / s["base"]["cpu_us_per_delivery"]["stack"]
            for s in steps
            if "base" in s
            and "new" in s
            and s["base"].get("cpu_us_per_delivery")
            and s["new"].get("cpu_us_per_delivery")
        ]
        out["cpu_ratios"] = [round(x, 3) for x in ratios]
        out["cpu_ratio_median"] = statistics.median(ratios) if ratios else None
    return out


def report(r: dict[str, Any]) -> list[str]:
    cfg = r["config"]
    groups: list[str] = []
    for s in r["steps"]:
        for name in r["sides"]:
            for k in s.get(name, {}).get("cpu_us_per_delivery", {}):
                if k != "stack" and k not in groups:
                    groups.append(k)
    lines = [
        f"capacity: {cfg['connections']} connections in {cfg['rooms']} rooms "
        f"({deliveries_of(cfg):g} deliveries per message), {cfg['duration']:g} s of sending "
        f"per step, --max-p99-ms {cfg['max_p99_ms']:g}, {cfg['busy']} busy spinner(s)",
        "sides: " + ", ".join(f"{k} = {v}" for k, v in r["sides"].items()),
        "",
        f"{'msg/s':>5} {'side':4} {'sent%':>5} {'deliv':>6} {'lost':>5} {'p50':>5} {'p99':>6} "
        f"{'stack µs':>8}  " + " ".join(f"{g[:14]:>14}" for g in groups) + "  load   verdict",
    ]
    for s in r["steps"]:
        for name in r["sides"]:
            x = s.get(name)
            if x is None:
                continue
            lat, us = x.get("latency_ms", {}), x.get("cpu_us_per_delivery", {})
            sent = 100 * x.get("sent", 0) / (s["rate"] * cfg["duration"])
            state = "sustained" if x["sustained"] else "FAILED: " + "; ".join(x["failed_because"])
            lines.append(
                f"{s['rate']:5g} {name:4} {sent:5.0f} {x.get('delivered', 0):6d} "
                f"{x.get('lost', 0):5d} {lat.get('p50', 0):5.0f} {lat.get('p99', 0):6.0f} "
                f"{us.get('stack', 0):8.0f}  "
                + " ".join(f"{us.get(g, 0):14.0f}" for g in groups)
                + f"  {x['load_average'][1].split()[0]:>5}  {state}"
            )
    sm = r["summary"]
    lines.append("")
    for name in r["sides"]:
        c = sm[name]
        cap = c["capacity_msg_s"]
        end = f"failed at {c['failed_at']:g}" if c["failed_at"] else "never failed (ladder's top)"
        lines.append(f"capacity {name}: {cap if cap is not None else 'none'} msg/s ({end})")
    if "capacity_ratio" in sm:
        ratio = sm["capacity_ratio"]
        lines.append(f"capacity ratio new/base: {f'{ratio:.2f}x' if ratio else 'n/a'}")
        med = sm["cpu_ratio_median"]
        lines.append(
            "stack CPU per delivery new/base, per step: "
            + ", ".join(f"{x:.2f}x" for x in sm["cpu_ratios"])
            + (f" (median {med:.2f}x)" if med else "")
        )
    return lines


def deliveries_of(cfg: dict[str, Any]) -> float:
    return float(cfg["connections"]) / float(cfg["rooms"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.capacity",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--baseline", type=Path, help="another checkout (with its .venv) to compare")
    p.add_argument("--ladder", type=rate_ladder, default=LADDER, help="steps, msg/s")
    p.add_argument("--connections", type=int, default=200)
    p.add_argument("--rooms", type=int, default=20)
    p.add_argument("--duration", type=float, default=30.0, help="seconds of sending per step")
    p.add_argument("--drain", type=float, default=10.0, help="the load tester's --drain")
    # The p99 takes in the ramp: the README's load opens its 200 connections in the first
    # second (--ramp 200) while the first users already send, and on a busy 2-core host
    # that second's queue alone takes 2-3 s to clear at any rate (bench.capacity runs of
    # 2026-12-05: p50 50-110 ms, p99 2-3 s at 15 msg/s). 5 s keeps "sustained" about rate.
    p.add_argument("--max-p99-ms", type=float, default=5000.0, help="delivery p99 threshold")
    p.add_argument("--busy", type=int, default=0, help="CPU spinners for the whole run")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    args.rate = args.ladder[0]
    if args.connections <= 0 or args.rooms <= 0 or args.connections % args.rooms:
        p.error("--connections must be a positive multiple of --rooms")
    result = asyncio.run(run(args))
    print(describe())
    print("\n".join(report(result)))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
