"""Which files serverless `package.patterns` keep (infra.awslambda.package_patterns):
micromatch's globs, applied in order, a later pattern overriding an earlier one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from infra.awslambda import package_patterns
from infra.awslambda.package_patterns import NoFilesMatched, select

FILES = (
    "serverless.yml",
    "README.md",
    ".env",
    "handler.py",
    "lib/util.py",
    "lib/__pycache__/util.cpython-312.pyc",
    "lib/deep/er/mod.py",
    "tests/test_handler.py",
    "node_modules/pkg/index.js",
    ".venv/lib/python3.12/site-packages/x.py",
    "assets/a.json",
    "assets/b.txt",
)


@pytest.fixture
def service(tmp_path: Path) -> Path:
    for rel in FILES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    return tmp_path


def test_every_file_dot_files_included_when_nothing_excludes(service: Path) -> None:
    assert select(service, ["!serverless.yml"]) == sorted(set(FILES) - {"serverless.yml"})


def test_patterns_apply_in_order_and_a_later_one_wins(service: Path) -> None:
    patterns = ["!**", "lib/**", "!lib/**/__pycache__/**", "handler.py", "!lib/deep/**"]
    assert select(service, patterns) == ["handler.py", "lib/util.py"]
    assert select(service, [*patterns, "lib/deep/er/*.py"]) == [
        "handler.py",
        "lib/deep/er/mod.py",
        "lib/util.py",
    ]


def test_a_single_star_stays_in_its_segment(service: Path) -> None:
    assert select(service, ["!**", "*.py"]) == ["handler.py"]
    assert select(service, ["!**", "**/*.py", "!.venv/**"]) == [
        "handler.py",
        "lib/deep/er/mod.py",
        "lib/util.py",
        "tests/test_handler.py",
    ]


def test_braces_and_extglobs(service: Path) -> None:
    assert select(service, ["!**", "assets/*.{json,txt}", "{lib,tests}/*.py"]) == [
        "assets/a.json",
        "assets/b.txt",
        "lib/util.py",
        "tests/test_handler.py",
    ]
    assert select(service, ["!**", "assets/!(*.txt)"]) == ["assets/a.json"]


def test_excluded_directories_are_not_walked(
    service: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A directory nothing can bring back is skipped whole (a .venv, node_modules).
    walked: list[str] = []
    real_walk = os.walk

    def walk(top: str, **kwargs: Any) -> Iterator[tuple[str, list[str], list[str]]]:
        for current, dirs, files in real_walk(top, **kwargs):
            walked.append(str(Path(current).relative_to(service)))
            yield current, dirs, files

    monkeypatch.setattr(package_patterns, "os", SimpleNamespace(**{**vars(os), "walk": walk}))
    kept = select(service, ["!node_modules/**", "!**/.venv/**", "!**/*.md", "!**", "lib/*.py"])
    assert kept == ["lib/util.py"]
    assert sorted(walked) == [".", "lib"]
    walked.clear()
    # A later include that could reach inside keeps the directory walked.
    assert select(service, ["!**", "**/util.py"]) == ["lib/util.py"]
    assert "lib/deep/er" in walked


def test_a_package_with_no_file_is_refused(service: Path) -> None:
    with pytest.raises(NoFilesMatched):
        select(service, ["!**", "src/**"])
