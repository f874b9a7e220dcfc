"""The handlers' boto3 client, as `handlers.chat.aws` configures it, against the same
client with botocore's parameter validation back on: side by side, in turns.

    python -m bench.boto_client [--calls 4000] [--batch 100]

Both send `$connect`'s two-item BatchWriteItem to one embedded DynamoDB, `--batch` calls
at a time so machine noise hits both alike, and report the client's CPU per call (the
server's work is the same for both, so it is left out).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import boto3
from botocore.config import Config

from bench.dynamo_front import client as table_client
from bench.dynamo_front import writes_in_turns
from bench.machine import describe
from handlers.chat.aws import client_config
from infra.dynamodb import start_moto


def handler_client(endpoint: str, validate: bool) -> Any:
    config = client_config(attempts=4, pool=16)
    if validate:
        config = config.merge(Config(parameter_validation=True))
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",  # the embedded DynamoDB takes any
        aws_secret_access_key="testing",
        config=config,
    )


async def run(args: argparse.Namespace) -> dict[str, float]:
    server = await start_moto()
    try:
        table_client(server.endpoint)  # creates the service's tables
        clients = {
            "handlers' config": handler_client(server.endpoint, validate=False),
            "with parameter validation": handler_client(server.endpoint, validate=True),
        }
        pids = dict.fromkeys(clients, server.proc.pid)
        writes_in_turns(clients, pids, args.batch, args.batch)  # warm: pools, caches
        per_call = writes_in_turns(clients, pids, args.calls, args.batch)
        return {name: ms["client"] for name, ms in per_call.items()}
    finally:
        await server.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.boto_client", description=__doc__.split("\n")[0]
    )
    p.add_argument("--calls", type=int, default=4000, help="BatchWriteItem calls per client")
    p.add_argument("--batch", type=int, default=100, help="calls per turn before switching")
    args = p.parse_args(argv)
    ms = asyncio.run(run(args))
    print(describe())
    print(f"boto3 client CPU per BatchWriteItem (2 items), {args.calls} calls each")
    base = ms["handlers' config"]
    for name, v in ms.items():
        print(f"{name:26} {v:.3f} ms  {v / base:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
