"""The fan-out function: delivers one shard of a large room's fan-out.

Invoked asynchronously by the message and publish functions (`chat.shards`), never by
API Gateway. Gone connections are removed here, as the invoking function does for its
own shard. An invocation that fails is not retried (serverless.yml: a retry would deliver
the whole shard again): Lambda sends the event to the function's failure queue.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from .adapter import chat_service, record
from .events import FanOutEvent
from .failures import counts_internal_errors
from .tracing import traced

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
@counts_internal_errors(logger)
@traced
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ev = FanOutEvent.read(event)
    logger.append_keys(room=ev.room)
    service = chat_service(context, endpoint=ev.endpoint)
    out = service.deliver_shard(ev.room, ev.connection_ids, ev.payload)
    record(metrics, out)
    d = out.deliveries
    result = {"delivered": d.delivered, "gone": len(d.gone), "failed": d.failed}
    logger.info("shard delivered", extra={"recipients": len(ev.connection_ids), **result})
    return result
