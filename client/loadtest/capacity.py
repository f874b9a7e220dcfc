"""How far one load-tester process goes: `python -m client.loadtest.capacity`.

Runs the load tester against a minimal fan-out server (join and send only, in a child
process, so the tester's CPU is measured alone) and prints, per step, the tester's CPU
per delivery and its share of one core. The real service (local or AWS) is much slower
per message than this server, so these are the tester's own limits, not the service's.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import subprocess
import sys
import time
from collections import defaultdict
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from client.loadtest.config import LoadConfig
from client.loadtest.report import results
from client.loadtest.run import LoadRun, raise_fd_limit


async def fanout_server() -> None:
    """Answer `join` with `joined` and fan each `send` out to the room (no auth, no limits)."""
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
                    m = {
                        "type": "message",
                        "room": room,
                        "id": f"{next(ids):016d}",
                        "from": {"id": "u", "name": "u"},
                        "data": f.get("data"),
                        "clientMsgId": f.get("clientMsgId"),
                        "ts": int(time.time() * 1000),
                    }
                    frame = json.dumps(m)
                    for member in list(rooms[room]):
                        await member.send(frame)
        finally:
            for room in joined:
                rooms[room].discard(ws)

    raise_fd_limit()
    async with serve(session, "127.0.0.1", 0, compression=None, max_queue=None) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def step(port: int, connections: int, rooms: int, rate: float, duration: float) -> dict[str, Any]:
    cfg = LoadConfig(
        url=f"ws://127.0.0.1:{port}/",
        connections=connections,
        rooms=rooms,
        rate=rate,
        duration_s=duration,
        ramp=1000.0,
        payload=64,
        token="unused",
        secret=None,
        json_path=None,
        plot_path=None,
        drain_s=10.0,
        open_timeout_s=30.0,
        progress=False,
    )
    run = LoadRun(cfg)
    cpu0 = time.process_time()
    asyncio.run(run.run())
    cpu = time.process_time() - cpu0
    r = results(run, cpu)
    send_phase = r["phases_s"]["send"] + r["phases_s"]["drain"]
    return {
        "connections": connections,
        "rooms": rooms,
        "rate": rate,
        "open": r["connections"]["open"],
        "sent": r["sent"],
        "errors": r["errors"],
        "delivered": r["delivered"],
        "lost": r["lost"],
        "deliveries_per_s": round(r["delivered"] / max(send_phase, 1e-9)),
        "tester_cpu_s": round(cpu, 2),
        "tester_core_pct": r["cpu"]["percent_of_one_core"],
        "tester_core_pct_sending": r["cpu"]["sending_percent_of_one_core"],
        "cpu_us_per_delivery": round(cpu / max(r["delivered"], 1) * 1e6, 1),
        "latency_p99_ms": r["latency_ms"]["p99"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m client.loadtest.capacity", description=__doc__)
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument(
        "--steps",
        default="500x50x250,1000x100x500,2000x200x1000,4000x400x2000",
        help="CONNECTIONSxROOMSxRATE,... (default: %(default)s)",
    )
    p.add_argument("--duration", type=float, default=5.0, help="seconds of sending per step")
    args = p.parse_args(argv)
    if args.serve:
        asyncio.run(fanout_server())
        return 0
    server = subprocess.Popen(
        [sys.executable, "-m", "client.loadtest.capacity", "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        for spec in args.steps.split(","):
            n, r, rate = spec.split("x")
            print(json.dumps(step(port, int(n), int(r), float(rate), args.duration)), flush=True)
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
