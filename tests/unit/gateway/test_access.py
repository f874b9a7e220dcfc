"""Who may reach the local AWS APIs and open WebSockets from a browser (`access`), and
the SigV4 form check AWS makes first (`infra.sigv4`). Over sockets:
`tests/integration/gateway/test_access.py`."""

from __future__ import annotations

import json

import pytest

from infra import sigv4
from infra.apigateway.access import Access
from tests.integration.gateway.signing import signed_headers

API_HOST = "abcdefghij.execute-api.eu-west-1.amazonaws.com"


@pytest.fixture
def access() -> Access:
    return Access(["127.0.0.1", API_HOST])


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1:8080",
        "localhost:8080",
        "LOCALHOST:9",
        "[::1]:8080",
        "127.0.0.1",
        API_HOST,  # sandboxes reach the gateway under the API's AWS name
        f"{API_HOST}:443",
        "192.168.1.20:8080",  # an address: a request that reached us (no rebinding)
    ],
)
def test_the_names_of_this_machine_are_served(access: Access, host: str) -> None:
    assert access.serves_host(host)


@pytest.mark.parametrize(
    "host", ["evil.example:8080", "evil.example", "127.0.0.1.evil.example:8080", "", None]
)
def test_other_names_are_not_dns_rebinding_is_refused(access: Access, host: str | None) -> None:
    assert not access.serves_host(host)


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("http://127.0.0.1:8080", "127.0.0.1:8080"),  # a page the gateway served
        ("http://localhost:8080", "localhost:8080"),
        ("http://localhost:8080", "127.0.0.1:8080"),  # its page under another name
        ("https://127.0.0.1:8080", "127.0.0.1:8080"),  # TLS on the same port
        ("http://127.0.0.1:8080", "127.0.0.1:9999"),  # its page, through a local relay
        ("http://192.168.1.20:8080", "192.168.1.20:8080"),  # bound beyond loopback
    ],
)
def test_the_gateways_own_pages_may_open_websockets(access: Access, origin: str, host: str) -> None:
    assert access.origin_allowed(origin, host, 8080)


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("https://evil.example", "127.0.0.1:8080"),  # a page elsewhere
        ("http://localhost:5173", "localhost:8080"),  # another local server's page
        ("http://127.0.0.1", "127.0.0.1:8080"),  # port 80 is not the gateway's
        ("http://evil.example:8080", "evil.example:8080"),  # DNS rebinding
        ("http://192.168.1.99:8080", "127.0.0.1:8080"),  # another machine's page
        ("null", "127.0.0.1:8080"),  # a file:// page, a sandboxed frame
        ("garbage", "127.0.0.1:8080"),
        ("http://192.168.1.20:8080", None),
    ],
)
def test_other_pages_may_not(access: Access, origin: str, host: str | None) -> None:
    assert not access.origin_allowed(origin, host, 8080)


def test_configured_origins_are_accepted_as_written_and_star_accepts_any() -> None:
    access = Access([], ["http://localhost:5173", "https://Chat.Example.com"])
    assert access.origin_allowed("http://localhost:5173", "127.0.0.1:8080", 8080)
    assert access.origin_allowed("https://chat.example.com:443", "127.0.0.1:8080", 8080)
    assert not access.origin_allowed("http://localhost:5174", "127.0.0.1:8080", 8080)
    assert Access([], ["*"]).origin_allowed("https://evil.example", "127.0.0.1:8080", 8080)
    with pytest.raises(ValueError, match="not an origin"):
        Access([], ["localhost:5173"])


URL = "http://127.0.0.1:8080/dev/@connections/R1kmxc2VNjMCFIA%3D"


def refused(headers: dict[str, str], service: str = "execute-api") -> tuple[int, str, str]:
    response = sigv4.refusal(list(headers.items()), service)
    assert response is not None
    kind = dict(response.headers)["x-amzn-ErrorType"]
    return response.status, kind, json.loads(response.body)["message"]


def test_a_request_boto3_signed_passes() -> None:
    for service in ("execute-api", "lambda"):
        headers = signed_headers("POST", URL, b"hi", service=service)
        assert sigv4.refusal(list(headers.items()), service) is None


def test_no_authorization_is_missing_authentication_token() -> None:
    assert refused({"Host": "127.0.0.1:8080"}) == (
        403,
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
    )
    assert refused({"Authorization": " "})[1] == "MissingAuthenticationTokenException"


def test_a_header_that_is_not_sigv4_is_an_incomplete_signature() -> None:
    status, kind, message = refused({"Authorization": "Bearer eyJ.x.y"})
    assert (status, kind) == (403, "IncompleteSignatureException")
    assert "requires 'Credential' parameter" in message
    signed = signed_headers("POST", URL, b"hi")
    del signed["X-Amz-Date"]
    _, kind, message = refused(signed)
    assert kind == "IncompleteSignatureException" and "X-Amz-Date" in message
    signed = signed_headers("POST", URL, b"hi")
    signed["Authorization"] = signed["Authorization"].replace("/execute-api/", "/")
    assert refused(signed)[1] == "IncompleteSignatureException"


def test_a_signature_for_another_service_is_invalid() -> None:
    signed = signed_headers("POST", URL, b"hi", service="lambda")
    status, kind, message = refused(signed, "execute-api")
    assert (status, kind) == (403, "InvalidSignatureException")
    assert "'execute-api'" in message
    forged = signed_headers("POST", URL, b"hi")
    forged["Authorization"] = forged["Authorization"].replace("SignedHeaders=", "SignedHeaders=x;")
    forged["Authorization"] = forged["Authorization"].replace(";host;", ";")
    assert refused(forged)[1] == "InvalidSignatureException"  # host must be signed
