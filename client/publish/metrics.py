"""Machine metrics for the demo feed, read from /proc with the standard library only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PROC = Path("/proc")


def cpu_times(stat: str) -> tuple[int, int]:
    """(busy, total) jiffies from the `cpu` line of /proc/stat."""
    for line in stat.splitlines():
        if line.startswith("cpu "):
            fields = [int(v) for v in line.split()[1:]]
            # user nice system idle iowait irq softirq steal (guest is already in user).
            total = sum(fields[:8])
            idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
            return total - idle, total
    raise ValueError("no cpu line in /proc/stat")


def load_average(loadavg: str) -> tuple[float, float, float]:
    one, five, fifteen = (float(v) for v in loadavg.split()[:3])
    return one, five, fifteen


def memory_used(meminfo: str) -> float:
    """Share of memory in use: 1 - MemAvailable / MemTotal."""
    values = {}
    for line in meminfo.splitlines():
        key, _, rest = line.partition(":")
        if rest:
            values[key] = int(rest.split()[0])
    return 1 - values["MemAvailable"] / values["MemTotal"]


class Sampler:
    """Successive samples; CPU use is measured between one sample and the next."""

    def __init__(self, proc: Path = PROC) -> None:
        self.proc = proc
        self.last = cpu_times((proc / "stat").read_text())

    def sample(self) -> dict[str, Any]:
        """cpu and mem in percent, load averages; `units` tells the dashboard which is what
        (series with a unit share its scale; load1 and load5 get scales of their own)."""
        busy, total = cpu_times((self.proc / "stat").read_text())
        d_busy, d_total = busy - self.last[0], total - self.last[1]
        self.last = (busy, total)
        one, five, _ = load_average((self.proc / "loadavg").read_text())
        return {
            "cpu": round(100 * d_busy / d_total, 1) if d_total > 0 else 0.0,
            "load1": one,
            "load5": five,
            "mem": round(100 * memory_used((self.proc / "meminfo").read_text()), 1),
            "units": {"cpu": "%", "mem": "%"},
        }
