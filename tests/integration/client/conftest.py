"""A chat stack for the bundled client's end-to-end tests, and helpers to run the client."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from infra.dynamodb import MotoServer
from infra.stack import LocalStack, local_stack
from tests.tokens import chat_secret

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="package")
async def stack(moto_server: MotoServer) -> AsyncIterator[LocalStack]:
    """One stack for the client tests (modules that need another one bring their own
    DynamoDB, since this one's would be reset under it)."""
    async with local_stack(
        REPO / "serverless.yml",
        "dev",
        moto=moto_server,
        warm=True,
        log=None,
        # A catch-up test publishes 150 points in a burst; the publish rate limit has its
        # own tests at its edge (tests/functional/test_abuse.py).
        environment={"CHAT_PUBLISH_RATE_LIMIT": "100000"},
    ) as s:
        yield s


def client_env(stack: LocalStack) -> dict[str, str]:
    """The environment a user's shell would have: the stack's secret, UTC clock."""
    return {
        **os.environ,
        "CHAT_JWT_SECRET": chat_secret(stack),
        "TZ": "UTC",
        "PYTHONWARNINGS": "ignore",
        "PYTHONUNBUFFERED": "1",
    }


PYTHON = sys.executable
