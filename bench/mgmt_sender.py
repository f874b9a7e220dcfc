"""CPU per delivery: the lean Management API sender against boto3's post_to_connection.

    python -m bench.mgmt_sender [--posts 1000] [--rounds 7] [--concurrency 32]
                                [--targets sink,sink-tls,gateway,gateway-tls] [--json FILE]

Every variant runs in this process and posts the same frame (238 bytes) to the same
connection ids; CPU is this process's CPU time (user + system, all threads) over one
batch, divided by the deliveries. The rounds are interleaved (each round runs every
variant once, in a rotated order), so a busy moment of the host hits them all alike;
ratios are medians of the per-round ratios to `boto3`.

Variants:
  boto3            `post_to_connection`, one call after another, the handlers' old client
                   config (standard retries, 3 attempts, timeouts, no parameter validation)
  boto3 FanOut     the handlers' FanOut before the lean sender (main @ adceb62): that
                   client in a pool of `--concurrency` threads
  urllib3 threads  botocore's SigV4Auth + urllib3's pool in `--concurrency` threads: the
                   other candidate for the lean sender, not taken
  lean FanOut      today's FanOut.deliver over handlers.chat.management_api (aiohttp,
                   `--concurrency` in flight on the calling thread's loop)
  lean, one each   ManagementApi.post once per recipient: a single-recipient delivery

Targets (each in its own processes, so their CPU is not counted):
  sink         a keep-alive HTTP/1.1 server answering 200 to every POST (http.server)
  sink-tls     the same over TLS (a self-signed certificate, trusted via AWS_CA_BUNDLE)
  gateway      `python -m infra` (the local API Gateway) with `--posts` real WebSocket
               connections held by a third process; its CPU per delivery is shown too
  gateway-tls  the same with `--tls-cert` (https)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.machine import describe

FRAME = json.dumps(
    {
        "type": "message",
        "room": "lobby",
        "id": "01JD2Z8Q3F4K5M6N7P8R9S0T1V",
        "from": {"id": "u-7c41f0e2a9b3", "name": "Ada Lovelace"},
        "text": "The Analytical Engine weaves algebraic patterns just as the loom weaves "
        "flowers and leaves.",
        "clientMsgId": "c-5d1e9a0b",
        "at": 1796412345678,
    },
    separators=(",", ":"),
).encode()
FRAME = FRAME + b" " * max(0, 238 - len(FRAME))
VARIANTS = ("boto3", "boto3 FanOut", "urllib3 threads", "lean FanOut", "lean, one each")
BASELINE = "boto3"


# -- the variants ----------------------------------------------------------------------


def boto3_client(endpoint: str, concurrency: int) -> Any:
    """boto3's client as handlers.chat.aws configured it before the lean sender."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=2,
        read_timeout=5,
        max_pool_connections=concurrency,
        parameter_validation=False,
    )
    return boto3.client("apigatewaymanagementapi", endpoint_url=endpoint, config=config)


class Boto3FanOut:
    """The handlers' FanOut at main @ adceb62: boto3 in a shared pool of threads."""

    def __init__(self, client: Any, concurrency: int) -> None:
        self._client = client
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="boto3-fanout")

    def deliver(self, ids: list[str], data: bytes) -> int:
        from botocore.exceptions import BotoCoreError, ClientError

        client = self._client

        def one(cid: str) -> bool:
            try:
                client.post_to_connection(ConnectionId=cid, Data=data)
                return True
            except client.exceptions.GoneException:
                return False
            except (ClientError, BotoCoreError):
                return False

        return sum(self._pool.map(one, ids))


class Urllib3Threads:
    """botocore's signer + urllib3's connection pool, one POST per thread."""

    def __init__(self, endpoint: str, concurrency: int, cafile: str | None) -> None:
        import botocore.session
        import urllib3

        session = botocore.session.Session()
        credentials = session.get_credentials()
        assert credentials is not None
        self._credentials = credentials
        self._region = session.get_config_variable("region")
        self._endpoint = endpoint
        self._pool = urllib3.PoolManager(
            maxsize=concurrency,
            block=True,
            timeout=urllib3.Timeout(connect=2, read=5),
            retries=False,
            ca_certs=cafile,
        )
        self._threads = ThreadPoolExecutor(concurrency, thread_name_prefix="urllib3")

    def deliver(self, ids: list[str], data: bytes) -> int:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.utils import percent_encode

        signer = SigV4Auth(self._credentials.get_frozen_credentials(), "execute-api", self._region)

        def one(cid: str) -> bool:
            url = f"{self._endpoint}/@connections/{percent_encode(cid)}"
            request = AWSRequest("POST", url, data=data)
            signer.add_auth(request)
            headers = dict(request.headers.items())
            response = self._pool.urlopen("POST", url, body=data, headers=headers)
            return bool(response.status == 200)

        return sum(self._threads.map(one, ids))


