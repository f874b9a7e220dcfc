"""The runtime tests' service, a runtime over it, and a log the tests can wait on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from infra.awslambda.runtime import LambdaRuntime
from infra.config import load_service
from tests.conftest import scaled

SERVICE = Path(__file__).parent / "service"


class Logs:
    """A log sink the tests can wait on."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        self._changed = asyncio.Condition()

    def __call__(self, function: str, line: str) -> None:
        self.lines.append((function, line))
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, function: str, text: str) -> None:
        await self.wait_for_line(function, lambda line: line == text)

    async def wait_for_line(self, function: str, matches: Callable[[str], bool]) -> str:
        def found() -> str | None:
            return next((t for f, t in self.lines if f == function and matches(t)), None)

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: found() is not None), scaled(5))
        line = found()
        assert line is not None
        return line


@pytest.fixture
async def logs() -> Logs:
    return Logs()


@pytest.fixture
async def runtime(logs: Logs) -> AsyncIterator[LambdaRuntime]:
    spec = load_service(SERVICE / "serverless.yml", "test")
    rt = LambdaRuntime(
        spec,
        root=SERVICE,
        environment={"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:9"},
        log=logs,
    )
    yield rt
    await rt.close()
