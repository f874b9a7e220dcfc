"""The HTTP API (v2) routes of a service: matching, payload format 2.0 events, results.

Serverless deploys `httpApi` events to the `$default` stage, so paths carry no stage
prefix and `requestContext.stage` is ``$default``.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from infra.apigateway.authorizers import Verdict, policy_verdict, simple_verdict
from infra.apigateway.events import ApiInfo, clf_time
from infra.service import HttpAuthorizer, HttpRoute, Invocation

HTTP_STAGE = "$default"
INTEGRATION_TIMEOUT_S = 30.0  # HTTP APIs allow 30 s, WebSocket APIs 29 s


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str  # decoded path, no query
    query: str  # raw query string
    headers: Sequence[tuple[str, str]]
    body: bytes
    source_ip: str
    domain_name: str


@dataclass(frozen=True)
class Match:
    route: HttpRoute
    path_parameters: dict[str, str]

    @property
    def route_key(self) -> str:
        return f"{self.route.method.upper()} {self.route.path}"


def _compile(path: str) -> re.Pattern[str]:
    pattern = ""
    for part in re.split(r"(\{[^}]+\})", path):
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1]
            if name.endswith("+"):
                pattern += f"(?P<{name[:-1]}>.+)"
            else:
                pattern += f"(?P<{name}>[^/]+)"
        else:
            pattern += re.escape(part)
    return re.compile(f"^{pattern}$")


class HttpRoutes:
    """The service's HTTP API routes, most specific first as API Gateway matches them."""

    def __init__(self, routes: Sequence[HttpRoute]) -> None:
        # Literal segments beat parameters; greedy `{proxy+}` comes last.
        def specificity(route: HttpRoute) -> tuple[int, int, int]:
            segments = route.path.strip("/").split("/")
            greedy = int(any(s.endswith("+}") for s in segments))
            literal = sum(1 for s in segments if not s.startswith("{"))
            return (greedy, -literal, -len(segments))

        ordered = sorted(routes, key=specificity)
        self._routes = [(route, _compile(route.path)) for route in ordered]

    def match(self, method: str, path: str) -> Match | None:
        for route, pattern in self._routes:
            if route.method.upper() not in (method.upper(), "ANY", "*"):
                continue
            found = pattern.match(path)
            if found is not None:
                return Match(route, found.groupdict())
        return None

    def path_known(self, path: str) -> bool:
        return any(pattern.match(path) for _, pattern in self._routes)


