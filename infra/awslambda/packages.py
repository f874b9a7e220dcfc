"""What a sandbox can import: the function's package, as Lambda assembles it.

On AWS a Python function sees its code (`/var/task`), its layers (`/opt/python`), the
standard library and the boto3 the runtime ships, in that order, and nothing else. Here
each of those is a directory:

- the code root: the function's directory, or a .zip of it (unpacked once);
- each layer: a directory or .zip laid out as `/opt` (`python/` and
  `python/lib/pythonX.Y/site-packages/` go on the path), unpacked once;
- `requirements.txt`, installed with `pip install --target` into an environment per
  requirements file and interpreter version (serverless-python-requirements and
  `sam build` put these into the function's zip, so they rank with the code);
- boto3 and botocore at the version the python3.12 runtime ships, installed once (pure
  Python: one copy serves every interpreter from 3.10 on) and shared by every function
  and service.

All of it lives in one cache (`WSCHAT_LAMBDA_CACHE`, else `~/.cache/wschat-lambda`),
filled atomically under a file lock so concurrent runs share it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from infra.awslambda.interpreters import Interpreter
from infra.config import ConfigError
from infra.service import FunctionSpec

# boto3 and botocore as the python3.12 runtime ships them (s3transfer, urllib3, ... follow).
RUNTIME_BOTO3 = "1.40.4"
# The runtimes older than boto3's supported Pythons got the last release that ran there.
_OLDER_RUNTIME_BOTO3 = {(3, 7): "1.33.13", (3, 8): "1.34.162"}
CACHE_ENV = "WSCHAT_LAMBDA_CACHE"
_COMPLETE = ".complete"
_PIP_TAIL_LINES = 25


class PackageError(ConfigError):
    """A function's package cannot be assembled (missing code or layer, pip failed)."""


def default_cache_dir() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "wschat-lambda"


@dataclass(frozen=True)
class Package:
    """Where a sandbox starts and what its `sys.path` holds around the standard library."""

    task_root: Path  # the working directory and LAMBDA_TASK_ROOT (Lambda's /var/task)
    front: tuple[Path, ...]  # before the standard library: code, requirements, layers
    back: tuple[Path, ...]  # after it: the runtime's boto3


class PackageCache:
    """Unpacked zips, requirement environments and the runtime SDK, made once each."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self._pending: dict[str, asyncio.Future[Path]] = {}

    async def package(self, fn: FunctionSpec, default_root: Path, interp: Interpreter) -> Package:
        where = f"functions.{fn.name}"
        code = Path(fn.code_root) if fn.code_root is not None else default_root
        task_root = await self._dir_or_zip(code, f"{where}: code root")
        front = [task_root]
        if fn.requirements is not None:
            front.append(await self.requirements(Path(fn.requirements), interp, where))
        opts = [await self._dir_or_zip(Path(layer), f"{where}: layer") for layer in fn.layers]
        # Layers unpack into one /opt in order, a later one overwriting an earlier one's
        # files: the later layer comes first on the path.
        site = f"python/lib/python{interp.version[0]}.{interp.version[1]}/site-packages"
        front += [opt / site for opt in reversed(opts) if (opt / site).is_dir()]
        front += [opt / "python" for opt in reversed(opts) if (opt / "python").is_dir()]
        return Package(task_root, tuple(front), (await self.runtime_sdk(interp),))

    async def requirements(self, requirements: Path, interp: Interpreter, where: str) -> Path:
        try:
            requirements, content = await asyncio.to_thread(_absolute_and_content, requirements)
        except OSError as exc:
            raise PackageError(f"{where}: cannot read {requirements}: {exc.strerror}") from exc
        digest = _digest(str(requirements).encode(), content)
        key = f"requirements/{interp.runtime}-{digest}"

        def build(target: Path) -> None:
            # cwd: relative paths inside the file resolve as they do for the plugin.
            _pip(interp, ["-r", str(requirements)], target, requirements.parent, where)

        return await self._once(key, build)

    async def runtime_sdk(self, interp: Interpreter) -> Path:
        # All pure Python: one install serves every version whose dependency markers
        # agree (botocore asks for urllib3 < 1.27 below 3.10 only), each version adding its
        # own __pycache__ entries.
        versions = interp.runtime if interp.version < (3, 10) else "python3.10-and-later"
        release = _OLDER_RUNTIME_BOTO3.get(interp.version, RUNTIME_BOTO3)
        key = f"sdk/boto3-botocore-{release}-{versions}"

        def build(target: Path) -> None:
            sdk = [f"boto3=={release}", f"botocore=={release}"]
            _pip(interp, sdk, target, None, "the runtime's boto3")

        return await self._once(key, build)

    async def _dir_or_zip(self, path: Path, what: str) -> Path:
        kind, found = await asyncio.to_thread(_dir_or_zip_digest, path)
        if kind == "dir":
            return Path(found)
        if kind == "zip":
            return await self._once(f"unzipped/{found}", lambda target: _unzip(path, target))
        raise PackageError(f"{what} {path} is neither a directory nor a .zip (does it exist?)")

    async def _once(self, key: str, build: Callable[[Path], None]) -> Path:
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(asyncio.to_thread(self._build, key, build))
            self._pending[key] = pending
        return await asyncio.shield(pending)

    def _build(self, key: str, build: Callable[[Path], None]) -> Path:
        final = self.root / key
        if (final / _COMPLETE).exists():
            return final
        final.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{final}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be building the same thing
            if (final / _COMPLETE).exists():
                return final
            work = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
            try:
                build(work)
                (work / _COMPLETE).touch()
                if final.exists():  # left half-made by a run that was killed
                    shutil.rmtree(final)
                work.rename(final)
            finally:
                shutil.rmtree(work, ignore_errors=True)
        return final


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()[:24]


def _absolute_and_content(path: Path) -> tuple[Path, bytes]:
    return path.absolute(), path.read_bytes()


def _dir_or_zip_digest(path: Path) -> tuple[str, str]:
    """("dir", its resolved path), ("zip", a digest of its bytes) or ("", "")."""
    if path.is_dir():
        return "dir", str(path.resolve())
    if path.is_file() and zipfile.is_zipfile(path):
        with path.open("rb") as f:
            return "zip", hashlib.file_digest(f, "sha256").hexdigest()[:24]
    return "", ""


def _unzip(archive: Path, target: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            extracted = Path(zf.extract(info, target))
            mode = info.external_attr >> 16 & 0o777
            if mode and not info.is_dir():
                extracted.chmod(mode | 0o400)  # executables in bin/ stay executable


def _pip(interp: Interpreter, what: list[str], target: Path, cwd: Path | None, where: str) -> None:
    if interp.has_pip:
        command = [interp.executable, "-m", "pip"]
        platform: list[str] = []
    else:
        # The harness's pip installs wheels for the other interpreter's version.
        command = [sys.executable, "-m", "pip"]
        version = f"{interp.version[0]}.{interp.version[1]}"
        platform = ["--python-version", version, "--only-binary=:all:"]
    command += [
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-input",
        "--no-warn-script-location",
        "--target",
        str(target),
        *platform,
        *what,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-_PIP_TAIL_LINES:])
        raise PackageError(f"{where}: pip install {' '.join(what)} failed:\n{tail}")
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(target / "bin")  # console scripts name this machine's interpreter
