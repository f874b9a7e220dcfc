"""serverless-offline@13 (with osls@4) running the project's own serverless.yml.

The npm packages go to bench/peer/.scratch (git-ignored), installed on first use. The
service is a generated copy of serverless.yml (plus `plugins` and the plugin's ports)
in a scratch directory whose `handlers` is a symlink to the real one, so the very same
handler code runs. Its functions reach the embedded DynamoDB / SSM through
AWS_ENDPOINT_URL_* and the Management API on serverless-offline's WebSocket port.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRATCH = Path(__file__).resolve().parent / ".scratch"
PACKAGES = ("osls@4", "serverless-offline@13")
START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Offline:
    pid: int
    ws_url: str
    mgmt_url: str
    version: str


def ensure_packages() -> str:
    """Install osls and serverless-offline into the scratch dir; returns the plugin version."""
    plugin = SCRATCH / "node_modules" / "serverless-offline" / "package.json"
    if not plugin.exists():
        SCRATCH.mkdir(parents=True, exist_ok=True)
        package = SCRATCH / "package.json"
        if not package.exists():
            package.write_text('{"name": "wschat-peer-bench", "private": true}\n')
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", *PACKAGES],
            cwd=SCRATCH,
            check=True,
            env={**os.environ, "HOME": str(SCRATCH / "home")},
        )
    text = plugin.read_text()
    match = re.search(r'"version":\s*"([^"]+)"', text)
    return match.group(1) if match else "unknown"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# serverless-offline@13 leaves out what AWS always sends and the handlers' event models
# require: `requestContext.identity.sourceIp` on every event of a connection that went
# through a $connect authorizer, and `disconnectStatusCode` / `disconnectReason` on
# $disconnect. A handler that raises makes it hang until the function timeout and then
# crash (EPIPE) on that function's next call, so nothing can run without these fields.
# With `shim=True` each function is this wrapper, which adds them and calls the real one.
SHIM = '''"""Adds what serverless-offline leaves out of the events, then runs the real handler."""
import importlib


def _wrap(module):
    def handler(event, context):
        ctx = event.get("requestContext") or {}
        identity = ctx.get("identity")
        if isinstance(identity, dict):
            identity.setdefault("sourceIp", "127.0.0.1")
        if ctx.get("eventType") == "DISCONNECT":
            ctx.setdefault("disconnectStatusCode", 1005)
            ctx.setdefault("disconnectReason", "")
        return importlib.import_module(module).handler(event, context)

    return handler

'''


def service_dir(service: Path, ports: dict[str, int], *, shim: bool = False) -> Path:
    """A copy of `service` with the plugin added, beside a symlink to its handler code."""
    spec: dict[str, Any] = yaml.safe_load(service.read_text())
    spec["plugins"] = ["serverless-offline"]
    shim_lines = [SHIM]
    for name, fn in spec.get("functions", {}).items():
        module = fn["handler"].rpartition(".")[0].replace("/", ".")
        shim_lines.append(f"{name} = _wrap({module!r})\n")
        if shim:
            fn["handler"] = f"peer_shim.{name}"
    spec.setdefault("custom", {})["serverless-offline"] = {
        "host": "127.0.0.1",
        "httpPort": ports["http"],
        "websocketPort": ports["websocket"],
        "lambdaPort": ports["lambda"],
        "noTimeout": False,
    }
    target = SCRATCH / f"svc-{service.parent.name}-{'shim' if shim else 'plain'}"
    target.mkdir(parents=True, exist_ok=True)
    (target / "peer_shim.py").write_text("".join(shim_lines))
    (target / "serverless.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    for entry in service.parent.iterdir():
        if entry.name in ("serverless.yml", ".serverless", "node_modules", ".venv", ".git"):
            continue
        if (entry.is_dir() and entry.name in ("handlers",)) or entry.suffix == ".py":
            link = target / entry.name
            if not link.exists():
                link.symlink_to(entry)
    nm = target / "node_modules"
    if not nm.exists():
        nm.symlink_to(SCRATCH / "node_modules")
    return target


@contextlib.asynccontextmanager
async def running_offline(
    service: Path, environment: dict[str, str], *, shim: bool = False, log: Path | None = None
) -> AsyncIterator[Offline]:
    """`osls offline start` for `service`; stopped (its whole process group) on exit."""
    version = await asyncio.to_thread(ensure_packages)
    ports = {"http": free_port(), "websocket": free_port(), "lambda": free_port()}
    workdir = service_dir(service, ports, shim=shim)
    venv_bin = ROOT / ".venv" / "bin"
    env = {
        **os.environ,
        **environment,
        "HOME": str(SCRATCH / "home"),
        "SLS_TELEMETRY_DISABLED": "1",
        "SLS_NOTIFICATIONS_MODE": "off",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": environment.get("AWS_REGION", "us-east-1"),
        "AWS_DEFAULT_REGION": environment.get("AWS_REGION", "us-east-1"),
        "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI": f"http://127.0.0.1:{ports['websocket']}",
        # The plugin runs `python3` (from the runtime name): make that the project's venv.
        "VIRTUAL_ENV": str(ROOT / ".venv"),
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(workdir),
    }
    out = log.open("ab") if log else subprocess.DEVNULL
    proc = await asyncio.create_subprocess_exec(
        str(SCRATCH / "node_modules" / ".bin" / "osls"),
        "offline",
        "start",
        "--stage",
        "dev",
        cwd=workdir,
        env=env,
        stdout=out,
        stderr=out,
        start_new_session=True,  # its python children die with the group
    )
    try:
        await _wait_for_port(ports["websocket"], proc)
        yield Offline(
            pid=proc.pid,
            ws_url=f"ws://127.0.0.1:{ports['websocket']}",
            mgmt_url=f"http://127.0.0.1:{ports['websocket']}",
            version=version,
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
        await _sweep_group(proc.pid)
        if log and not isinstance(out, int):
            out.close()


async def _sweep_group(pgid: int, limit_s: float = 10.0) -> None:
    """Kill what is left of serverless-offline's process group. While it shuts down it
    may still spawn handler processes (seen: a few `sh -c python3 invoke.py` started
    after the SIGTERM), which outlive it. Until the group is empty its id cannot be
    reused, so this reaches only its processes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while loop.time() < deadline:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            return
        await asyncio.sleep(0.2)  # until the killed processes are reaped


async def _wait_for_port(port: int, proc: asyncio.subprocess.Process) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_S
    while loop.time() < deadline:
        if proc.returncode is not None:
            raise RuntimeError(f"serverless-offline exited with {proc.returncode}")
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.2)  # polling a port that is not up yet
            continue
        writer.close()
        return
    raise RuntimeError("serverless-offline did not open its WebSocket port")
