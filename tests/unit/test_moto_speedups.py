"""The embedded DynamoDB's speed-ups refuse a moto whose code under them moved: loudly, at
start, naming the moto version and the function, before patching anything."""

from __future__ import annotations

import importlib
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any, cast

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


# -- Condition expressions parsed once --------------------------------------------------

CONDITIONS = [
    ("rlw = :w AND rlc < :lim", None, {":w": {"N": "7"}, ":lim": {"N": "3"}}),
    (
        "attribute_exists(uid) AND (attribute_not_exists(rlw) OR rlw <> :w)",
        None,
        {":w": {"N": "7"}},
    ),
    ("contains(#c, :id)", {"#c": "conns"}, {":id": {"S": "b"}}),
    ("attribute_not_exists(pk) OR expiresAt < :now", None, {":now": {"N": "100"}}),
    (
        "size(#n) > :two AND #n IN (:a, :b)",
        {"#n": "name"},
        {":two": {"N": "2"}, ":a": {"S": "ann"}, ":b": {"S": "bo"}},
    ),
]


def _items() -> list[Any]:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    attrs: list[dict[str, Any]] = [
        {},
        {"uid": {"S": "u"}, "rlw": {"N": "7"}, "rlc": {"N": "2"}, "name": {"S": "ann"}},
        {"uid": {"S": "u"}, "rlw": {"N": "6"}, "rlc": {"N": "5"}, "conns": {"SS": ["a", "b"]}},
        {"pk": {"S": "p"}, "expiresAt": {"N": "99"}, "name": {"S": "bo"}},
    ]
    return [None, *(Item(DynamoType({"S": "k"}), None, a) for a in attrs)]


def _decide(op: Any, item: Any) -> object:
    """The condition's verdict on `item`, or the error moto raises (size() of nothing)."""
    try:
        return op.expr(item)
    except ValueError as exc:
        return f"ValueError: {exc}"


