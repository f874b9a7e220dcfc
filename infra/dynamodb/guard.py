"""The embedded DynamoDB/SSM serves this machine's tools, never a web page.

moto's server answers CORS for any origin, so a page that found its port could read the
SSM parameters (a JWT secret among them) and read or wipe every table (one POST to
`/moto-api/reset`). On AWS all of it needs a signature a page cannot make. Locally the
server refuses (403, before moto sees it) any request a browser made (an `Origin` or a
`Sec-Fetch-Site` header: browsers send one on every cross-origin request and every POST;
boto3 never does) and any `Host` but the server's own address (DNS rebinding: a page
whose own name now resolves to 127.0.0.1 still sends that name). Its answers carry no
`Access-Control-*` header, so a browser hands a page nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

_FORBIDDEN = b'{"message": "Forbidden"}'
_BROWSER_HEADERS = ("HTTP_ORIGIN", "HTTP_SEC_FETCH_SITE")


def own_hosts(environ: WSGIEnvironment) -> set[str]:
    """The `Host` values that name this server: its address and loopback's, its port."""
    port = environ["SERVER_PORT"]
    names = {str(environ["SERVER_NAME"]).lower(), "127.0.0.1", "localhost"}
    return {f"[{n}]:{port}" if ":" in n else f"{n}:{port}" for n in names}


def local_only(app: WSGIApplication) -> WSGIApplication:
    """`app`, for requests from this machine's code only, and without CORS answers."""

    def guarded(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        browser = any(name in environ for name in _BROWSER_HEADERS)
        host = str(environ.get("HTTP_HOST", "")).lower()
        if browser or host not in own_hosts(environ):
            start_response(
                "403 Forbidden",
                [("Content-Type", "application/json"), ("Content-Length", str(len(_FORBIDDEN)))],
            )
            return [_FORBIDDEN]

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            kept = [(k, v) for k, v in headers if not k.lower().startswith("access-control-")]
            return start_response(status, kept, exc_info)

        return app(environ, start)

    return guarded
