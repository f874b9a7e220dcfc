"""Configuration: every environment variable the service reads, validated once at cold start.

The names are the ones `serverless.yml` sets and the local harness copies from it.
Explicit constructor arguments win over the environment (tests build Settings directly).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from wschat_protocol import (
    DEDUP_WINDOW_S,
    DEFAULT_RATE_LIMIT,
    DEFAULT_RATE_WINDOW_S,
)
from wschat_protocol import (
    PUBLISH_SCOPE as DEFAULT_PUBLISH_SCOPE,
)

CONNECTIONS_TABLE = "CHAT_CONNECTIONS_TABLE"
MESSAGES_TABLE = "CHAT_MESSAGES_TABLE"
JWT_SECRET = "CHAT_JWT_SECRET"  # the HS256 secret itself (local runs, tests)
JWT_SECRET_PARAM = "CHAT_JWT_SECRET_PARAM"  # or the name of the SSM SecureString holding it (AWS)
JWKS_URL = "CHAT_JWKS_URL"  # RS256 via an OIDC provider's JWKS (Cognito, Auth0, ...)
# With a JWKS, both are required (the service refuses to start without them): the issuer,
# and the audience (`aud` of ID tokens) and/or the app client id (`client_id` of Cognito
# access tokens, which carry no `aud`). Without them any application of the provider, or
# of the Cognito pool, could sign users in here.
JWT_ISSUER = "CHAT_JWT_ISSUER"
JWT_AUDIENCE = "CHAT_JWT_AUDIENCE"
JWT_CLIENT_ID = "CHAT_JWT_CLIENT_ID"
# The scope a token needs to publish, matched exactly (a Cognito resource-server scope is
# `{identifier}/{name}`: set the whole string).
PUBLISH_SCOPE_VAR = "CHAT_PUBLISH_SCOPE"
# Tokens expiring further ahead than this are refused: a token that never expires is a
# password that cannot be changed. A day covers Cognito's longest-lived tokens and the
# local dev token.
MAX_TOKEN_LIFETIME_SECONDS = "CHAT_MAX_TOKEN_LIFETIME_SECONDS"
# Connections one user may hold at once (more handshakes: 429). Tabs, phones and a few
# dashboards stay far below it; a leaked token or a reconnect loop cannot open thousands,
# each of which every direct message to that user would be posted to.
MAX_CONNECTIONS_PER_USER = "CHAT_MAX_CONNECTIONS_PER_USER"
# Publishes per publisher per window (more: 429 with Retry-After). Each publish is posted
# to every member of the room; a publisher looping by mistake into a feed of 1,000
# viewers would otherwise cost 1,000 deliveries per call with nothing to stop it.
PUBLISH_RATE_LIMIT = "CHAT_PUBLISH_RATE_LIMIT"
PUBLISH_RATE_WINDOW_SECONDS = "CHAT_PUBLISH_RATE_WINDOW_SECONDS"
MESSAGE_RETENTION_DAYS = "CHAT_MESSAGE_RETENTION_DAYS"
RATE_LIMIT = "CHAT_RATE_LIMIT"
RATE_WINDOW_SECONDS = "CHAT_RATE_WINDOW_SECONDS"
FANOUT_CONCURRENCY = "CHAT_FANOUT_CONCURRENCY"
CONNECTION_TTL_SECONDS = "CHAT_CONNECTION_TTL_SECONDS"
# A room fan-out larger than the shard size is split: this invocation delivers the first
# shard and hands each other one to the fan-out function (asynchronous Lambda invokes).
FANOUT_FUNCTION = "CHAT_FANOUT_FUNCTION"
FANOUT_SHARD_SIZE = "CHAT_FANOUT_SHARD_SIZE"
# A room's memberships are one DynamoDB partition until the room has more connections
# than this; then they spread over partitions of about half this many, each read and
# delivered by its own invocation (docs/architecture.md, "Rooms past one partition").
ROOM_PARTITION_SIZE = "CHAT_ROOM_PARTITION_SIZE"
# Rooms with more users than this get no presence frames (0: no cap). A join or leave in
# a room of N users costs N - 1 deliveries; docs/data-model.md has the arithmetic.
PRESENCE_MAX_USERS = "CHAT_PRESENCE_MAX_USERS"
# https://{api-id}.execute-api.{region}.amazonaws.com/{stage}: needed where the event is not
# the WebSocket API's own (the publish route); WebSocket events carry it themselves.
MANAGEMENT_ENDPOINT = "CHAT_MANAGEMENT_ENDPOINT"

# API Gateway closes every WebSocket after 2 hours; $disconnect is best-effort, so
# connection and membership items expire a little after that on their own.
DEFAULT_CONNECTION_TTL_S = 2 * 3600 + 15 * 60
DEFAULT_MAX_TOKEN_LIFETIME_S = 86400
DEFAULT_MAX_CONNECTIONS_PER_USER = 20
DEFAULT_PUBLISH_RATE_LIMIT = 100  # per publisher per 10 s: ten feeds updated every second
DEFAULT_PUBLISH_RATE_WINDOW_S = 10


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
    jwt_client_id: str | None = None
    publish_scope: str = DEFAULT_PUBLISH_SCOPE
    max_token_lifetime_s: int = DEFAULT_MAX_TOKEN_LIFETIME_S
    max_connections_per_user: int = DEFAULT_MAX_CONNECTIONS_PER_USER
    publish_rate_limit: int = DEFAULT_PUBLISH_RATE_LIMIT
    publish_rate_window_s: int = DEFAULT_PUBLISH_RATE_WINDOW_S
    message_retention_s: int = 7 * 86400
    rate_limit: int = DEFAULT_RATE_LIMIT
    rate_window_s: int = DEFAULT_RATE_WINDOW_S
    fanout_concurrency: int = 32
    fanout_function: str | None = None  # None: every fan-out is delivered in-line
    fanout_shard_size: int = 750
    room_partition_size: int = 1500
    connection_ttl_s: int = DEFAULT_CONNECTION_TTL_S
    dedup_window_s: int = DEDUP_WINDOW_S
    management_endpoint: str | None = None
    presence_max_users: int = 0

    def __post_init__(self) -> None:
        if self.jwks_url and not self.jwt_issuer:
            raise ConfigError(f"{JWKS_URL} is set: set {JWT_ISSUER} too (the provider's issuer)")
        if self.jwks_url and not (self.jwt_audience or self.jwt_client_id):
            raise ConfigError(
                f"{JWKS_URL} is set: set {JWT_AUDIENCE} (the `aud` of ID tokens) and/or "
                f"{JWT_CLIENT_ID} (the `client_id` of Cognito access tokens); without one, "
                "every application of the provider could sign users in"
            )

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
            jwt_client_id=opt(JWT_CLIENT_ID),
            publish_scope=opt(PUBLISH_SCOPE_VAR) or DEFAULT_PUBLISH_SCOPE,
            max_token_lifetime_s=_int(
                env, MAX_TOKEN_LIFETIME_SECONDS, DEFAULT_MAX_TOKEN_LIFETIME_S, 60, 366 * 86400
            ),
            max_connections_per_user=_int(
                env, MAX_CONNECTIONS_PER_USER, DEFAULT_MAX_CONNECTIONS_PER_USER, 1, 1_000_000
            ),
            publish_rate_limit=_int(
                env, PUBLISH_RATE_LIMIT, DEFAULT_PUBLISH_RATE_LIMIT, 1, 1_000_000
            ),
            publish_rate_window_s=_int(
                env, PUBLISH_RATE_WINDOW_SECONDS, DEFAULT_PUBLISH_RATE_WINDOW_S, 1, 3600
            ),
            message_retention_s=_int(env, MESSAGE_RETENTION_DAYS, 7, 1, 3650) * 86400,
            rate_limit=_int(env, RATE_LIMIT, DEFAULT_RATE_LIMIT, 1, 100_000),
            rate_window_s=_int(env, RATE_WINDOW_SECONDS, DEFAULT_RATE_WINDOW_S, 1, 3600),
            fanout_concurrency=_int(env, FANOUT_CONCURRENCY, 32, 1, 512),
            fanout_function=opt(FANOUT_FUNCTION),
            # 5,000 ids (~120 KB) plus the largest frame stay under the 1 MB Event payload.
            fanout_shard_size=_int(env, FANOUT_SHARD_SIZE, 750, 10, 5000),
            room_partition_size=_int(env, ROOM_PARTITION_SIZE, 1500, 2, 1_000_000),
            connection_ttl_s=_int(env, CONNECTION_TTL_SECONDS, DEFAULT_CONNECTION_TTL_S, 60, 86400),
            management_endpoint=opt(MANAGEMENT_ENDPOINT),
            presence_max_users=_int(env, PRESENCE_MAX_USERS, 0, 0, 10_000_000),
        )
