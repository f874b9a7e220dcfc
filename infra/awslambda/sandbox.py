"""One sandbox: a bootstrap process (`bootstrap/bootstrap.py`) talking JSON lines.

Started isolated on the function's interpreter, in the function's task root, with the
function's environment; its stderr is the function's log stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from infra.awslambda.interpreters import Interpreter
from infra.awslambda.packages import Package

# Lambda's /var/runtime: the bootstrap and nothing else of the harness.
RUNTIME_DIR = Path(__file__).resolve().parent / "bootstrap"
BOOTSTRAP = RUNTIME_DIR / "bootstrap.py"
# Events and results travel as one JSON line each; API Gateway caps both well below this.
LINE_LIMIT = 64 * 1024 * 1024

LineSink = Callable[[str], None]


class Sandbox:
    """A running bootstrap process; one invocation at a time."""

    def __init__(self, proc: asyncio.subprocess.Process, log_task: asyncio.Task[None]) -> None:
        self.proc = proc
        self.log_task = log_task
        self.invocations = 0
        self.init_ms: float | None = None  # how long the init phase took (set once ready)
        self.idle_since = time.monotonic()
        self.reaper: asyncio.TimerHandle | None = None

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
        if self.reaper is not None:
            self.reaper.cancel()
            self.reaper = None
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    async def stop(self, grace_s: float) -> None:
        """Close stdin (the bootstrap exits on EOF); kill it if it takes longer than
        `grace_s`."""
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


async def spawn(
    interp: Interpreter,
    package: Package,
    function_arn: str,
    env: Mapping[str, str],
    log: LineSink,
) -> Sandbox:
    """Start a bootstrap process; it is ready when its first reply says so."""
    setup = {
        "functionArn": function_arn,
        "front": [str(p) for p in package.front],
        "back": [str(p) for p in package.back],
    }
    proc = await asyncio.create_subprocess_exec(
        interp.executable,
        "-I",  # no PYTHON* variables, no user site, not even the script's directory
        "-S",  # no site-packages of the interpreter: only what `setup` names
        str(BOOTSTRAP),
        json.dumps(setup),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=package.task_root,
        env=dict(env),
        limit=LINE_LIMIT,
        # Its own process group: Ctrl-C reaches the harness only, which stops us cleanly.
        start_new_session=True,
    )
    return Sandbox(proc, asyncio.create_task(_forward_logs(proc, log)))


async def _forward_logs(proc: asyncio.subprocess.Process, log: LineSink) -> None:
    assert proc.stderr is not None
    while True:
        try:
            line = await proc.stderr.readline()
        except ValueError:  # a line over LINE_LIMIT: show what we have
            line = await proc.stderr.read(LINE_LIMIT)
        if not line:
            return
        log(line.decode(errors="replace").rstrip("\n"))
