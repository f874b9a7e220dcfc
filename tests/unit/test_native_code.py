"""infra.awslambda.native_code: which compiled code in a layer this machine can load, read
from the shared objects' own headers (what the loader checks)."""

from __future__ import annotations

import _ssl
import zipfile
from pathlib import Path
from typing import Literal

import pytest

from infra.awslambda.native_code import (
    ForeignCode,
    foreign_code,
    host_architecture,
    loadable,
    object_architecture,
    warning,
)

# e_machine of each architecture (the System V ABI's registry).
MACHINES = {"x86_64": 62, "arm64": 183}


def elf(arch: str, order: Literal["little", "big"] = "little") -> bytes:
    """The first 64 bytes of a 64-bit ELF shared object built for `arch`."""
    data = 1 if order == "little" else 2
    ident = b"\x7fELF" + bytes([2, data, 1, 0]) + bytes(8)
    machine = MACHINES[arch].to_bytes(2, order)
    return ident + (3).to_bytes(2, order) + machine + (1).to_bytes(4, order) + bytes(40)


def other(arch: str) -> str:
    return "arm64" if arch == "x86_64" else "x86_64"


def test_the_headers_say_what_the_code_is_built_for() -> None:
    assert object_architecture(elf("x86_64")) == "x86_64"
    assert object_architecture(elf("arm64")) == "arm64"
    assert object_architecture(elf("arm64", order="big")) == "arm64"
    assert object_architecture(b"\xcf\xfa\xed\xfe" + bytes(16)) == "macOS"
    assert object_architecture(b"# not compiled code\n") is None
    # This interpreter's own extension modules are this machine's.
    with open(_ssl.__file__, "rb") as f:
        assert object_architecture(f.read(20)) == host_architecture()


def test_only_linux_code_of_this_machines_architecture_loads_here() -> None:
    assert loadable("x86_64", "x86_64", "Linux")
    assert not loadable("arm64", "x86_64", "Linux")
    assert not loadable("x86_64", "x86_64", "Darwin")  # Linux code on a Mac
    assert not loadable("macOS", "arm64", "Linux")  # a layer pip-installed on a Mac
    assert loadable("macOS", "arm64", "Darwin")


@pytest.mark.parametrize("host", ["x86_64", "arm64"])
def test_a_zipped_layer_built_for_the_other_architecture_is_found(
    tmp_path: Path, host: str
) -> None:
    layer = tmp_path / "layer.zip"
    with zipfile.ZipFile(layer, "w") as zf:
        zf.writestr("python/pure/__init__.py", "")
        zf.writestr("python/fast/_speedups.cpython-312-x-linux-gnu.so", elf(other(host)))
        zf.writestr("python/fast/_ok.abi3.so", elf(host))
        zf.writestr("python/fast.libs/libz-1a2b.so.1.3", elf(other(host)))
    found = foreign_code(layer, host=host, system="Linux")
    assert found == ForeignCode(layer, (other(host),), "python/fast.libs/libz-1a2b.so.1.3", count=2)


def test_a_layer_directory_of_this_machines_code_or_of_pure_python_passes(tmp_path: Path) -> None:
    host = host_architecture()
    (tmp_path / "python" / "fast").mkdir(parents=True)
    (tmp_path / "python" / "fast" / "_speedups.so").write_bytes(elf(host))
    (tmp_path / "python" / "fast" / "__init__.py").write_text("")
    assert foreign_code(tmp_path, host=host, system="Linux") is None
    (tmp_path / "python" / "fast" / "_other.so").write_bytes(elf(other(host)))
    found = foreign_code(tmp_path, host=host, system="Linux")
    assert found is not None and found.example == "python/fast/_other.so"


def test_the_warning_says_why_and_what_to_do() -> None:
    foreign = ForeignCode(Path("/x/build/layer-arm64.zip"), ("arm64",), "python/a.so", 12)
    text = warning(
        foreign, {"connect": "arm64", "auth": "arm64"}, "build/layer-arm64.zip", "x86_64"
    )
    assert text.startswith("layer build/layer-arm64.zip holds compiled code for arm64 (12 shared")
    assert "which this x86_64 machine cannot load: imports of it fail in auth, connect" in text
    assert "they declare arm64, and locally every function runs on this machine's x86_64" in text
    assert "custom.local.layers" in text
    # Declared for this machine but built for another: it would fail on AWS as well.
    text = warning(foreign, {"connect": "x86_64"}, "layer.zip", "x86_64")
    assert "they declare x86_64, so the layer would fail on AWS too" in text
