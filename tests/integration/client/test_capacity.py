"""`python -m client.loadtest.capacity`: the tester's own ceiling, against a bare fan-out peer."""

from __future__ import annotations

import asyncio
import json

from tests.conftest import scaled
from tests.integration.client.conftest import PYTHON, REPO


async def test_a_capacity_step_reports_the_testers_cpu_per_delivery() -> None:
    proc = await asyncio.create_subprocess_exec(
        *(PYTHON, "-m", "client.loadtest.capacity", "--steps", "100x10x100", "--duration", "1"),
        cwd=str(REPO),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), scaled(60))
    assert proc.returncode == 0
    step = json.loads(out.decode().splitlines()[-1])
    assert (step["open"], step["sent"], step["errors"]) == (100, 100, {})
    assert (step["delivered"], step["lost"]) == (100 * 10, 0)
    assert step["cpu_us_per_delivery"] > 0 and step["tester_core_pct_sending"] > 0
