"""TLS options shared by the bundled clients: `--ca FILE` and `--insecure`.

`add_tls_arguments(parser)` adds them; `client_ssl_context(args)` turns them into the
context to pass to `websockets.connect(ssl=...)` or `urllib.request.urlopen(context=...)`
(None: the system's trust store, the right choice against AWS). `make run --tls` prints
the path of its certificate: that is the file for `--ca`.

A certificate the client does not trust is a configuration problem, not a network blip:
`certificate_problem(exc)` recognises it so callers end with a clear message instead of
retrying forever.
"""

from __future__ import annotations

import argparse
import ssl
from pathlib import Path
from typing import Any

HINT = "pass --ca FILE to trust the service's certificate (or --insecure, for testing only)"


class TLSConfigError(ValueError):
    """--ca names a file that is not a readable PEM certificate."""


def add_tls_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("TLS (wss:// and https:// URLs)")
    trust = group.add_mutually_exclusive_group()
    trust.add_argument(
        "--ca",
        type=Path,
        metavar="FILE",
        help="trust only this PEM certificate (e.g. the one `make run --tls` prints)",
    )
    trust.add_argument(
        "--insecure",
        action="store_true",
        help="do not verify the service's certificate (testing only: anyone can listen in)",
    )


def client_ssl_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The context for `args.ca` / `args.insecure`; None when neither is given."""
    ca: Path | None = getattr(args, "ca", None)
    if getattr(args, "insecure", False):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if ca is None:
        return None
    try:
        return ssl.create_default_context(cafile=str(ca))
    except FileNotFoundError:
        raise TLSConfigError(f"--ca {ca}: no such file") from None
    except (ssl.SSLError, OSError) as exc:
        raise TLSConfigError(f"--ca {ca}: not a PEM certificate ({exc})") from None


def connect_kwargs(url: str, ctx: ssl.SSLContext | None) -> dict[str, Any]:
    """`ssl=ctx` for `websockets.connect` on a wss:// URL with a context; nothing otherwise
    (websockets refuses a context for ws://, and makes its own default one for wss://)."""
    return {"ssl": ctx} if ctx is not None and url.startswith("wss:") else {}


def certificate_problem(exc: BaseException) -> str | None:
    """A one-line explanation when `exc` is a failed certificate check, else None.

    websockets raises the ssl error itself; urllib wraps it in a URLError's `reason`."""
    for candidate in (exc, exc.__cause__, getattr(exc, "reason", None)):
        if isinstance(candidate, ssl.SSLCertVerificationError):
            reason = candidate.verify_message or candidate.reason or str(candidate)
            return f"the service's certificate is not trusted ({reason}); {HINT}"
    return None
