"""Which HTTP API or REST API route a request is for.

HTTP API routes (`httpApi` events) live on the `$default` stage: their paths carry no
stage prefix. REST API routes (`http` events) are served under ``/{stage}``, as a REST
API's invoke URL is ``https://{api}.execute-api.{region}.amazonaws.com/{stage}``.
Literal segments beat parameters and a greedy ``{proxy+}`` comes last, as API Gateway
matches them. Methods are case-sensitive, as HTTP's are: `post` is no route (404), and
`ANY` stands for the methods API Gateway knows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from infra.service import HttpRoute

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class HttpRequest:
    """An HTTP request as the HTTP and REST APIs see it."""

    method: str
    path: str  # decoded, no query, as the client sent it (the stage included for REST)
    query: str  # raw query string
    headers: Sequence[tuple[str, str]]
    body: bytes
    source_ip: str
    domain_name: str  # the Host the client used


@dataclass(frozen=True)
class Match:
    route: HttpRoute
    path_parameters: dict[str, str]
    resource_path: str  # the path without the REST stage prefix ("/ping")

    @property
    def rest(self) -> bool:
        return self.route.api == "rest"

    @property
    def route_key(self) -> str:
        """HTTP API route key ("GET /hello/{name}", "$default" for the catch-all)."""
        if self.route.path == "*":
            return "$default"
        return f"{self.route.method.upper()} {self.route.path}"


def _compile(path: str, prefix: str) -> re.Pattern[str]:
    if path == "*":  # httpApi: '*' — the catch-all route
        return re.compile(r"^(?P<__resource>/.*)$")
    pattern = ""
    for part in re.split(r"(\{[^}]+\})", path.rstrip("/")):
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1]
            if name.endswith("+"):
                pattern += f"(?P<{name[:-1]}>.+)"
            else:
                pattern += f"(?P<{name}>[^/]+)"
        else:
            pattern += re.escape(part)
    # A REST resource matches with or without a trailing slash.
    return re.compile(f"^{re.escape(prefix)}(?P<__resource>{pattern}/?)$")


class HttpRoutes:
    """The service's HTTP API and REST API routes, most specific first."""

    def __init__(self, routes: Sequence[HttpRoute], stage: str) -> None:
        def specificity(route: HttpRoute) -> tuple[int, int, int, int]:
            segments = route.path.strip("/").split("/")
            catch_all = int(route.path == "*")
            greedy = int(any(s.endswith("+}") for s in segments))
            literal = sum(1 for s in segments if not s.startswith("{"))
            return (catch_all, greedy, -literal, -len(segments))

        self.stage_prefix = f"/{stage}"
        ordered = sorted(routes, key=specificity)
        self._routes = [
            (route, _compile(route.path, self.stage_prefix if route.api == "rest" else ""))
            for route in ordered
        ]
        self.has_rest = any(route.api == "rest" for route in routes)

    def match(self, method: str, path: str) -> Match | None:
        if method not in METHODS:
            return None
        for route, pattern in self._routes:
            if route.method.upper() not in (method, "ANY", "*"):
                continue
            found = pattern.match(path)
            if found is not None:
                params = found.groupdict()
                resource = params.pop("__resource")
                return Match(route, params, resource or "/")
        return None

    def under_rest_stage(self, path: str) -> bool:
        """Whether `path` is inside the REST API (which answers 403 for unknown paths)."""
        prefix = self.stage_prefix
        return self.has_rest and (path == prefix or path.startswith(prefix + "/"))
