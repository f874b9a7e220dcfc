"""The artifact tier: what `osls package` writes, run as Lambda runs it.

The function zip and the layer zip that scripts/package.sh builds (packaged for this
machine's architecture: the deployed default, arm64, carries native code that cannot
load on x86_64; the layer is the same lock, same script, other wheels) are unpacked as
Lambda lays them out (the function as /var/task, the layer as /opt), and the functions
run on python3.12 with boto3 and botocore at the version the python3.12 runtime ships
and nothing else on the path (infra.awslambda's sandboxes), behind the local gateway,
over real sockets. Nothing of the checkout is importable in there: a module the zips
lack fails here as it would on AWS.

Without python3.12 the tier cannot say anything: it fails when CI is set (CI has it),
and is skipped with the reason elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import platform
import subprocess
import zipfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from infra.awslambda.logs import InvocationReport
from infra.service import ServiceSpec
from infra.stack import LocalStack, local_stack
from tests.wire import REPO

# Tiny shards, so that a room of a dozen hands part of its fan-out to `fanout`.
SHARD_SIZE = 10


@dataclass(frozen=True)
class Artifact:
    """What `osls package` wrote for this machine's architecture."""

    architecture: str
    directory: Path
    function_zip: Path
    layer_zip: Path

    @property
    def template(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            (self.directory / "cloudformation-template-update-stack.json").read_text()
        )
        return data


@dataclass
class Invocations:
    """Every invocation's report, so a test can tell which functions ran and how."""

    reports: list[InvocationReport] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, report: InvocationReport) -> None:  # on the stack's event loop
        self.reports.append(report)
        self._arrived.set()

    def of(self, function: str) -> list[InvocationReport]:
        return [r for r in self.reports if r.function == function]

    async def more_of(self, function: str, than: int, seconds: float) -> list[InvocationReport]:
        """The reports of `function` past the first `than`, once there is one."""
        async with asyncio.timeout(seconds):
            while len(self.of(function)) <= than:
                self._arrived.clear()
                await self._arrived.wait()
        return self.of(function)[than:]


def host_architecture() -> str:
    return "arm64" if platform.machine().lower() in ("aarch64", "arm64") else "x86_64"


def python312_or_stop() -> None:
    found = subprocess.run(
        [str(REPO / "scripts" / "find_python.sh"), "3.12"], capture_output=True, text=True
    )
    if found.returncode == 0:
        return
    reason = (
        "python3.12 is not installed: the artifact tier runs the packaged zips on the "
        f"Lambda runtime's Python and cannot run without it ({found.stderr.strip()})"
    )
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def package(architecture: str) -> Artifact:
    """scripts/package.sh for `architecture` into build/artifact-<arch> (a no-op when
    nothing it packages changed). No checkov here: `make package` scans the same
    template for the default architecture."""
    directory = REPO / "build" / f"artifact-{architecture}"
    env = {
        **os.environ,
        "WSCHAT_ARCHITECTURE": architecture,
        "PACKAGE_DIR": str(directory.relative_to(REPO)),
        "CHECKOV": "0",
    }
    subprocess.run([str(REPO / "scripts" / "package.sh"), "dev"], cwd=REPO, env=env, check=True)
    return Artifact(
        architecture,
        directory,
        directory / "wschat.zip",
        REPO / "build" / f"layer-{architecture}.zip",
    )


def run_from(function_zip: Path, layer_zip: Path) -> Callable[[ServiceSpec], ServiceSpec]:
    """The definition with every function's code and layers taken from the zips (the zip
    is the package as it is, as a `package.artifact` would be: no patterns apply)."""

    def adapt(spec: ServiceSpec) -> ServiceSpec:
        functions = {
            name: dataclasses.replace(
                fn,
                code_root=function_zip,
                package_patterns=(),
                layers=(layer_zip,),
                environment={**fn.environment, "CHAT_FANOUT_SHARD_SIZE": str(SHARD_SIZE)},
            )
            for name, fn in spec.functions.items()
        }
        return dataclasses.replace(spec, functions=functions)

    return adapt


@pytest.fixture(scope="session")
def artifact() -> Artifact:
    python312_or_stop()
    return package(host_architecture())


@dataclass
class Packaged:
    stack: LocalStack
    invocations: Invocations


@contextlib.asynccontextmanager
async def packaged_stack(function_zip: Path, layer_zip: Path) -> AsyncIterator[Packaged]:
    invocations = Invocations()
    async with local_stack(
        REPO / "serverless.yml",
        "dev",
        adapt=run_from(function_zip, layer_zip),
        report=invocations,
        concurrency=2,
    ) as stack:
        yield Packaged(stack, invocations)


@pytest.fixture(scope="session")
async def packaged(artifact: Artifact) -> AsyncIterator[Packaged]:
    async with packaged_stack(artifact.function_zip, artifact.layer_zip) as running:
        yield running


def without(layer_zip: Path, top_level: str, out: Path) -> Path:
    """A copy of the layer zip without one library (python/<top_level>/...)."""
    with zipfile.ZipFile(layer_zip) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if not info.filename.startswith(f"python/{top_level}/"):
                dst.writestr(info, src.read(info))
    return out
