"""Percentiles for the load tester's report (nearest-rank, like most latency tools)."""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(ordered: list[float], q: float) -> float:
    """The nearest-rank `q`-th percentile (0 < q <= 100) of an already sorted list."""
    if not ordered:
        raise ValueError("percentile of no values")
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: Iterable[float], ndigits: int = 2) -> dict[str, float | None]:
    """`p50`, `p95`, `p99` and `max` of `values` (all None when there are none)."""
    ordered = sorted(values)
    if not ordered:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    return {
        "p50": round(percentile(ordered, 50), ndigits),
        "p95": round(percentile(ordered, 95), ndigits),
        "p99": round(percentile(ordered, 99), ndigits),
        "max": round(ordered[-1], ndigits),
    }
