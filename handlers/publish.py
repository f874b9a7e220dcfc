"""POST /rooms/{room}/messages (HTTP API): server-side events and dashboard feeds.

202 {"id", "delivered", "queued"} (queued: members of a large room whose delivery was
handed to the fan-out function, still under way); 400 for a bad body or room name; 413
over the message limits; 429 past the publisher's rate limit (with Retry-After).
The publisher (from the authorizer's context) is the message's `from`.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from wschat_protocol import MAX_MESSAGE_BYTES

from .adapter import chat_service, count_refusal, record
from .chat.commands import decode_frame, validate_body, validate_room
from .chat.errors import BadRequest, ChatError, RateLimited, TooLarge
from .events import PublishEvent
from .failures import counts_internal_errors
from .tracing import traced

logger = Logger()
metrics = Metrics()

MAX_BODY_BYTES = MAX_MESSAGE_BYTES  # API Gateway would not deliver a larger message


def respond(
    status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", **(headers or {})},
        "body": json.dumps(payload, separators=(",", ":")),
    }


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@counts_internal_errors(logger)
@traced
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ev = PublishEvent.read(event)
    raw = ev.body
    try:
        if ev.is_base64_encoded:
            raw = base64.b64decode(raw).decode()
        if len(raw.encode()) > MAX_BODY_BYTES:
            raise TooLarge(f"body over {MAX_BODY_BYTES} bytes")
        room = validate_room(ev.path_parameters.get("room"))
        if not raw.strip():
            raise BadRequest('empty body: expected a JSON object such as {"text": "hi"}')
        body = validate_body(decode_frame(raw))
    except (ChatError, UnicodeDecodeError, ValueError) as exc:
        code = exc.code if isinstance(exc, ChatError) else "bad_request"
        status = 413 if isinstance(exc, TooLarge) else 400
        count_refusal(metrics, "RejectedPublishes", code)
        return respond(status, {"code": code, "message": getattr(exc, "message", str(exc))})
    try:
        message_id, out = chat_service(context).publish(room, ev.publisher, body, ev.received_ms)
    except RateLimited as exc:
        count_refusal(metrics, "RejectedPublishes", exc.code)
        seconds = str(-(-exc.retry_after_ms // 1000))
        payload = {"code": exc.code, "message": exc.message, "retryAfterMs": exc.retry_after_ms}
        return respond(429, payload, {"retry-after": seconds})
    record(metrics, out)
    d = out.deliveries
    logger.info("published", extra={"room": room, "delivered": d.delivered, "queued": d.handed_off})
    return respond(202, {"id": message_id, "delivered": d.delivered, "queued": d.handed_off})
