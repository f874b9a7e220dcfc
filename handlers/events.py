"""The Lambda events this service receives, read into typed values.

Each reader takes the fields its function uses and checks their types; an event without
one (a misrouted or hand-made invocation) raises `BadEvent`, which fails the invocation
as an internal error (handlers/failures.py). The fields of API Gateway's events are
AWS's: https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-mapping-template-reference.html
and the HTTP API's payload format 2.0.

Why not Powertools' event parser or its data classes: on python3.12 from the layer, the
parser (pydantic and the models) costs ~75 ms of CPU at every cold start and the data
classes ~15 ms (their package imports all forty event types), for the half-dozen fields
read here (`python -m bench.cold_import`, docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .chat.model import User


class BadEvent(ValueError):
    """The event lacks a field the function needs, or has it with the wrong type."""


def _get(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """`obj[key]`, which must be of `kind` (absent reads as None; `True` is no int here)."""
    value = obj.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BadEvent(f"{where}.{key}: expected {_name(kind)}, got {type(value).__name__}")
    return value


def _name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join("null" if k is type(None) else k.__name__ for k in kinds)


def _object(obj: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value: Mapping[str, Any] = _get(obj, key, dict, where)
    return value


def _optional_object(obj: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value: Mapping[str, Any] | None = _get(obj, key, (dict, type(None)), where)
    return value or {}


def _user(authorizer: Mapping[str, Any], where: str) -> User:
    """The user our $connect authorizer put in the connection's context."""
    return User(
        id=_get(authorizer, "userId", str, where), name=_get(authorizer, "userName", str, where)
    )


@dataclass(frozen=True)
class AuthorizerRequestEvent:
    """A REQUEST authorizer's event on the WebSocket API's $connect (REST-style payload)."""

    method_arn: str  # what the policy allows or denies
    query_string_parameters: Mapping[str, str]
    connection_id: str | None

    @classmethod
    def read(cls, event: Mapping[str, Any]) -> AuthorizerRequestEvent:
        ctx = _optional_object(event, "requestContext", "event")
        return cls(
            method_arn=_get(event, "methodArn", str, "event"),
            query_string_parameters=_optional_object(event, "queryStringParameters", "event"),
            connection_id=_get(ctx, "connectionId", (str, type(None)), "requestContext"),
        )


@dataclass(frozen=True)
class WebSocketEvent:
    """A WebSocket API event ($connect, $disconnect, a message route)."""

    connection_id: str
    route_key: str
    domain_name: str | None
    stage: str | None
    received_ms: int  # requestTimeEpoch: when API Gateway received the frame
    body: str | None
    # requestContext.authorizer: our authorizer's context; on $disconnect it may be absent.
    authorizer: Mapping[str, Any] | None
    disconnect_status_code: int | None = None
    disconnect_reason: str | None = None

    @classmethod
    def read(cls, event: Mapping[str, Any]) -> WebSocketEvent:
        ctx = _object(event, "requestContext", "event")
        where = "requestContext"
        return cls(
            connection_id=_get(ctx, "connectionId", str, where),
            route_key=_get(ctx, "routeKey", str, where),
            domain_name=_get(ctx, "domainName", (str, type(None)), where),
            stage=_get(ctx, "stage", (str, type(None)), where),
            received_ms=_get(ctx, "requestTimeEpoch", int, where),
            body=_get(event, "body", (str, type(None)), "event"),
            authorizer=_get(ctx, "authorizer", (dict, type(None)), where),
            disconnect_status_code=_get(ctx, "disconnectStatusCode", (int, type(None)), where),
            disconnect_reason=_get(ctx, "disconnectReason", (str, type(None)), where),
        )

    def user(self) -> User:
        """The connection's user (every route but $disconnect runs behind the authorizer)."""
        if self.authorizer is None:
            raise BadEvent("requestContext.authorizer: missing")
        return _user(self.authorizer, "requestContext.authorizer")


@dataclass(frozen=True)
class PublishEvent:
    """POST /rooms/{room}/messages on the HTTP API (payload format 2.0)."""

    body: str
    is_base64_encoded: bool
    path_parameters: Mapping[str, str]
    received_ms: int  # requestContext.timeEpoch
    publisher: User  # from our publish authorizer's context

    @classmethod
    def read(cls, event: Mapping[str, Any]) -> PublishEvent:
        ctx = _object(event, "requestContext", "event")
        authorizer = _object(ctx, "authorizer", "requestContext")
        claims = _object(authorizer, "lambda", "requestContext.authorizer")
        where = "requestContext.authorizer.lambda"
        user_id = _get(claims, "userId", str, where)
        name = _get(claims, "userName", (str, type(None)), where)
        return cls(
            body=_get(event, "body", (str, type(None)), "event") or "",
            is_base64_encoded=bool(event.get("isBase64Encoded")),
            path_parameters=_optional_object(event, "pathParameters", "event"),
            received_ms=_get(ctx, "timeEpoch", int, "requestContext"),
            publisher=User(id=user_id, name=name or user_id),
        )


@dataclass(frozen=True)
class FanOutEvent:
    """One shard of a room's fan-out, from `chat.shards.Shard.event` (an async invoke):
    these connections (read from the room's `partition`), or the members of the room's
    partitions [first, end) but `skip`."""

    room: str
    payload: str
    connection_ids: list[str] | None
    endpoint: str | None  # the Management API of the API the message came through
    partition: int = 0
    partitions: tuple[int, int] | None = None
    skip: str | None = None

    @classmethod
    def read(cls, event: Mapping[str, Any]) -> FanOutEvent:
        # Here, not at the top: the store imports botocore, which the authorizers (who
        # read their events from this module too) would pay for at every cold start.
        from .chat.store import MAX_PARTITIONS

        ids = _get(event, "connectionIds", (list, type(None)), "event")
        if ids is not None and (not ids or not all(isinstance(i, str) and i for i in ids)):
            raise BadEvent("event.connectionIds: expected a non-empty list of connection ids")
        partition = event.get("partition", 0)
        if not isinstance(partition, int) or isinstance(partition, bool):
            raise BadEvent("event.partition: expected int")
        if not 0 <= partition <= MAX_PARTITIONS:
            raise BadEvent(f"event.partition: expected 0..{MAX_PARTITIONS}")
        span = _get(event, "partitions", (list, type(None)), "event")
        partitions: tuple[int, int] | None = None
        if span is not None:
            if (
                len(span) != 2
                or not all(isinstance(i, int) and not isinstance(i, bool) for i in span)
                or not 0 < span[0] < span[1] <= MAX_PARTITIONS
            ):
                raise BadEvent(
                    f"event.partitions: expected [first, end) within 1..{MAX_PARTITIONS}"
                )
            partitions = (span[0], span[1])
        if (ids is None) == (partitions is None):
            raise BadEvent("event: expected either connectionIds or partitions")
        read = cls(
            room=_get(event, "room", str, "event"),
            payload=_get(event, "payload", str, "event"),
            connection_ids=ids,
            endpoint=_get(event, "endpoint", (str, type(None)), "event"),
            partition=partition,
            partitions=partitions,
            skip=_get(event, "skip", (str, type(None)), "event"),
        )
        if not read.room or not read.payload:
            raise BadEvent("event.room and event.payload must not be empty")
        return read
