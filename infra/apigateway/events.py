"""The events API Gateway hands to Lambda for a WebSocket connection.

Shapes follow AWS captures: every event has `requestContext` and `isBase64Encoded`;
$connect adds the handshake headers (and the query string only when one was sent);
MESSAGE adds `body` and a `messageId`; DISCONNECT has fixed headers plus
`disconnectStatusCode` / `disconnectReason`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def clf_time(epoch_s: float) -> str:
    """Common Log Format, as `requestTime`: ``21/Nov/2026:10:00:00 +0000``."""
    t = time.gmtime(epoch_s)
    # Month names spelled out here: strftime("%b") follows the process locale.
    return (
        f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year:04d}:"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )


def iso_time(epoch_s: float) -> str:
    """ISO 8601 in UTC with milliseconds, as the Management API's GetConnection answers."""
    dt = datetime.fromtimestamp(epoch_s, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class Handshake:
    """What the gateway learned from a WebSocket upgrade request."""

    path: str  # without the query string
    query: str  # raw query string ("" when none was sent)
    headers: Sequence[tuple[str, str]]  # as sent, names in the client's case
    source_ip: str
    domain_name: str  # host:port the client connected to (its Host header)
    scheme: str = "ws"  # "wss" behind TLS
    port: int = 0

    @property
    def user_agent(self) -> str:
        return self.header("user-agent") or ""

    def header(self, name: str) -> str | None:
        """The first value of header `name` (lowercase), or None."""
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


@dataclass
class ApiInfo:
    """Per-API constants that appear in every event."""

    api_id: str
    stage: str
    region: str
    account_id: str


@dataclass
class ConnectionInfo:
    """The per-connection facts events repeat (constant for the connection's life)."""

    connection_id: str
    connected_at_ms: int
    source_ip: str
    user_agent: str
    domain_name: str
    authorizer: dict[str, Any] | None = None


def header_maps(
    headers: Sequence[tuple[str, str]],
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """`headers` (last value wins, as AWS does) and `multiValueHeaders`."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def query_maps(query: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    """`queryStringParameters` and `multiValueQueryStringParameters`."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def request_context(
    api: ApiInfo,
    conn: ConnectionInfo,
    *,
    route_key: str,
    event_type: str,
    request_id: str,
    now_s: float,
) -> dict[str, Any]:
    """The `requestContext` common to CONNECT / MESSAGE / DISCONNECT."""
    ctx: dict[str, Any] = {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": clf_time(now_s),
        "messageDirection": "IN",
        "stage": api.stage,
        "connectedAt": conn.connected_at_ms,
        "requestTimeEpoch": int(now_s * 1000),
        "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent},
        "requestId": request_id,
        "domainName": conn.domain_name,
        "connectionId": conn.connection_id,
        "apiId": api.api_id,
    }
    if conn.authorizer is not None:
        ctx["authorizer"] = dict(conn.authorizer)
    return ctx


def _forwarded_headers(hs: Handshake) -> list[tuple[str, str]]:
    # API Gateway's edge adds these to the $connect request it forwards.
    return [
        ("X-Forwarded-For", hs.source_ip),
        ("X-Forwarded-Port", str(hs.port)),
        ("X-Forwarded-Proto", "https" if hs.scheme == "wss" else "http"),
    ]


def connect_event(
    api: ApiInfo, conn: ConnectionInfo, hs: Handshake, *, request_id: str, now_s: float
) -> dict[str, Any]:
    headers, multi_headers = header_maps([*hs.headers, *_forwarded_headers(hs)])
    event: dict[str, Any] = {
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "requestContext": request_context(
            api,
            conn,
            route_key="$connect",
            event_type="CONNECT",
            request_id=request_id,
            now_s=now_s,
        ),
        "isBase64Encoded": False,
    }
    if hs.query:
        query, multi_query = query_maps(hs.query)
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = multi_query
    return event


def authorizer_event(
    api: ApiInfo, conn: ConnectionInfo, hs: Handshake, *, request_id: str, now_s: float
) -> dict[str, Any]:
    """The Lambda REQUEST authorizer event for $connect."""
    headers, multi_headers = header_maps([*hs.headers, *_forwarded_headers(hs)])
    query, multi_query = query_maps(hs.query)
    return {
        "type": "REQUEST",
        "methodArn": (
            f"arn:aws:execute-api:{api.region}:{api.account_id}:{api.api_id}/{api.stage}/$connect"
        ),
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "stageVariables": {},
        "requestContext": request_context(
            api,
            conn,
            route_key="$connect",
            event_type="CONNECT",
            request_id=request_id,
            now_s=now_s,
        ),
    }


def message_event(
    api: ApiInfo,
    conn: ConnectionInfo,
    *,
    route_key: str,
    body: str,
    request_id: str,
    message_id: str,
    now_s: float,
) -> dict[str, Any]:
    ctx = request_context(
        api, conn, route_key=route_key, event_type="MESSAGE", request_id=request_id, now_s=now_s
    )
    ctx["messageId"] = message_id
    return {"requestContext": ctx, "body": body, "isBase64Encoded": False}


def disconnect_event(
    api: ApiInfo,
    conn: ConnectionInfo,
    *,
    status_code: int,
    reason: str,
    request_id: str,
    now_s: float,
) -> dict[str, Any]:
    # AWS sends these four headers, whatever the handshake carried.
    headers: Mapping[str, str] = {
        "Host": conn.domain_name,
        "x-api-key": "",
        "X-Forwarded-For": "",
        "x-restapi": "",
    }
    ctx = request_context(
        api,
        conn,
        route_key="$disconnect",
        event_type="DISCONNECT",
        request_id=request_id,
        now_s=now_s,
    )
    ctx["disconnectStatusCode"] = status_code
    ctx["disconnectReason"] = reason
    return {
        "headers": dict(headers),
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "requestContext": ctx,
        "isBase64Encoded": False,
    }
