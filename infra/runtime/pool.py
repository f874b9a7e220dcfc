"""The harness side of the Lambda model: per-function pools of warm worker processes.

Each function gets up to `reserved_concurrency` (else `default_concurrency`) sandboxes,
spawned on demand and kept warm; invocations beyond that wait their turn. A sandbox runs
one invocation at a time, is killed when it overruns the function's timeout, and is
replaced on the next invocation after a crash or a kill.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import secrets
import signal
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from infra.service import FunctionSpec, Invocation, ServiceSpec

# (function name, one line the handler wrote) -> shown somewhere; the default prints it.
LogSink = Callable[[str, str], None]

DEFAULT_CONCURRENCY = 4
INIT_TIMEOUT_S = 10.0  # Lambda's limit for the init phase
PYTHON_RUNTIME = "python3.12"
# Events and results travel as one JSON line each; API Gateway caps both well below this.
LINE_LIMIT = 64 * 1024 * 1024
_HARNESS_ROOT = str(Path(__file__).resolve().parents[2])


def print_log(function: str, line: str) -> None:
    """The default log sink: `function | line` on the harness's stderr."""
    sys.stderr.write(f"{function} | {line}\n")


class _Sandbox:
    """One worker process: `python -m infra.runtime.worker`, talking JSON lines."""

    def __init__(self, proc: asyncio.subprocess.Process, log_task: asyncio.Task[None]) -> None:
        self.proc = proc
        self.log_task = log_task
        self.invocations = 0

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def read_reply(self) -> dict[str, Any] | None:
        assert self.proc.stdout is not None
        line = await self.proc.stdout.readline()
        if not line:
            return None
        reply: dict[str, Any] = json.loads(line)
        return reply

    def send(self, payload: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(payload + b"\n")

    async def exit_description(self) -> str:
        code = await self.proc.wait()
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"signal: {signal.Signals(-code).name.removeprefix('SIG').lower()}"
        return f"exit status {code}"

    def kill(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    async def stop(self, grace_s: float) -> None:
        """Close stdin (the worker exits on EOF); kill it if it takes longer than `grace_s`."""
        if grace_s <= 0:
            self.kill()
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), grace_s)
        except TimeoutError:
            self.kill()
            await self.proc.wait()
        with contextlib.suppress(asyncio.CancelledError):
            await self.log_task


class _FunctionPool:
    def __init__(self, runtime: LambdaRuntime, fn: FunctionSpec, cap: int) -> None:
        self.runtime = runtime
        self.fn = fn
        self.cap = cap
        self.slots = asyncio.Semaphore(cap)
        self.idle: list[_Sandbox] = []
        self.busy: set[_Sandbox] = set()

    async def invoke(self, event: Mapping[str, Any]) -> Invocation:
        async with self.slots:
            started = time.perf_counter()
            sandbox = self.idle.pop() if self.idle else None
            if sandbox is None:
                sandbox_or_error = await self.runtime._spawn(self.fn)
                if isinstance(sandbox_or_error, Invocation):
                    return sandbox_or_error
                sandbox = sandbox_or_error
            self.busy.add(sandbox)
            try:
                outcome, healthy = await self._run(sandbox, event)
            finally:
                self.busy.discard(sandbox)
            if healthy and not self.runtime.closing:
                self.idle.append(sandbox)
            else:
                self.runtime._retire(sandbox)
            return _with_duration(outcome, started)

    async def _run(self, sandbox: _Sandbox, event: Mapping[str, Any]) -> tuple[Invocation, bool]:
        timeout_s = self.fn.timeout_s
        request_id = str(uuid.uuid4())
        request = {
            "requestId": request_id,
            "deadlineMs": int(time.time() * 1000 + timeout_s * 1000),
            "traceId": _trace_id(),
            "event": event,
        }
        sandbox.invocations += 1
        try:
            sandbox.send(json.dumps(request).encode())
            reply = await asyncio.wait_for(sandbox.read_reply(), timeout_s)
        except TimeoutError:
            sandbox.kill()
            message = f"Task timed out after {timeout_s:.2f} seconds"
            self.runtime.log(self.fn.name, f"{request_id} {message}")
            return (
                Invocation(
                    ok=False,
                    timed_out=True,
                    error_type="Sandbox.Timedout",
                    error_message=message,
                ),
                False,
            )
        except (ConnectionError, BrokenPipeError):
            reply = None
        if reply is None:
            how = await sandbox.exit_description()
            message = f"RequestId: {request_id} Error: Runtime exited with error: {how}"
            self.runtime.log(self.fn.name, message)
            return Invocation(
                ok=False, error_type="Runtime.ExitError", error_message=message
            ), False
        if reply.get("ok"):
            return Invocation(ok=True, result=reply.get("result")), True
        return (
            Invocation(
                ok=False, error_type=reply.get("errorType"), error_message=reply.get("errorMessage")
            ),
            True,
        )


