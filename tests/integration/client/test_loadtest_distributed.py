"""A Locust master and two workers, each its own process on loopback, against the stack:
the master's delivered count is the sum of what the workers' members saw, and a worker
killed mid-run shows as lost deliveries and a failed run, never as a pass."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
from pathlib import Path
from typing import Any

from infra.stack import LocalStack
from tests.conftest import scaled
from tests.integration.client.run import finish, start_client

SAW = re.compile(r"^worker (w\d): (\d+) members saw (\d+) messages", re.M)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start(stack: LocalStack, *args: str) -> asyncio.subprocess.Process:
    return await start_client(stack, "client.loadtest", *args)


async def run_distributed(
    stack: LocalStack, tmp_path: Path, duration: float, kill_after: float | None = None
) -> tuple[int, str, dict[str, Any], list[str]]:
    port = str(free_port())
    out = tmp_path / "run.json"
    master = await start(
        stack,
        *("--master", "--master-bind-host", "127.0.0.1", "--master-port", port),
        *("--expect-workers", "2", "--url", stack.ws_url, "--connections", "16"),
        *("--rooms", "4", "--rate", "8", "--duration", str(duration), "--ramp", "50"),
        *("--drain", str(scaled(10)), "--quiet", "--json", str(out)),
    )
    workers = [
        await start(stack, "--worker", "--master-host", "127.0.0.1", "--master-port", port)
        for _ in range(2)
    ]
    if kill_after is not None:
        # Once the worker has reported its members to the master, kill it mid-send.
        assert workers[0].stderr is not None
        while b"reporting to the master" not in await workers[0].stderr.readline():
            pass
        await asyncio.sleep(kill_after)
        workers[0].send_signal(signal.SIGKILL)
    done = await finish(master, 90)
    status, m_out, m_err = done.status, done.out, done.err
    worker_outs = [(await finish(w, 30)).out for w in workers]
    assert out.exists(), m_out + m_err
    return status, m_out, json.loads(out.read_text()), worker_outs


async def test_two_workers_deliveries_add_up_to_what_the_master_reports(
    stack: LocalStack, tmp_path: Path
) -> None:
    status, out, r, worker_outs = await run_distributed(stack, tmp_path, duration=3)
    assert status == 0, out
    saw = {m[0]: int(m[2]) for w in worker_outs for m in SAW.findall(w)}
    assert sorted(saw) == ["w0", "w1"]
    assert all(n > 0 for n in saw.values())
    assert r["workers"] == ["w0", "w1"] and r["workers_missing"] == []
    assert r["delivered"] == r["expected_deliveries"] == sum(saw.values())
    assert r["seen_by_members"] == saw
    assert (r["lost"], r["duplicates"], r["misrouted"]) == (0, 0, 0)
    assert r["members"] == 16
    assert out.strip().splitlines()[-1].startswith("PASS")


async def test_a_killed_worker_shows_as_lost_not_as_a_pass(
    stack: LocalStack, tmp_path: Path
) -> None:
    status, out, r, _ = await run_distributed(stack, tmp_path, duration=8, kill_after=2)
    assert status == 1, out
    assert len(r["workers_missing"]) == 1
    assert r["lost"] > 0 and r["lost_in_missing_workers"] > 0
    assert r["delivered"] + r["lost"] == r["expected_deliveries"]
    last = out.strip().splitlines()[-1]
    assert last.startswith("FAIL:") and "workers stopped reporting" in last