def variants(endpoint: str, concurrency: int, cafile: str | None) -> dict[str, Callable[..., int]]:
    import botocore.session

    from handlers.chat.fanout import FanOut
    from handlers.chat.management_api import ManagementApi

    client = boto3_client(endpoint, concurrency)
    old = Boto3FanOut(boto3_client(endpoint, concurrency), concurrency)
    threads = Urllib3Threads(endpoint, concurrency, cafile)
    # A fresh botocore session: this target's AWS_CA_BUNDLE.
    lean = ManagementApi(endpoint, concurrency=concurrency, session=botocore.session.Session())
    fanout = FanOut(lean, concurrency)
    payload = FRAME.decode()

    def boto3_each(ids: list[str], data: bytes) -> int:
        for cid in ids:
            client.post_to_connection(ConnectionId=cid, Data=data)
        return len(ids)

    def lean_fanout(ids: list[str], data: bytes) -> int:
        return fanout.deliver(ids, payload).delivered

    def lean_each(ids: list[str], data: bytes) -> int:
        return sum(lean.post(cid, data).error is None for cid in ids)

    found = {
        "boto3": boto3_each,
        "boto3 FanOut": old.deliver,
        "urllib3 threads": threads.deliver,
        "lean FanOut": lean_fanout,
        "lean, one each": lean_each,
    }
    return {name: found[name] for name in VARIANTS}


# -- the targets -------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    endpoint: str  # the Management API's endpoint_url
    ids: list[str]
    cafile: str | None = None
    server_pid: int | None = None  # the gateway, whose CPU per delivery is shown too


def _sink_main(cert: str | None, key: str | None) -> None:
    """A keep-alive HTTP/1.1 server that answers 200 to every POST (child process)."""
    import ssl
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256

    server = Server(("127.0.0.1", 0), Handler)
    if cert and key:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        # Handshakes in each connection's thread, not one after another in accept().
        server.socket = context.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
    print(server.server_address[1], flush=True)
    server.serve_forever()


@contextlib.contextmanager
def sink(posts: int, cert: Any | None) -> Iterator[Target]:
    args = [sys.executable, "-m", "bench.mgmt_sender", "_sink"]
    if cert is not None:
        args += [str(cert.cert), str(cert.key)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        scheme = "https" if cert else "http"
        ids = [secrets.token_urlsafe(12)[:15] + "=" for _ in range(posts)]
        cafile = str(cert.cert) if cert else None
        yield Target(
            f"sink{'-tls' if cert else ''}", f"{scheme}://127.0.0.1:{port}/dev", ids, cafile
        )
    finally:
        proc.kill()
        proc.wait()


async def _crowd_main(url: str, secret: str, user: str, n: int) -> None:
    """Hold `n` WebSocket connections of `user` until stdin closes (child process)."""
    from bench.clients import Arrivals, close_all, open_members, raise_fd_limit
    from client.tokens import mint_token

    raise_fd_limit()
    members = await open_members(url, [mint_token(user, secret=secret)] * n, Arrivals())
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.read)
    await close_all(members)


