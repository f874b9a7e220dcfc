"""--ca and --insecure for the load tester, against a stack on wss://."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from infra.stack import LocalStack, local_stack
from tests.integration.client.conftest import REPO
from tests.integration.client.run import run_client


@pytest.fixture(scope="module")
async def tls_stack() -> AsyncIterator[LocalStack]:
    async with local_stack(REPO / "serverless.yml", "dev", log=None, tls=True, warm=True) as s:
        yield s


def small_run(stack: LocalStack, out: Path) -> list[str]:
    return [
        *("--url", stack.ws_url, "--connections", "4", "--rooms", "1", "--rate", "2"),
        *("--duration", "6", "--drain", "10", "--quiet", "--json", str(out)),
    ]


async def test_the_load_tester_trusts_the_certificate_given_with_ca(
    tls_stack: LocalStack, tmp_path: Path
) -> None:
    assert tls_stack.ws_url.startswith("wss://")
    out = tmp_path / "run.json"
    args = small_run(tls_stack, out)
    done = await run_client(tls_stack, "client.loadtest", *args, "--ca", str(tls_stack.ca))
    assert done.status == 0, done.out + done.err
    r = json.loads(out.read_text())
    assert r["members"] == 4 and r["lost"] == 0 and r["delivered"] > 0
    insecure = await run_client(tls_stack, "client.loadtest", *args, "--insecure")
    assert insecure.status == 0, insecure.out + insecure.err


async def test_without_ca_the_self_signed_certificate_is_refused(
    tls_stack: LocalStack, tmp_path: Path
) -> None:
    out = tmp_path / "run.json"
    done = await run_client(tls_stack, "client.loadtest", *small_run(tls_stack, out))
    assert done.status == 1
    r = json.loads(out.read_text())
    assert r["members"] == 0 and r["connections"]["failed"] >= 4
    assert "no member" in done.out.strip().splitlines()[-1]


async def test_a_ca_file_that_is_not_there_is_a_usage_error(tls_stack: LocalStack) -> None:
    done = await run_client(
        tls_stack, "client.loadtest", "--url", tls_stack.ws_url, "--ca", "nope.pem"
    )
    assert done.status == 2
    assert "nope.pem" in done.err
