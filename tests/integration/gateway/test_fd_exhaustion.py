"""Out of file descriptors, the gateway says so once and serves again when some close.

asyncio's own accept loop logged a traceback per pending connection per second (about
7 MB of log a second with the gateway's backlog); `infra.apigateway.listener` stops at
the first EMFILE. The gateway runs in a child process whose descriptor limit the test
sets low, with a connection cap above it, so the limit is what stops it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import textwrap
from pathlib import Path

from tests.conftest import scaled

REPO = Path(__file__).resolve().parents[3]
FD_LIMIT = 48
CLIENTS = 90  # well past what the child can accept

CHILD = textwrap.dedent(
    f"""
    import asyncio, logging, resource, sys
    from infra.apigateway import GatewayOptions, GatewayServer
    from tests.echo_service.invoker import InProcessInvoker, echo_spec

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")

    async def main():
        spec = echo_spec()
        invoker = InProcessInvoker(spec)
        options = GatewayOptions(port=0, max_connections=10_000)
        server = GatewayServer(spec, invoker, options)
        await server.start()
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, ({FD_LIMIT}, hard))
        print(server.port, flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_reader(sys.stdin.fileno(), stop.set)
        await stop.wait()
        await server.close()
        invoker.close()

    asyncio.run(main())
    """
)


async def request(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    try:
        return await reader.read()
    finally:
        writer.close()


async def test_out_of_descriptors_one_log_line_and_service_resumes() -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None and child.stdin is not None
    log = bytearray()
    ran_out = asyncio.Event()

    async def drain(stream: asyncio.StreamReader) -> None:
        """Keep the child's log flowing (a full pipe would stall it) and watch it."""
        while chunk := await stream.read(65536):
            log.extend(chunk)
            if b"Too many open files" in log:
                ran_out.set()

    draining = asyncio.create_task(drain(child.stderr))
    clients: list[asyncio.StreamWriter] = []
    try:
        port = int(await asyncio.wait_for(child.stdout.readline(), scaled(30)))
        for _ in range(CLIENTS):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            clients.append(writer)
        await asyncio.wait_for(ran_out.wait(), scaled(10))  # the child ran out
        for writer in clients:
            writer.close()
        clients.clear()
        answer = await asyncio.wait_for(request(port), scaled(15))
        assert answer.startswith(b"HTTP/1.1 404 ")  # accepting again
    finally:
        for writer in clients:
            writer.close()
        child.stdin.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(child.wait(), scaled(10))
        if child.returncode is None:
            child.kill()
            await child.wait()
        await draining
    text = log.decode(errors="replace")
    assert text.count("Too many open files") == 1, text[:2000]
    assert text.count("cannot accept connections") == 1
    assert len(log) < 2000  # no tracebacks
