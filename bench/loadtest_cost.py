"""The load tester's own cost: CPU per delivery on Locust next to the asyncio tester it
replaced, and how many idle connections one worker holds.

    python -m bench.loadtest_cost [--rounds 3] [--connections 1000 --rooms 100 --rate 500]
    python -m bench.loadtest_cost --idle 5000

Both testers run against the same bare fan-out peer (join and send only, no auth or
storage; a child process, so the testers' CPU is measured alone), alternating in one run.
The asyncio tester is taken from git as it was (`--baseline`, default the commit before
the move to Locust) into a temporary directory. For each run the tester's whole-process
CPU (user + system, startup included) and its deliveries give CPU per delivery; the
in-run figure excludes startup (imports, Locust's web and RPC machinery).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import defaultdict
from io import BytesIO
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BASELINE = "adceb62"


async def fanout_peer() -> None:
    """Answer `join` with `joined` and fan each `send` out to the room."""
    from websockets.asyncio.server import ServerConnection, serve

    rooms: dict[str, set[ServerConnection]] = defaultdict(set)
    ids = itertools.count()

    async def session(ws: ServerConnection) -> None:
        joined: set[str] = set()
        try:
            async for raw in ws:
                f: dict[str, Any] = json.loads(raw)
                room = str(f.get("room"))
                if f.get("action") == "join":
                    rooms[room].add(ws)
                    joined.add(room)
                    await ws.send(json.dumps({"type": "joined", "room": room, "members": []}))
                elif f.get("action") == "send":
                    frame = json.dumps(
                        {
                            "type": "message",
                            "room": room,
                            "id": f"{next(ids):016d}",
                            "from": {"id": "u", "name": "u"},
                            "data": f.get("data"),
                            "clientMsgId": f.get("clientMsgId"),
                            "ts": int(time.time() * 1000),
                        }
                    )
                    for member in list(rooms[room]):
                        await member.send(frame)
        finally:
            for room in joined:
                rooms[room].discard(ws)

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    async with serve(session, "127.0.0.1", 0, compression=None, max_queue=None) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def baseline_tree(ref: str, into: Path) -> Path:
    """`client/` as it was at `ref`."""
    blob = subprocess.run(
        ["git", "archive", "--format=tar", ref, "client"], cwd=REPO, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(blob)) as tar:
        tar.extractall(into, filter="data")
    return into


def tester(cwd: Path, url: str, args: list[str], out: Path) -> dict[str, Any]:
    """Run one tester to the end; its JSON plus its whole-process CPU and peak RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "client.loadtest",
            "--url",
            url,
            "--quiet",
            "--json",
            str(out),
            *args,
        ],
        cwd=cwd,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin", "PYTHONWARNINGS": "ignore"},
        capture_output=True,
        text=True,
        check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if not out.exists():
        raise SystemExit(f"tester failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    r = json.loads(out.read_text())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    delivered = max(1, r["delivered"])
    return {
        "status": done.returncode,
        "wall_s": round(time.monotonic() - started, 1),
        "members": r.get("members", r["connections"].get("open")),
        "delivered": r["delivered"],
        "lost": r["lost"],
        "cpu_s": round(cpu, 2),
        "cpu_us_per_delivery": round(cpu / delivered * 1e6, 1),
        "in_run_cpu_us_per_delivery": round(r["cpu"]["seconds"] / delivered * 1e6, 1),
        "peak_rss_mb": round(after.ru_maxrss / 1024),  # the largest child so far
        "tester_peak_rss_mb": r["cpu"].get("peak_rss_mb"),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.loadtest_cost", description=__doc__)
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--connections", type=int, default=1000)
    p.add_argument("--rooms", type=int, default=100)
    p.add_argument("--rate", type=float, default=300.0)
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--baseline", default=BASELINE, help="git ref of the asyncio tester")
    p.add_argument("--idle", type=int, metavar="N", help="only: N idle connections on Locust")
    a = p.parse_args(argv)
    if a.serve:
        asyncio.run(fanout_peer())
        return 0
    peer = subprocess.Popen(
        [sys.executable, "-m", "bench.loadtest_cost", "--serve"],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert peer.stdout is not None
        url = f"ws://127.0.0.1:{int(peer.stdout.readline())}/"
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run.json"
            if a.idle:
                args = [
                    *("--connections", str(a.idle), "--rooms", str(a.idle // 10)),
                    *("--rate", "5", "--duration", "20", "--ramp", "500", "--token", "x"),
                ]
                print(json.dumps({"idle": a.idle, **tester(REPO, url, args, out)}), flush=True)
                return 0
            old = baseline_tree(a.baseline, Path(tmp) / "baseline")
            args = [
                *("--connections", str(a.connections), "--rooms", str(a.rooms)),
                *("--rate", str(a.rate), "--duration", str(a.duration), "--ramp", "500"),
                *("--token", "x"),
            ]
            ratios = []
            for i in range(a.rounds):
                rows = {}
                for name, cwd in (("asyncio", old), ("locust", REPO)):
                    rows[name] = tester(cwd, url, args, out)
                    print(json.dumps({"round": i + 1, "tester": name, **rows[name]}), flush=True)
                ratios.append(
                    rows["locust"]["cpu_us_per_delivery"] / rows["asyncio"]["cpu_us_per_delivery"]
                )
            print(
                json.dumps(
                    {
                        "locust_over_asyncio_cpu_per_delivery": [round(r, 2) for r in ratios],
                        "median": round(statistics.median(ratios), 2),
                    }
                ),
                flush=True,
            )
    finally:
        assert peer.stdin is not None
        peer.stdin.close()
        peer.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
