"""Hypothesis profiles for the fuzz and security tests.

`fast` is the default and what `make test` runs: few examples, derandomized so a CI run
is repeatable. `long` is for hand runs and explores far more:

    HYPOTHESIS_PROFILE=long .venv/bin/pytest tests/fuzz

The profile is applied per test (`@fuzz_settings`) rather than loaded globally, so other
tests that use hypothesis keep their own settings.
"""

from __future__ import annotations

import os

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


def examples(fast: int) -> settings:
    """The active profile with `fast` examples in the default profile (long keeps its own)."""
    if PROFILE == "fast":
        return settings(fuzz_settings, max_examples=fast)
    return fuzz_settings
