"""Lambda's Python runtime, locally: `python -I -S bootstrap.py SETUP` (one sandbox).

This directory is the sandbox's runtime directory (Lambda's /var/runtime): nothing of the
harness is importable from here, and it must run on every Python a Lambda runtime names
(3.7 and later): no syntax or library newer than that.

SETUP is a JSON object: the function's ARN, the `sys.path` entries that go before the
standard library (code root, requirements, layers) and after it (the runtime's boto3).
The interpreter starts isolated (`-I`: no environment variables of its own, no user
site) and without `site` (`-S`: not even the interpreter's own site-packages), so the
handler sees exactly that path, as on AWS.

Imports the handler named by `_HANDLER` (init), answers `{"ready": ...}`, then runs one
invocation per request line. Requests arrive on stdin and replies leave on the original
stdout, both one JSON object per line; before any user code runs, fd 0 becomes /dev/null
and fd 1 joins fd 2, so whatever the handler prints reaches the log (stderr), never the
protocol pipe. Each invocation is framed in the log by START, END and REPORT lines, as
CloudWatch shows them.
"""

from __future__ import annotations

import decimal
import importlib
import importlib.abc
import json
import logging
import math
import os
import resource
import sys
import time
import traceback
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # collections.abc.Callable[...] needs 3.9 at run time
    from collections.abc import Callable

    Handler = Callable[[Any, Any], Any]

# botocore reads AWS_ENDPOINT_URL_<SERVICE> itself from this release on.
_ENDPOINT_VARIABLES_SINCE = (1, 31)


class CognitoIdentity:
    """Empty unless invoked through the mobile SDK, but present, as on AWS."""

    cognito_identity_id: str | None = None
    cognito_identity_pool_id: str | None = None


class LambdaContext:
    """What the AWS Python runtime passes as `context` (same attribute names and types)."""

    def __init__(self, request_id: str, deadline_ms: int, function_arn: str) -> None:
        env = os.environ
        self.aws_request_id = request_id
        self.function_name = env["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        # A string, as the AWS runtime reads it from the environment (not an int).
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.invoked_function_arn = function_arn
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity: Any = CognitoIdentity()
        self.client_context: Any = None
        self.tenant_id: str | None = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))

    def __repr__(self) -> str:
        return (
            f"LambdaContext(aws_request_id={self.aws_request_id!r}, "
            f"function_name={self.function_name!r})"
        )


# -- local endpoints for any botocore -------------------------------------------------------


class _BotocoreEndpoints(importlib.abc.MetaPathFinder):
    """Makes a botocore older than 1.31 honour AWS_ENDPOINT_URL_<SERVICE> (and
    AWS_ENDPOINT_URL), as newer ones do, whichever copy the function imports (its own
    vendored one included): without this, such a botocore would call real AWS."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "botocore.session":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                break
        else:
            return None
        run = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            run(module)
            _patch_session(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _botocore_version() -> tuple[int, ...]:
    version = getattr(sys.modules.get("botocore"), "__version__", "")
    try:
        return tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return ()


def _patch_session(module: Any) -> None:
    if not _botocore_version() or _botocore_version() >= _ENDPOINT_VARIABLES_SINCE:
        return
    import inspect

    original = module.Session.create_client
    signature = inspect.signature(original)

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        if bound.arguments.get("endpoint_url") is None:
            url = _configured_endpoint(self, bound.arguments.get("service_name", ""))
            if url:
                bound.arguments["endpoint_url"] = url
        return original(*bound.args, **bound.kwargs)

    create_client.__doc__ = original.__doc__
    module.Session.create_client = create_client


def _configured_endpoint(session: Any, service_name: str) -> str | None:
    """The endpoint botocore ≥ 1.31 would take from the environment."""
    if os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true":
        return None
    try:
        service_id = str(session.get_service_model(service_name).service_id)
    except Exception:
        service_id = service_name
    variable = "AWS_ENDPOINT_URL_" + service_id.replace(" ", "_").replace("-", "_").upper()
    return os.environ.get(variable) or os.environ.get("AWS_ENDPOINT_URL")


# -- the handler ----------------------------------------------------------------------------


class _Fault(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


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


def _log(line: str) -> None:
    """A platform line (START, END, REPORT) in the function's log stream."""
    sys.stderr.flush()
    sys.stdout.flush()
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _invoke(handler: Handler, request: dict[str, Any], function_arn: str) -> bytes:
    request_id = str(request["requestId"])
    _RequestId.current = request_id
    os.environ["_X_AMZN_TRACE_ID"] = str(request.get("traceId", ""))
    context = LambdaContext(request_id, int(request["deadlineMs"]), function_arn)
    _log(f"START RequestId: {request_id} Version: $LATEST")
    started = time.perf_counter()
    reply: dict[str, Any] = {"ok": True}
    try:
        result = handler(request["event"], context)
    except Exception as exc:
        _log_exception(exc, request_id)
        reply = _error(exc)
    duration_ms = (time.perf_counter() - started) * 1000
    used_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # KiB on Linux
    report = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {math.ceil(duration_ms)} ms\t"
        f"Memory Size: {context.memory_limit_in_mb} MB\tMax Memory Used: {used_mb} MB"
    )
    if request.get("initDurationMs") is not None:
        report += f"\tInit Duration: {float(request['initDurationMs']):.2f} ms"
    _log(f"END RequestId: {request_id}")
    _log(report)
    reply["durationMs"] = round(duration_ms, 3)
    reply["maxMemoryUsedMb"] = used_mb
    if not reply["ok"]:
        return json.dumps(reply).encode()
    try:
        return json.dumps({**reply, "result": result}, default=_lambda_default).encode()
    except (TypeError, ValueError) as exc:
        failed = _error(exc, "Runtime.MarshalError")
        failed["errorMessage"] = f"Unable to marshal response: {exc}"
        return json.dumps({**reply, **failed}).encode()


def _send(out: IO[bytes], line: bytes) -> None:
    out.write(line + b"\n")
    out.flush()


def main(argv: list[str]) -> int:
    setup = json.loads(argv[1])
    function_arn = str(setup["functionArn"])
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    # -I ignores PYTHONUNBUFFERED: a print must reach the log when it happens, as on AWS.
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True, write_through=True)  # type: ignore[union-attr]
    runtime_dir = os.path.dirname(os.path.abspath(argv[0]))
    sys.path[:0] = [str(p) for p in setup["front"]]
    sys.path.extend([*(str(p) for p in setup["back"]), runtime_dir])
    sys.argv = [argv[0]]
    sys.meta_path.insert(0, _BotocoreEndpoints())
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
