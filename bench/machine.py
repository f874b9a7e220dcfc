"""The machine a figure was measured on, for docs/benchmarks.md."""

from __future__ import annotations

import datetime as dt
import os
import platform
import shlex
import sys
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def load_average() -> str:
    """The 1/5/15-minute load averages: these machines are shared, so say how busy."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def describe() -> str:
    """One line: date, cores, CPU, RAM, Python, load, and the command that was run."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv])
    return (
        f"{now}; nproc {os.cpu_count()}; CPU {cpu_model()}; RAM {ram_gib():.1f} GiB; "
        f"Python {platform.python_version()}; load average {load_average()}; command: {command}"
    )
