"""The demo feed's machine metrics, from /proc text."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.publish.metrics import Sampler, cpu_times, load_average, memory_used

STAT = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\n"
MEMINFO = "MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    250 kB\n"


def test_cpu_busy_and_total_jiffies() -> None:
    assert cpu_times(STAT) == (150, 1000)  # idle and iowait are not busy


def test_memory_in_use_is_what_is_not_available() -> None:
    assert memory_used(MEMINFO) == pytest.approx(0.75)


def test_load_average() -> None:
    assert load_average("0.52 0.58 0.59 1/467 12345\n") == (0.52, 0.58, 0.59)


def test_cpu_use_is_measured_between_samples(tmp_path: Path) -> None:
    (tmp_path / "stat").write_text(STAT)
    (tmp_path / "loadavg").write_text("1.50 1.00 0.50 1/1 1\n")
    (tmp_path / "meminfo").write_text(MEMINFO)
    sampler = Sampler(tmp_path)
    # 100 more jiffies, 40 of them busy.
    (tmp_path / "stat").write_text("cpu  130 0 60 850 60 0 0 0 0 0\n")
    assert sampler.sample() == {
        "cpu": 40.0,
        "load1": 1.5,
        "load5": 1.0,
        "mem": 75.0,
        "units": {"cpu": "%", "mem": "%"},
    }


def test_real_proc_gives_sane_numbers() -> None:
    point = Sampler().sample()
    assert 0 <= point["cpu"] <= 100 and 0 < point["mem"] < 100
