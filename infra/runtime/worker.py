"""One Lambda sandbox: `python -m infra.runtime.worker <function-arn>`.

Imports the handler named by `_HANDLER` (init), answers `{"ready": ...}`, then runs one
invocation per request line. Requests arrive on stdin and replies leave on the original
stdout, both one JSON object per line; before any user code runs, fd 0 becomes /dev/null
and fd 1 joins fd 2, so whatever the handler prints reaches the harness's log (stderr),
never the protocol pipe.
"""

from __future__ import annotations

import decimal
import importlib
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import IO, Any

from infra.runtime.context import LambdaContext

Handler = Callable[[Any, LambdaContext], Any]


def _lambda_default(value: Any) -> Any:
    # The AWS Python runtime writes a Decimal (a DynamoDB number) as a JSON number.
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {"ok": False, "errorType": error_type or type(exc).__name__, "errorMessage": str(exc)}


def _log_exception(exc: BaseException, request_id: str = "") -> None:
    # The shape the AWS runtime writes to CloudWatch for an unhandled exception.
    prefix = f"{request_id} " if request_id else ""
    sys.stderr.write(f"[ERROR] {prefix}{type(exc).__name__}: {exc}\n")
    # Start at the handler's frame, as the AWS runtime does, not in this module.
    tb = exc.__traceback__.tb_next if exc.__traceback__ else None
    traceback.print_exception(type(exc), exc, tb, file=sys.stderr)


def load_handler(spec: str) -> Handler:
    """`handlers/connect.handler` -> the callable, with the AWS runtime's error types."""
    module_path, _, attr = spec.rpartition(".")
    module_name = module_path.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise _Fault(
            "Runtime.ImportModuleError", f"Unable to import module '{module_path}': {exc}"
        ) from exc
    except SyntaxError as exc:
        raise _Fault(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_path}': {exc}"
        ) from exc
    handler = getattr(module, attr, None)
    if not callable(handler):
        raise _Fault(
            "Runtime.HandlerNotFound", f"Handler '{attr}' missing on module '{module_path}'"
        )
    fn: Handler = handler
    return fn


class _Fault(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


class _RequestId(logging.Filter):
    current = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _RequestId.current
        return True


def _install_root_log_handler() -> None:
    """The root handler the AWS Python runtime installs (level left at WARNING, as there)."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(_RequestId())
    logging.getLogger().addHandler(handler)


def _invoke(handler: Handler, request: dict[str, Any], function_arn: str) -> bytes:
    request_id = str(request["requestId"])
    _RequestId.current = request_id
    os.environ["_X_AMZN_TRACE_ID"] = str(request.get("traceId", ""))
    context = LambdaContext(request_id, int(request["deadlineMs"]), function_arn)
    try:
        result = handler(request["event"], context)
    except Exception as exc:
        _log_exception(exc, request_id)
        return json.dumps(_error(exc)).encode()
    try:
        return json.dumps({"ok": True, "result": result}, default=_lambda_default).encode()
    except (TypeError, ValueError) as exc:
        reply = _error(exc, "Runtime.MarshalError")
        reply["errorMessage"] = f"Unable to marshal response: {exc}"
        return json.dumps(reply).encode()


def _send(out: IO[bytes], line: bytes) -> None:
    out.write(line + b"\n")
    out.flush()


def main(argv: list[str]) -> int:
    function_arn = argv[1]
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    # The harness puts itself on the path to start us; the handler should not see it.
    os.environ.pop("PYTHONPATH", None)
    _install_root_log_handler()

    try:
        handler = load_handler(os.environ["_HANDLER"])
    except _Fault as fault:
        sys.stderr.write(f"[ERROR] {fault.error_type}: {fault}\n")
        _send(replies, json.dumps({"ready": False, **_error(fault, fault.error_type)}).encode())
        return 1
    except Exception as exc:
        _log_exception(exc)
        _send(replies, json.dumps({"ready": False, **_error(exc)}).encode())
        return 1
    _send(replies, b'{"ready": true}')

    for line in requests:
        if line.strip():
            _send(replies, _invoke(handler, json.loads(line), function_arn))
    return 0  # stdin closed: the harness is shutting this sandbox down


if __name__ == "__main__":
    sys.exit(main(sys.argv))
