"""The cost line: API Gateway metering, and the full bill held to docs/data-model.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.loadtest import cost

DATA_MODEL = Path(__file__).resolve().parents[3] / "docs" / "data-model.md"


@pytest.mark.parametrize(
    ("size", "units"), [(0, 1), (1, 1), (32 * 1024, 1), (32 * 1024 + 1, 2), (100_000, 4)]
)
def test_messages_are_metered_in_32_kb_units(size: int, units: int) -> None:
    assert cost.metered_messages(size) == units


def test_message_price_drops_after_the_first_billion() -> None:
    assert cost.messages_usd(1_000_000) == pytest.approx(1.00)
    assert cost.messages_usd(2_000_000_000) == pytest.approx(1000 + 800)


def test_the_worked_examples_in_the_data_model_are_what_the_code_computes() -> None:
    doc = DATA_MODEL.read_text()
    section = doc[doc.index("## Worked examples of the full bill") :]
    assert cost.examples_markdown() in section


def test_the_data_models_example_message_costs_what_its_text_says() -> None:
    # "a room of 100 members ... Each message costs 2 WRU (touch + PutItem) + 4 RRU ...
    # ≈ $0.00000175, i.e. about $0.08 per month"
    w = next(iter(cost.EXAMPLES.values()))
    send = cost.Patterns(w).send()
    assert (send.wru, send.rru, send.messages) == (2, 4, 101)
    per_message = send.wru * 0.625e-6 + send.rru * 0.125e-6
    assert per_message == pytest.approx(0.00000175)
    bill = cost.month(w)
    dynamo = sum(x.usd for x in bill.lines if x.name.startswith("DynamoDB"))
    assert round(dynamo, 2) == 0.08
    assert "0.08 a month" in DATA_MODEL.read_text()


def test_every_part_of_the_bill_is_a_line_and_the_shares_add_up() -> None:
    bill = cost.month(cost.Workload(connections=200, room_size=10, sends_per_s=25))
    names = [x.name for x in bill.lines]
    assert names == [
        "API Gateway messages",
        "API Gateway connection minutes",
        "Lambda requests",
        "Lambda compute",
        "DynamoDB writes",
        "DynamoDB reads",
        "pings",
        "2-hour reconnects",
    ]
    assert all(x.usd > 0 for x in bill.lines)
    assert sum(bill.share(x) for x in bill.lines) == pytest.approx(1.0)


def test_presence_makes_the_forced_reconnects_of_a_big_room_a_fifth_of_its_bill() -> None:
    room = cost.Workload(connections=1000, room_size=1000, sends_per_s=1)
    feed = cost.Workload(connections=1000, room_size=1000, sends_per_s=1, feed=True)
    share = {}
    for name, w in (("room", room), ("feed", feed)):
        bill = cost.month(w)
        share[name] = bill.share(next(x for x in bill.lines if x.name == "2-hour reconnects"))
    assert 0.18 < share["room"] < 0.3
    assert share["feed"] < 0.01


def test_lambda_compute_follows_the_memory_and_the_measured_durations() -> None:
    base = cost.Workload(connections=10, room_size=10, sends_per_s=10)
    slow = cost.with_durations(base, message=80.0)

    def compute(w: cost.Workload) -> float:
        return next(x.usd for x in cost.month(w).lines if x.name == "Lambda compute")

    assert compute(slow) == pytest.approx(2 * compute(base), rel=0.01)
    from dataclasses import replace

    assert compute(replace(base, memory_mb=1024)) == pytest.approx(2 * compute(base))
