"""What `python -m infra` prints while functions run: one short line per invocation (the
first one a cold start), metrics summed into a summary line, no raw EMF line unless
--verbose."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from websockets.asyncio.client import connect

from tests.conftest import scaled

SERVICE = Path(__file__).parent / "metrics_service" / "serverless.yml"
REPO = Path(__file__).resolve().parents[3]


async def run_and_chat(*flags: str, until: Callable[[list[str]], bool]) -> list[str]:
    """Start `python -m infra` on the metered service, send three messages, and read its
    output until `until(lines)`; return every line read."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "infra",
        "--service",
        str(SERVICE),
        "--port",
        "0",
        *flags,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    lines: list[str] = []

    async def read_until(done: Callable[[list[str]], bool]) -> None:
        assert proc.stdout is not None
        while not done(lines):
            line = (await proc.stdout.readline()).decode()
            assert line, "\n".join(lines)
            lines.append(line.rstrip("\n"))

    try:
        async with asyncio.timeout(scaled(60)):
            await read_until(lambda lines: "Ctrl-C stops." in lines)
            ws_url = next(line.split()[2] for line in lines if "WebSocket API" in line)
            async with connect(ws_url, ping_interval=None) as ws:
                for text in ("one", "two", "three"):
                    await ws.send(text)
                    assert await ws.recv() == "counted"
            await read_until(until)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            await asyncio.wait_for(proc.communicate(), scaled(20))
    return lines


def summed(name: str, lines: list[str]) -> int:
    """`name`'s total over the summary lines (the messages may span two intervals)."""
    return sum(int(n) for line in lines for n in re.findall(rf"\b{name} (\d+) ", line))


async def test_one_line_per_invocation_and_a_metrics_summary() -> None:
    lines = await run_and_chat(until=lambda lines: summed("Messages", lines) == 3)
    invocations = [line for line in lines if "  $default  conn " in line]
    assert len(invocations) == 3
    assert "  ok  " in invocations[0] and "(cold start, init " in invocations[0]
    assert not any("cold start" in line for line in invocations[1:])
    assert summed("Bytes", lines) == len("one" + "two" + "three")
    summaries = [line for line in lines if "invocations (count " in line]
    assert sum(int(re.findall(r"(\d+) invocations", line)[0]) for line in summaries) == 3
    assert all(", 0 errors" in line for line in summaries)
    assert not any('"_aws"' in line or "RequestId:" in line for line in lines)


async def test_verbose_shows_the_raw_lines() -> None:
    lines = await run_and_chat(
        "--verbose", until=lambda lines: any("REPORT RequestId:" in line for line in lines)
    )
    assert any('"_aws"' in line for line in lines)
    assert any("START RequestId:" in line for line in lines)
