"""Which interpreter runs a function declared `runtime: pythonX.Y`.

Lambda runs the declared version; so do we when it is installed: `pythonX.Y` on PATH,
or a pyenv installation of X.Y that the shims do not expose (pyenv puts `pythonX.Y` shims
on PATH for every installed version but refuses to run the ones not selected). Otherwise
the harness's own interpreter runs the function, and the runtime says so once at start.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

_PYTHON_RUNTIME = re.compile(r"^python(\d+)\.(\d+)$")
# Prints what actually runs: a pyenv shim is a shell script, and only the interpreter
# it execs knows its real path and version.
_PROBE = (
    "import sys, importlib.util; print(sys.executable); "
    "print('%d.%d' % sys.version_info[:2]); print(importlib.util.find_spec('pip') is not None)"
)
PROBE_TIMEOUT_S = 20.0
# The oldest Python the bootstrap runs on (Lambda's python3.7 runtime).
OLDEST = (3, 7)


@dataclass(frozen=True)
class Interpreter:
    executable: str  # the real binary, never a shim (a sandbox start pays no shim)
    version: tuple[int, int]
    has_pip: bool

    @property
    def runtime(self) -> str:
        """The Lambda runtime identifier of what this interpreter is ("python3.12")."""
        return f"python{self.version[0]}.{self.version[1]}"


def declared_version(runtime: str) -> tuple[int, int] | None:
    """(3, 12) for "python3.12"; None for anything that is not a Python runtime."""
    found = _PYTHON_RUNTIME.match(runtime)
    return (int(found[1]), int(found[2])) if found else None


def harness() -> Interpreter:
    """The interpreter running the harness (the fallback)."""
    return Interpreter(sys.executable, (sys.version_info[0], sys.version_info[1]), True)


def _candidates(version: tuple[int, int]) -> list[str]:
    name = f"python{version[0]}.{version[1]}"
    found = [path] if (path := shutil.which(name)) else []
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    prefix = f"{version[0]}.{version[1]}."
    installed = sorted(
        (
            d
            for d in (pyenv_root / "versions").glob(f"{prefix}*")
            if d.name[len(prefix) :].isdigit()  # 3.12.1, not 3.12.1t or 3.12-dev
        ),
        key=lambda d: int(d.name[len(prefix) :]),
        reverse=True,
    )
    found += [str(d / "bin" / name) for d in installed if (d / "bin" / name).is_file()]
    return found


async def _probe(executable: str) -> Interpreter | None:
    try:
        proc = await asyncio.create_subprocess_exec(
            executable,
            "-I",
            "-c",
            _PROBE,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError:
        return None
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), PROBE_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return None
    lines = out.decode(errors="replace").split()
    if proc.returncode != 0 or len(lines) != 3:
        return None  # e.g. a pyenv shim for a version that is not selected: exit 127
    major, minor = lines[1].split(".")
    return Interpreter(lines[0], (int(major), int(minor)), lines[2] == "True")


_found: dict[tuple[int, int], Interpreter | None] = {}


async def find(version: tuple[int, int]) -> Interpreter | None:
    """An installed interpreter of exactly `version`, or None (the answer is cached)."""
    if version < OLDEST:
        return None
    if version == harness().version:
        return harness()
    if version not in _found:
        result = None
        for candidate in _candidates(version):
            probed = await _probe(candidate)
            if probed is not None and probed.version == version:
                result = probed
                break
        _found[version] = result
    return _found[version]
