"""HTTP API payload format 2.0: the events a route's function and Lambda authorizer get,
and how the function's result becomes the HTTP response.

Serverless deploys `httpApi` events to the `$default` stage, so `requestContext.stage`
is ``$default`` and paths carry no stage prefix.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

from infra.apigateway.events import ApiInfo, clf_time
from infra.apigateway.http_routes import HttpRequest, Match
from infra.http import JSON_HEADERS, HttpResponse, json_message
from infra.service import Invocation

HTTP_STAGE = "$default"


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
    now_s: float,
) -> dict[str, Any]:
    """The payload format 2.0 event for a route's integration."""
    event = _common(request, match)
    ctx = _context(api, request, match, request_id, now_s)
    if authorizer_context is not None:
        ctx["authorizer"] = {"lambda": dict(authorizer_context)}
    event["requestContext"] = ctx
    body, encoded = body_field(request.body)
    if body is not None:
        event["body"] = body
    event["isBase64Encoded"] = encoded
    return event


def body_field(body: bytes) -> tuple[str | None, bool]:
    """An event's `body` and `isBase64Encoded`: text as it is, anything else base64;
    None for no body."""
    if not body:
        return None, False
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), True


def route_arn(api: ApiInfo, request: HttpRequest) -> str:
    return (
        f"arn:aws:execute-api:{api.region}:{api.account_id}:{api.api_id}"
        f"/{HTTP_STAGE}/{request.method}{request.path}"
    )


def authorizer_event(
    api: ApiInfo,
    request: HttpRequest,
    match: Match,
    identity: list[str],
    *,
    request_id: str,
    now_s: float,
) -> dict[str, Any]:
    """The HTTP API Lambda authorizer event (payload format 2.0, REQUEST type)."""
    event = _common(request, match)
    event.update(
        {
            "type": "REQUEST",
            "routeArn": route_arn(api, request),
            "identitySource": identity,
            "requestContext": _context(api, request, match, request_id, now_s),
        }
    )
    return event


def integration_result(invocation: Invocation | None) -> HttpResponse:
    """Map a Lambda outcome to the HTTP response, as payload format 2.0 does; `None`:
    the 30 s integration timeout passed (503)."""
    if invocation is None:
        return json_message(503, "Service Unavailable")
    if not invocation.ok:
        return json_message(500, "Internal Server Error")
    result = invocation.result
    if not (isinstance(result, dict) and "statusCode" in result):
        # Anything but a proxy response is sent back as a 200 JSON document.
        return HttpResponse(200, JSON_HEADERS, json.dumps(result).encode())
    try:
        status = int(result["statusCode"])
    except (TypeError, ValueError):
        return json_message(500, "Internal Server Error")
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
    return HttpResponse(status, tuple(headers), data)
