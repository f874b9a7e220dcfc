"""What a sandbox's name resolution does (infra/awslambda/bootstrap/bootstrap.py).

The service's own API host is the local gateway whatever port a URL names; other AWS
hosts do not resolve unless an AWS_ENDPOINT_URL variable names them (a real DynamoDB
given with --dynamodb-endpoint), and each refusal is one line of the function's log.
"""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BOOTSTRAP = (
    Path(__file__).resolve().parents[2] / "infra" / "awslambda" / "bootstrap" / "bootstrap.py"
)
API = "abcdefghij.execute-api.eu-west-1.amazonaws.com"


def bootstrap() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sandbox_bootstrap", BOOTSTRAP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def network(allowed: set[str]) -> Any:
    net = bootstrap()._LocalNetwork({API: ["127.0.0.1", 4567]}, allowed)
    # What the real resolver was asked, instead of asking it.
    net.getaddrinfo = lambda host, port, *a, **k: [("asked", host, port)]
    net.gethostbyname = lambda host: f"asked {host}"
    return net


def test_the_services_api_host_is_the_gateway_on_any_port() -> None:
    net = network(set())
    assert net._getaddrinfo(API, 443) == [("asked", "127.0.0.1", 4567)]
    assert net._getaddrinfo(API.upper() + ".", 80, socket.AF_INET) == [("asked", "127.0.0.1", 4567)]
    assert net._gethostbyname(API) == "asked 127.0.0.1"


def test_other_aws_hosts_do_not_resolve_and_say_so_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    net = network(set())
    for host in ("sns.eu-west-1.amazonaws.com", "sns.eu-west-1.amazonaws.com", "s3.api.aws"):
        with pytest.raises(socket.gaierror, match="not served locally"):
            net._getaddrinfo(host, 443)
    with pytest.raises(socket.gaierror):
        net._getaddrinfo("other.execute-api.eu-west-1.amazonaws.com", 443)  # not this API
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3 and "sns.eu-west-1.amazonaws.com: an AWS endpoint" in lines[0]


def test_configured_endpoints_and_other_hosts_resolve_as_usual() -> None:
    net = network({"dynamodb.eu-west-1.amazonaws.com"})
    assert net._getaddrinfo("dynamodb.eu-west-1.amazonaws.com", 443) == [
        ("asked", "dynamodb.eu-west-1.amazonaws.com", 443)
    ]
    assert net._getaddrinfo("pypi.org", 443) == [("asked", "pypi.org", 443)]
    assert net._getaddrinfo(None, 0) == [("asked", None, 0)]


def test_the_configured_hosts_are_those_of_the_endpoint_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "https://dynamodb.eu-west-1.amazonaws.com")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    monkeypatch.setenv("NOT_AN_ENDPOINT", "https://sts.amazonaws.com")
    assert bootstrap()._configured_hosts() >= {"dynamodb.eu-west-1.amazonaws.com", "127.0.0.1"}
    assert "sts.amazonaws.com" not in bootstrap()._configured_hosts()
