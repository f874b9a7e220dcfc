"""`python -m infra` (what `make run` starts): a service (serverless.yml or SAM template), locally.

Serves the WebSocket API, its Management API, the HTTP and REST API routes and the
Lambda Invoke API on one port, plain and TLS alike; runs the functions in local Lambda
sandboxes (started on first use, as Lambda does) against an embedded DynamoDB. What a
service wants locally only (a web directory, generated secrets, banner lines) comes from
its `custom.local` block or from flags. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
import signal
import sys
import textwrap
from pathlib import Path
from typing import Any

from infra.apigateway.access import normalize_origin
from infra.apigateway.server import beyond_loopback_warning
from infra.awslambda.logs import ConsoleLog
from infra.awslambda.runtime import DEFAULT_IDLE_S
from infra.config import ConfigError
from infra.stack import LocalStack, local_stack
from infra.tls import CertFiles


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m infra", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--service",
        "--template",
        dest="service",
        type=Path,
        default=Path("."),
        help="serverless.yml or SAM/CloudFormation template (default: ./serverless.yml, "
        "else ./template.yaml)",
    )
    p.add_argument(
        "--stage",
        default=None,
        help="default: serverless.yml's provider.stage (else dev); a template's own stage",
    )
    p.add_argument("--region", default=None, help="default: the file's provider.region")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (loopback by default; anything else is reachable from the "
        "network, and the banner says so)",
    )
    p.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    p.add_argument("--web", type=Path, metavar="DIR", help="serve DIR at / (custom.local.web)")
    p.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a page at ORIGIN (scheme://host:port) may open WebSockets, besides the "
        "gateway's own pages; repeatable; '*' allows any, as AWS does "
        "(custom.local.allowedOrigins)",
    )
    tls = p.add_argument_group("TLS (https and wss are always served on the same port)")
    tls.add_argument("--tls", action="store_true", help="print https/wss URLs")
    tls.add_argument("--tls-cert", type=Path, help="PEM certificate instead of the local CA's")
    tls.add_argument("--tls-key", type=Path, help="PEM private key for --tls-cert")
    limits = p.add_argument_group("API Gateway limits")
    limits.add_argument("--idle-timeout", type=float, default=600.0, metavar="SECONDS")
    limits.add_argument("--hard-timeout", type=float, default=7200.0, metavar="SECONDS")
    limits.add_argument("--connect-rate-limit", type=float, default=None, metavar="PER_SECOND")
    guard = p.add_argument_group("local gateway connections (not AWS quotas: its own defences)")
    guard.add_argument(
        "--header-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="a request's head must arrive whole within this (default 10)",
    )
    guard.add_argument(
        "--keepalive-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="close an idle HTTP connection, or one whose body stalls, after this (default 60)",
    )
    guard.add_argument(
        "--max-connections",
        type=int,
        default=None,
        metavar="N",
        help="open connections at most (default: three quarters of `ulimit -n`)",
    )
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
    lam.add_argument(
        "--no-build",
        action="store_true",
        help="do not run the service's custom.local.build commands before starting",
    )
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
        help="every log line as the functions write it (EMF metrics, START/REPORT, INFO); "
        "implies --show-dynamodb",
    )
    out.add_argument(
        "--show-dynamodb",
        action="store_true",
        help="print the embedded DynamoDB/SSM endpoint (for your own tools; browsers are "
        "refused there)",
    )
    args = p.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    bad = [o for o in args.allow_origin if normalize_origin(o) is None]
    if bad:
        p.error(f"--allow-origin: not an origin (scheme://host[:port], or *): {', '.join(bad)}")
    return args


class StackFailed(Exception):
    """A part the stack cannot run without died (its line is already logged)."""


def banner(stack: LocalStack, *, show_dynamodb: bool = False, verbose: bool = False) -> str:
    spec = stack.spec
    http, ws = stack.http_url, stack.ws_url
    lines = [f"{spec.service} (stage {stack.stage}, region {spec.region}) is up"]
    # What is not reproduced goes first and short, so that the lines a user copies (the
    # URLs, the ready link, the service's own commands) end the banner, on the screen.
    lines += ignored_lines(spec.ignored, verbose=verbose)
    lines.append("")
    exposed = beyond_loopback_warning([stack.host])
    if exposed is not None:
        lines += [*textwrap.wrap(exposed, 88), ""]
    lines += [
        f"  WebSocket API    {ws}   (also {ws.rsplit('/', 1)[0]}/)",
        f"  Management API   {stack.mgmt_url}/@connections/{{connectionId}}",
    ]
    for route in spec.http_routes:
        if route.api == "rest":
            lines.append(f"  REST API         {route.method} {http}/{stack.stage}{route.path}")
        else:
            lines.append(f"  HTTP API         {route.method} {http}{route.path}")
    if show_dynamodb:  # off the copy-paste path unless asked for
        lines.append(f"  DynamoDB         {stack.dynamodb_endpoint}")
    other = "https/wss" if not stack.tls else "http/ws"
    lines.append(f"  TLS              {other} on the same port too; trust {stack.ca}")
    if stack.gateway.options.static_dir is not None:
        fragment = f"#token={stack.dev_token}" if stack.dev_token else ""
        lines.append(f"  Web client       {http}/{fragment}")
    extra = [
        line.format(http_url=http, ws_url=ws, token=stack.dev_token or "", stage=stack.stage)
        for line in stack.settings.banner
    ]
    if extra:
        lines += ["", *(f"  {line}" for line in extra)]
    lines += ["", "Ctrl-C stops."]
    return "\n".join(lines)


# Up to this many parts not reproduced are listed one a line; more are summed up in one.
IGNORED_LISTED = 3
_AWS_TYPE = re.compile(r"\bAWS::(\w+)::")


def ignored_lines(ignored: tuple[str, ...], *, verbose: bool, width: int = 79) -> list[str]:
    """`ignored: <part>` per part the harness does not reproduce when there are few (or
    with --verbose); else a count and the kinds of part, in two lines of `width`."""
    if verbose or len(ignored) <= IGNORED_LISTED:
        return [f"  ignored: {line}" for line in ignored]
    kinds: list[str] = []
    for line in ignored:
        aws = _AWS_TYPE.search(line)
        path = re.split(r":| \(", line, maxsplit=1)[0]
        kind = aws.group(1) if aws else ".".join(path.split(".")[:2])
        if kind not in kinds:
            kinds.append(kind)
    shown = "    "
    for i, kind in enumerate(kinds):
        more = ", ..." if i + 1 < len(kinds) else ""
        candidate = f"{shown}, {kind}" if i else shown + kind
        if len(candidate) + len(more) > width:
            shown = f"{shown}, ..." if i else shown + "..."
            break
        shown = candidate
    return [
        f"  ignored: {len(ignored)} parts not reproduced locally (--verbose lists them):",
        shown,
    ]


async def serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    options: dict[str, Any] = {
        "idle_timeout_s": args.idle_timeout,
        "hard_timeout_s": args.hard_timeout,
        "mgmt_latency_ms": args.mgmt_latency_ms,
        "gone_rate": args.gone_rate,
        "throttle_rate": args.throttle_rate,
        "connect_rate_limit": args.connect_rate_limit,
        "seed": args.seed,
        "allowed_origins": tuple(args.allow_origin),
        "header_timeout_s": args.header_timeout,
        "keepalive_timeout_s": args.keepalive_timeout,
        "max_connections": args.max_connections,
    }
    if args.web is not None:
        options["static_dir"] = args.web.resolve()
    cert = CertFiles(args.tls_cert, args.tls_key) if args.tls_cert else None
    console = None if args.quiet else ConsoleLog(verbose=args.verbose)
    async with contextlib.AsyncExitStack() as exits:
        stack = await exits.enter_async_context(
            local_stack(
                args.service,
                args.stage,
                host=args.host,
                port=args.port,
                region=args.region,
                dynamodb_endpoint=args.dynamodb_endpoint,
                tls=args.tls,
                cert=cert,
                log=console.line if console else None,
                report=console.invocation if console else None,
                concurrency=args.concurrency,
                # --warm: every sandbox up front, so a burst of connections waits for no
                # cold start.
                warm=args.concurrency if args.warm else False,
                sandbox_idle_s=args.sandbox_idle,
                build=not args.no_build,
                build_output=not args.quiet,
                **options,
            )
        )
        generated = set(stack.generated_secrets)
        if stack.settings.write_secrets(stack.secrets, generated) is not None:
            exits.callback(stack.settings.remove_secrets, stack.secrets, generated)
        print(
            banner(
                stack,
                show_dynamodb=args.show_dynamodb or args.verbose,
                verbose=args.verbose,
            ),
            flush=True,
        )
        summaries = asyncio.create_task(console.run()) if console else None
        stopping = asyncio.create_task(stop.wait())
        failing = asyncio.create_task(stack.failed.wait())
        await asyncio.wait({stopping, failing}, return_when=asyncio.FIRST_COMPLETED)
        for waiter in (stopping, failing):
            waiter.cancel()
        if summaries is not None:
            summaries.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await summaries
        if stack.failure is not None:
            # The failure's own line is logged already: only what happens now.
            print("stopping: the stack cannot run on without it; start it again", flush=True)
            raise StackFailed(stack.failure)
        print("\nstopping...", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if not args.verbose:
        # One "connection open" per client says nothing the invocation lines do not.
        logging.getLogger("infra.apigateway.websocket").setLevel(logging.WARNING)
    try:
        asyncio.run(serve(args))
    except ConfigError as exc:
        print(f"{args.service}: {exc}", file=sys.stderr)
        return 2
    except StackFailed:
        return 1
    except OSError as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 130
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
