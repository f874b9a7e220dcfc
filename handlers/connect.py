"""$connect: the authorizer has let the client in; remember the connection (429 when its
user already has as many connections as a user may have)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from .adapter import chat_service
from .chat.errors import TooManyConnections
from .events import WebSocketEvent
from .failures import counts_internal_errors
from .tracing import traced

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
@counts_internal_errors(logger)
@traced
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ev = WebSocketEvent.read(event)
    logger.append_keys(connection_id=ev.connection_id)
    try:
        chat_service(context, ev.domain_name, ev.stage).connect(ev.connection_id, ev.user())
    except TooManyConnections as exc:
        # Any status but 2xx refuses the handshake with that status.
        logger.info("too many connections", extra={"detail": str(exc)})
        metrics.add_metric(name="RefusedConnections", unit=MetricUnit.Count, value=1)
        return {"statusCode": 429}
    metrics.add_metric(name="Connections", unit=MetricUnit.Count, value=1)
    return {"statusCode": 200}
