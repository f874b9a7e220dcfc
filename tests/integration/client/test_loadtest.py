"""The load tester against a real local stack: it checks every delivery and reports it."""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from infra.stack import LocalStack, local_stack
from tests.conftest import scaled
from tests.integration.client.conftest import REPO
from tests.integration.client.run import run_client

# A tight rate limit (5 frames per connection per minute, instead of 50 per 10 s) lets a
# tiny run cross it, so the test stays light on a busy machine.
RATE_LIMIT = {"CHAT_RATE_LIMIT": "5", "CHAT_RATE_WINDOW_SECONDS": "60"}

KEYS = {
    "sent",
    "expected_deliveries",
    "delivered",
    "lost",
    "duplicates",
    "errors",
    "connect_ms",
    "latency_ms",
    "throughput_per_s",
    "cost_usd",
    "requests",
    "verdict",
}


@pytest.fixture(scope="module")
async def limited_stack() -> AsyncIterator[LocalStack]:
    async with local_stack(REPO / "serverless.yml", "dev", log=None) as s:
        s.runtime.environment.update(RATE_LIMIT)  # before any sandbox starts
        await s.runtime.warm()
        yield s


def drain() -> tuple[str, str]:
    return ("--drain", str(scaled(20)))


async def test_a_short_run_delivers_every_message_to_every_member_once(
    limited_stack: LocalStack, tmp_path: Path
) -> None:
    stack = limited_stack
    out, png, html = tmp_path / "run.json", tmp_path / "run.png", tmp_path / "run.html"
    done = await run_client(
        stack,
        "client.loadtest",
        *("--url", stack.ws_url, "--connections", "20", "--rooms", "4"),
        *("--rate", "8", "--duration", "3", "--ramp", "100", "--quiet", *drain()),
        *("--json", str(out), "--plot", str(png), "--html", str(html)),
        *("--csv", str(tmp_path / "run")),
    )
    assert done.status == 0, done.out + done.err
    r = json.loads(out.read_text())
    assert r.keys() >= KEYS
    assert r["members"] == 20 and r["connections"]["failed"] == 0
    assert r["sent"] > 0 and r["refused"] == 0
    # Every member joined before sending began or was owed only what came after its join;
    # nobody left: each accepted message is owed to at most the 5 members of its room.
    assert r["sent"] <= r["expected_deliveries"] == r["delivered"] <= 5 * r["sent"]
    assert (r["lost"], r["duplicates"], r["misrouted"], r["errors"]) == (0, 0, 0, {})
    assert sum(r["seen_by_members"].values()) == r["delivered"]
    for key in ("connect_ms", "latency_ms"):
        s = r[key]
        assert 0 < s["p50"] <= s["p95"] <= s["p99"] <= s["max"]
    assert r["requests"]["connect"]["count"] == r["requests"]["join"]["count"] == 20
    assert r["requests"]["send"]["count"] == r["sent"]
    # Every join, send, ack and fan-out frame is a metered message.
    assert r["cost_usd"]["messages"] >= 20 + 2 * r["sent"] + r["delivered"]
    names = [line["name"] for line in r["cost_usd"]["lines"]]
    assert {"API Gateway messages", "Lambda compute", "DynamoDB writes", "pings"} <= set(names)
    assert "2-hour reconnects" in names
    # The printed report says the same, and its last line is the verdict.
    assert "lost          0" in done.out
    assert done.out.strip().splitlines()[-1].startswith("PASS")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Locust's own report and CSV carry the delivery percentiles.
    assert "deliver" in html.read_text()
    rows = {row["Name"]: row for row in csv.DictReader((tmp_path / "run_stats.csv").open())}
    assert int(rows["deliver"]["Request Count"]) == r["delivered"]
    assert float(rows["deliver"]["99%"]) > 0


async def test_a_run_past_its_latency_threshold_exits_non_zero_and_names_it(
    limited_stack: LocalStack, tmp_path: Path
) -> None:
    stack = limited_stack
    done = await run_client(
        stack,
        "client.loadtest",
        *("--url", stack.ws_url, "--connections", "4", "--rooms", "1"),
        *("--rate", "2", "--duration", "2", "--quiet", "--max-p99-ms", "0.5", *drain()),
    )
    assert done.status == 1, done.out + done.err
    last = done.out.strip().splitlines()[-1]
    assert last.startswith("FAIL: max-p99-ms: delivery p99 ")
    assert "> 0.5 ms (by " in last


async def test_rate_limited_sends_are_reported_apart_from_losses(
    limited_stack: LocalStack, tmp_path: Path
) -> None:
    # One connection: a join and a dozen sends within about a second, against 5 a minute.
    stack = limited_stack
    out = tmp_path / "run.json"
    done = await run_client(
        stack,
        "client.loadtest",
        *("--url", stack.ws_url, "--connections", "1", "--rooms", "1"),
        *("--rate", "12", "--duration", "1", "--quiet", "--json", str(out), *drain()),
    )
    r = json.loads(out.read_text())
    assert done.status == 0, done.out + done.err
    assert "over the service's default limit" in done.err
    assert r["refused"] == r["rate_limited"] == r["errors"]["rate_limited"] > 0
    assert r["lost"] == 0
    assert r["delivered"] == r["expected_deliveries"] == r["sent"] - r["refused"]
    assert f"rate_limited {r['rate_limited']}" in done.out
