"""`python -m client.chat --url ws://127.0.0.1:8080/dev --name alice [--room general]`.

Against the local stack it signs its own dev token (with $CHAT_JWT_SECRET, else the dev
secret); against AWS pass --token. Type /help once connected. In a terminal it runs a
prompt (line editing, history, Tab completion); with piped input it reads lines plainly.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from datetime import datetime

import jwt

from client.backoff import Backoff
from client.chat.app import ChatApp, printer, read_lines
from client.chat.state import ChatState
from client.protocol import valid_room
from client.tls import TLSConfigError, add_tls_arguments, client_ssl_context
from client.tokens import mint_token

DEFAULT_URL = "ws://127.0.0.1:8080/dev"


def room_arg(value: str) -> str:
    name = value.lstrip("#")
    if not valid_room(name):
        raise argparse.ArgumentTypeError(f"not a room name: {value!r}")
    return name


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m client.chat", description="Chat in wschat rooms.")
    p.add_argument("--url", default=DEFAULT_URL, help=f"WebSocket URL ({DEFAULT_URL})")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--name", help="display name; signs a local dev token")
    who.add_argument("--token", help="a token from your identity provider (for AWS)")
    p.add_argument("--user", help="user id for the dev token (default: from --name)")
    p.add_argument(
        "--secret",
        help="dev token secret (default: $CHAT_JWT_SECRET, else the running local stack's "
        "from .local/secrets.env, else the fixed dev one)",
    )
    p.add_argument(
        "--room",
        action="append",
        type=room_arg,
        help="room to join on start (repeatable; default: general)",
    )
    p.add_argument("--max-backoff", type=float, default=30.0, help="longest reconnect wait (s)")
    p.add_argument("--keepalive", type=float, default=300.0, help="seconds between pings")
    p.add_argument(
        "--plain",
        action="store_true",
        help="read plain lines even in a terminal (no prompt, editing or completion)",
    )
    add_tls_arguments(p)
    return p


def user_id(name: str) -> str:
    """A user id from a display name: `Alice Smith` -> `alice-smith`."""
    return re.sub(r"[^a-z0-9_.-]+", "-", name.lower()).strip("-") or "user"


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.token:
        try:  # only to know who we are; the service verifies it
            claims = jwt.decode(args.token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            p.error(f"--token is not a JWT: {exc}")
        me = str(claims.get("sub", ""))
        exp = claims.get("exp")
        if isinstance(exp, int | float) and exp <= time.time():
            at = datetime.fromtimestamp(exp).strftime("%Y-%m-%d %H:%M:%S")
            p.error(f"--token expired at {at}: get a new one")

        def token() -> str:
            return str(args.token)
    else:
        me = args.user or user_id(args.name)

        def token() -> str:
            # Minted afresh on every (re)connect, so a long session never holds an expired one.
            return mint_token(me, name=args.name, secret=args.secret)

    try:
        ssl_context = client_ssl_context(args)
    except TLSConfigError as exc:
        p.error(str(exc))
    state = ChatState(me=me)
    app = ChatApp(
        args.url,
        token,
        state,
        rooms=args.room or ["general"],
        out=printer(),
        backoff=Backoff(max_s=args.max_backoff),
        keepalive_s=args.keepalive,
        ssl_context=ssl_context,
    )
    print(f"* connecting to {args.url} as {me}; /help lists commands", flush=True)
    interactive = sys.stdin.isatty() and sys.stdout.isatty() and not args.plain

    async def go() -> int:
        inbox: asyncio.Queue[str | None] = asyncio.Queue()
        if not interactive:
            read_lines(sys.stdin, asyncio.get_running_loop(), inbox)
            return await app.run(inbox)
        # Imported here: piped runs (scripts, tests) need no terminal library.
        from prompt_toolkit.patch_stdout import patch_stdout

        from client.chat.prompt import make_session, read_prompt, redraw

        session = make_session(state, online=lambda: app.ws is not None)
        app.on_change = redraw(session)
        with patch_stdout(raw=True):
            reader = asyncio.create_task(read_prompt(session, inbox))
            try:
                return await app.run(inbox)
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)

    try:
        return asyncio.run(go())
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
