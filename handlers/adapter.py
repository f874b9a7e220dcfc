"""What every WebSocket entry point shares: building the chat service for an invocation,
turning domain errors into error frames, and recording the outcome as metrics."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from .chat import aws
from .chat.errors import ChatError, RateLimited
from .chat.fanout import FanOut
from .chat.model import encode, error_frame
from .chat.service import ChatService, Outcome, Sharding
from .chat.settings import Settings
from .chat.shards import LambdaHandOff
from .chat.store import Store


@cache
def settings() -> Settings:
    """Read once per container; a bad setting fails the cold start, not a request."""
    return Settings.from_env()


def chat_service(
    context: LambdaContext,
    domain_name: str | None = None,
    stage: str | None = None,
    endpoint: str | None = None,
) -> ChatService:
    """The chat domain wired to DynamoDB, to this API's Management endpoint (the event's
    own API, or `endpoint` when given) and, when configured, to the fan-out function."""
    conf = settings()
    endpoint = aws.management_endpoint(endpoint or conf.management_endpoint, domain_name, stage)
    fanout = FanOut(
        aws.management(endpoint, conf.fanout_concurrency),
        conf.fanout_concurrency,
        remaining_ms=context.get_remaining_time_in_millis,
    )
    sharding = None
    if conf.fanout_function:
        hand_off = LambdaHandOff(aws.lambda_client, conf.fanout_function, endpoint)
        sharding = Sharding(hand_off, conf.fanout_shard_size)
    return ChatService(
        Store(aws.dynamodb(), conf),
        fanout,
        sharding=sharding,
        presence_max_users=conf.presence_max_users,
        max_connections_per_user=conf.max_connections_per_user,
    )


def record(metrics: Metrics, out: Outcome) -> None:
    """EMF metrics for one invocation: messages stored, deliveries, gone, fan-out time."""
    d = out.deliveries
    if out.stored:
        metrics.add_metric(name="Messages", unit=MetricUnit.Count, value=out.stored)
    if d.delivered:
        metrics.add_metric(name="Deliveries", unit=MetricUnit.Count, value=d.delivered)
    if d.gone:
        metrics.add_metric(name="GoneConnections", unit=MetricUnit.Count, value=len(d.gone))
    if d.failed:
        metrics.add_metric(name="FailedDeliveries", unit=MetricUnit.Count, value=d.failed)
        count_failures_by_code(metrics, d.errors)
    if d.handed_off:
        metrics.add_metric(name="HandedOffDeliveries", unit=MetricUnit.Count, value=d.handed_off)
    if d.delivered or d.gone or d.failed:
        metrics.add_metric(name="FanOutTime", unit=MetricUnit.Milliseconds, value=d.elapsed_ms)


def count_failures_by_code(metrics: Metrics, errors: dict[str, int]) -> None:
    """FailedDeliveries split by the sender's error code (PayloadTooLargeException,
    ForbiddenException, ReadTimeoutError, NotStarted, ...: a small set), each in a document
    of its own: a dimension on `metrics` would move every metric of the invocation, and
    the alarm's series (service only), onto it. Its own name, so that a sum over every
    series of a name (a dashboard's SEARCH, the local harness's log line) counts once."""
    for code, count in sorted(errors.items()):
        with single_metric(
            name="FailedDeliveriesByCode",
            unit=MetricUnit.Count,
            value=count,
            namespace=metrics.namespace,
            default_dimensions={"code": code},
        ):
            pass


def count_refusal(metrics: Metrics, name: str, code: str) -> None:
    """One refused request, by error code: a fixed set, so cheap as a dimension, and a
    rise in rate_limited or not_member is worth an alarm."""
    metrics.add_dimension(name="code", value=code)
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def error_reply(exc: ChatError, action: str | None) -> dict[str, Any]:
    retry = exc.retry_after_ms if isinstance(exc, RateLimited) else None
    return error_frame(exc.code, exc.message, action, retry)


def route_response(frame: dict[str, Any] | None) -> dict[str, Any]:
    """The handler's answer: with a route response configured, `body` reaches the sender."""
    if frame is None:
        return {"statusCode": 200}
    return {"statusCode": 200, "body": encode(frame)}