@contextlib.asynccontextmanager
async def gateway(posts: int, cert: Any | None) -> AsyncIterator[Target]:
    from bench.harness import BENCH_SETTINGS, handler_store, running_harness, service_with

    tls = ["--tls-cert", str(cert.cert), "--tls-key", str(cert.key)] if cert else []
    with service_with(BENCH_SETTINGS) as service:
        async with running_harness("--service", str(service), *tls) as h:
            user = f"mgmt-{secrets.token_hex(3)}"
            env = {**os.environ, **({"SSL_CERT_FILE": str(cert.cert)} if cert else {})}
            crowd = await asyncio.create_subprocess_exec(
                sys.executable,
                *("-m", "bench.mgmt_sender", "_crowd", h.ws_url, h.secret, user, str(posts)),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                env=env,
            )
            try:
                assert crowd.stdout is not None
                if (await asyncio.wait_for(crowd.stdout.readline(), 120)).strip() != b"ready":
                    raise RuntimeError("the crowd did not connect")
                store, _db, _settings = handler_store(h.dynamodb_endpoint, h.stage)
                ids = store.user_connections(user, int(time.time() * 1000))
                if len(ids) != posts:
                    raise RuntimeError(f"{len(ids)} connections in DynamoDB, expected {posts}")
                cafile = str(cert.cert) if cert else None
                yield Target(f"gateway{'-tls' if cert else ''}", h.mgmt_url, ids, cafile, h.pid)
            finally:
                assert crowd.stdin is not None
                crowd.stdin.close()
                await crowd.wait()


# -- measuring ---------------------------------------------------------------------------


def measure(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    from bench.procs import cpu_seconds

    if target.cafile:
        os.environ["AWS_CA_BUNDLE"] = target.cafile  # boto3 and the lean sender read it
    else:
        os.environ.pop("AWS_CA_BUNDLE", None)
    runs = variants(target.endpoint, args.concurrency, target.cafile)
    for run in runs.values():  # warm: connection pools, TLS sessions, imports
        run(target.ids[: args.concurrency * 2], FRAME)
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    server: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            s0 = cpu_seconds(target.server_pid) if target.server_pid else 0.0
            t0 = time.process_time()
            delivered = runs[name](target.ids, FRAME)
            used = time.process_time() - t0
            if delivered != len(target.ids):
                raise RuntimeError(f"{name}: {delivered} of {len(target.ids)} delivered")
            cpu[name].append(used / len(target.ids) * 1e6)
            if target.server_pid:
                s1 = cpu_seconds(target.server_pid)
                server[name].append((s1 - s0) / len(target.ids) * 1e6)
    ratios = {
        name: statistics.median(v / b for v, b in zip(cpu[name], cpu[BASELINE], strict=True))
        for name in runs
    }
    return {"target": target.name, "cpu_us": cpu, "server_cpu_us": server, "ratio": ratios}


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        f"CPU per delivery in the sending process, {args.posts} deliveries a batch, "
        f"{args.rounds} interleaved rounds, concurrency {args.concurrency}",
        f"{'target':12} {'variant':16} {'median us':>9} {'min-max us':>11} "
        f"{'vs boto3':>8} {'server us':>9}",
    ]
    for res in results:
        for name, values in res["cpu_us"].items():
            server = res["server_cpu_us"][name]
            server_text = f"{statistics.median(server):9.0f}" if server else f"{'-':>9}"
            lines.append(
                f"{res['target']:12} {name:16} {statistics.median(values):9.0f} "
                f"{min(values):5.0f}-{max(values):<5.0f} {res['ratio'][name]:7.2f}x {server_text}"
            )
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    from infra.tls import self_signed

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI"):
        os.environ.pop(name, None)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-mgmt-") as tmp:
        cert = self_signed(Path(tmp))
        for name in args.targets.split(","):
            tls = cert if name.endswith("-tls") else None
            print(f"{name}:", flush=True)
            if name.startswith("sink"):
                with sink(args.posts, tls) as target:
                    results.append(await asyncio.to_thread(measure, target, args))
            elif name.startswith("gateway"):
                async with gateway(args.posts, tls) as target:
                    results.append(await asyncio.to_thread(measure, target, args))
            else:
                raise SystemExit(f"unknown target {name!r}")
    return results


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_sink"]:
        _sink_main(*(argv[1:3] if len(argv) >= 3 else (None, None)))
        return 0
    if argv[:1] == ["_crowd"]:
        url, secret, user, n = argv[1:5]
        asyncio.run(_crowd_main(url, secret, user, int(n)))
        return 0
    p = argparse.ArgumentParser(
        prog="python -m bench.mgmt_sender", description=__doc__.split("\n")[0]
    )
    p.add_argument("--posts", type=int, default=1000, help="deliveries per batch")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--targets", default="sink,sink-tls,gateway,gateway-tls")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    print(describe(), flush=True)
    results = asyncio.run(run(args))
    print(describe())
    print(report(results, args))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
