"""Every client action (join, leave, send, history, members, direct, whoami, ping) and
$default. The answer to the sender is the route response; others get deliveries."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from .adapter import chat_service, count_refusal, error_reply, record, route_response
from .chat.commands import Command, decode_frame, parse_command
from .chat.errors import ChatError, ConnectionGone
from .chat.model import error_frame
from .events import WebSocketEvent
from .failures import count_internal_error
from .tracing import traced

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
@traced
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ev = WebSocketEvent.read(event)
    logger.append_keys(connection_id=ev.connection_id, route=ev.route_key)
    action: str | None = None
    command: Command | ChatError
    try:
        frame = decode_frame(ev.body)
        raw_action = frame.get("action")
        action = raw_action if isinstance(raw_action, str) else None
        command = parse_command(frame)
    except ChatError as exc:
        command = exc  # counted against the rate limit like any frame, then answered
    try:
        out = chat_service(context, ev.domain_name, ev.stage).handle(
            ev.connection_id, ev.user(), command, ev.received_ms
        )
    except ConnectionGone:
        # $disconnect removed this connection while the frame was in flight: the socket
        # is closed, so there is nobody to answer, and nothing is written for it.
        logger.info("frame from a closed connection")
        return {"statusCode": 200}
    except ChatError as exc:
        logger.info("refused", extra={"code": exc.code, "detail": exc.message})
        count_refusal(metrics, "RefusedFrames", exc.code)
        return route_response(error_reply(exc, action))
    except Exception:
        # The client gets a frame it can act on instead of API Gateway's bare error, so
        # the invocation succeeds; InternalErrors counts it (handlers/failures.py).
        count_internal_error(logger, "action failed")
        return route_response(error_frame("internal", "internal error", action))
    # Every handled frame is counted, so an invocation that delivered nothing (history,
    # ping) still has a metric and Powertools does not warn of an empty set in the log.
    metrics.add_metric(name="Frames", unit=MetricUnit.Count, value=1)
    record(metrics, out)
    return route_response(out.reply)
