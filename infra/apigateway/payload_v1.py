"""Payload format 1.0: the REST API's Lambda proxy event (serverless `http` events), also
what an HTTP API route with `payloadVersion: '1.0'` sends; and how the result becomes
the HTTP response.

Differences between the two APIs that code notices: a REST API serves its routes under
``/{stage}`` (`requestContext.path` carries the stage, `path` does not), has UUID request
ids and answers a failed or malformed function with 502 and a timeout (29 s) with 504;
an HTTP API answers those with 500 and 503 (30 s) and adds ``"version": "1.0"``.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

from infra.apigateway.events import ApiInfo, clf_time, header_maps
from infra.apigateway.http_routes import HttpRequest, Match
from infra.apigateway.ids import new_id
from infra.apigateway.payload_v2 import HTTP_STAGE, body_field
from infra.http import HttpResponse, json_message
from infra.service import Invocation

_NULL_IDENTITY = (
    "cognitoIdentityPoolId",
    "accountId",
    "cognitoIdentityId",
    "caller",
    "principalOrgId",
    "accessKey",
    "cognitoAuthenticationType",
    "cognitoAuthenticationProvider",
    "userArn",
    "user",
)


def request_id(match: Match) -> str:
    """REST APIs use UUIDs; HTTP APIs ids like the WebSocket API's."""
    return str(uuid.uuid4()) if match.rest else new_id()


def _maps(
    pairs: Sequence[tuple[str, str]],
) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    """The single-value map (last value wins) and the multi-value map; null when empty."""
    single, multi = header_maps(pairs)
    return single or None, multi or None


def _context(
    api: ApiInfo, request: HttpRequest, match: Match, request_id: str, now_s: float
) -> dict[str, Any]:
    user_agent = next((v for n, v in request.headers if n.lower() == "user-agent"), None)
    identity: dict[str, Any] = dict.fromkeys(_NULL_IDENTITY)
    identity.update(sourceIp=request.source_ip, userAgent=user_agent)
    resource = match.route.path
    return {
        "accountId": api.account_id,
        "apiId": api.api_id,
        "domainName": request.domain_name,
        "domainPrefix": request.domain_name.split(".")[0].split(":")[0],
        "extendedRequestId": new_id(),
        "httpMethod": request.method,
        "identity": identity,
        "path": request.path,
        "protocol": "HTTP/1.1",
        "requestId": request_id,
        "requestTime": clf_time(now_s),
        "requestTimeEpoch": int(now_s * 1000),
        "resourceId": hashlib.sha256(f"{match.route.method} {resource}".encode()).hexdigest()[:6],
        "resourcePath": resource,
        "stage": api.stage if match.rest else HTTP_STAGE,
    }


def _common(request: HttpRequest, match: Match) -> dict[str, Any]:
    headers, multi_headers = _maps(request.headers)
    query, multi_query = _maps(parse_qsl(request.query, keep_blank_values=True))
    event: dict[str, Any] = {}
    if not match.rest:
        event["version"] = "1.0"
    event.update(
        {
            "resource": match.route.path,
            "path": match.resource_path if match.rest else request.path,
            "httpMethod": request.method,
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": query,
            "multiValueQueryStringParameters": multi_query,
            "pathParameters": dict(match.path_parameters) or None,
            "stageVariables": None,
        }
    )
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
    """The payload format 1.0 (REST API proxy) event for a route's integration."""
    event = _common(request, match)
    ctx = _context(api, request, match, request_id, now_s)
    if authorizer_context is not None:
        ctx["authorizer"] = dict(authorizer_context)
    event["requestContext"] = ctx
    event["body"], event["isBase64Encoded"] = body_field(request.body)
    return event


def method_arn(api: ApiInfo, request: HttpRequest, match: Match) -> str:
    stage = api.stage if match.rest else HTTP_STAGE
    path = match.resource_path if match.rest else request.path
    return (
        f"arn:aws:execute-api:{api.region}:{api.account_id}:{api.api_id}"
        f"/{stage}/{request.method}{path}"
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
    """A Lambda REQUEST authorizer's event in payload format 1.0."""
    event = _common(request, match)
    event.update(
        type="REQUEST",
        methodArn=method_arn(api, request, match),
        identitySource=",".join(identity),
        requestContext=_context(api, request, match, request_id, now_s),
    )
    return event


def integration_result(invocation: Invocation | None, *, rest: bool) -> HttpResponse:
    """Map a Lambda outcome to the HTTP response (a proxy result is required)."""
    if invocation is None:
        if rest:
            return json_message(504, "Endpoint request timed out")
        return json_message(503, "Service Unavailable")
    failed = json_message(502, "Internal server error") if rest else None
    failed = failed or json_message(500, "Internal Server Error")
    result = invocation.result
    if not invocation.ok or not isinstance(result, dict):
        return failed
    try:
        status = int(result["statusCode"])
    except (KeyError, TypeError, ValueError):
        return failed
    body = result.get("body")
    if body is not None and not isinstance(body, str):
        return failed  # "Malformed Lambda proxy response": the body must be a string
    headers: list[tuple[str, str]] = []
    raw_headers = result.get("headers") or {}
    multi = result.get("multiValueHeaders") or {}
    if not isinstance(raw_headers, dict) or not isinstance(multi, dict):
        return failed
    headers += [(str(k), str(v)) for k, v in raw_headers.items() if k not in multi]
    for name, values in multi.items():
        headers += [(str(name), str(v)) for v in (values if isinstance(values, list) else [])]
    if body is None:
        data = b""
    elif result.get("isBase64Encoded"):
        data = base64.b64decode(body)
    else:
        data = body.encode()
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return HttpResponse(status, tuple(headers), data)
