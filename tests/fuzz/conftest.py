"""Fuzzing fixtures: the functional tier's `gw` (handlers under mock_aws) and, for raw
frames over real sockets, one local stack for the whole package.

Hypothesis profiles are in tests/fuzz/profiles.py (HYPOTHESIS_PROFILE=long for hand runs).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from infra.stack import LocalStack
from tests.functional.conftest import (  # noqa: F401  (fixtures, reused as they are)
    aws,
    gw,
    publishing,
)
from tests.wire import start_stack


@pytest.fixture(scope="package")
async def stack() -> AsyncIterator[LocalStack]:
    async with start_stack() as running:
        yield running
