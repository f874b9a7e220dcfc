"""The load tester fails a run that loses deliveries (here: recipients the gateway drops)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from infra.stack import LocalStack, local_stack
from tests.integration.client.conftest import REPO
from tests.integration.client.run import run_client


@pytest.fixture(scope="module")
async def lossy_stack() -> AsyncIterator[LocalStack]:
    # A share of Management API deliveries answer 410 and drop the recipient's connection.
    async with local_stack(
        REPO / "serverless.yml",
        "dev",
        log=None,
        warm=True,
        gone_rate=0.15,
        seed=7,
    ) as s:
        yield s


async def test_lost_deliveries_fail_the_run(lossy_stack: LocalStack, tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    done = await run_client(
        lossy_stack,
        "client.loadtest",
        *("--url", lossy_stack.ws_url, "--connections", "8", "--rooms", "2"),
        *("--rate", "8", "--duration", "5", "--drain", "3", "--quiet", "--json", str(out)),
    )
    r = json.loads(out.read_text())
    assert done.status == 1, done.out
    assert r["lost"] > 0
    assert r["delivered"] + r["lost"] == r["expected_deliveries"]
    assert sum(r["close_codes"].values()) > 0  # the dropped connections are reported
    assert "FAIL" in done.out
