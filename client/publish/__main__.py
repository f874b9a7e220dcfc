"""`python -m client.publish --room feed:cpu --data '{"cpu": 0.41}'` (or `--text`, or `--demo`).

Against the local stack it signs a `publish`-scoped dev token itself; against AWS pass
--token (a token whose `scope` contains `publish`). `--demo` publishes this machine's
cpu, load and memory every second until Ctrl-C (or --count points).
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import time
from collections.abc import Callable
from typing import Any

from client.protocol import valid_room
from client.publish.api import PublishError, publish
from client.publish.metrics import Sampler
from client.tls import TLSConfigError, add_tls_arguments, client_ssl_context
from client.tokens import mint_token

DEFAULT_URL = "http://127.0.0.1:8080"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m client.publish", description=__doc__.split("\n")[0])
    p.add_argument("--url", default=DEFAULT_URL, help=f"HTTP API base URL ({DEFAULT_URL})")
    p.add_argument("--room", required=True, help="room to publish to, e.g. feed:cpu")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--data", help="a JSON value to publish as the message's data")
    what.add_argument("--text", help="text to publish")
    what.add_argument("--demo", action="store_true", help="publish machine metrics every second")
    auth = p.add_mutually_exclusive_group()
    auth.add_argument("--token", help="a publish-scoped token (for AWS)")
    auth.add_argument("--secret", help="sign a dev token (default: $CHAT_JWT_SECRET or dev)")
    p.add_argument("--publisher", default="publisher", help="user id of a signed dev token")
    p.add_argument("--interval", type=float, default=1.0, help="--demo: seconds between points")
    p.add_argument("--count", type=int, default=0, help="--demo: stop after this many (0: never)")
    add_tls_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if not valid_room(args.room):
        p.error(f"not a room name: {args.room!r}")
    data: Any = None
    if args.data is not None:
        try:
            data = json.loads(args.data)
        except ValueError as exc:
            p.error(f"--data is not JSON: {exc}")

    try:
        ctx = client_ssl_context(args)
    except TLSConfigError as exc:
        p.error(str(exc))

    def token() -> str:
        if args.token:
            return str(args.token)
        return mint_token(args.publisher, secret=args.secret, scopes=["publish"], ttl_s=300)

    if not args.demo:
        try:
            answer = publish(
                args.url, args.room, token(), text=args.text, data=data, ssl_context=ctx
            )
        except PublishError as exc:
            print(f"{'refused' if exc.status else 'failed'}: {exc}", file=sys.stderr)
            return 1
        print(json.dumps(answer))
        return 0
    return demo(args.url, args.room, token, args.interval, args.count, ctx)


def demo(
    url: str,
    room: str,
    token: Callable[[], str],
    interval: float,
    count: int,
    ssl_context: ssl.SSLContext | None = None,
) -> int:
    sampler = Sampler()
    sent = 0
    next_at = time.monotonic()
    try:
        while count <= 0 or sent < count:
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))  # the feed's own cadence
            point = sampler.sample()
            try:
                answer = publish(url, room, token(), data=point, ssl_context=ssl_context)
                reached = answer.get("delivered", 0) + answer.get("queued", 0)
                print(f"{room} {json.dumps(point)} -> {reached} members")
            except PublishError as exc:
                print(f"{room}: {exc}", file=sys.stderr)
                if exc.final:  # a refused token or an untrusted certificate: stop
                    return 1
            sys.stdout.flush()
            sent += 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
