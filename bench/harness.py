"""`python -m infra` in a child process, for benches that measure the gateway on its own.

The bench's clients then run in another process than the gateway, so the gateway's CPU
and memory are its own (see `bench.procs.harness_processes`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import re
import secrets
import signal
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from client.tokens import SECRET_ENV

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 60.0
# The benches' crowds are many connections of one user (so that setting up fans no
# presence out); the service's per-user cap (20) is not what they measure.
BENCH_SETTINGS = {"CHAT_MAX_CONNECTIONS_PER_USER": "1000000"}


@dataclass(frozen=True)
class Harness:
    pid: int
    ws_url: str  # ws://127.0.0.1:PORT/dev
    mgmt_url: str  # endpoint_url for apigatewaymanagementapi
    dynamodb_endpoint: str
    secret: str
    stage: str
    # With `keep`: the functions' log lines it kept, in order (appended as they come).
    log_lines: list[str] = field(default_factory=list)


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


def host_architecture() -> str:
    """This machine's Lambda architecture name."""
    machine = platform.machine().lower()
    return {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[machine]


@contextlib.contextmanager
def service_with(
    settings: Mapping[str, object], required: Sequence[str] = (), root: Path = ROOT
) -> Iterator[Path]:
    """`root`'s serverless.yml, or a copy beside it (handler paths are relative to the
    file) with these `NAME: value` environment lines changed. A name the file does not
    declare (an older checkout's) is left out, unless `required` names it."""
    service = root / "serverless.yml"
    original = text = service.read_text()
    for name, value in settings.items():
        text, n = re.subn(rf"(\b{name}:\s*)'?[^'\s]*'?", rf"\g<1>'{value}'", text)
        if n != 1 and name in required:
            raise RuntimeError(f"{name} not found in {service}")
    if text == original:
        yield service
        return
    copy = root / f".bench-service-{secrets.token_hex(3)}.yml"
    copy.write_text(text)
    try:
        yield copy
    finally:
        copy.unlink(missing_ok=True)


@contextlib.asynccontextmanager
async def running_harness(
    *options: str,
    stage: str = "dev",
    log: Path | None = None,
    root: Path = ROOT,
    quiet: bool = True,
    keep: Callable[[str], bool] | None = None,
) -> AsyncIterator[Harness]:
    """Start `python -m infra --port 0 [--quiet] --stage STAGE *options`; stop it on exit.

    `quiet` False: the functions' console log on, as `make run` shows it (read and dropped).

    `root`: another checkout to run (its own `.venv`), e.g. a worktree of an older commit
    measured against this one in the same run. `keep`: run it `--verbose` instead of
    `--quiet` and keep the functions' log lines it accepts in `Harness.log_lines`."""
    python = sys.executable if root == ROOT else str(root / ".venv" / "bin" / "python")
    args = [python, "-m", "infra", "--port", "0", "--stage", stage, *options]
    if keep is not None:
        args.append("--verbose")
    elif quiet:
        args.append("--quiet")
    if root == ROOT:
        # The banner names the embedded DynamoDB only when asked (older checkouts always do).
        args.append("--show-dynamodb")
    err = log.open("ab") if log else None
    # The bench's own secret (the harness makes one up otherwise, unknown to the bench).
    secret = os.environ.get(SECRET_ENV) or secrets.token_urlsafe(32)
    proc = await asyncio.create_subprocess_exec(
        *args,
        cwd=root,
        stdout=asyncio.subprocess.PIPE,
        stderr=err or asyncio.subprocess.DEVNULL,
        env={
            # The layer built for this machine, as `make run` picks it (serverless.yml's
            # default, arm64, carries native code that does not load on x86_64).
            "WSCHAT_ARCHITECTURE": host_architecture(),
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            SECRET_ENV: secret,
        },
    )
    try:
        banner = await asyncio.wait_for(_read_banner(proc), START_TIMEOUT_S)
        harness = Harness(
            pid=proc.pid,
            ws_url=_find(banner, r"WebSocket API\s+(\S+)"),
            mgmt_url=_find(banner, r"Management API\s+(\S+)/@connections"),
            dynamodb_endpoint=_find(banner, r"DynamoDB\s+(\S+)"),
            secret=secret,
            stage=stage,
        )
        drain = asyncio.create_task(
            _drain(proc) if keep is None else _keep(proc, keep, harness.log_lines)
        )
        try:
            yield harness
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


async def _keep(
    proc: asyncio.subprocess.Process, keep: Callable[[str], bool], into: list[str]
) -> None:
    assert proc.stdout is not None
    while True:
        try:
            raw = await proc.stdout.readline()
        except ValueError:  # a line over the stream's limit (64 KiB): not one we keep
            continue
        if not raw:
            return
        line = raw.decode(errors="replace")
        if keep(line):
            into.append(line)


def _find(lines: Sequence[str], pattern: str) -> str:
    for line in lines:
        m = re.search(pattern, line)
        if m:
            return m.group(1)
    raise RuntimeError(f"not in the banner: {pattern}\n" + "".join(lines))
