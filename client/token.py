"""`python -m client.token alice [--name Alice] [--scope publish] [--ttl S]`: print a dev token.

Signed with $CHAT_JWT_SECRET, else the secret of the `make run` running in this checkout
(.local/secrets.env), else the fixed dev secret, so it is good for the local stack only,
unless you pass the secret of a deployed stage with --secret.
"""

from __future__ import annotations

import argparse
import sys

from client.tokens import SECRET_ENV, mint_token


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m client.token",
        description=f"Print an HS256 chat token signed with ${SECRET_ENV}, else the running "
        "local stack's secret (.local/secrets.env), else the fixed dev secret.",
    )
    p.add_argument("sub", help="user id (the token's sub claim)")
    p.add_argument("--name", help="display name (default: the user id)")
    p.add_argument(
        "--scope",
        action="append",
        default=[],
        help="add a scope, e.g. publish (repeatable)",
    )
    p.add_argument("--ttl", type=int, default=3600, help="seconds until it expires (3600)")
    p.add_argument(
        "--secret",
        help=f"signing secret (default: ${SECRET_ENV}, else the running local stack's from "
        ".local/secrets.env, else the dev one)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.ttl <= 0:
        print("--ttl must be positive", file=sys.stderr)
        return 2
    print(
        mint_token(args.sub, name=args.name, secret=args.secret, ttl_s=args.ttl, scopes=args.scope)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
