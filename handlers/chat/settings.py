"""Configuration: every environment variable the service reads, validated once at cold start.

The names are the ones `serverless.yml` sets and the local harness copies from it.
Explicit constructor arguments win over the environment (tests build Settings directly).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

CONNECTIONS_TABLE = "CHAT_CONNECTIONS_TABLE"
MESSAGES_TABLE = "CHAT_MESSAGES_TABLE"
JWT_SECRET = "CHAT_JWT_SECRET"  # the HS256 secret itself (local runs, tests)
JWT_SECRET_PARAM = "CHAT_JWT_SECRET_PARAM"  # or the name of the SSM SecureString holding it (AWS)
JWKS_URL = "CHAT_JWKS_URL"  # RS256 via an OIDC provider's JWKS (Cognito, Auth0, ...)
JWT_ISSUER = "CHAT_JWT_ISSUER"
JWT_AUDIENCE = "CHAT_JWT_AUDIENCE"
MESSAGE_RETENTION_DAYS = "CHAT_MESSAGE_RETENTION_DAYS"
RATE_LIMIT = "CHAT_RATE_LIMIT"
RATE_WINDOW_SECONDS = "CHAT_RATE_WINDOW_SECONDS"
FANOUT_CONCURRENCY = "CHAT_FANOUT_CONCURRENCY"
CONNECTION_TTL_SECONDS = "CHAT_CONNECTION_TTL_SECONDS"
# A room fan-out larger than the shard size is split: this invocation delivers the first
# shard and hands each other one to the fan-out function (asynchronous Lambda invokes).
FANOUT_FUNCTION = "CHAT_FANOUT_FUNCTION"
FANOUT_SHARD_SIZE = "CHAT_FANOUT_SHARD_SIZE"
# https://{api-id}.execute-api.{region}.amazonaws.com/{stage}: needed where the event is not
# the WebSocket API's own (the publish route); WebSocket events carry it themselves.
MANAGEMENT_ENDPOINT = "CHAT_MANAGEMENT_ENDPOINT"

# API Gateway closes every WebSocket after 2 hours; $disconnect is best-effort, so
# connection and membership items expire a little after that on their own.
DEFAULT_CONNECTION_TTL_S = 2 * 3600 + 15 * 60


class ConfigError(ValueError):
    """A setting is missing or malformed: raised at cold start, never per request."""


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    connections_table: str = "wschat-dev-connections"
    messages_table: str = "wschat-dev-messages"
    jwt_secret: str | None = None
    jwt_secret_param: str | None = None
    jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    message_retention_s: int = 7 * 86400
    rate_limit: int = 50
    rate_window_s: int = 10
    fanout_concurrency: int = 32
    fanout_function: str | None = None  # None: every fan-out is delivered in-line
    fanout_shard_size: int = 750
    connection_ttl_s: int = DEFAULT_CONNECTION_TTL_S
    dedup_window_s: int = 300  # protocol.md: a repeated clientMsgId within 5 minutes
    management_endpoint: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def opt(name: str) -> str | None:
            return env.get(name, "").strip() or None

        tables = {name: opt(name) for name in (CONNECTIONS_TABLE, MESSAGES_TABLE)}
        missing = [name for name, value in tables.items() if value is None]
        if missing:
            raise ConfigError(f"missing environment variable(s): {', '.join(missing)}")
        return cls(
            connections_table=str(tables[CONNECTIONS_TABLE]),
            messages_table=str(tables[MESSAGES_TABLE]),
            jwt_secret=opt(JWT_SECRET),
            jwt_secret_param=opt(JWT_SECRET_PARAM),
            jwks_url=opt(JWKS_URL),
            jwt_issuer=opt(JWT_ISSUER),
            jwt_audience=opt(JWT_AUDIENCE),
            message_retention_s=_int(env, MESSAGE_RETENTION_DAYS, 7, 1, 3650) * 86400,
            rate_limit=_int(env, RATE_LIMIT, 50, 1, 100_000),
            rate_window_s=_int(env, RATE_WINDOW_SECONDS, 10, 1, 3600),
            fanout_concurrency=_int(env, FANOUT_CONCURRENCY, 32, 1, 512),
            fanout_function=opt(FANOUT_FUNCTION),
            # 5,000 ids (~120 KB) plus the largest frame stay under the 1 MB Event payload.
            fanout_shard_size=_int(env, FANOUT_SHARD_SIZE, 750, 10, 5000),
            connection_ttl_s=_int(env, CONNECTION_TTL_SECONDS, DEFAULT_CONNECTION_TTL_S, 60, 86400),
            management_endpoint=opt(MANAGEMENT_ENDPOINT),
        )
