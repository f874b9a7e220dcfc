"""The fan-out function: delivers one shard of a large room's fan-out (a list of
connections, or a range of the room's partitions: it hands the rest of a range on and
reads and delivers the first partition itself).

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
    out = service.deliver_shard(
        ev.room,
        ev.payload,
        connection_ids=ev.connection_ids or (),
        partition=ev.partition,
        partitions=ev.partitions,
        skip=ev.skip,
    )
    record(metrics, out)
    d = out.deliveries
    result = {"delivered": d.delivered, "gone": len(d.gone), "failed": d.failed}
    shard = {"partitions": ev.partitions} if ev.partitions else {"partition": ev.partition}
    # `read`: [partition, memberships read] for each room partition this invocation read.
    read = [list(r) for r in out.reads]
    logger.info("shard delivered", extra={**shard, "read": read, **result})
    return result
