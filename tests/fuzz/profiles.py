"""Hypothesis profiles for the fuzz tests, and each test's time budget.

`fast` is the default and what `make test` runs: a few examples per test, derandomized so
a CI run is repeatable. `long` explores for a bounded time: every fuzz test runs batches
of fresh random examples (as many per batch as `fast` runs, so a batch takes as long as
the test does in `make test`, a few seconds) until its budget is spent, then finishes
the batch under way. The budget is FUZZ_BUDGET_S seconds per test (default 60), so the
whole tier takes about 7 x budget plus the fixed tests: ~8-9 minutes with the default.
`make fuzz-long` runs it (never part of `make test`):

    make fuzz-long                      # 60 s per test
    make fuzz-long FUZZ_BUDGET_S=600    # a night's worth

Hypothesis has no time limit of its own (it stops after `max_examples`), hence the
batches: each is an ordinary hypothesis run with a new seed, failures found in one are
shrunk and reported as usual, and saved to the example database so the next run starts
from them. The profile is applied per test (`@fuzz(n)`, `explore(...)`) rather than
loaded globally, so other tests that use hypothesis keep their own settings.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings

# One mock_aws / one stack serves every example of a test: state carried between examples
# is intended (each example uses its own users), hence the function-scoped fixture check off.
_COMMON = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("fast", _COMMON, max_examples=30, derandomize=True)
settings.register_profile("long", _COMMON, max_examples=1000)

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "fast")
fuzz_settings = settings.get_profile(PROFILE)
BUDGET_S = float(os.environ.get("FUZZ_BUDGET_S", "60"))

T = TypeVar("T", bound=Callable[..., Any])


def examples(fast: int) -> settings:
    """The active profile with `fast` examples (under `long`: per batch)."""
    return settings(fuzz_settings, max_examples=fast)


def _spend(run: Callable[[], None]) -> None:
    """`run()` once, or under `long` again and again until the budget is spent."""
    if PROFILE != "long":
        run()
        return
    deadline = time.monotonic() + BUDGET_S
    batches = 0
    while batches == 0 or time.monotonic() < deadline:
        run()
        batches += 1


def fuzz(fast: int) -> Callable[[T], T]:
    """For a `@given` test (put it above `@given`): `fast` examples in the default
    profile; under `long`, batches of examples for the test's time budget."""

    def apply(test: T) -> T:
        bounded = examples(fast)(test)
        if PROFILE != "long":
            return bounded

        # Synchronous even for an async test: pytest-asyncio runs a hypothesis test's
        # inner coroutine itself (through the `hypothesis` handle wraps() copies).
        @functools.wraps(test)
        def batches(*args: Any, **kwargs: Any) -> None:
            _spend(lambda: bounded(*args, **kwargs))

        return batches  # type: ignore[return-value]

    return apply


def explore(run: Callable[[settings], None], fast: int, **extra: Any) -> None:
    """For a state machine: `run(settings)` with `fast` examples, or batches of them
    for the test's time budget under `long`."""
    chosen = settings(examples(fast), **extra)
    _spend(lambda: run(chosen))
