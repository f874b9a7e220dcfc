"""The embedded DynamoDB's speed-ups refuse a moto whose code under them moved: loudly, at
start, naming the moto version and the function, before patching anything."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from moto.core import utils as moto_utils
from moto.dynamodb.models.table import Table

from infra.dynamodb import moto_speedups

REPO = Path(__file__).resolve().parents[2]


def test_the_installed_moto_is_one_the_speedups_were_checked_on() -> None:
    assert moto_speedups.mismatches() == []
    moto_speedups.verify()


def test_a_moto_whose_query_moved_fails_at_start_naming_version_and_function(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def query(self: Any, *args: Any, **kwargs: Any) -> Any:  # a "newer moto's" Table.query
        return None

    before = Table.all_items
    monkeypatch.setattr(Table, "query", query)
    with pytest.raises(moto_speedups.MotoChanged) as raised:
        moto_speedups.install()
    text = str(raised.value)
    assert f"moto {version('moto')}" in text
    assert "moto.dynamodb.models.table:Table.query changed" in text
    assert moto_speedups.CHECKED_MOTO in text
    # Nothing was patched: the failure is not half an install.
    assert Table.all_items is before
    assert Table.query is query


def test_a_moto_without_a_replaced_function_fails_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(moto_utils, "method_names_from_class")
    found = moto_speedups.mismatches()
    assert len(found) == 1
    assert found[0].startswith(
        "cached method names: moto.core.utils:method_names_from_class not found"
    )
    with pytest.raises(moto_speedups.MotoChanged):
        moto_speedups.verify()


def test_installing_twice_checks_the_code_under_its_own_patches() -> None:
    # In a fresh interpreter: install() patches moto for the whole process.
    code = (
        "from infra.dynamodb import moto_speedups as m; m.install(); m.install(); "
        "from moto.dynamodb.models.table import Table; "
        "assert Table.query._partition_only; print('ok')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
