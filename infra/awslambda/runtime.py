"""The harness side of the Lambda model: sandboxes per function, started as Lambda does.

A function's first invocation starts a sandbox (a cold start: its Init Duration is in
the log and in the invocation's report); invocations that overlap start more, up to
`reserved_concurrency` (else the runtime's default concurrency), and beyond that wait
their turn. A sandbox runs one invocation at a time, is killed when it overruns the
function's timeout, is replaced on the next invocation after a crash or a kill, and is
stopped after `idle_s` seconds without an invocation, as Lambda reclaims idle
environments. `warm()` starts sandboxes ahead of traffic (`python -m infra --warm`).

Each sandbox is a Lambda package (see `infra.awslambda.packages`) run by the declared
`pythonX.Y` when it is installed (see `infra.awslambda.interpreters`); any other runtime
is refused when the runtime is made, so no sandbox of it ever starts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.awslambda import interpreters, native_code, sandbox
from infra.awslambda.interpreters import Interpreter
from infra.awslambda.logs import InvocationReport, LogSink, ReportSink, describe_event, print_log
from infra.awslambda.packages import Package, PackageCache
from infra.awslambda.sandbox import Sandbox
from infra.config import ConfigError
from infra.service import FunctionSpec, Invocation, ServiceSpec

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 4
# Lambda keeps an idle execution environment for minutes, not a fixed time; five is typical.
DEFAULT_IDLE_S = 300.0
INIT_TIMEOUT_S = 10.0  # Lambda's limit for the init phase


@dataclass(frozen=True)
class _Ready:
    """What a function's sandboxes are made of, found once at start."""

    interpreter: Interpreter
    package: Package


class _FunctionPool:
    def __init__(self, runtime: LambdaRuntime, fn: FunctionSpec, cap: int) -> None:
        self.runtime = runtime
        self.fn = fn
        self.cap = cap
        self.slots = asyncio.Semaphore(cap)
        self.idle: list[Sandbox] = []  # the most recently used last
        self.busy: set[Sandbox] = set()

    def take_idle(self) -> Sandbox | None:
        if not self.idle:
            return None
        box = self.idle.pop()  # the warmest: the others are the first to be reaped
        if box.reaper is not None:
            box.reaper.cancel()
            box.reaper = None
        return box

    def park(self, box: Sandbox) -> None:
        box.idle_since = time.monotonic()
        self.idle.append(box)
        idle_s = self.runtime.idle_s
        if idle_s is not None:
            box.reaper = asyncio.get_running_loop().call_later(idle_s, self.reap, box)

    def reap(self, box: Sandbox) -> None:
        if box in self.idle:
            self.idle.remove(box)
            log.info(
                "%s: sandbox %d stopped after %.0f s idle (%d invocations)",
                self.fn.name,
                box.pid,
                time.monotonic() - box.idle_since,
                box.invocations,
            )
            self.runtime.retire(box)

    async def invoke(self, event: Mapping[str, Any]) -> Invocation:
        async with self.slots:
            started = time.perf_counter()
            box = self.take_idle()
            init_ms: float | None = None
            if box is None:
                started_box = await self.runtime.start_sandbox(self.fn)
                if isinstance(started_box, Invocation):
                    self.runtime.report_failed_init(self.fn, event, started_box)
                    return _with_duration(started_box, started)
                box = started_box
                init_ms = box.init_ms
            self.busy.add(box)
            try:
                outcome, healthy, request_id = await self._run(box, event, init_ms)
            finally:
                self.busy.discard(box)
            if healthy and not self.runtime.closing:
                self.park(box)
            else:
                self.runtime.retire(box)
            self.runtime.report(self.fn, event, request_id, outcome, init_ms)
            return _with_duration(outcome, started)

    async def _run(
        self, box: Sandbox, event: Mapping[str, Any], init_ms: float | None
    ) -> tuple[Invocation, bool, str]:
        timeout_s = self.fn.timeout_s
        request_id = str(uuid.uuid4())
        request = {
            "requestId": request_id,
            "deadlineMs": int(time.time() * 1000 + timeout_s * 1000),
            "traceId": _trace_id(),
            "event": event,
            "initDurationMs": init_ms,
        }
        box.invocations += 1
        ran = time.perf_counter()
        try:
            box.send(json.dumps(request).encode())
            reply = await asyncio.wait_for(box.read_reply(), timeout_s)
        except TimeoutError:
            box.kill()
            message = f"Task timed out after {timeout_s:.2f} seconds"
            self.runtime.log(self.fn.name, f"{request_id} {message}")
            timed_out = Invocation(
                ok=False,
                timed_out=True,
                error_type="Sandbox.Timedout",
                error_message=message,
                duration_ms=timeout_s * 1000,
            )
            return timed_out, False, request_id
        except (ConnectionError, BrokenPipeError):
            reply = None
        if reply is None:
            how = await box.exit_description()
            message = f"RequestId: {request_id} Error: Runtime exited with error: {how}"
            self.runtime.log(self.fn.name, message)
            exited = Invocation(
                ok=False,
                error_type="Runtime.ExitError",
                error_message=message,
                duration_ms=(time.perf_counter() - ran) * 1000,
            )
            return exited, False, request_id
        # The handler's own time, as REPORT's Duration (not the queueing or the pipe).
        duration_ms = float(reply.get("durationMs", (time.perf_counter() - ran) * 1000))
        if reply.get("ok"):
            returned = Invocation(ok=True, result=reply.get("result"), duration_ms=duration_ms)
            return returned, True, request_id
        failed = Invocation(
            ok=False,
            error_type=reply.get("errorType"),
            error_message=reply.get("errorMessage"),
            duration_ms=duration_ms,
        )
        return failed, True, request_id


