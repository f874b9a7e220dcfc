"""Sandboxes live as Lambda's do: none until a function's first invocation (a cold start,
reported with its init duration), more as invocations overlap, none left once idle."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from infra.awslambda.logs import InvocationReport
from infra.awslambda.runtime import LambdaRuntime
from infra.config import load_service
from tests.conftest import scaled
from tests.integration.runtime.conftest import SERVICE

REPO = Path(__file__).resolve().parents[3]


async def until(condition: Callable[[], bool]) -> None:
    """Wait for `condition` to hold (bounded; the runtime acts on its own timers)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + scaled(10)
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
async def reports() -> list[InvocationReport]:
    return []


@pytest.fixture
async def lazy(reports: list[InvocationReport]) -> AsyncIterator[LambdaRuntime]:
    spec = load_service(SERVICE / "serverless.yml", "test")
    runtime = LambdaRuntime(spec, root=SERVICE, log=None, report=reports.append, idle_s=0.5)
    yield runtime
    await runtime.close()


async def test_the_first_invocation_is_a_cold_start(
    lazy: LambdaRuntime, reports: list[InvocationReport]
) -> None:
    await lazy.prepare()
    assert all(lazy.sandbox_pids(fn) == [] for fn in lazy.spec.functions)
    first = await lazy.invoke("echo", {"n": 1})
    second = await lazy.invoke("echo", {"n": 2})
    assert first.result["pid"] == second.result["pid"]
    assert lazy.sandbox_pids("echo") == [first.result["pid"]]
    assert [fn for fn in lazy.spec.functions if lazy.sandbox_pids(fn)] == ["echo"]
    cold, warm = reports
    assert cold.init_ms is not None and cold.init_ms > 0
    assert warm.init_ms is None
    assert (cold.function, cold.ok, cold.request_id) == (
        "echo",
        True,
        first.result["context"]["aws_request_id"],
    )


async def test_overlapping_invocations_start_more_sandboxes(lazy: LambdaRuntime) -> None:
    # None is idle when the three arrive together: three cold starts, three sandboxes.
    outcomes = await asyncio.gather(*(lazy.invoke("sleepy", {"seconds": 0}) for _ in range(3)))
    assert len({o.result["pid"] for o in outcomes}) == 3
    assert len(lazy.sandbox_pids("sleepy")) == 3
    # One at a time, the warmest sandbox serves: no new start.
    again = await lazy.invoke("sleepy", {"seconds": 0})
    assert again.result["pid"] in {o.result["pid"] for o in outcomes}
    assert len(lazy.sandbox_pids("sleepy")) == 3


async def test_an_idle_sandbox_is_stopped_and_the_next_call_starts_cold(
    lazy: LambdaRuntime, reports: list[InvocationReport]
) -> None:
    first = await lazy.invoke("echo", {})
    pid = first.result["pid"]
    await until(lambda: lazy.sandbox_pids("echo") == [])
    await until(lambda: gone(pid))
    after = await lazy.invoke("echo", {})
    assert after.ok and after.result["pid"] != pid
    assert [r.init_ms is not None for r in reports] == [True, True]


async def test_a_busy_sandbox_is_never_reaped(lazy: LambdaRuntime) -> None:
    # Idle, then busy for longer than the idle limit: it finishes, then idles from then on.
    first = await lazy.invoke("sleepy", {"seconds": 0})
    busy = await lazy.invoke("sleepy", {"seconds": 0.8})
    assert busy.ok and busy.result["pid"] == first.result["pid"]
    assert lazy.sandbox_pids("sleepy") == [first.result["pid"]]


async def test_warm_sandboxes_stay(reports: list[InvocationReport]) -> None:
    spec = load_service(SERVICE / "serverless.yml", "test")
    runtime = LambdaRuntime(spec, root=SERVICE, log=None, idle_s=None)
    try:
        await runtime.warm("echo", sandboxes=2)
        pids = runtime.sandbox_pids("echo")
        assert len(pids) == 2
        await asyncio.gather(*(runtime.invoke("echo", {}) for _ in range(2)))
        assert runtime.sandbox_pids("echo") == pids
    finally:
        await runtime.close()


def test_warming_by_default_covers_what_api_gateway_invokes() -> None:
    # wschat's fanout function is only ever invoked by other functions, through the
    # Invoke API: it starts when first invoked, not with the stack.
    spec = load_service(REPO / "serverless.yml", "dev", parameter_values={"CHAT_JWT_SECRET": "x"})
    runtime = LambdaRuntime(spec, root=REPO, log=None)
    assert set(runtime.served_functions()) == set(spec.functions) - {"fanout"}
