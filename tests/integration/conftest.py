"""Integration fixtures: one embedded DynamoDB (moto server process) per test session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from infra.dynamodb import MotoServer, start_moto


@pytest.fixture(scope="session")
async def moto_server() -> AsyncIterator[MotoServer]:
    """Shared by every stack of the session; `local_stack(moto=...)` resets it first."""
    server = await start_moto()
    yield server
    await server.close()
