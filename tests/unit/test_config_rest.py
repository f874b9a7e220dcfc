"""Serverless `http` events (REST API routes) as the loader reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.config import ConfigError, load_service
from infra.service import ServiceSpec

HEAD = (
    "service: s\nprovider: {name: aws, runtime: python3.12}\n"
    "functions:\n  f:\n    handler: h.f\n    events:\n"
)


def load(tmp_path: Path, events: str) -> ServiceSpec:
    path = tmp_path / "serverless.yml"
    path.write_text(HEAD + events)
    return load_service(path, "dev", env={})


def test_both_forms_of_an_http_event(tmp_path: Path) -> None:
    events = "      - http: GET ping\n      - http: {method: any, path: '/items/{proxy+}/'}\n"
    routes = load(tmp_path, events).http_routes
    assert [(r.method, r.path, r.api, r.payload_version) for r in routes] == [
        ("GET", "/ping", "rest", "1.0"),
        ("*", "/items/{proxy+}", "rest", "1.0"),
    ]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ("{method: get, path: x, authorizer: auth}", "REST API authorizers are not reproduced"),
        ("{method: get, path: x, integration: lambda}", "integration 'lambda' is not reproduced"),
        ("{path: x}", "no method"),
    ],
)
def test_what_cannot_be_reproduced_is_refused_by_place(
    tmp_path: Path, event: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=rf"functions\.f\.events\[0\] \(http\): {message}"):
        load(tmp_path, f"      - http: {event}\n")
