"""Thresholds with reasons, and the plot's series."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from client.loadtest.config import parse
from client.loadtest.plot import draw, quantile, series
from client.loadtest.report import verdict_line


def result(**over: Any) -> dict[str, Any]:
    r: dict[str, Any] = {
        "latency_ms": {"p50": 40.0, "p95": 300.0, "p99": 3500.0, "max": 3900.0},
        "lost": 0,
        "error_rate": 0.0,
        "workers_missing": [],
        "lost_in_missing_workers": 0,
        "duplicates": 0,
        "misrouted": 0,
        "members": 10,
        "sent": 5,
    }
    return r | over


def test_a_run_past_its_latency_threshold_fails_and_says_by_how_much() -> None:
    status, line = verdict_line(result(), parse(["--max-p99-ms", "2000"]))
    assert status == 1
    assert line.startswith("FAIL: max-p99-ms: delivery p99 3500 ms > 2000 ms (by 1500 ms, 75 %)")


def test_within_every_threshold_it_passes() -> None:
    cfg = parse(["--max-p99-ms", "5000", "--max-error-rate", "0.1"])
    assert verdict_line(result(error_rate=0.05), cfg) == (
        0,
        "PASS: every message reached every member once; all thresholds met",
    )


def test_any_loss_fails_unless_allowed_and_each_reason_is_named() -> None:
    status, line = verdict_line(result(lost=3, error_rate=0.2), parse(["--max-error-rate", "0.1"]))
    assert status == 1
    assert "max-lost: 3 deliveries lost > 0 (by 3)" in line
    assert "max-error-rate: 20.00 % of requests failed > 10.00 % (by 10.00 points)" in line
    assert verdict_line(result(lost=3), parse(["--max-lost", "5"]))[0] == 0


def test_a_missing_worker_fails_the_run_even_without_loss() -> None:
    status, line = verdict_line(result(workers_missing=["w1"]), parse([]))
    assert status == 1 and "workers stopped reporting: w1" in line


def test_latency_quantiles_from_histograms() -> None:
    h = Counter({10: 50, 20: 49, 900: 1})
    assert (quantile(h, 0.5), quantile(h, 0.99), quantile(h, 1.0)) == (10.0, 20.0, 900.0)
    s = series({100: h, 102: Counter({30: 2})}, {100: 912.0, 102: 31.0}, 100.0)
    assert s["rate"] == [100.0, 0.0, 2.0]
    assert s["max"][0] == 912.0 and s["p99"][2] == 30.0
    assert s["p50"][1] != s["p50"][1]  # NaN: a gap, not a zero


def test_the_plot_draws_every_line_with_labels(tmp_path: Path) -> None:
    lat = {100 + i: Counter({10 + i: 90, 50: 9, 400: 1}) for i in range(10)}
    mx = {sec: 400.0 for sec in lat}
    svg = tmp_path / "run.svg"
    draw(lat, mx, 100.0, "wschat load: test", svg)
    text = svg.read_text()
    for label in ("p50", "p99", "max", "delivery latency (ms)", "deliveries per second"):
        assert label in text
    png = tmp_path / "run.png"
    draw(lat, mx, 100.0, "wschat load: test", png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_testers_pure_parts_do_not_import_locust() -> None:
    # Importing Locust monkey-patches the standard library for gevent: in a test process
    # (or any asyncio program importing these modules) that would break everything else.
    import subprocess
    import sys

    modules = ["config", "cost", "plot", "record", "report", "tally"]
    code = "".join(f"import client.loadtest.{m};" for m in modules)
    code += "import sys; assert 'locust' not in sys.modules and 'gevent' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
