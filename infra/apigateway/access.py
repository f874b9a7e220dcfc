"""Who may reach the local stack from a browser: the harness's own defence, not AWS's.

On AWS the Management API and the Invoke API are reachable only with a signature, and a
WebSocket API leaves `Origin` to its authorizer. On a laptop the same port answers any
page the developer visits, so the local gateway adds two rules (docs/gateway.md,
"Differences from AWS"):

- The AWS APIs on the port (`@connections`, the Lambda Invoke API) refuse any request
  with an `Origin` header (browsers send one; boto3 never does) and any `Host` that is
  not a name of this machine (DNS rebinding: a page whose own name now resolves to
  127.0.0.1 still sends its name).
- A WebSocket handshake with an `Origin` (a browser's) is accepted only from the
  gateway's own origin (a page on its port, from a name of this machine) and the
  origins configured
  (`custom.local.allowedOrigins`, `--allow-origin`; ``*`` accepts any, as AWS does).
  Clients that send no `Origin` are not browsers and are not affected.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

ANY_ORIGIN = "*"
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def split_authority(authority: str) -> tuple[str, int | None]:
    """`host[:port]` (IPv6 in brackets) as (lowercase host, port or None)."""
    authority = authority.strip().lower()
    if authority.startswith("["):
        host, _, rest = authority[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif authority.count(":") == 1:
        host, _, port = authority.partition(":")
    else:
        host, port = authority, ""
    return host.rstrip("."), int(port) if port.isdigit() else None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalize_origin(origin: str) -> str | None:
    """`scheme://host:port` with the default port made explicit, or None if malformed."""
    if origin.strip() == ANY_ORIGIN:
        return ANY_ORIGIN
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    port = port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname.lower()
    return f"{parts.scheme}://{f'[{host}]' if ':' in host else host}:{port}"


class Access:
    """The names this stack answers to, and the browser origins it accepts."""

    def __init__(self, names: Iterable[str], allowed_origins: Iterable[str] = ()) -> None:
        """`names`: host names and addresses of this machine that clients may use (the
        bound host, the API's AWS host name, ...); loopback names are always in."""
        self.names = frozenset(n.lower().strip("[]").rstrip(".") for n in names if n)
        self.names |= frozenset(_LOOPBACK_NAMES)
        origins = {normalize_origin(o) for o in allowed_origins}
        bad = [o for o in allowed_origins if normalize_origin(o) is None]
        if bad:
            raise ValueError(f"not an origin (scheme://host[:port]): {', '.join(bad)}")
        self.any_origin = ANY_ORIGIN in origins
        self.allowed_origins = frozenset(o for o in origins if o and o != ANY_ORIGIN)

    def serves_host(self, host_header: str | None) -> bool:
        """Whether a request's `Host` names this machine: one of its names, or an IP
        address (DNS rebinding needs a name; a request to an address reached us)."""
        if not host_header:
            return False
        host, _ = split_authority(host_header)
        return host in self.names or _is_ip(host) or _is_loopback(host)

    def origin_allowed(self, origin: str, host_header: str | None, port: int) -> bool:
        """Whether a browser page from `origin` may open a WebSocket on the gateway that
        listens on `port`, with a handshake that said `Host: host_header`."""
        if self.any_origin:
            return True
        normalized = normalize_origin(origin)
        if normalized is None:
            return False  # "null" (a file:// page, a sandboxed frame) or garbage
        if normalized in self.allowed_origins:
            return True
        return self._own(normalized, host_header, port)

    def _own(self, origin: str, host_header: str | None, port: int) -> bool:
        """A page this gateway served: on its port, from a name of this machine (a
        loopback name, the bound host, this host's names), or from the very address the
        handshake went to (a LAN address, say, when bound beyond loopback)."""
        parts = urlsplit(origin)
        origin_host = (parts.hostname or "").lower()
        if parts.port != port:
            return False
        if origin_host in self.names or _is_loopback(origin_host):
            return True
        if not host_header or not self.serves_host(host_header):
            return False
        host, _ = split_authority(host_header)
        return origin_host == host
