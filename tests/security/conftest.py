"""Security tests, end to end through the local gateway: one stack for the package."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from infra.stack import LocalStack
from tests.unit.test_template import template  # noqa: F401  (packages first when stale)
from tests.wire import start_stack


@pytest.fixture(scope="package")
async def stack() -> AsyncIterator[LocalStack]:
    async with start_stack() as running:
        yield running
