"""Unexpected errors: counted as the `InternalErrors` metric and logged with the request
ids, in every handler.

The Logger's `inject_lambda_context` puts Lambda's request id (`function_request_id`)
and API Gateway's (`correlation_id`) on the log line. Then the invocation fails, so
Lambda's own Errors metric counts it too and API Gateway answers as it does for a
failed integration (`$connect`: the handshake fails with 500; the HTTP API: 500; the
fan-out function: its failure destination). The one exception is a client action on the
WebSocket API (handlers/message.py): a failed integration there would reach the client
as API Gateway's bare `{"message": "Internal server error"}`, so it answers the
protocol's `internal` error frame instead and counts the error here
(docs/deployment.md, "When a handler fails").
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit, single_metric

Handler = TypeVar("Handler", bound=Callable[..., Any])

INTERNAL_ERRORS = "InternalErrors"


class Unauthorized(Exception):
    """An authorizer's refusal: API Gateway answers 401 on the message "Unauthorized"
    (not an internal error)."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def count_internal_error(logger: Logger, what: str) -> None:
    """Log the exception being handled (with its traceback and the request ids) and
    count it.

    The metric is written at once, on its own, with the `service` dimension only: the
    same series from every handler (the alarm and the dashboard read it), whatever
    dimensions the handler's own metrics carry, and even when no `Metrics` flushes."""
    logger.exception(what)
    service = os.environ.get("POWERTOOLS_SERVICE_NAME", "wschat")
    with single_metric(
        name=INTERNAL_ERRORS,
        unit=MetricUnit.Count,
        value=1,
        default_dimensions={"service": service},
    ):
        pass


def counts_internal_errors(logger: Logger) -> Callable[[Handler], Callable[..., Any]]:
    """Decorate a handler: an unexpected exception is counted and logged, then raised
    on to Lambda."""

    # Like Powertools' own decorators, the result takes any context object (tests pass
    # their own stand-in for LambdaContext).
    def decorate(handler: Handler) -> Callable[..., Any]:
        @functools.wraps(handler)
        def run(event: Any, context: Any) -> Any:
            try:
                return handler(event, context)
            except Unauthorized:
                raise
            except Exception:
                count_internal_error(logger, "unexpected error")
                raise

        return run

    return decorate
