"""The Lambda service's Invoke API over the local runtime, for functions that invoke others.

`POST /2015-03-31/functions/{FunctionName}/invocations` as boto3's `lambda` client sends
it (pointed here by AWS_ENDPOINT_URL_LAMBDA): a function name, ARN or partial ARN of this
service's functions; `X-Amz-Invocation-Type` RequestResponse (the default: the result,
or a function error as 200 with `X-Amz-Function-Error: Unhandled`), Event (202 at once;
the invocation runs in the background and a failed one is retried twice, as Lambda
does) or DryRun (204). Payload limits: 6 MB synchronous, 1 MB asynchronous (413).
Errors carry `x-amzn-ErrorType` so botocore raises the same exception classes as on AWS.
Like Lambda, it takes only SigV4-signed requests (`infra.sigv4`: 403 `Missing
Authentication Token` without an `Authorization` header; the signature's form and
service are checked, not its key): a page or a bare `curl` cannot invoke a function.

Not reproduced: versions and aliases (only `$LATEST`), `X-Amz-Log-Type: Tail`,
`ClientContext`, destinations and dead-letter queues, the signature's key.

It knows nothing of the server it is mounted in: it is an `infra.http.HttpApp` that the
stack hands to the gateway's listener, which passes it the paths it `handles`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, unquote

from infra import sigv4
from infra.http import HttpResponse, header
from infra.service import Invocation, Invoker, ServiceSpec

log = logging.getLogger(__name__)

PREFIX = "/2015-03-31/functions/"
_INVOCATIONS = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
# The Invoke API's own name formats: name, partial ARN, full ARN; an optional qualifier.
_NAME = re.compile(
    r"^(?:arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):)?"
    r"(?:(?P<account>\d{12}):)?(?:function:)?(?P<function>[a-zA-Z0-9_.-]+)"
    r"(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?$"
)
SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024
ASYNC_PAYLOAD_BYTES = 1024 * 1024
# Lambda's defaults for an asynchronous invocation that fails: two more attempts, about
# one and then two minutes later.
ASYNC_RETRY_DELAYS_S = (60.0, 120.0)
_JSON = ("Content-Type", "application/json")


class InvokeApi:
    """The Invoke API as an `infra.http.HttpApp`."""

    def __init__(
        self,
        spec: ServiceSpec,
        invoker: Invoker,
        retry_delays_s: Sequence[float] = ASYNC_RETRY_DELAYS_S,
    ) -> None:
        self.spec = spec
        self._invoker = invoker
        self._retry_delays_s = tuple(retry_delays_s)
        # Event invocations run (and wait to be retried) in the background; `close` drops
        # them instead of waiting minutes for a retry.
        self._background: set[asyncio.Task[None]] = set()
        # Deployed name ("wschat-dev-fanout") -> the function's key under `functions:`.
        self._functions = {spec.deployed_name(key): key for key in spec.functions}

    @staticmethod
    def handles(path: str) -> bool:
        return path.startswith(PREFIX)

    async def request(
        self, method: str, path: str, query: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> HttpResponse:
        refused = sigv4.refusal(headers, "lambda")
        if refused is not None:
            return refused
        found = _INVOCATIONS.match(path)
        if found is None or method != "POST":
            return _error(404, "UnknownOperationException", f"no operation {method} {path}")
        name = unquote(found["name"])
        qualifier = dict(parse_qsl(query)).get("Qualifier")
        key = self._function(name, qualifier)
        if key is None:
            return _error(404, "ResourceNotFoundException", f"Function not found: {name}")
        kind = header(headers, "x-amz-invocation-type") or "RequestResponse"
        if kind not in ("RequestResponse", "Event", "DryRun"):
            return _error(400, "InvalidParameterValueException", f"unknown InvocationType {kind!r}")
        limit = ASYNC_PAYLOAD_BYTES if kind == "Event" else SYNC_PAYLOAD_BYTES
        if len(body) > limit:
            return _error(
                413,
                "RequestTooLargeException",
                f"Request must be smaller than {limit} bytes for the {kind} invocation type",
            )
        try:
            event = json.loads(body) if body.strip() else {}
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            reason = f"Could not parse request body into json: {exc}"
            return _error(400, "InvalidRequestContentException", reason)
        if kind == "DryRun":
            return HttpResponse(204)
        if kind == "Event":
            task = asyncio.get_running_loop().create_task(self._run_async(key, event))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return HttpResponse(202, (("X-Amzn-RequestId", str(uuid.uuid4())),))
        return _result(await self._invoker.invoke(key, event))

    def close(self) -> None:
        """Drop the Event invocations still queued or waiting for a retry."""
        for task in list(self._background):
            task.cancel()

    def _function(self, name: str, qualifier: str | None) -> str | None:
        parsed = _NAME.match(name)
        if parsed is None:
            return None
        if parsed["region"] not in (None, self.spec.region):
            return None
        if parsed["account"] not in (None, self.spec.account_id):
            return None
        if (parsed["qualifier"] or qualifier or "$LATEST") != "$LATEST":
            return None  # no versions or aliases locally
        return self._functions.get(parsed["function"])

    async def _run_async(self, key: str, event: Any) -> None:
        for attempt, delay in enumerate((0.0, *self._retry_delays_s), start=1):
            if delay:
                await asyncio.sleep(delay)
            outcome = await self._invoker.invoke(key, event)
            if outcome.ok:
                return
            log.warning(
                "async invocation of %s failed (attempt %d): %s: %s",
                key,
                attempt,
                outcome.error_type,
                outcome.error_message,
            )
        log.error("async invocation of %s dropped after %d attempts", key, attempt)


def _error(status: int, error_type: str, message: str) -> HttpResponse:
    body = json.dumps({"Type": "User", "Message": message}).encode()
    return HttpResponse(status, (_JSON, ("x-amzn-ErrorType", error_type)), body)


def _result(outcome: Invocation) -> HttpResponse:
    headers: list[tuple[str, str]] = [_JSON, ("X-Amz-Executed-Version", "$LATEST")]
    if outcome.ok:
        return HttpResponse(200, tuple(headers), json.dumps(outcome.result).encode())
    if outcome.error_type == "ResourceNotFoundException":
        return _error(404, "ResourceNotFoundException", outcome.error_message or "")
    headers.append(("X-Amz-Function-Error", "Unhandled"))
    error: Mapping[str, Any] = {
        "errorType": outcome.error_type or "Runtime.Unknown",
        "errorMessage": outcome.error_message or "",
    }
    return HttpResponse(200, tuple(headers), json.dumps(error).encode())
