"""`--plot FILE.png|FILE.svg`: delivery latency (p50 / p99 / max) and deliveries per second
over the run, drawn with matplotlib from the tally's per-second latency histograms."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt


def quantile(buckets: Counter[int], q: float) -> float:
    """The `q` (0..1) quantile of a histogram {value: count}, nearest rank."""
    total = sum(buckets.values())
    rank = max(1, -(-int(q * total * 1000) // 1000))
    seen = 0
    for value in sorted(buckets):
        seen += buckets[value]
        if seen >= rank:
            return float(value)
    return float(max(buckets))


def series(
    latency: Mapping[int, Counter[int]], latency_max: Mapping[int, float], start: float
) -> dict[str, list[float]]:
    """Per second since `start`: p50, p99, max (ms) and deliveries."""
    out: dict[str, list[float]] = {"t": [], "p50": [], "p99": [], "max": [], "rate": []}
    if not latency:
        return out
    first, last = int(start), max(latency)
    for sec in range(first, last + 1):
        b = latency.get(sec)
        out["t"].append(sec - start + 0.5)
        out["rate"].append(float(sum(b.values())) if b else 0.0)
        nan = float("nan")  # a second without deliveries is a gap, not a zero latency
        out["p50"].append(quantile(b, 0.5) if b else nan)
        out["p99"].append(quantile(b, 0.99) if b else nan)
        out["max"].append(latency_max.get(sec, nan) if b else nan)
    return out


def draw(
    latency: Mapping[int, Counter[int]],
    latency_max: Mapping[int, float],
    start: float,
    title: str,
    path: Path,
) -> None:
    s = series(latency, latency_max, start)
    fig, (lat, thr) = plt.subplots(
        2, 1, figsize=(10, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 2]}
    )
    fig.suptitle(title, fontsize=13)
    # Where the lines meet (a second with few deliveries has p99 = max), each must still
    # show: p50 and p99 solid, max dashed with crosses on top of them, so the solid
    # lines show through its gaps.
    lat.plot(s["t"], s["p50"], color="#1f77b4", lw=2, marker="o", ms=3, label="p50", zorder=2)
    lat.plot(s["t"], s["p99"], color="#ff7f0e", lw=2.5, marker="s", ms=3, label="p99", zorder=3)
    lat.plot(
        s["t"],
        s["max"],
        color="#333333",
        lw=1.2,
        ls=(0, (4, 3)),
        marker="x",
        ms=5,
        label="max",
        zorder=4,
    )
    lat.set_ylabel("delivery latency (ms)", fontsize=11)
    lat.margins(y=0.15)  # room above the highest point for the legend
    lat.set_ylim(bottom=0)
    lat.grid(True, alpha=0.3)
    lat.legend(loc="best", fontsize=10, framealpha=0.9)
    thr.plot(s["t"], s["rate"], color="#2ca02c", lw=2, drawstyle="steps-mid")
    thr.set_ylabel("deliveries per second", fontsize=11)
    thr.set_xlabel("seconds since the run started", fontsize=11)
    thr.set_ylim(bottom=0)
    thr.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
