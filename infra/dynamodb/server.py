"""The embedded DynamoDB (and SSM): moto's server in its own process.

`start_moto()` runs `python -m infra.dynamodb` (moto's WSGI app on a free loopback port,
in a separate process so it does not share the harness's GIL) and waits until it
answers; `infra.dynamodb.provision` then creates a service's tables and parameters. It
answers this machine's code only (`guard`). `MotoServer.supervise` watches the process:
if it dies, everything it held is gone, so the harness says so in one line and the
stack stops (`python -m infra` exits 1) rather than answering every call with a
connection error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication

STARTUP_TIMEOUT_S = 30.0
SERVER_MODULE = "infra.dynamodb"

log = logging.getLogger(__name__)


@dataclass
class MotoServer:
    """A running `python -m infra.dynamodb` process."""

    proc: asyncio.subprocess.Process
    endpoint: str  # http://127.0.0.1:PORT, serves DynamoDB, SSM and the moto API
    _closing: bool = field(default=False, repr=False)
    _watcher: asyncio.Task[None] | None = field(default=None, repr=False)

    def supervise(self, on_exit: Callable[[str], None]) -> None:
        """If the process ends without `close()`, log one line saying so and call
        `on_exit` with it (once)."""

        async def watch() -> None:
            status = await self.proc.wait()
            if self._closing:
                return
            how = f"was killed by signal {-status}" if status < 0 else f"exited ({status})"
            line = (
                f"the embedded DynamoDB/SSM (moto, pid {self.proc.pid}) {how}: every "
                "table, item and parameter it held is gone"
            )
            log.error("%s", line)
            on_exit(line)

        self._watcher = asyncio.get_running_loop().create_task(watch())

    async def reset(self) -> None:
        """Forget every table, item and parameter (moto's `POST /moto-api/reset`)."""
        await asyncio.to_thread(reset_moto, self.endpoint)

    async def close(self) -> None:
        self._closing = True
        if self.proc.returncode is None:
            if self.proc.stdin is not None:
                self.proc.stdin.close()  # it exits when its stdin closes
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()
        if self._watcher is not None and not self._watcher.done():
            self._watcher.cancel()  # it has nothing to report: this was asked for


async def start_moto(
    host: str = "127.0.0.1", *, module: str = SERVER_MODULE, args: Sequence[str] = ()
) -> MotoServer:
    """Start moto's server on a free port of `host` and wait until it serves.

    `module` (run as `python -m module host *args`) must print its port on its first
    line and exit when its stdin closes; the benches pass their own front ends."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        host,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        start_new_session=True,  # Ctrl-C is the harness's to handle
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), STARTUP_TIMEOUT_S)
    except TimeoutError:
        line = b""
    if not line.strip().isdigit():
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise RuntimeError(f"moto server did not start (exit status {proc.returncode})")
    return MotoServer(proc, f"http://{host}:{int(line)}")


def reset_moto(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


# -- the server process ----------------------------------------------------------------------


def _stop_tracking_models() -> None:
    """moto keeps every model object it ever creates (for its dashboard) until a reset:
    every overwritten item, every table copy TransactWriteItems makes for rollback.
    A long run grew the server by gigabytes; without the registry they are freed."""
    from moto.core.common_models import BaseModel

    def untracked(cls: type[Any], *args: Any, **kwargs: Any) -> Any:
        return object.__new__(cls)

    BaseModel.__new__ = untracked  # type: ignore[method-assign]


def moto_app() -> WSGIApplication:
    """moto's server app, patched for speed (`moto_speedups.install`), as moto's Flask
    app answers every request; `serve` adds the direct DynamoDB dispatch."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from infra.dynamodb import moto_speedups

    class Dispatcher(DomainDispatcherApplication):
        """moto's dispatcher, remembering which backend serves a host: its lookup scans
        every moto module on each request, a third of the cost of a PutItem."""

        backends: ClassVar[dict[str | None, Any]] = {}

        def get_backend_for_host(self, host: str | None) -> Any:
            if host not in self.backends:
                self.backends[host] = super().get_backend_for_host(host)
            return self.backends[host]

    _stop_tracking_models()
    moto_speedups.install()
    return Dispatcher(create_backend_app)


def exit_with_parent() -> None:
    """Exit when the harness closes our stdin (or dies), or on SIGTERM."""

    def wait_for_eof() -> None:
        sys.stdin.buffer.read()
        os._exit(0)

    threading.Thread(target=wait_for_eof, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))


def serve(app: WSGIApplication, host: str) -> None:
    """Serve `app` on a free port of `host` with `infra.dynamodb.wsgi_server`, printing the
    port first; runs until the parent goes away."""
    from infra.dynamodb.wsgi_server import serve as serve_wsgi

    exit_with_parent()

    async def run() -> None:
        server = await serve_wsgi(app, host)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(run())


def main(argv: Sequence[str]) -> None:
    """`python -m infra.dynamodb [HOST]`: the embedded server as `make run` uses it."""
    from infra.dynamodb import moto_speedups
    from infra.dynamodb.guard import local_only

    # moto's backends are not thread-safe: TransactWriteItems deep-copies a table while
    # other threads write to it (a 500), and a cancelled transaction restores that copy,
    # wiping every write made meanwhile. DynamoDB applies each request atomically; the
    # single-threaded server (infra.dynamodb.wsgi_server) applies one request at a time too.
    app = local_only(moto_speedups.dynamodb_first(moto_app()))
    serve(app, argv[0] if argv else "127.0.0.1")
