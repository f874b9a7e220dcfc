"""With tracing off (serverless.yml), no handler imports the X-Ray SDK: ~145 ms of every
cold start that bought nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODULES = [p.stem for p in (REPO / "handlers").glob("*.py") if p.stem != "__init__"]
ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "CHAT_CONNECTIONS_TABLE": "c",
    "CHAT_MESSAGES_TABLE": "m",
    "CHAT_JWT_SECRET": "unit-test-secret-that-is-32-bytes!",
    "POWERTOOLS_SERVICE_NAME": "wschat",
}
PROBE = (
    "import importlib, sys; importlib.import_module('handlers.' + sys.argv[1]); "
    "print(sorted(m for m in sys.modules if m.split('.')[0] == 'aws_xray_sdk'))"
)


def xray_modules(module: str, disabled: str) -> str:
    env = {**os.environ, **ENV, "POWERTOOLS_TRACE_DISABLED": disabled}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, module],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def test_tracing_off_no_handler_imports_xray() -> None:
    assert {"authorizer", "connect", "disconnect", "message", "publish", "fanout"} <= set(MODULES)
    for module in MODULES:
        assert xray_modules(module, "true") == "[]", module


def test_tracing_on_does_trace() -> None:
    # The switch works both ways: on, Powertools' Tracer (and the SDK) is there.
    assert xray_modules("message", "false") != "[]"
