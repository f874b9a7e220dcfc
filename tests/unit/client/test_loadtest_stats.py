"""The numbers the load tester reports: percentiles and the API Gateway bill."""

from __future__ import annotations

import pytest

from client.loadtest import cost
from client.loadtest.stats import percentile, summary


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert summary(values) == {"p50": 50.0, "p95": 95.0, "p99": 99.0, "max": 100.0}
    assert percentile([7.0], 99) == 7.0
    assert summary([3.0, 1.0, 2.0])["p50"] == 2.0  # sorts its input


def test_no_values_report_none_rather_than_zero() -> None:
    assert summary([]) == {"p50": None, "p95": None, "p99": None, "max": None}


@pytest.mark.parametrize(
    ("size", "units"), [(0, 1), (1, 1), (32 * 1024, 1), (32 * 1024 + 1, 2), (100_000, 4)]
)
def test_messages_are_metered_in_32_kb_units(size: int, units: int) -> None:
    assert cost.metered_messages(size) == units


def test_message_price_drops_after_the_first_billion() -> None:
    assert cost.messages_usd(1_000_000) == pytest.approx(1.00)
    assert cost.messages_usd(2_000_000_000) == pytest.approx(1000 + 800)


def test_a_run_and_its_monthly_projection() -> None:
    # 1,000 connections held all month, 100 metered messages a second.
    c = cost.estimate(messages=5000, connection_minutes=20.0, messages_per_s=100, connections=1000)
    assert c.run_usd == pytest.approx(5000 / 1e6 * 1.00 + 20 / 1e6 * 0.25)
    month_minutes = 730 * 60
    assert c.month_messages == pytest.approx(100 * month_minutes * 60)
    assert c.month_connection_minutes == 1000 * month_minutes
    expected = 262.8 * 1.00 + 43.8 * 0.25  # 262.8 M messages, 43.8 M connection-minutes
    assert c.month_usd == pytest.approx(expected)
    assert c.as_json()["per_month"] == round(expected, 2)
