"""Memory of `make run`: every process of it (make, the harness, moto, the sandboxes),
idle after start and after one short chat session, for one or more checkouts side by side.

    python -m bench.idle_rss [--checkout DIR ...] [--runs 3] [--settle 10] [--json out.json]

Each run starts `make -C DIR run ARGS='--port P'` as a user would, waits for the banner,
lets it settle, sums RSS and PSS over the whole process tree (RSS counts a page each
process shares once per process, as `ps` and the issue do; PSS splits it), then opens one
chat session (connect, join, send, leave: the cold starts it pays) and measures again.
Checkouts alternate run by run, so a busy minute of the shared host hits them alike.
A checkout's own `.venv` (made by its `make`) runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from bench.machine import describe
from bench.procs import cmdline, descendants, rss_bytes

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024


def pss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def group_of(pid: int) -> str:
    args = cmdline(pid)
    joined = " ".join(args)
    if not args:
        return "gone"
    if "make" in Path(args[0]).name:
        return "make"
    if "infra.dynamo" in joined or "infra.dynamodb" in joined:
        return "moto"
    if "bootstrap.py" in joined or "infra.runtime.worker" in joined:
        return "sandboxes"
    if "-m infra" in joined or joined.endswith("infra"):
        return "harness"
    return "other"


def sample(root: int) -> dict[str, Any]:
    pids = [root, *descendants(root)]
    groups: dict[str, dict[str, float]] = {}
    for pid in pids:
        g = groups.setdefault(group_of(pid), {"processes": 0, "rss_mib": 0.0, "pss_mib": 0.0})
        g["processes"] += 1
        g["rss_mib"] += rss_bytes(pid) / MIB
        g["pss_mib"] += pss_bytes(pid) / MIB
    total = {
        "processes": sum(g["processes"] for g in groups.values()),
        "rss_mib": round(sum(g["rss_mib"] for g in groups.values()), 1),
        "pss_mib": round(sum(g["pss_mib"] for g in groups.values()), 1),
    }
    for g in groups.values():
        g["rss_mib"], g["pss_mib"] = round(g["rss_mib"], 1), round(g["pss_mib"], 1)
    return {"total": total, "groups": groups}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def token(checkout: Path) -> str:
    out = subprocess.run(
        [str(checkout / ".venv/bin/python"), "-m", "client.token", "bench"],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


async def chat_session(port: int, jwt: str) -> None:
    async with connect(f"ws://127.0.0.1:{port}/dev?token={jwt}", open_timeout=60) as ws:
        for frame in (
            {"action": "join", "room": "bench"},
            {"action": "send", "room": "bench", "text": "hello"},
            {"action": "leave", "room": "bench"},
        ):
            await ws.send(json.dumps(frame))
            await asyncio.wait_for(ws.recv(), 60)


def one_run(checkout: Path, settle_s: float, extra: list[str]) -> dict[str, Any]:
    port = free_port()
    args = " ".join([f"--port {port}", *extra])
    proc = subprocess.Popen(
        ["make", "-s", "-C", str(checkout), "run", f"ARGS={args}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    started = time.monotonic()
    try:
        for line in proc.stdout:
            if "Ctrl-C stops" in line:
                break
        else:
            raise RuntimeError(f"{checkout}: make run exited before its banner")
        ready_s = time.monotonic() - started
        time.sleep(settle_s)
        idle = sample(proc.pid)
        asyncio.run(chat_session(port, token(checkout)))
        time.sleep(settle_s)
        after = sample(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return {"ready_s": round(ready_s, 1), "idle": idle, "after_session": after}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkout", type=Path, action="append", help="default: this one")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--settle", type=float, default=10.0, help="seconds before each sample")
    p.add_argument("--args", default="", help="extra `python -m infra` arguments")
    p.add_argument("--json", type=Path)
    a = p.parse_args()
    checkouts = [c.resolve() for c in (a.checkout or [ROOT])]
    print(describe(), flush=True)
    results: dict[str, list[dict[str, Any]]] = {str(c): [] for c in checkouts}
    for run in range(a.runs):
        for checkout in checkouts:
            r = one_run(checkout, a.settle, a.args.split())
            results[str(checkout)].append(r)
            i, s = r["idle"]["total"], r["after_session"]["total"]
            print(
                f"run {run + 1} {checkout}: ready in {r['ready_s']} s; idle "
                f"{i['processes']} processes, RSS {i['rss_mib']} MiB, PSS {i['pss_mib']} MiB; "
                f"after a chat session {s['processes']} processes, RSS {s['rss_mib']} MiB, "
                f"PSS {s['pss_mib']} MiB",
                flush=True,
            )
            for when in ("idle", "after_session"):
                groups = ", ".join(
                    f"{name} {g['processes']}x {g['rss_mib']} MiB"
                    for name, g in sorted(r[when]["groups"].items())
                )
                print(f"    {when}: {groups}", flush=True)
    for checkout, runs in results.items():
        for when in ("idle", "after_session"):
            rss = statistics.median(r[when]["total"]["rss_mib"] for r in runs)
            pss = statistics.median(r[when]["total"]["pss_mib"] for r in runs)
            print(f"median {when} {checkout}: RSS {rss:.0f} MiB, PSS {pss:.0f} MiB")
    if a.json:
        a.json.write_text(json.dumps({"machine": describe(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