@pytest.fixture
def kept_conditions(monkeypatch: pytest.MonkeyPatch) -> Any:
    """moto's own ConditionExpressionParser.parse, and the speed-up installed over it for
    this test only (install() patches the whole process)."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    own = ConditionExpressionParser.parse
    monkeypatch.setattr(ConditionExpressionParser, "parse", own)
    moto_speedups._parsed_conditions()
    assert ConditionExpressionParser.parse is not own
    return own


def test_a_kept_condition_decides_every_item_as_a_fresh_parse_does(kept_conditions: Any) -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser

    for text, names, values in CONDITIONS:
        for _ in range(3):  # the first parses; the others reuse it
            mine = ConditionExpressionParser(text, names, values)
            theirs = ConditionExpressionParser(text, names, values)
            op, expected = mine.parse(), kept_conditions(theirs)
            assert [_decide(op, i) for i in _items()] == [_decide(expected, i) for i in _items()]
            # What moto's handler reads back to refuse unused names and values.
            assert mine.expr_attr_names_found == theirs.expr_attr_names_found
            assert mine.expr_attr_values_found == theirs.expr_attr_values_found


def test_other_values_or_names_are_another_condition(kept_conditions: Any) -> None:
    from moto.dynamodb.comparisons import get_filter_expression

    item = _items()[2]  # rlw 7, rlc 2
    assert get_filter_expression("rlw = :w", None, {":w": {"N": "7"}}).expr(item) is True
    assert get_filter_expression("rlw = :w", None, {":w": {"N": "8"}}).expr(item) is False
    assert get_filter_expression("#a = :w", {"#a": "rlw"}, {":w": {"N": "7"}}).expr(item)
    assert not get_filter_expression("#a = :w", {"#a": "rlc"}, {":w": {"N": "7"}}).expr(item)


def test_a_kept_condition_shares_nothing_with_the_request(kept_conditions: Any) -> None:
    from moto.dynamodb.comparisons import get_filter_expression

    item = _items()[2]
    values = {":w": {"N": "7"}}
    op = get_filter_expression("rlw = :w", None, values)
    values[":w"]["N"] = "8"  # the request's dicts change after the parse (moto may store them)
    assert op.expr(item) is True
    assert get_filter_expression("rlw = :w", None, values).expr(item) is False
    assert get_filter_expression("rlw = :w", None, {":w": {"N": "7"}}).expr(item) is True


def test_a_refused_condition_is_refused_every_time(kept_conditions: Any) -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser, get_filter_expression

    for _ in range(2):
        with pytest.raises(Exception) as raised:
            get_filter_expression("rlw = = :w", None, {":w": {"N": "7"}})
        with pytest.raises(type(raised.value)):
            kept_conditions(ConditionExpressionParser("rlw = = :w", None, {":w": {"N": "7"}}))
    assert not any(k[0] == "rlw = = :w" for k in cast(Any, ConditionExpressionParser.parse).cache)


def test_the_kept_conditions_are_bounded(
    kept_conditions: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser, get_filter_expression

    monkeypatch.setattr(moto_speedups, "_PARSED_CONDITIONS_MAX", 5)
    for now in range(20):  # a timestamp in the values: a new entry each time
        get_filter_expression("expiresAt < :now", None, {":now": {"N": str(now)}})
    assert len(cast(Any, ConditionExpressionParser.parse).cache) == 5


# -- Update expressions parsed once -----------------------------------------------------

UPDATES = [
    "SET rlc = rlc + :one",
    "SET rlw = :w, rlc = :one, expiresAt = :exp",
    "ADD conns :c SET uid = :uid, uname = :uname, expiresAt = :exp",
    "DELETE rooms :r",
    "SET #l = list_append(if_not_exists(#l, :empty), :v) REMOVE gone, #m.#k",
]


def _update_parser() -> Any:
    # (moto's module declares no such name to type checkers)
    return importlib.import_module("moto.dynamodb.parsing.expressions").UpdateExpressionParser


def _tree(node: Any) -> object:
    """An update expression's tree as plain data (moto's nodes have no equality)."""
    if isinstance(node, list | tuple):
        return [_tree(n) for n in node]
    if hasattr(node, "children"):
        fields = {k: v for k, v in vars(node).items() if k not in ("parent", "children")}
        return (type(node).__name__, repr(sorted(fields.items())), _tree(node.children or []))
    return repr(node)


@pytest.fixture
def kept_updates(monkeypatch: pytest.MonkeyPatch) -> Any:
    """moto's own UpdateExpressionParser.make, and the speed-up over it for this test."""
    UpdateExpressionParser = _update_parser()

    own = UpdateExpressionParser.__dict__["make"]
    monkeypatch.setattr(UpdateExpressionParser, "make", own)
    moto_speedups._parsed_updates()
    assert UpdateExpressionParser.__dict__["make"] is not own
    return own.__get__(None, UpdateExpressionParser)


def test_a_kept_update_is_the_tree_moto_parses_and_each_caller_gets_its_own(
    kept_updates: Any,
) -> None:
    UpdateExpressionParser = _update_parser()

    for text in UPDATES:
        first, second = UpdateExpressionParser.make(text), UpdateExpressionParser.make(text)
        assert _tree(first) == _tree(second) == _tree(kept_updates(text))
        assert first is not second  # the validator rewrites the tree it is given
    assert set(UpdateExpressionParser.make.cache) == set(UPDATES)


def test_an_update_item_after_a_kept_parse_applies_its_own_values(kept_updates: Any) -> None:
    import boto3
    from moto import mock_aws

    with mock_aws():
        db = boto3.client("dynamodb", region_name="us-east-1")
        db.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for n in (1, 2, 5):  # the same text, other values: the kept tree holds none of them
            got = db.update_item(
                TableName="t",
                Key={"pk": {"S": "a"}},
                UpdateExpression="SET v = :v ADD n :one",
                ExpressionAttributeValues={":v": {"N": str(n)}, ":one": {"N": "1"}},
                ReturnValues="ALL_NEW",
            )["Attributes"]
            assert got["v"] == {"N": str(n)}
        assert got["n"] == {"N": "3"}


def test_a_refused_update_is_refused_every_time(kept_updates: Any) -> None:
    UpdateExpressionParser = _update_parser()

    for _ in range(2):
        with pytest.raises(Exception) as raised:
            UpdateExpressionParser.make("SET = :v")
        with pytest.raises(type(raised.value)):
            kept_updates("SET = :v")
    assert "SET = :v" not in UpdateExpressionParser.make.cache
