"""Signing chat tokens: dev tokens for the local stack, and publisher tokens.

The local stack (`make run`) verifies HS256 tokens with `CHAT_JWT_SECRET` when it is set,
else with a secret it makes up for the run and writes to `.local/secrets.env` while it
runs (serverless.yml's `custom.local`). Against AWS, get a token from your identity
provider instead (or sign with the secret stored in SSM).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path

import jwt

# The last resort when no local stack runs; never use it for a deployed stage.
DEV_JWT_SECRET = "wschat-local-dev-secret-do-not-deploy"
SECRET_ENV = "CHAT_JWT_SECRET"
# Where `make run` writes the secret it made up for the run (custom.local.secretsFile).
RUN_SECRETS = Path(__file__).resolve().parents[1] / ".local" / "secrets.env"


def local_secret() -> str:
    """The secret the local stack uses: $CHAT_JWT_SECRET, else the running stack's."""
    return os.environ.get(SECRET_ENV) or _run_secret() or DEV_JWT_SECRET


def _run_secret() -> str | None:
    try:
        lines = RUN_SECRETS.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        name, _, value = line.partition("=")
        if name == SECRET_ENV and value:
            return value
    return None


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
