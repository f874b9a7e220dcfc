"""Run one of the bundled client's commands as a user would, and wait for it to finish."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from infra.stack import LocalStack
from tests.conftest import scaled
from tests.integration.client.conftest import PYTHON, REPO, client_env


@dataclass
class Done:
    status: int
    out: str
    err: str


async def start_client(stack: LocalStack, module: str, *args: str) -> asyncio.subprocess.Process:
    """`python -m module args` in the checkout, with a user's environment for `stack`."""
    return await asyncio.create_subprocess_exec(
        PYTHON,
        "-m",
        module,
        *args,
        cwd=str(REPO),
        env=client_env(stack),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def run_client(stack: LocalStack, module: str, *args: str, within: float = 60.0) -> Done:
    return await finish(await start_client(stack, module, *args), within)


async def finish(proc: asyncio.subprocess.Process, within: float = 60.0) -> Done:
    """Its exit status and output, once it exits (killed past `within`, scaled)."""
    try:
        out, err = await asyncio.wait_for(proc.communicate(), scaled(within))
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return Done(proc.returncode, out.decode(), err.decode())
