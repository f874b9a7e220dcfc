"""If the embedded DynamoDB/SSM dies, one line says so and `python -m infra` stops
(exit 1) instead of answering every call with a connection error: its data is gone, so
carrying on would be a stack that half works."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

import pytest

from bench.procs import children, cmdline
from infra.dynamodb import start_moto
from tests.conftest import scaled

REPO = Path(__file__).resolve().parents[3]
ECHO = REPO / "tests" / "echo_service" / "serverless.yml"


async def test_a_dead_server_is_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    moto = await start_moto()
    reports: list[str] = []
    reported = asyncio.Event()

    def on_exit(line: str) -> None:
        reports.append(line)
        reported.set()

    moto.supervise(on_exit)
    with caplog.at_level(logging.ERROR, logger="infra.dynamodb.server"):
        moto.proc.kill()
        await asyncio.wait_for(reported.wait(), scaled(10))
        await moto.close()
    (line,) = reports
    assert f"pid {moto.proc.pid}" in line and "killed by signal 9" in line and "gone" in line
    assert [r.getMessage() for r in caplog.records] == [line]


async def test_closing_it_is_not_a_death() -> None:
    moto = await start_moto()
    reports: list[str] = []
    moto.supervise(reports.append)
    await moto.close()
    await asyncio.sleep(0)  # let a watcher that would report run
    assert reports == []


async def test_the_stack_stops_loudly_when_it_dies() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "infra",
        "--service",
        str(ECHO),
        "--port",
        "0",
        "--quiet",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    try:
        output = b""
        async with asyncio.timeout(scaled(60)):
            while b"Ctrl-C stops." not in output:
                line = await proc.stdout.readline()
                assert line, output.decode()
                output += line
        assert b"DynamoDB" not in output  # off the banner unless asked for
        (moto_pid,) = [pid for pid in children(proc.pid) if "infra.dynamodb" in cmdline(pid)]
        os.kill(moto_pid, signal.SIGKILL)
        rest, _ = await asyncio.wait_for(proc.communicate(), scaled(30))
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = rest.decode()
    assert proc.returncode == 1, text
    said = f"the embedded DynamoDB/SSM (moto, pid {moto_pid}) was killed by signal 9"
    assert text.count(said) == 1, text
    assert text.index(said) < text.index("stopping: the stack cannot run on without it")
