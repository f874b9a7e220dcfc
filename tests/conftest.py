"""Shared test helpers: the one timeout knob and the recorded AWS events."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).parent / "events"
# tests/corpus holds other people's services, their own tests included: not ours to run.
collect_ignore = ["corpus"]

# The local stack loads serverless.yml's layer for this machine's architecture (the
# deployed default, arm64, would not load on x86_64): `make test` sets it, this covers a
# bare `pytest`.
os.environ.setdefault(
    "WSCHAT_ARCHITECTURE",
    "arm64" if platform.machine().lower() in ("aarch64", "arm64") else "x86_64",
)

# Every loopback test scales its waits by this one variable (slow CI, valgrind, ...).
TIMEOUT_SCALE = float(os.environ.get("WSCHAT_TEST_TIMEOUT_SCALE", "1"))


def scaled(seconds: float) -> float:
    """A timeout for a loopback wait, scaled by WSCHAT_TEST_TIMEOUT_SCALE."""
    return seconds * TIMEOUT_SCALE


def load_event(name: str) -> dict[str, Any]:
    """A recorded AWS event from tests/events/{name}.json (a fresh copy each call)."""
    with (EVENTS / f"{name}.json").open() as f:
        data: dict[str, Any] = json.load(f)
    return data
