"""Handlers that report on the sandbox they run in (tests/integration/runtime)."""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
from decimal import Decimal
from typing import Any

_COLD = {"invocations": 0}


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    _COLD["invocations"] += 1
    print(f"echo says {event.get('say', '')}")
    print("to stderr", file=sys.stderr)
    logging.getLogger("probe").warning("via logging")
    return {
        "event": event,
        "pid": os.getpid(),
        "invocations": _COLD["invocations"],
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "context": {
            "aws_request_id": context.aws_request_id,
            "function_name": context.function_name,
            "function_version": context.function_version,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "invoked_function_arn": context.invoked_function_arn,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining_ms": context.get_remaining_time_in_millis(),
        },
    }


def sleepy(event: dict[str, Any], context: Any) -> dict[str, Any]:
    started = time.time()
    time.sleep(float(event.get("seconds", 0)))
    return {"pid": os.getpid(), "started": started, "ended": time.time()}


def boom(event: dict[str, Any], context: Any) -> None:
    raise KeyError("missing-thing") if event.get("key") else Exception("Unauthorized")


def nothing(event: dict[str, Any], context: Any) -> None:
    return None


def decimals(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"count": Decimal("5"), "ratio": Decimal("1.5")}  # as DynamoDB reads return them


def unmarshalable(event: dict[str, Any], context: Any) -> Any:
    return {"a": {1, 2}}


def crash(event: dict[str, Any], context: Any) -> None:
    sys.stdout.flush()
    os._exit(3)


def inspect(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """What the sandbox can see: its path, flags, interpreter and importable modules."""
    importable = {}
    for name in event.get("modules", ()):
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            importable[name] = f"ImportError: {exc}"
        else:
            importable[name] = str(getattr(module, "__version__", getattr(module, "VALUE", "ok")))
    return {
        "pid": os.getpid(),
        "path": sys.path,
        "isolated": sys.flags.isolated,
        "no_site": sys.flags.no_site,
        "version": list(sys.version_info[:2]),
        "executable": sys.executable,
        "execution_env": os.environ.get("AWS_EXECUTION_ENV"),
        "task_root": os.environ.get("LAMBDA_TASK_ROOT"),
        "modules": importable,
    }
