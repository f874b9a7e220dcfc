"""The token attack set against both authorizers, and RS256 through a real JWKS endpoint."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from client.tokens import mint_token
from handlers.chat.auth import LEEWAY_S, TokenVerifier
from handlers.chat.errors import AuthError, Forbidden
from handlers.chat.settings import ConfigError, Settings
from tests.conftest import load_event
from tests.functional.conftest import SECRET, Context

ISSUER = "https://idp.example.test/pool"
AUDIENCE = "wschat-client"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(claims: dict[str, Any], alg: str = "none") -> str:
    header = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    return f"{header}.{b64(json.dumps(claims).encode())}."


def claims(**extra: Any) -> dict[str, Any]:
    return {"sub": "mallory", "exp": int(time.time()) + 600, **extra}


def ws_authorize(token: str | None) -> dict[str, Any]:
    from handlers import authorizer

    event = load_event("ws_authorizer")
    event["queryStringParameters"] = None if token is None else {"token": token}
    result: dict[str, Any] = authorizer.handler(event, Context())
    return result


def http_authorize(header: str | None) -> dict[str, Any]:
    from handlers import publish_authorizer

    event = load_event("http_authorizer")
    event["headers"].pop("authorization")
    if header is not None:
        event["headers"]["authorization"] = header
    result: dict[str, Any] = publish_authorizer.handler(event, Context())
    return result


RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_PUBLIC_PEM = RSA_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)

ATTACKS: dict[str, Callable[[], str]] = {
    "expired": lambda: jwt.encode(claims(exp=int(time.time()) - LEEWAY_S - 5), SECRET, "HS256"),
    "no exp": lambda: jwt.encode({"sub": "mallory"}, SECRET, "HS256"),
    "no sub": lambda: jwt.encode({"exp": int(time.time()) + 60}, SECRET, "HS256"),
    "wrong secret": lambda: jwt.encode(claims(), "another-secret-that-is-32-bytes-long", "HS256"),
    "tampered payload": lambda: (
        lambda t: (
            t.split(".")[0]
            + "."
            + b64(json.dumps(claims(sub="admin")).encode())
            + "."
            + t.split(".")[2]
        )
    )(jwt.encode(claims(), SECRET, "HS256")),
    "alg none": lambda: unsigned(claims()),
    "alg None": lambda: unsigned(claims(), alg="None"),
    "HS512": lambda: jwt.encode(claims(), SECRET, "HS512"),
    "RS256 without JWKS": lambda: jwt.encode(claims(), RSA_KEY, "RS256"),
    "garbage": lambda: "not.a.token",
    "empty": lambda: "",
    "huge": lambda: "a" * 9000,
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_connect_authorizer_refuses_with_unauthorized(aws: None, attack: str) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        ws_authorize(ATTACKS[attack]())


def test_connect_authorizer_without_token(aws: None) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        ws_authorize(None)


def test_connect_authorizer_allows_and_passes_identity(aws: None) -> None:
    policy = ws_authorize(mint_token("alice", name="Alice", secret=SECRET))
    event = load_event("ws_authorizer")
    assert policy["principalId"] == "alice"
    assert policy["context"] == {"userId": "alice", "userName": "Alice"}
    assert policy["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}
    ]


def test_connect_authorizer_denies_a_genuine_but_unusable_identity(aws: None) -> None:
    policy = ws_authorize(jwt.encode(claims(sub="x" * 200), SECRET, "HS256"))
    assert policy["policyDocument"]["Statement"][0]["Effect"] == "Deny"  # API Gateway: 403


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_publish_authorizer_refuses_with_unauthorized(aws: None, attack: str) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        http_authorize(f"Bearer {ATTACKS[attack]()}")


@pytest.mark.parametrize("header", [None, "", "Basic dXNlcjpwYXNz", "Bearer", "Token abc"])
def test_publish_authorizer_needs_a_bearer_token(aws: None, header: str | None) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        http_authorize(header)


def test_publish_authorizer_needs_the_publish_scope(aws: None) -> None:
    assert http_authorize(f"Bearer {mint_token('bot', secret=SECRET)}") == {"isAuthorized": False}
    token = mint_token("bot", secret=SECRET, scopes=["read", "write"])
    assert http_authorize(f"Bearer {token}") == {"isAuthorized": False}
    token = mint_token("bot", secret=SECRET, scopes=["publisher", "publish-ish", "x/publisher"])
    assert http_authorize(f"Bearer {token}") == {"isAuthorized": False}
    # Matched exactly: any scope that merely ends in /publish is some other API's.
    other = mint_token("bot", secret=SECRET, scopes=["https://other-app.example/publish"])
    assert http_authorize(f"Bearer {other}") == {"isAuthorized": False}
    token = mint_token("bot", name="Bot", secret=SECRET, scopes=["read", "publish"])
    assert http_authorize(f"bearer {token}") == {
        "isAuthorized": True,
        "context": {"userId": "bot", "userName": "Bot"},
    }


def test_the_publish_scope_is_a_setting_matched_exactly(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    from handlers import publish_authorizer

    monkeypatch.setenv("CHAT_PUBLISH_SCOPE", "https://wschat.example/publish")
    try:
        importlib.reload(publish_authorizer)  # the settings are read at cold start
        cognito = mint_token("bot", secret=SECRET, scopes=["https://wschat.example/publish"])
        assert http_authorize(f"Bearer {cognito}")["isAuthorized"] is True
        for scopes in (
            ["publish"],
            ["https://other.example/publish"],
            ["x/wschat.example/publish"],
        ):
            token = mint_token("bot", secret=SECRET, scopes=scopes)
            assert http_authorize(f"Bearer {token}") == {"isAuthorized": False}, scopes
    finally:
        monkeypatch.delenv("CHAT_PUBLISH_SCOPE")
        importlib.reload(publish_authorizer)


# -- RS256 through a JWKS endpoint (Cognito / any OIDC provider) ---------------------


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    numbers = RSA_KEY.public_key().public_numbers()
    jwk = {
        "kty": "RSA",
        "kid": "k1",
        "use": "sig",
        "alg": "RS256",
        "n": b64(numbers.n.to_bytes(256, "big")),
        "e": b64(numbers.e.to_bytes(3, "big")),
    }
    body = json.dumps({"keys": [jwk]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    server.shutdown()


@pytest.fixture
def oidc(jwks_url: str) -> TokenVerifier:
    settings = Settings(jwks_url=jwks_url, jwt_issuer=ISSUER, jwt_audience=AUDIENCE)
    return TokenVerifier(settings, secret=lambda: SECRET)


def rs256(**extra: Any) -> str:
    """A provider token; a claim given as None is left out."""
    full = claims(**{"iss": ISSUER, "aud": AUDIENCE, **extra})
    body = {k: v for k, v in full.items() if v is not None}
    return jwt.encode(body, RSA_KEY, "RS256", headers={"kid": "k1"})


def test_rs256_from_the_provider_is_accepted(oidc: TokenVerifier) -> None:
    identity = oidc.verify(rs256(name="Mallory", scope="chat publish"))
    assert identity.user.id == "mallory" and identity.user.name == "Mallory"
    assert identity.scopes == {"chat", "publish"}


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: rs256(iss="https://evil.example.test"), id="wrong issuer"),
        pytest.param(lambda: rs256(aud="someone-else"), id="wrong audience"),
        pytest.param(lambda: rs256(exp=int(time.time()) - LEEWAY_S - 5), id="expired"),
        pytest.param(
            lambda: jwt.encode(
                claims(iss=ISSUER, aud=AUDIENCE),
                rsa.generate_private_key(public_exponent=65537, key_size=2048),
                "RS256",
                headers={"kid": "k1"},
            ),
            id="signed by another key",
        ),
        pytest.param(
            lambda: jwt.encode(claims(iss=ISSUER, aud=AUDIENCE), RSA_KEY, "RS256", {"kid": "k9"}),
            id="unknown kid",
        ),
    ],
)
def test_rs256_attacks(oidc: TokenVerifier, token: Any) -> None:
    with pytest.raises(AuthError) as info:
        oidc.verify(token())
    assert not isinstance(info.value, Forbidden)


def test_hs_rs_confusion_is_refused(oidc: TokenVerifier) -> None:
    """HS256 signed with the provider's *public* key must not pass as the provider's token."""
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    payload = b64(json.dumps(claims(iss=ISSUER, aud=AUDIENCE)).encode())
    import hashlib
    import hmac

    signature = hmac.new(RSA_PUBLIC_PEM, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    with pytest.raises(AuthError):
        oidc.verify(f"{header}.{payload}.{b64(signature)}")


def test_hs256_still_works_beside_oidc(oidc: TokenVerifier) -> None:
    assert oidc.verify(mint_token("svc", secret=SECRET)).user.id == "svc"


# -- OIDC needs an issuer and an audience (or app client) ------------------------------


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"CHAT_JWT_AUDIENCE": AUDIENCE}, "CHAT_JWT_ISSUER"),
        ({"CHAT_JWT_ISSUER": ISSUER}, "CHAT_JWT_AUDIENCE"),
        ({"CHAT_JWT_ISSUER": ISSUER, "CHAT_JWT_AUDIENCE": " "}, "CHAT_JWT_CLIENT_ID"),
    ],
)
def test_a_jwks_deployment_without_issuer_and_audience_does_not_start(
    aws: None, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], missing: str
) -> None:
    import importlib

    from handlers import authorizer

    monkeypatch.setenv("CHAT_JWKS_URL", "https://idp.example.test/.well-known/jwks.json")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        with pytest.raises(ConfigError, match=missing):
            importlib.reload(authorizer)  # the cold start fails: no handshake is ever allowed
    finally:
        monkeypatch.undo()
        importlib.reload(authorizer)


def test_settings_refuse_a_jwks_without_issuer_or_audience() -> None:
    url = "https://idp.example.test/jwks.json"
    with pytest.raises(ConfigError, match="CHAT_JWT_ISSUER"):
        Settings(jwks_url=url, jwt_audience=AUDIENCE)
    with pytest.raises(ConfigError, match="CHAT_JWT_AUDIENCE"):
        Settings(jwks_url=url, jwt_issuer=ISSUER)
    Settings(jwks_url=url, jwt_issuer=ISSUER, jwt_client_id="app-client")  # Cognito access


@pytest.fixture
def cognito(jwks_url: str) -> TokenVerifier:
    """Cognito access tokens: no `aud`, the app client in `client_id`."""
    settings = Settings(jwks_url=jwks_url, jwt_issuer=ISSUER, jwt_client_id="app-client")
    return TokenVerifier(settings, secret=lambda: SECRET)


def test_cognito_access_tokens_of_the_configured_app_client(cognito: TokenVerifier) -> None:
    token = rs256(aud=None, client_id="app-client", token_use="access")
    assert cognito.verify(token).user.id == "mallory"


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({"aud": None, "client_id": "another-app"}, id="another app client"),
        pytest.param({"aud": None}, id="no client_id"),
        pytest.param({"aud": "app-client"}, id="client id in aud, none configured"),
        pytest.param({"aud": "another", "client_id": "app-client"}, id="aud of another app"),
    ],
)
def test_tokens_of_other_app_clients_are_refused(
    cognito: TokenVerifier, extra: dict[str, Any]
) -> None:
    with pytest.raises(AuthError):
        cognito.verify(rs256(**extra))


def test_an_id_token_without_aud_is_refused(oidc: TokenVerifier) -> None:
    with pytest.raises(AuthError, match="audience"):
        oidc.verify(rs256(aud=None))
    assert oidc.verify(rs256(aud=["other", AUDIENCE])).user.id == "mallory"  # a list is fine


# -- times: leeway, numbers only, a maximum lifetime ----------------------------------


def hs256(**extra: Any) -> str:
    return jwt.encode(claims(**extra), SECRET, "HS256")


def test_clock_skew_within_the_leeway_is_tolerated(oidc: TokenVerifier) -> None:
    now = int(time.time())
    assert oidc.verify(hs256(iat=now + 1)).user.id == "mallory"  # issued "in the future"
    assert oidc.verify(hs256(nbf=now + LEEWAY_S - 5)).user.id == "mallory"
    assert oidc.verify(hs256(exp=now - LEEWAY_S + 5)).user.id == "mallory"
    for late in ({"nbf": now + LEEWAY_S + 10}, {"iat": now + LEEWAY_S + 10}):
        with pytest.raises(AuthError):
            oidc.verify(hs256(**late))
    with pytest.raises(AuthError):
        oidc.verify(hs256(exp=now - LEEWAY_S - 5))


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({"exp": str(int(time.time()) + 600)}, id="exp as a string"),
        pytest.param({"iat": str(int(time.time()))}, id="iat as a string"),
        pytest.param({"nbf": True}, id="nbf as a boolean"),
        pytest.param({"exp": float("inf")}, id="exp infinite"),
        pytest.param({"exp": 10**30}, id="exp effectively infinite"),
        pytest.param({"exp": None}, id="exp null"),
    ],
)
def test_time_claims_must_be_sane_numbers(oidc: TokenVerifier, extra: dict[str, Any]) -> None:
    with pytest.raises(AuthError):
        oidc.verify(hs256(**extra))


def test_the_maximum_token_lifetime_edge(oidc: TokenVerifier, jwks_url: str) -> None:
    now = int(time.time())
    day = 86400  # the default
    assert oidc.verify(hs256(exp=now + day)).user.id == "mallory"
    with pytest.raises(AuthError, match="expires more than"):
        oidc.verify(hs256(exp=now + day + LEEWAY_S + 60))
    short = Settings(
        jwks_url=jwks_url, jwt_issuer=ISSUER, jwt_audience=AUDIENCE, max_token_lifetime_s=600
    )
    verifier = TokenVerifier(short, secret=lambda: SECRET)
    assert verifier.verify(hs256(exp=now + 600)).user.id == "mallory"
    with pytest.raises(AuthError):
        verifier.verify(hs256(exp=now + 3600))
