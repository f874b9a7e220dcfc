"""$disconnect: forget the connection and tell its rooms (best-effort on AWS; TTLs and
fan-out's gone handling clean up whatever this misses)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from .adapter import chat_service, record
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
    logger.info(
        "disconnected",
        extra={"status": ev.disconnect_status_code, "reason": ev.disconnect_reason},
    )
    out = chat_service(context, ev.domain_name, ev.stage).disconnect(ev.connection_id)
    metrics.add_metric(name="Disconnections", unit=MetricUnit.Count, value=1)
    record(metrics, out)
    return {"statusCode": 200}