class LambdaRuntime:
    """Runs the functions of `spec` as the Lambda service would (an `Invoker`).

    `environment` is added to every function's environment (endpoint overrides, CA
    bundle) and `hosts` maps host names to the local gateway in every sandbox (the
    service's `{apiId}.execute-api.{region}.amazonaws.com`); both may be updated until a
    function's first sandbox starts. `root` is the
    code root of functions that declare none (the service's directory). `idle_s`: how
    long an idle sandbox lives (None: until `close`). `log` receives each line of every
    function's log stream; `report` one `InvocationReport` per invocation.
    """

    def __init__(
        self,
        spec: ServiceSpec,
        *,
        root: Path,
        environment: Mapping[str, str] | None = None,
        credentials: Mapping[str, str] | None = None,
        default_concurrency: int = DEFAULT_CONCURRENCY,
        idle_s: float | None = DEFAULT_IDLE_S,
        log: LogSink | None = print_log,
        report: ReportSink | None = None,
        cache: PackageCache | None = None,
    ) -> None:
        for fn in spec.functions.values():
            if interpreters.declared_version(fn.runtime) is None:
                raise ConfigError(
                    f"functions.{fn.name}: runtime {fn.runtime!r} cannot run locally "
                    "(only pythonX.Y runtimes do)"
                )
        self.spec = spec
        self.root = Path(root).resolve()
        self.environment: dict[str, str] = dict(environment or {})
        self.hosts: dict[str, tuple[str, int]] = {}
        self.credentials = dict(
            credentials
            or {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing",
            }
        )
        self.idle_s = idle_s
        self.cache = cache or PackageCache()
        self._log = log
        self._report = report
        self.closing = False
        # "python3.9 is not installed here: ..." lines, one per runtime that fell back, and
        # one per layer whose compiled code this machine cannot load.
        self.warnings: list[str] = []
        self._pools = {
            name: _FunctionPool(self, fn, fn.reserved_concurrency or default_concurrency)
            for name, fn in spec.functions.items()
        }
        self._ready: dict[str, _Ready] = {}
        self._preparing: asyncio.Future[None] | None = None
        self._sandboxes: set[Sandbox] = set()
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

    # -- start-up ------------------------------------------------------------------------------
    async def prepare(self) -> None:
        """Find each function's interpreter and assemble its package (pip installs,
        unpacked zips), once; a `PackageError` says which function cannot run. Called by
        the first invocation if not before (the stack calls it at start)."""
        if self._preparing is None:
            self._preparing = asyncio.ensure_future(self._prepare())
        await asyncio.shield(self._preparing)

    async def _prepare(self) -> None:
        versions: dict[tuple[int, int], list[str]] = {}
        for fn in self.spec.functions.values():
            version = interpreters.declared_version(fn.runtime)
            assert version is not None  # checked in __init__
            versions.setdefault(version, []).append(fn.name)
        found = dict(
            zip(
                versions,
                await asyncio.gather(*(interpreters.find(v) for v in versions)),
                strict=True,
            )
        )
        fallback = interpreters.harness()
        for version, names in versions.items():
            if found[version] is None:
                declared = f"python{version[0]}.{version[1]}"
                why = "is not installed here"
                if version < interpreters.OLDEST:
                    why = "cannot run here (the local runtime needs Python 3.7 or later)"
                warning = (
                    f"{declared} {why}: {', '.join(names)} "
                    f"run{'s' if len(names) == 1 else ''} on {fallback.runtime} instead"
                )
                self.warnings.append(warning)
                log.warning("%s", warning)

        async def ready(fn: FunctionSpec) -> tuple[str, _Ready]:
            version = interpreters.declared_version(fn.runtime)
            assert version is not None
            interp = found[version] or fallback
            return fn.name, _Ready(interp, await self.cache.package(fn, self.root, interp))

        self._ready = dict(await asyncio.gather(*map(ready, self.spec.functions.values())))
        await asyncio.to_thread(self._check_layers)

    def _check_layers(self) -> None:
        """Warn of each layer whose compiled code this machine cannot load (one built for
        the functions' declared architecture, when that is not this machine's)."""
        users: dict[Path, dict[str, str]] = {}
        for fn in self.spec.functions.values():
            for layer in fn.layers:
                users.setdefault(Path(layer), {})[fn.name] = fn.architecture
        for layer, functions in users.items():
            foreign = native_code.foreign_code(layer)
            if foreign is not None:
                shown = layer.relative_to(self.root) if layer.is_relative_to(self.root) else layer
                warning = native_code.warning(foreign, functions, str(shown))
                self.warnings.append(warning)
                log.warning("%s", warning)

    # -- management ---------------------------------------------------------------------------
    def log(self, function: str, line: str) -> None:
        if self._log is not None:
            self._log(function, line)

    def interpreter(self, function: str) -> Interpreter | None:
        """What runs `function` (known once `prepare` is done)."""
        ready = self._ready.get(function)
        return ready.interpreter if ready else None

    def package(self, function: str) -> Package | None:
        """What `function`'s sandboxes import from (known once `prepare` is done)."""
        ready = self._ready.get(function)
        return ready.package if ready else None

    def sandbox_pids(self, function: str) -> list[int]:
        """Process ids of the function's live sandboxes (idle and busy)."""
        pool = self._pools[function]
        return sorted(s.pid for s in [*pool.idle, *pool.busy])

    def served_functions(self) -> list[str]:
        """Functions API Gateway invokes: route integrations and authorizers."""
        names = [r.function for r in self.spec.websocket_routes.values()]
        names += [
            r.authorizer.function for r in self.spec.websocket_routes.values() if r.authorizer
        ]
        names += [r.function for r in self.spec.http_routes]
        names += [r.authorizer.function for r in self.spec.http_routes if r.authorizer]
        return [name for name in dict.fromkeys(names) if name in self._pools]

    async def warm(self, *functions: str, sandboxes: int = 1) -> None:
        """Start sandboxes for each function named (by default each one API Gateway
        invokes; others start when first invoked) until it has `sandboxes` of them (at
        most its concurrency). Warming to the cap keeps a burst of connections from
        paying a cold start per extra sandbox."""
        await self.prepare()
        names = functions or tuple(self.served_functions())

        async def one(pool: _FunctionPool) -> None:
            async with pool.slots:
                box = await self.start_sandbox(pool.fn)
                if isinstance(box, Sandbox):
                    pool.park(box)

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
        boxes = list(self._sandboxes)
        self._sandboxes.clear()
        for pool in self._pools.values():
            for box in pool.idle:
                if box.reaper is not None:
                    box.reaper.cancel()
            pool.idle.clear()
        await asyncio.gather(*(s.stop(grace_s) for s in boxes))
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
        """The process environment of one of `fn`'s sandboxes (once `prepare` is done)."""
        ready = self._ready[fn.name]
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
                # What actually runs, which is the declared runtime unless it fell back.
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{ready.interpreter.runtime}",
                "LAMBDA_TASK_ROOT": str(ready.package.task_root),
                "LAMBDA_RUNTIME_DIR": str(sandbox.RUNTIME_DIR),
                "_HANDLER": fn.handler,
            }
        )
        if "AWS_PROFILE" not in env:
            # The developer's ~/.aws settings must not leak into the sandbox.
            env.setdefault("AWS_CONFIG_FILE", os.devnull)
            env.setdefault("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        return env

    async def start_sandbox(self, fn: FunctionSpec) -> Sandbox | Invocation:
        """A cold start: a new sandbox through its init phase, or the init error."""
        await self.prepare()
        started = time.perf_counter()
        ready = self._ready[fn.name]
        try:
            box = await sandbox.spawn(
                ready.interpreter,
                ready.package,
                self.function_arn(fn),
                self.sandbox_environment(fn),
                lambda line: self.log(fn.name, line),
                self.hosts,
            )
        except OSError as exc:  # the interpreter went away, the task root was deleted, ...
            return Invocation(
                ok=False,
                error_type="Runtime.ExitError",
                error_message=f"Runtime failed to start: {exc}",
                duration_ms=(time.perf_counter() - started) * 1000,
            )
        self._sandboxes.add(box)
        try:
            reply = await asyncio.wait_for(box.read_reply(), INIT_TIMEOUT_S)
        except TimeoutError:
            reply = {
                "ready": False,
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"Init phase exceeded {INIT_TIMEOUT_S:.0f} seconds",
            }
        box.init_ms = (time.perf_counter() - started) * 1000
        if reply is not None and reply.get("ready"):
            return box
        self.retire(box)
        if reply is None:
            reply = {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"Runtime exited during init: {await box.exit_description()}",
            }
        return Invocation(
            ok=False,
            error_type=reply.get("errorType"),
            error_message=reply.get("errorMessage"),
            timed_out=reply.get("errorType") == "Sandbox.Timedout",
            duration_ms=box.init_ms,
        )

    def retire(self, box: Sandbox) -> None:
        self._sandboxes.discard(box)
        box.kill()
        task = asyncio.create_task(box.stop(0.0))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    # -- reports ------------------------------------------------------------------------------
    def report(
        self,
        fn: FunctionSpec,
        event: Mapping[str, Any],
        request_id: str,
        outcome: Invocation,
        init_ms: float | None,
    ) -> None:
        if self._report is None:
            return
        trigger, source = describe_event(event)
        self._report(
            InvocationReport(
                function=fn.name,
                request_id=request_id,
                trigger=trigger,
                source=source,
                ok=outcome.ok,
                error_type=outcome.error_type,
                error_message=outcome.error_message,
                timed_out=outcome.timed_out,
                duration_ms=outcome.duration_ms,
                init_ms=init_ms,
            )
        )

    def report_failed_init(
        self, fn: FunctionSpec, event: Mapping[str, Any], outcome: Invocation
    ) -> None:
        self.log(
            fn.name,
            f"INIT_REPORT Init Duration: {outcome.duration_ms:.2f} ms\tPhase: init\t"
            f"Status: error\tError Type: {outcome.error_type}",
        )
        self.report(fn, event, "", outcome, outcome.duration_ms)


def _with_duration(outcome: Invocation, started: float) -> Invocation:
    """`outcome` as its caller saw it: from the request to the answer, cold start included."""
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
