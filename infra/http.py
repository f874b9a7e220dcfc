"""Plain HTTP values shared by the services on the harness's one port.

The gateway's listener (`infra.apigateway`) parses requests and writes responses; the
services behind it (the gateway's own APIs, the Lambda Invoke API) only build an
`HttpResponse`. Neither side imports the other: both import this module.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

Headers = tuple[tuple[str, str], ...]
JSON_HEADERS: Headers = (("Content-Type", "application/json"),)


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A complete HTTP response."""

    status: int
    headers: Headers = ()
    body: bytes = b""


def header(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    """The first value of header `name` (lowercase) in a request's headers, or None."""
    return next((value for key, value in headers if key.lower() == name), None)


def json_message(status: int, message: str, headers: Headers = ()) -> HttpResponse:
    """`{"message": ...}` as AWS's APIs answer their errors."""
    return HttpResponse(status, JSON_HEADERS + headers, json.dumps({"message": message}).encode())


class HttpApp(Protocol):
    """Another AWS API served on the gateway's port (the Lambda Invoke API): it claims the
    paths it `handles` before the gateway routes them."""

    def handles(self, path: str) -> bool: ...

    async def request(
        self, method: str, path: str, query: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> HttpResponse: ...