def _headers(headers: Sequence[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    """Payload 2.0 headers: lower-cased names, repeated values joined with commas."""
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    return joined, cookies


def _query(query: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        params[name] = f"{params[name]},{value}" if name in params else value
    return params


def _context(
    api: ApiInfo, request: HttpRequest, match: Match, request_id: str, now_s: float
) -> dict[str, Any]:
    headers, _ = _headers(request.headers)
    return {
        "accountId": api.account_id,
        "apiId": api.api_id,
        "domainName": request.domain_name,
        "domainPrefix": request.domain_name.split(".")[0].split(":")[0],
        "http": {
            "method": request.method,
            "path": request.path,
            "protocol": "HTTP/1.1",
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": match.route_key,
        "stage": HTTP_STAGE,
        "time": clf_time(now_s),
        "timeEpoch": int(now_s * 1000),
    }


def _common(request: HttpRequest, match: Match) -> dict[str, Any]:
    headers, cookies = _headers(request.headers)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": match.route_key,
        "rawPath": request.path,
        "rawQueryString": request.query,
        "headers": headers,
    }
    if cookies:
        event["cookies"] = cookies
    if request.query:
        event["queryStringParameters"] = _query(request.query)
    if match.path_parameters:
        event["pathParameters"] = dict(match.path_parameters)
    return event


def request_event(
    api: ApiInfo,
    request: HttpRequest,
    match: Match,
    *,
    request_id: str,
    authorizer_context: Mapping[str, Any] | None,
    now_s: float | None = None,
) -> dict[str, Any]:
    """The payload format 2.0 event for a route's integration."""
    now = time.time() if now_s is None else now_s
    event = _common(request, match)
    ctx = _context(api, request, match, request_id, now)
    if authorizer_context is not None:
        ctx["authorizer"] = {"lambda": dict(authorizer_context)}
    event["requestContext"] = ctx
    if request.body:
        try:
            event["body"] = request.body.decode("utf-8")
            event["isBase64Encoded"] = False
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(request.body).decode("ascii")
            event["isBase64Encoded"] = True
    else:
        event["isBase64Encoded"] = False
    return event


def identity_values(authorizer: HttpAuthorizer, request: HttpRequest) -> list[str] | None:
    """The identity source values, or None when one is missing (401, no invocation)."""
    headers, _ = _headers(request.headers)
    query = _query(request.query)
    values: list[str] = []
    for source in authorizer.identity_sources:
        parts = source.split(".")
        kind, name = (parts[-2], parts[-1]) if len(parts) >= 2 else ("", source)
        if kind == "header":
            value = headers.get(name.lower())
        elif kind == "querystring":
            value = query.get(name)
        else:
            continue
        if not value:
            return None
        values.append(value)
    return values


def authorizer_event(
    api: ApiInfo,
    request: HttpRequest,
    match: Match,
    identity: list[str],
    *,
    request_id: str,
    now_s: float | None = None,
) -> dict[str, Any]:
    """The HTTP API Lambda authorizer event (payload format 2.0, REQUEST type)."""
    now = time.time() if now_s is None else now_s
    event = _common(request, match)
    event.update(
        {
            "type": "REQUEST",
            "routeArn": (
                f"arn:aws:execute-api:{api.region}:{api.account_id}:{api.api_id}"
                f"/{HTTP_STAGE}/{request.method}{request.path}"
            ),
            "identitySource": identity,
            "requestContext": _context(api, request, match, request_id, now),
        }
    )
    return event


def authorizer_verdict(
    authorizer: HttpAuthorizer, invocation: Invocation, route_arn: str
) -> Verdict:
    if authorizer.simple_responses:
        return simple_verdict(invocation)
    return policy_verdict(invocation, route_arn)


@dataclass(frozen=True)
class Result:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def error_result(status: int, message: str) -> Result:
    return Result(
        status, (("Content-Type", "application/json"),), json.dumps({"message": message}).encode()
    )


def integration_result(invocation: Invocation | None) -> Result:
    """Map a Lambda outcome to the HTTP response, as payload format 2.0 does."""
    if invocation is None:
        return error_result(503, "Service Unavailable")
    if not invocation.ok:
        return error_result(500, "Internal Server Error")
    result = invocation.result
    if not (isinstance(result, dict) and "statusCode" in result):
        # Anything but a proxy response is sent back as a 200 JSON document.
        return Result(200, (("Content-Type", "application/json"),), json.dumps(result).encode())
    try:
        status = int(result["statusCode"])
    except (TypeError, ValueError):
        return error_result(500, "Internal Server Error")
    headers: list[tuple[str, str]] = []
    raw_headers = result.get("headers") or {}
    if isinstance(raw_headers, dict):
        headers += [(str(k), str(v)) for k, v in raw_headers.items()]
    multi = result.get("multiValueHeaders") or {}
    if isinstance(multi, dict):
        for name, values in multi.items():
            headers += [(str(name), str(v)) for v in (values if isinstance(values, list) else [])]
    cookies = result.get("cookies") or []
    if isinstance(cookies, list):
        headers += [("Set-Cookie", str(c)) for c in cookies]
    body = result.get("body")
    if body is None:
        data = b""
    elif result.get("isBase64Encoded"):
        data = base64.b64decode(str(body))
    else:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    if not any(name.lower() == "content-type" for name, _ in headers) and data:
        headers.append(("Content-Type", "application/json"))
    return Result(status, tuple(headers), data)
