"""Route selection expressions, without a gateway."""

from __future__ import annotations

import pytest

from infra.apigateway.routing import RouteSelector, route_for


@pytest.mark.parametrize("expression", ["$request.body.action", "${request.body.action}"])
@pytest.mark.parametrize(
    ("body", "selected"),
    [
        ('{"action": "join"}', "join"),
        ('{"action": 7}', "7"),
        ('{"action": false}', "false"),
        ('{"action": {"a": 1}}', '{"a":1}'),
        ('{"other": "join"}', None),
        ('["join"]', None),
        ('"join"', None),
        ("join", None),
        ("", None),
    ],
)
def test_selection(expression: str, body: str, selected: str | None) -> None:
    assert RouteSelector(expression).select(body) == selected


def test_nested_path() -> None:
    selector = RouteSelector("$request.body.meta.kind")
    assert selector.select('{"meta": {"kind": "ping"}}') == "ping"
    assert selector.select('{"meta": "ping"}') is None


@pytest.mark.parametrize("expression", ["$request.header.x", "${request.body.action", "action"])
def test_unsupported_expressions_fail_loudly(expression: str) -> None:
    with pytest.raises(ValueError):
        RouteSelector(expression)


def test_route_for_exact_then_default() -> None:
    routes = {"join": 1, "$default": 2, "$connect": 3}
    reserved = ("$connect", "$disconnect")
    assert route_for("join", routes, reserved=reserved) == "join"
    assert route_for("Join", routes, reserved=reserved) == "$default"
    assert route_for("$connect", routes, reserved=reserved) == "$default"
    assert route_for(None, {"join": 1}) is None


@pytest.mark.parametrize(
    "body",
    [
        "[" * 10_000 + "]" * 10_000,
        '{"action": ' + "[" * 10_000 + "]" * 10_000 + "}",
        '{"a": ' * 10_000 + "1" + "}" * 10_000,
    ],
)
def test_a_body_too_deep_to_parse_selects_nothing(body: str) -> None:
    """No RecursionError: it goes where any body that is not JSON goes ($default)."""
    assert RouteSelector("$request.body.action").select(body) is None
