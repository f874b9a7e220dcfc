"""The load tester against a real local stack: it checks every delivery and reports it."""

from __future__ import annotations

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
    out, png = tmp_path / "run.json", tmp_path / "run.png"
    done = await run_client(
        stack,
        "client.loadtest",
        *("--url", stack.ws_url, "--connections", "20", "--rooms", "4"),
        *("--rate", "10", "--duration", "3", "--ramp", "100", "--quiet", *drain()),
        *("--json", str(out), "--plot", str(png)),
    )
    assert done.status == 0, done.out + done.err
    r = json.loads(out.read_text())
    assert r.keys() >= KEYS
    assert r["connections"] == {"open": 20, "failed": 0}
    assert r["sent"] == 30  # a join and one or two sends per connection: under the limit
    assert r["expected_deliveries"] == r["delivered"] == 30 * 5  # 5 members per room
    assert (r["lost"], r["duplicates"], r["errors"]) == (0, 0, {})
    for key in ("connect_ms", "latency_ms"):
        s = r[key]
        assert 0 < s["p50"] <= s["p95"] <= s["p99"] <= s["max"]
    assert r["throughput_per_s"] > 0
    # Every join, send, ack and fan-out frame is a metered message.
    assert r["cost_usd"]["messages"] >= 20 + 30 + 150
    assert r["cost_usd"]["run"] > 0 and r["cost_usd"]["per_month"] > 0
    # The printed report says the same.
    assert "lost          0" in done.out and "PASS" in done.out
    assert "API Gateway   $" in done.out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


async def test_rate_limited_sends_are_reported_apart_from_losses(
    limited_stack: LocalStack, tmp_path: Path
) -> None:
    # One connection: a join and 12 sends within a second, against 5 frames a minute.
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
    assert r["sent"] == 12
    assert r["rate_limited"] == r["errors"]["rate_limited"] >= 12 + 1 - 2 * 5
    assert r["lost"] == 0
    assert r["delivered"] == r["expected_deliveries"] == r["sent"] - sum(r["errors"].values())
    assert f"rate_limited {r['rate_limited']}" in done.out
