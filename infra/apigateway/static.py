"""The bundled web client's files: ``GET /`` is index.html, ``GET /x`` is static_dir/x."""

from __future__ import annotations

import mimetypes
from pathlib import Path


def resolve(static_dir: Path, path: str) -> Path | None:
    """The file `path` names inside `static_dir`, or None (missing, outside it, or a name
    no file can have: a NUL byte)."""
    if "\x00" in path:
        return None
    relative = path.lstrip("/") or "index.html"
    root = static_dir.resolve()
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root):
        return None  # ../ escapes
    if candidate.is_dir():
        candidate = candidate / "index.html"
    return candidate if candidate.is_file() else None


def content_type(path: Path) -> str:
    guessed, _ = mimetypes.guess_type(path.name)
    if guessed is None:
        return "application/octet-stream"
    if guessed.startswith("text/") or guessed in ("application/javascript", "application/json"):
        return f"{guessed}; charset=utf-8"
    return guessed
