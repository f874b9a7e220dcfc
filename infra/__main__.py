"""`python -m infra` (what `make run` starts): the service of a serverless.yml, locally.

Serves the WebSocket API, its Management API, the HTTP API routes and the bundled web
client on one port; runs the functions in local Lambda sandboxes (started on first use,
as Lambda does) against an embedded DynamoDB. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from client.tokens import DEV_JWT_SECRET, SECRET_ENV, local_secret
from infra.awslambda.logs import ConsoleLog
from infra.awslambda.runtime import DEFAULT_IDLE_S
from infra.config import ConfigError
from infra.stack import LocalStack, local_stack
from infra.tls import CertFiles

WEB_DIR = Path("client/web")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m infra", description=__doc__.split("\n\n")[0])
    p.add_argument("--service", type=Path, default=Path("serverless.yml"), help="serverless.yml")
    p.add_argument("--stage", default="dev", help="default: dev")
    p.add_argument("--region", default=None, help="default: the file's provider.region")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (loopback by default)")
    p.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    tls = p.add_argument_group("TLS")
    tls.add_argument("--tls", action="store_true", help="wss/https with a self-signed cert")
    tls.add_argument("--tls-cert", type=Path, help="PEM certificate (implies --tls)")
    tls.add_argument("--tls-key", type=Path, help="PEM private key for --tls-cert")
    limits = p.add_argument_group("API Gateway limits")
    limits.add_argument("--idle-timeout", type=float, default=600.0, metavar="SECONDS")
    limits.add_argument("--hard-timeout", type=float, default=7200.0, metavar="SECONDS")
    limits.add_argument("--connect-rate-limit", type=float, default=None, metavar="PER_SECOND")
    faults = p.add_argument_group("Management API fault injection")
    faults.add_argument("--mgmt-latency-ms", type=float, default=0.0)
    faults.add_argument("--gone-rate", type=float, default=0.0, help="share of POSTs answered 410")
    faults.add_argument("--throttle-rate", type=float, default=0.0, help="share answered 429")
    faults.add_argument("--seed", type=int, default=None, help="seed for the fault injection")
    p.add_argument(
        "--dynamodb-endpoint",
        metavar="URL",
        help="use this DynamoDB (DynamoDB Local, AWS) instead of the embedded one",
    )
    lam = p.add_argument_group("Lambda")
    lam.add_argument("--concurrency", type=int, default=4, help="sandboxes per function")
    lam.add_argument(
        "--warm",
        action="store_true",
        help="start every sandbox up front and keep it (benchmarks); by default a "
        "function's first invocation starts its sandbox, as on AWS",
    )
    lam.add_argument(
        "--sandbox-idle",
        type=float,
        default=DEFAULT_IDLE_S,
        metavar="SECONDS",
        help=f"stop a sandbox idle this long (default {DEFAULT_IDLE_S:.0f})",
    )
    out = p.add_argument_group("output")
    out.add_argument("--quiet", action="store_true", help="do not show the functions' logs")
    out.add_argument(
        "--verbose",
        action="store_true",
        help="every log line as the functions write it (EMF metrics, START/REPORT, INFO)",
    )
    args = p.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    return args


def banner(stack: LocalStack, *, web: bool) -> str:
    http, ws = stack.http_url, stack.ws_url
    lines = [
        f"wschat ({stack.spec.service}, stage {stack.stage}, region {stack.spec.region}) is up",
        "",
        f"  WebSocket API    {ws}   (also {ws.rsplit('/', 1)[0]}/)",
        f"  Management API   {stack.mgmt_url}/@connections/{{connectionId}}",
    ]
    for route in stack.spec.http_routes:
        lines.append(f"  HTTP API         {route.method} {http}{route.path}")
    if web:
        lines.append(f"  Web client       {http}/")
    lines.append(f"  DynamoDB         {stack.dynamodb_endpoint}")
    lines.append("")
    if stack.secret == DEV_JWT_SECRET:
        lines.append(f"  JWT secret (dev, {SECRET_ENV} unset): {stack.secret}")
    else:
        lines.append(f"  JWT secret: from {SECRET_ENV}")
    lines += [
        "  A token:   python -m client.token alice",
        '     or:     python -c "from client.tokens import mint_token;'
        " print(mint_token('alice'))\"",
        f"  Connect:   {ws}?token=<token>",
    ]
    if stack.cert is not None:
        lines.append(f"  TLS certificate (trust it in clients): {stack.cert.cert}")
    lines += ["", "Ctrl-C stops."]
    return "\n".join(lines)


async def serve(args: argparse.Namespace, web_dir: Path | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    web = web_dir is not None
    options: dict[str, Any] = {
        "idle_timeout_s": args.idle_timeout,
        "hard_timeout_s": args.hard_timeout,
        "mgmt_latency_ms": args.mgmt_latency_ms,
        "gone_rate": args.gone_rate,
        "throttle_rate": args.throttle_rate,
        "connect_rate_limit": args.connect_rate_limit,
        "seed": args.seed,
    }
    if web_dir is not None:
        options["static_dir"] = web_dir
    cert = CertFiles(args.tls_cert, args.tls_key) if args.tls_cert else None
    console = None if args.quiet else ConsoleLog(verbose=args.verbose)
    async with local_stack(
        args.service,
        args.stage,
        host=args.host,
        port=args.port,
        region=args.region,
        secret=local_secret(),
        dynamodb_endpoint=args.dynamodb_endpoint,
        tls=args.tls,
        cert=cert,
        log=console.line if console else None,
        report=console.invocation if console else None,
        concurrency=args.concurrency,
        # --warm: every sandbox up front, so a burst of connections waits for no cold start.
        warm=args.concurrency if args.warm else False,
        sandbox_idle_s=args.sandbox_idle,
        **options,
    ) as stack:
        print(banner(stack, web=web), flush=True)
        summaries = asyncio.create_task(console.run()) if console else None
        await stop.wait()
        if summaries is not None:
            summaries.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await summaries
        print("\nstopping...", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if not args.verbose:
        # One "connection open" per client says nothing the invocation lines do not.
        logging.getLogger("infra.gateway.websocket").setLevel(logging.WARNING)
    try:
        asyncio.run(serve(args, WEB_DIR.resolve() if WEB_DIR.is_dir() else None))
    except ConfigError as exc:
        print(f"{args.service}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 130
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
