"""`python -m infra` as a user starts it, for the tests that check the command itself."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from tests.conftest import scaled

REPO = Path(__file__).resolve().parents[2]


@contextlib.asynccontextmanager
async def cli(*args: str) -> AsyncIterator[tuple[list[str], asyncio.subprocess.Process]]:
    """`python -m infra --port 0 *args`, with its banner read; stopped with Ctrl-C."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "infra",
        "--port",
        "0",
        *args,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    output: list[str] = []
    try:
        async with asyncio.timeout(scaled(30)):
            while "Ctrl-C stops." not in output:
                line = (await proc.stdout.readline()).decode()
                assert line, "".join(output)
                output.append(line.strip())
        yield output, proc
        proc.send_signal(signal.SIGINT)
        rest, _ = await asyncio.wait_for(proc.communicate(), scaled(20))
        output += rest.decode().splitlines()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def banner_value(output: list[str], label: str) -> str:
    return next(line.split()[len(label.split())] for line in output if line.startswith(label))
