"""Which files of a service directory a Serverless Framework function package holds.

`package.patterns` as the Framework (v3, osls) applies them: every file under the
service directory (dot files included, symlinks followed) starts included; the patterns
run in order, each include pattern including the files it matches and each `!pattern`
excluding them, so a later pattern overrides an earlier one. Globs are micromatch's:
`*` stays within a path segment, `**` spans segments, braces and extglobs expand, and a
leading dot needs no special mention. wcmatch provides those semantics.

A service directory also holds things no package would (.git, .venv, node_modules): a
directory is not walked when an exclude pattern covers all of it and no later include
pattern can reach inside it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import bracex
from wcmatch import fnmatch, glob

_GLOB = glob.GLOBSTAR | glob.DOTGLOB | glob.BRACE | glob.EXTGLOB
_SEGMENT = fnmatch.DOTMATCH | fnmatch.EXTMATCH
_MAGIC = frozenset("*?[]{}()!+@")


class NoFilesMatched(ValueError):
    """The patterns leave nothing: the Framework refuses to package such a function."""


@dataclass(frozen=True)
class _Pattern:
    exclude: bool
    matcher: glob.WcMatcher[str]
    alternatives: tuple[tuple[str, ...], ...]  # brace-expanded, split into segments


def _compile(raw: str) -> _Pattern:
    exclude = raw.startswith("!")
    body = raw[1:] if exclude else raw
    body = body.removeprefix("./")
    alternatives = tuple(tuple(alt.split("/")) for alt in bracex.expand(body))
    return _Pattern(exclude, glob.compile(body, flags=_GLOB), alternatives)


def select(root: Path, patterns: Sequence[str]) -> list[str]:
    """The files under `root` (relative, `/`-separated, sorted) that `patterns` keep."""
    compiled = [_compile(p) for p in patterns]
    chosen = sorted(p for p in _walk(root, compiled) if _kept(p, compiled))
    if not chosen:
        raise NoFilesMatched(f"no file of {root} matches the package patterns")
    return chosen


def _kept(path: str, patterns: Sequence[_Pattern]) -> bool:
    kept = True
    for pattern in patterns:
        if pattern.matcher.match(path):
            kept = not pattern.exclude
    return kept


def _walk(root: Path, patterns: Sequence[_Pattern]) -> Iterator[str]:
    seen: set[str] = set()
    for current, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(current)
        if real in seen:  # a symlink loop
            dirs[:] = []
            continue
        seen.add(real)
        rel = os.path.relpath(current, root)
        parts: tuple[str, ...] = () if rel == "." else tuple(rel.split(os.sep))
        dirs[:] = [d for d in dirs if not _closed((*parts, d), patterns)]
        for name in files:
            yield "/".join((*parts, name))


def _closed(parts: tuple[str, ...], patterns: Sequence[_Pattern]) -> bool:
    """Whether nothing under the directory `parts` can end up in the package."""
    last_cover = -1
    for i, pattern in enumerate(patterns):
        if pattern.exclude and _covers(pattern, parts):
            last_cover = i
    if last_cover < 0:
        return False
    return not any(not p.exclude and _may_reach(p, parts) for p in patterns[last_cover + 1 :])


def _covers(pattern: _Pattern, parts: tuple[str, ...]) -> bool:
    """Whether an exclude pattern matches every path under the directory (`x/**`)."""
    for segments in pattern.alternatives:
        if segments[-1:] != ("**",):
            continue
        head = "/".join(segments[:-1])
        if not head or glob.globmatch("/".join(parts), head, flags=_GLOB):
            return True
    return False


def _may_reach(pattern: _Pattern, parts: tuple[str, ...]) -> bool:
    """Whether an include pattern could match some path under the directory."""
    return any(_segments_may_reach(segments, parts) for segments in pattern.alternatives)


def _segments_may_reach(segments: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    for i, part in enumerate(parts):
        if i >= len(segments):
            return False
        segment = segments[i]
        if segment == "**" or (set(segment) & _MAGIC and "**" in segment):
            return True
        if set(segment) & _MAGIC:
            if not fnmatch.fnmatch(part, segment, flags=_SEGMENT):
                return False
        elif segment != part:
            return False
    return len(segments) > len(parts)
