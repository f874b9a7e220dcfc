"""`python -m infra` in a child process, for benches that measure the gateway on its own.

The bench's clients then run in another process than the gateway, so the gateway's CPU
and memory are its own (see `bench.procs.harness_processes`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from client.tokens import SECRET_ENV

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Harness:
    pid: int
    ws_url: str  # ws://127.0.0.1:PORT/dev
    mgmt_url: str  # endpoint_url for apigatewaymanagementapi
    dynamodb_endpoint: str
    secret: str
    stage: str


def handler_store(dynamodb_endpoint: str, stage: str = "dev") -> tuple[Any, Any, Any]:
    """The handlers' own Store on that DynamoDB (the stage's tables): (store, client,
    settings), for benches that set up or inspect what the service wrote."""
    from handlers.chat.settings import Settings
    from handlers.chat.store import Store
    from infra.dynamodb import dynamodb_client

    db = dynamodb_client(dynamodb_endpoint, "us-east-1", dummy_credentials=True)
    settings = Settings(
        connections_table=f"wschat-{stage}-connections",
        messages_table=f"wschat-{stage}-messages",
    )
    return Store(db, settings), db, settings


@contextlib.asynccontextmanager
async def running_harness(
    *options: str, stage: str = "dev", log: Path | None = None
) -> AsyncIterator[Harness]:
    """Start `python -m infra --port 0 --quiet --stage STAGE *options`; stop it on exit."""
    args = [sys.executable, "-m", "infra", "--port", "0", "--quiet", "--show-dynamodb"]
    args += ["--stage", stage, *options]
    err = log.open("ab") if log else None
    # The bench's own secret (the harness makes one up otherwise, unknown to the bench).
    secret = os.environ.get(SECRET_ENV) or secrets.token_urlsafe(32)
    proc = await asyncio.create_subprocess_exec(
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=err or asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1", SECRET_ENV: secret},
    )
    try:
        banner = await asyncio.wait_for(_read_banner(proc), START_TIMEOUT_S)
        drain = asyncio.create_task(_drain(proc))
        try:
            yield Harness(
                pid=proc.pid,
                ws_url=_find(banner, r"WebSocket API\s+(\S+)"),
                mgmt_url=_find(banner, r"Management API\s+(\S+)/@connections"),
                dynamodb_endpoint=_find(banner, r"DynamoDB\s+(\S+)"),
                secret=secret,
                stage=stage,
            )
        finally:
            drain.cancel()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if err:
            err.close()


async def _read_banner(proc: asyncio.subprocess.Process) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    while True:
        raw = await proc.stdout.readline()
        if not raw:
            raise RuntimeError(f"python -m infra exited: {await proc.wait()}\n" + "".join(lines))
        line = raw.decode()
        lines.append(line)
        if line.startswith("Ctrl-C stops"):
            return lines


async def _drain(proc: asyncio.subprocess.Process) -> None:
    assert proc.stdout is not None
    while await proc.stdout.read(65536):
        pass


def _find(lines: Sequence[str], pattern: str) -> str:
    for line in lines:
        m = re.search(pattern, line)
        if m:
            return m.group(1)
    raise RuntimeError(f"not in the banner: {pattern}\n" + "".join(lines))
