"""Adds bytecode to a Lambda function zip: `__pycache__/<name>.cpython-XY.pyc` beside every
`.py` it holds, compiled by the interpreter running this script (run it with the
function's runtime, python3.12), hash-based and unchecked (PEP 552), so the zip's
timestamps do not matter. /var/task is read-only on Lambda: without these, every cold
start compiles the function's own modules again.

    python3.12 scripts/zip_bytecode.py .serverless/wschat.zip
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import zipfile
from importlib._bootstrap_external import _code_to_hash_pyc  # type: ignore[attr-defined]


def pyc_name(source: str) -> str:
    folder, _, file = source.rpartition("/")
    prefix = f"{folder}/" if folder else ""
    return f"{prefix}__pycache__/{file[:-3]}.{sys.implementation.cache_tag}.pyc"


def main(path: str) -> int:
    with zipfile.ZipFile(path) as zf:
        entries = [(info, zf.read(info)) for info in zf.infolist()]
    names = {info.filename for info, _ in entries}
    added = []
    for info, data in entries:
        if not info.filename.endswith(".py") or pyc_name(info.filename) in names:
            continue
        # Tracebacks name the file where Lambda unpacks it.
        code = compile(data, f"/var/task/{info.filename}", "exec", dont_inherit=True)
        pyc = _code_to_hash_pyc(code, importlib.util.source_hash(data), checked=False)
        pyc_info = zipfile.ZipInfo(pyc_name(info.filename), date_time=info.date_time)
        pyc_info.external_attr = info.external_attr
        pyc_info.compress_type = zipfile.ZIP_DEFLATED
        added.append((pyc_info, bytes(pyc)))
    folder = os.path.dirname(os.path.abspath(path))
    with (
        tempfile.NamedTemporaryFile(dir=folder, suffix=".zip", delete=False) as tmp,
        zipfile.ZipFile(tmp, "w") as out,
    ):
        for info, data in sorted(entries + added, key=lambda e: e[0].filename):
            out.writestr(info, data)
    os.replace(tmp.name, path)
    print(
        f"bytecode: {len(added)} module(s) compiled by Python {sys.version.split()[0]} into {path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
