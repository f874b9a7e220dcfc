"""Signing chat tokens: dev tokens for the local stack, and publisher tokens.

The local stack (`make run`) verifies HS256 tokens with `CHAT_JWT_SECRET`, or with
DEV_JWT_SECRET when that variable is unset (it prints it). Against AWS, get a token from
your identity provider instead (or sign with the secret stored in SSM).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

import jwt

# Printed by `make run`; never use it for a deployed stage.
DEV_JWT_SECRET = "wschat-local-dev-secret-do-not-deploy"
SECRET_ENV = "CHAT_JWT_SECRET"


def local_secret() -> str:
    """The secret the local stack uses: $CHAT_JWT_SECRET, else the fixed dev secret."""
    return os.environ.get(SECRET_ENV) or DEV_JWT_SECRET


def mint_token(
    sub: str,
    *,
    name: str | None = None,
    secret: str | None = None,
    ttl_s: int = 3600,
    scopes: Iterable[str] = (),
    issuer: str | None = None,
    audience: str | None = None,
) -> str:
    """An HS256 token for user `sub` (display name `name`), valid for `ttl_s` seconds."""
    now = int(time.time())
    claims: dict[str, object] = {"sub": sub, "iat": now, "exp": now + ttl_s}
    if name:
        claims["name"] = name
    scope = " ".join(scopes)
    if scope:
        claims["scope"] = scope
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret or local_secret(), algorithm="HS256")
