"""Test support: run the echo service's handlers in-process (not a product component).

`InProcessInvoker` implements `infra.service.Invoker` with a thread pool: it imports the
handler named by the function spec, honours the function timeout, and records every
invocation so tests can wait for one (an asyncio.Condition, never a sleep).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.config import load_service
from infra.service import Invocation, ServiceSpec

SERVICE_YML = Path(__file__).with_name("serverless.yml")
PACKAGE = __name__.rpartition(".")[0]  # "tests.echo_service"


def echo_spec(stage: str = "test") -> ServiceSpec:
    """The echo service as the harness's own loader reads it."""
    return load_service(SERVICE_YML, stage)


@dataclass(frozen=True)
class Record:
    function: str
    event: dict[str, Any]
    invocation: Invocation

    @property
    def is_authorizer(self) -> bool:
        return self.event.get("type") == "REQUEST"

    @property
    def route_key(self) -> str | None:
        """The route an integration ran for (None for authorizers)."""
        if self.is_authorizer:
            return None
        ctx = self.event.get("requestContext", {})
        key = ctx.get("routeKey")
        return str(key) if key is not None else None

    @property
    def connection_id(self) -> str | None:
        value = self.event.get("requestContext", {}).get("connectionId")
        return str(value) if value is not None else None


class _Context:
    def __init__(self, function: str, timeout_s: float) -> None:
        self.function_name = function
        self.memory_limit_in_mb = 128
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function}"
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class InProcessInvoker:
    def __init__(self, spec: ServiceSpec, *, workers: int = 32) -> None:
        self.spec = spec
        self.records: list[Record] = []
        self.started: list[tuple[str, dict[str, Any]]] = []  # (function, event), in order
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lambda")
        self._changed = asyncio.Condition()

    def _handler(self, function: str) -> Callable[[dict[str, Any], Any], Any]:
        module_path, _, attr = self.spec.functions[function].handler.rpartition(".")
        module = importlib.import_module(f"{PACKAGE}.{module_path.replace('/', '.')}")
        handler: Callable[[dict[str, Any], Any], Any] = getattr(module, attr)
        return handler

    async def invoke(self, function: str, event: Mapping[str, Any]) -> Invocation:
        timeout_s = self.spec.functions[function].timeout_s
        handler = self._handler(function)
        # Lambda hands the handler a fresh JSON-decoded copy of the event.
        payload = json.loads(json.dumps(event))
        async with self._changed:
            self.started.append((function, dict(event)))
            self._changed.notify_all()
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        future = loop.run_in_executor(
            self._pool, lambda: handler(payload, _Context(function, timeout_s))
        )
        try:
            result = await asyncio.wait_for(future, timeout_s)
            outcome = Invocation(ok=True, result=json.loads(json.dumps(result)))
        except TimeoutError:
            outcome = Invocation(
                ok=False,
                error_type="Sandbox.Timedout",
                error_message=f"Task timed out after {timeout_s:.2f} seconds",
                timed_out=True,
            )
        except Exception as exc:
            outcome = Invocation(ok=False, error_type=type(exc).__name__, error_message=str(exc))
        outcome = Invocation(
            ok=outcome.ok,
            result=outcome.result,
            error_type=outcome.error_type,
            error_message=outcome.error_message,
            timed_out=outcome.timed_out,
            duration_ms=(time.monotonic() - started) * 1000,
        )
        async with self._changed:
            self.records.append(Record(function, dict(event), outcome))
            self._changed.notify_all()
        return outcome

    async def wait_for(self, predicate: Callable[[Record], bool], seconds: float) -> Record:
        """The first recorded invocation matching `predicate`, waiting up to `seconds`."""
        async with asyncio.timeout(seconds), self._changed:
            while True:
                for record in self.records:
                    if predicate(record):
                        return record
                await self._changed.wait()

    async def wait_started(
        self, predicate: Callable[[str, dict[str, Any]], bool], seconds: float
    ) -> dict[str, Any]:
        """The event of the first invocation that started and matches `predicate`."""
        async with asyncio.timeout(seconds), self._changed:
            while True:
                for function, event in self.started:
                    if predicate(function, event):
                        return event
                await self._changed.wait()

    def find(self, predicate: Callable[[Record], bool]) -> list[Record]:
        return [r for r in self.records if predicate(r)]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