class LambdaRuntime:
    """Runs the functions of `spec` as the Lambda service would (an `Invoker`).

    `environment` is added to every function's environment (endpoint overrides, CA
    bundle); it may be updated until the first invocation of a function spawns its
    sandboxes. `root` is the task root: the directory holding the handler code.
    """

    def __init__(
        self,
        spec: ServiceSpec,
        *,
        root: Path,
        environment: Mapping[str, str] | None = None,
        credentials: Mapping[str, str] | None = None,
        default_concurrency: int = DEFAULT_CONCURRENCY,
        log: LogSink | None = print_log,
        python: str = sys.executable,
    ) -> None:
        self.spec = spec
        self.root = Path(root).resolve()
        self.environment: dict[str, str] = dict(environment or {})
        self.credentials = dict(
            credentials
            or {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing",
            }
        )
        self.python = python
        self._log = log
        self.closing = False
        self._pools = {
            name: _FunctionPool(self, fn, fn.reserved_concurrency or default_concurrency)
            for name, fn in spec.functions.items()
        }
        self._sandboxes: set[_Sandbox] = set()
        self._retiring: set[asyncio.Task[None]] = set()

    # -- Invoker ----------------------------------------------------------------------------
    async def invoke(self, function: str, event: Mapping[str, Any]) -> Invocation:
        pool = self._pools.get(function)
        if pool is None:
            return Invocation(
                ok=False,
                error_type="ResourceNotFoundException",
                error_message=f"Function not found: {function}",
            )
        if self.closing:
            return Invocation(
                ok=False, error_type="ServiceException", error_message="shutting down"
            )
        # Lambda finishes an invocation its caller gave up on: shield it from cancellation.
        return await asyncio.shield(asyncio.ensure_future(pool.invoke(event)))

    # -- management ---------------------------------------------------------------------------
    def log(self, function: str, line: str) -> None:
        if self._log is not None:
            self._log(function, line)

    def sandbox_pids(self, function: str) -> list[int]:
        """Process ids of the function's live sandboxes (idle and busy)."""
        pool = self._pools[function]
        return sorted(s.pid for s in [*pool.idle, *pool.busy])

    async def warm(self, *functions: str, sandboxes: int = 1) -> None:
        """Start sandboxes for each function named (all when none is) until it has
        `sandboxes` of them (at most its concurrency), as cold starts. Warming to the cap
        keeps a burst of connections from paying a cold start per extra sandbox."""
        names = functions or tuple(self._pools)

        async def one(pool: _FunctionPool) -> None:
            async with pool.slots:
                sandbox = await self._spawn(pool.fn)
                if isinstance(sandbox, _Sandbox):
                    pool.idle.append(sandbox)

        starts = []
        for name in names:
            pool = self._pools[name]
            missing = min(sandboxes, pool.cap) - len(pool.idle) - len(pool.busy)
            starts += [one(pool) for _ in range(missing)]
        await asyncio.gather(*starts)

    async def close(self, grace_s: float = 0.0) -> None:
        """Stop every sandbox: SIGKILL, as Lambda ends a sandbox (or stdin EOF and
        `grace_s` seconds to exit on its own, then SIGKILL)."""
        self.closing = True
        sandboxes = list(self._sandboxes)
        self._sandboxes.clear()
        for pool in self._pools.values():
            pool.idle.clear()
        await asyncio.gather(*(s.stop(grace_s) for s in sandboxes))
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)

    # -- sandboxes ----------------------------------------------------------------------------
    def function_name(self, fn: FunctionSpec) -> str:
        return self.spec.deployed_name(fn.name)

    def function_arn(self, fn: FunctionSpec) -> str:
        return (
            f"arn:aws:lambda:{self.spec.region}:{self.spec.account_id}:"
            f"function:{self.function_name(fn)}"
        )

    def sandbox_environment(self, fn: FunctionSpec) -> dict[str, str]:
        """The process environment of one of `fn`'s sandboxes."""
        name = self.function_name(fn)
        stream = f"{dt.datetime.now(dt.UTC):%Y/%m/%d}/[$LATEST]{secrets.token_hex(16)}"
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "PYTHONUNBUFFERED": "1",
            # Tracing needs the X-Ray daemon, which Lambda provides and we do not.
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        env.update(fn.environment)
        env.update(self.environment)
        env.update(self.credentials)
        # Reserved by Lambda: the function's own environment cannot override these.
        env.update(
            {
                "AWS_REGION": self.spec.region,
                "AWS_DEFAULT_REGION": self.spec.region,
                "AWS_LAMBDA_FUNCTION_NAME": name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_mb),
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": stream,
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{PYTHON_RUNTIME}",
                "LAMBDA_TASK_ROOT": str(self.root),
                "_HANDLER": fn.handler,
                "PYTHONPATH": _HARNESS_ROOT,  # to find infra.runtime.worker; the worker drops it
            }
        )
        if "AWS_PROFILE" not in env:
            # The developer's ~/.aws settings must not leak into the sandbox.
            env.setdefault("AWS_CONFIG_FILE", os.devnull)
            env.setdefault("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        return env

    async def _spawn(self, fn: FunctionSpec) -> _Sandbox | Invocation:
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            self.python,
            "-m",
            "infra.runtime.worker",
            self.function_arn(fn),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=self.root,
            env=self.sandbox_environment(fn),
            limit=LINE_LIMIT,
            # Its own process group: Ctrl-C reaches the harness only, which stops us cleanly.
            start_new_session=True,
        )
        sandbox = _Sandbox(proc, asyncio.create_task(self._forward_logs(fn.name, proc)))
        self._sandboxes.add(sandbox)
        try:
            ready = await asyncio.wait_for(sandbox.read_reply(), INIT_TIMEOUT_S)
        except TimeoutError:
            ready = {
                "ready": False,
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"Init phase exceeded {INIT_TIMEOUT_S:.0f} seconds",
            }
        if ready is not None and ready.get("ready"):
            return sandbox
        self._retire(sandbox)
        if ready is None:
            ready = {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"Runtime exited during init: {await sandbox.exit_description()}",
            }
        return _with_duration(
            Invocation(
                ok=False,
                error_type=ready.get("errorType"),
                error_message=ready.get("errorMessage"),
                timed_out=ready.get("errorType") == "Sandbox.Timedout",
            ),
            started,
        )

    def _retire(self, sandbox: _Sandbox) -> None:
        self._sandboxes.discard(sandbox)
        sandbox.kill()
        task = asyncio.create_task(sandbox.stop(0.0))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _forward_logs(self, function: str, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        while True:
            try:
                line = await proc.stderr.readline()
            except ValueError:  # a line over LINE_LIMIT: show what we have
                line = await proc.stderr.read(LINE_LIMIT)
            if not line:
                return
            self.log(function, line.decode(errors="replace").rstrip("\n"))


def _with_duration(outcome: Invocation, started: float) -> Invocation:
    return Invocation(
        ok=outcome.ok,
        result=outcome.result,
        error_type=outcome.error_type,
        error_message=outcome.error_message,
        timed_out=outcome.timed_out,
        duration_ms=(time.perf_counter() - started) * 1000,
    )


def _trace_id() -> str:
    epoch = f"{int(time.time()):08x}"
    return f"Root=1-{epoch}-{secrets.token_hex(12)};Parent={secrets.token_hex(8)};Sampled=0"
