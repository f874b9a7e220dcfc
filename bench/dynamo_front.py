"""The embedded DynamoDB's front end, three ways side by side:

- "ours": our HTTP server (infra.dynamodb.wsgi_server), DynamoDB calls dispatched straight to
  moto's DynamoHandler (`moto_speedups.dynamodb_first`), as `make run` serves it;
- "flask": our HTTP server, every call through moto's Flask app;
- "werkzeug": werkzeug's development server and moto's Flask app, as moto ships them.

    python -m bench.dynamo_front [--calls 2000] [--batch 100]

moto's own speed-ups (`infra.dynamodb.moto_speedups.install`) are in all three. Sends the
two-item BatchWriteItem a `$connect` makes to each server in turn, `--batch` calls at a
time so machine noise hits all alike, and reports per call: the server process's CPU
(from /proc), the boto3 client's CPU and the wall time, and the ratios to "ours".
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time
from collections.abc import Mapping
from typing import Any

from bench.harness import ROOT
from bench.machine import describe
from bench.moto_fronts import MODULE
from bench.procs import cpu_seconds
from infra.config import load_service
from infra.dynamodb import create_tables, dynamodb_client, start_moto

TABLE = "wschat-dev-connections"


def client(endpoint: str) -> Any:
    db = dynamodb_client(endpoint, "us-east-1", dummy_credentials=True)
    spec = load_service(ROOT / "serverless.yml", "dev", parameter_values={"CHAT_JWT_SECRET": "-"})
    create_tables(db, spec.tables)  # the service's own tables, as serverless.yml declares them
    return db


def connect_write(db: Any, n: int) -> None:
    """What `$connect` writes: the connection item and the user index entry."""
    conn = f"{n:015d}="
    db.batch_write_item(
        RequestItems={
            TABLE: [
                {
                    "PutRequest": {
                        "Item": {
                            "pk": {"S": f"C#{conn}"},
                            "sk": {"S": "META"},
                            "uid": {"S": "u1"},
                            "uname": {"S": "U"},
                            "expiresAt": {"N": "1999999999"},
                        }
                    }
                },
                {
                    "PutRequest": {
                        "Item": {
                            "pk": {"S": "U#u1"},
                            "sk": {"S": f"C#{conn}"},
                            "expiresAt": {"N": "1999999999"},
                        }
                    }
                },
            ]
        }
    )


_item_ids = itertools.count(1)  # every write a new item, across calls


def writes_in_turns(
    dbs: Mapping[str, Any], server_pids: Mapping[str, int], calls: int, batch: int
) -> dict[str, dict[str, float]]:
    """`connect_write` through each client in turn, `batch` calls at a time, so machine
    noise hits all alike; per client, milliseconds per call of its server's CPU (from
    /proc), this process's CPU and the wall time."""
    totals = {name: {"server": 0.0, "client": 0.0, "wall": 0.0} for name in dbs}
    for _ in range(calls // batch):
        for name, db in dbs.items():
            pid = server_pids[name]
            s0, c0, w0 = cpu_seconds(pid), time.process_time(), time.perf_counter()
            for _ in range(batch):
                connect_write(db, next(_item_ids))
            totals[name]["server"] += cpu_seconds(pid) - s0
            totals[name]["client"] += time.process_time() - c0
            totals[name]["wall"] += time.perf_counter() - w0
    made = calls // batch * batch
    return {k: {m: v / made * 1000 for m, v in t.items()} for k, t in totals.items()}


async def run(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    servers = {
        "ours": await start_moto(),
        "flask": await start_moto(module=MODULE, args=["flask"]),
        "werkzeug": await start_moto(module=MODULE, args=["werkzeug"]),
    }
    try:
        dbs = {name: client(s.endpoint) for name, s in servers.items()}
        pids = {name: s.proc.pid for name, s in servers.items()}
        return writes_in_turns(dbs, pids, args.calls, args.batch)
    finally:
        for s in servers.values():
            await s.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.dynamo_front", description=__doc__.split("\n")[0]
    )
    p.add_argument("--calls", type=int, default=2000, help="BatchWriteItem calls per server")
    p.add_argument("--batch", type=int, default=100, help="calls per turn before switching")
    args = p.parse_args(argv)
    r = asyncio.run(run(args))
    print(describe())
    print(f"per BatchWriteItem (2 items), {args.calls} calls each, in turns of {args.batch}")
    print(f"{'front end':10} {'server CPU':>11} {'client CPU':>11} {'wall':>9}")
    for name, m in r.items():
        print(f"{name:10} {m['server']:9.2f}ms {m['client']:9.2f}ms {m['wall']:7.2f}ms")
    o = r["ours"]
    for name in ("flask", "werkzeug"):
        w = r[name]
        print(
            f"{name} / ours: server CPU {w['server'] / o['server']:.2f}x, client CPU "
            f"{w['client'] / o['client']:.2f}x, wall {w['wall'] / o['wall']:.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
