"""Compiled code in a layer, and whether this machine can load it.

On AWS a function runs on its declared architecture (`x86_64` or `arm64`); here every
function runs on this machine's. Pure Python does not mind, but the extension modules
of a layer built for the other architecture (pydantic-core, cryptography, ...) are
shared objects this machine's loader refuses, and every import of them fails with an
error that says nothing of architectures (`ImportError: ...so: cannot open shared
object file`). So at start the runtime reads the header of each shared object in each
layer (the ELF `e_machine` field, what the loader itself checks; a Mach-O object is
macOS code) and warns, naming the layer, when one is not for this machine.
"""

from __future__ import annotations

import os
import platform
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# ELF e_machine values (the System V ABI's registry) of the machines Python runs on.
_ELF_MACHINES = {3: "x86", 40: "arm", 62: "x86_64", 183: "arm64"}
_MACHO_MAGIC = {
    b"\xfe\xed\xfa\xce",
    b"\xce\xfa\xed\xfe",
    b"\xfe\xed\xfa\xcf",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",  # universal (fat) binary
}
_HEADER_BYTES = 20


def host_architecture() -> str:
    """This machine's architecture by Lambda's names (`x86_64`, `arm64`), else as
    `platform.machine()` gives it."""
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "aarch64": "arm64"}.get(machine, machine)


def object_architecture(header: bytes) -> str | None:
    """What a shared object's first bytes say it is built for: an architecture name for
    ELF (Linux) code, "macOS" for Mach-O, None for anything else (not compiled code)."""
    if header[:4] == b"\x7fELF" and len(header) >= _HEADER_BYTES:
        machine = int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")
        return _ELF_MACHINES.get(machine, f"ELF machine {machine}")
    if header[:4] in _MACHO_MAGIC:
        return "macOS"
    return None


def _is_shared_object(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return base.endswith(".so") or ".so." in base


def _headers(layer: Path) -> Iterator[tuple[str, bytes]]:
    """(path inside the layer, first bytes) of each shared object in a layer, a .zip or a
    directory."""
    if layer.is_file() and zipfile.is_zipfile(layer):
        with zipfile.ZipFile(layer) as zf:
            for info in zf.infolist():
                if not info.is_dir() and _is_shared_object(info.filename):
                    with zf.open(info) as f:
                        yield info.filename, f.read(_HEADER_BYTES)
    elif layer.is_dir():
        for folder, _dirs, files in os.walk(layer):
            for name in sorted(files):
                if _is_shared_object(name):
                    path = Path(folder) / name
                    try:
                        with path.open("rb") as f:
                            yield path.relative_to(layer).as_posix(), f.read(_HEADER_BYTES)
                    except OSError:
                        continue


@dataclass(frozen=True)
class ForeignCode:
    """A layer's compiled code that this machine cannot load."""

    layer: Path
    architectures: tuple[str, ...]  # what it is built for, sorted
    example: str  # one such shared object, as a path inside the layer
    count: int


def loadable(arch: str, host: str, system: str) -> bool:
    """Whether a shared object built for `arch` loads on a `host` machine running
    `system` (`platform.system()`)."""
    if arch == "macOS":
        return system == "Darwin"
    return system == "Linux" and arch == host


def foreign_code(
    layer: Path, host: str | None = None, system: str | None = None
) -> ForeignCode | None:
    """The shared objects in `layer` that a `host` machine running `system` (default:
    this one) cannot load, or None when all of them load (or there are none)."""
    host = host or host_architecture()
    system = system or platform.system()
    found: dict[str, list[str]] = {}
    for name, header in _headers(layer):
        arch = object_architecture(header)
        if arch is not None and not loadable(arch, host, system):
            found.setdefault(arch, []).append(name)
    if not found:
        return None
    names = sorted(n for group in found.values() for n in group)
    return ForeignCode(layer, tuple(sorted(found)), names[0], len(names))


def warning(
    foreign: ForeignCode, functions: dict[str, str], shown: str, host: str | None = None
) -> str:
    """The start-up warning for a layer (named `shown`) of `functions` (name -> declared
    architecture)."""
    host = host or host_architecture()
    built = " and ".join(foreign.architectures)
    declared = sorted({arch for arch in functions.values() if arch != host})
    why = (
        f"they declare {' and '.join(declared)}, and locally every function runs on this "
        f"machine's {host}"
        if declared
        else f"they declare {host}, so the layer would fail on AWS too"
    )
    return (
        f"layer {shown} holds compiled code for {built} "
        f"({foreign.count} shared object{'s' if foreign.count != 1 else ''}, e.g. "
        f"{foreign.example}), which this {host} machine cannot load: imports of it fail "
        f"in {', '.join(sorted(functions))} ({why}). Run them with a copy of the layer "
        f"built for {host} (custom.local.layers, docs/lambda.md)"
    )
