"""Verifying chat tokens: HS256 with the service secret, RS256 through an OIDC provider's JWKS.

Identity is the `sub` claim, the display name the `name` claim (default: `sub`). The
algorithm a token claims only chooses which key is tried, and each key is tried with its
own algorithm alone: an HS256 token signed with the provider's public key, `alg: none`
and every other algorithm are refused.

Times: `exp` is required; `exp`, `nbf` and `iat` must be JSON numbers; clocks may
disagree by LEEWAY_S either way; a token expiring more than the configured maximum
lifetime ahead is refused. Provider (RS256) tokens must come from the configured issuer
and carry the configured audience (`aud`) or app client id (`client_id`, Cognito access
tokens).
"""

from __future__ import annotations

import math
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from wschat_protocol import MAX_NAME_CHARS, MAX_USER_ID_CHARS

from .errors import AuthError, Forbidden
from .model import User
from .settings import Settings

MAX_TOKEN_CHARS = 8192
# Clock skew tolerated between the token's issuer and this function: a token issued a
# second "in the future" by a provider whose clock runs ahead is still good.
LEEWAY_S = 30
_TIME_CLAIMS = ("exp", "nbf", "iat")


@dataclass(frozen=True)
class Identity:
    user: User
    scopes: frozenset[str]


def _scopes(claims: dict[str, Any]) -> frozenset[str]:
    """OAuth's space-separated `scope`, or a list (`scope` / Cognito-style `scp`)."""
    raw = claims.get("scope", claims.get("scp"))
    if isinstance(raw, str):
        return frozenset(raw.split())
    if isinstance(raw, list):
        return frozenset(s for s in raw if isinstance(s, str))
    return frozenset()


def _printable(value: str) -> bool:
    return all(unicodedata.category(ch)[0] != "C" for ch in value)


def identity_from_claims(claims: dict[str, Any]) -> Identity:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.strip():
        raise AuthError("token has no subject")
    # A genuine token whose subject cannot be a chat identity is denied (403), not invalid.
    if len(sub) > MAX_USER_ID_CHARS or not _printable(sub):
        raise Forbidden("subject is not usable as a chat user id")
    name = claims.get("name")
    if not isinstance(name, str) or not name.strip() or not _printable(name):
        name = sub
    return Identity(User(id=sub, name=name.strip()[:MAX_NAME_CHARS]), _scopes(claims))


class TokenVerifier:
    def __init__(
        self,
        settings: Settings,
        secret: Callable[[], str | None],
        jwks_client: Callable[[str], jwt.PyJWKClient] = jwt.PyJWKClient,
    ) -> None:
        self._settings = settings
        self._secret = secret
        self._jwks: jwt.PyJWKClient | None = None
        self._jwks_factory = jwks_client
        self._lock = threading.Lock()

    def verify(self, token: str | None) -> Identity:
        if not token:
            raise AuthError("missing token")
        if len(token) > MAX_TOKEN_CHARS:
            raise AuthError("token too long")
        try:
            alg = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError:
            raise AuthError("malformed token") from None
        if alg == "HS256":
            secret = self._secret()
            if not secret:
                raise AuthError("HS256 tokens are not accepted here")
            key: Any = secret
        elif alg == "RS256" and self._settings.jwks_url:
            try:
                key = self._jwks_client().get_signing_key_from_jwt(token).key
            except jwt.PyJWTError as exc:
                raise AuthError(f"no signing key: {exc}") from None
        else:
            raise AuthError(f"algorithm {alg!r} is not accepted")
        # Issuer and audience belong to the OIDC provider (protocol.md); the service's own
        # HS256 tokens carry neither.
        oidc = alg == "RS256"
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                issuer=self._settings.jwt_issuer if oidc else None,
                leeway=LEEWAY_S,
                options={"require": ["exp", "sub"], "verify_aud": False},
            )
        except (jwt.PyJWTError, OverflowError, ValueError) as exc:
            raise AuthError(str(exc) or "invalid token") from None
        self._check_times(claims)
        if oidc:
            self._check_audience(claims)
        return identity_from_claims(claims)

    def _check_times(self, claims: dict[str, Any]) -> None:
        for name in _TIME_CLAIMS:
            value = claims.get(name)
            if name in claims and (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise AuthError(f"claim {name!r} must be a number of seconds")
        most = time.time() + self._settings.max_token_lifetime_s + LEEWAY_S
        if claims["exp"] > most:
            raise AuthError(
                f"token expires more than {self._settings.max_token_lifetime_s} s from now"
            )

    def _check_audience(self, claims: dict[str, Any]) -> None:
        """The configured audience in `aud`, or the configured app client in `client_id`
        (Cognito access tokens have no `aud`)."""
        audience, client_id = self._settings.jwt_audience, self._settings.jwt_client_id
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if audience is not None and audience in auds:
            return
        if client_id is not None and claims.get("client_id") == client_id and aud is None:
            return
        raise AuthError("token is for another audience")

    def _jwks_client(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._jwks is None:
                assert self._settings.jwks_url
                self._jwks = self._jwks_factory(self._settings.jwks_url)
            return self._jwks


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def secret_source(settings: Settings) -> Callable[[], str | None]:
    """Where the HS256 secret comes from: the setting itself, else SSM via Powertools.

    Parameters caches the value (5 minutes), so a rotated secret is picked up without a
    redeploy and SSM is not called per connection.
    """
    if settings.jwt_secret:
        value = settings.jwt_secret
        return lambda: value
    name = settings.jwt_secret_param
    if not name:
        return lambda: None

    def fetch() -> str | None:
        from aws_lambda_powertools.utilities import parameters

        try:
            result = parameters.get_parameter(name, decrypt=True, max_age=300)
        except parameters.exceptions.GetParameterError as exc:
            # No such parameter: HS256 is simply not configured (401s, not 500s). Any
            # other failure (throttling, permissions) stays an error.
            if "ParameterNotFound" in str(exc):
                return None
            raise
        return str(result) if result else None

    return fetch
