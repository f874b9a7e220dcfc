"""X-Ray tracing of a handler, only when it is switched on.

Powertools' `Tracer()` imports the X-Ray SDK even when tracing is disabled (~145 ms of
every cold start, docs/benchmarks.md). Tracing is off in serverless.yml (the X-Ray
permissions it needs are `Resource: "*"`), so the handlers build no Tracer unless
`POWERTOOLS_TRACE_DISABLED` is set to something other than true; docs/deployment.md says
how to switch it on.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar, cast

Handler = TypeVar("Handler", bound=Callable[..., Any])


def tracing_enabled() -> bool:
    """Powertools' own reading of the switch: only "true" or "1" disables."""
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() not in {
        "true",
        "1",
    }


def traced(handler: Handler) -> Handler:
    """`handler` under Powertools' `Tracer.capture_lambda_handler` when tracing is on;
    else `handler` itself, with the X-Ray SDK never imported."""
    if not tracing_enabled():
        return handler
    from aws_lambda_powertools import Tracer

    return cast(Handler, Tracer().capture_lambda_handler(handler))
