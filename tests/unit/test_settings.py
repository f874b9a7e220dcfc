"""Configuration is validated at cold start with messages that name the variable."""

from __future__ import annotations

import pytest

from handlers.chat.settings import ConfigError, Settings

BASE = {"CHAT_CONNECTIONS_TABLE": "c", "CHAT_MESSAGES_TABLE": "m"}


def test_defaults_are_the_protocols() -> None:
    s = Settings.from_env(BASE)
    assert (s.rate_limit, s.rate_window_s) == (50, 10)
    assert s.message_retention_s == 7 * 86400
    assert s.connection_ttl_s > 2 * 3600  # outlives API Gateway's 2-hour limit
    assert s.dedup_window_s == 300
    assert s.jwt_secret is None and s.jwks_url is None
    assert s.presence_max_users == 0  # presence in rooms of any size, as the protocol says
    assert s.max_connections_per_user == 20
    assert (s.publish_rate_limit, s.publish_rate_window_s) == (100, 10)
    assert s.max_token_lifetime_s == 86400
    assert s.publish_scope == "publish"


def test_a_jwks_needs_an_issuer_and_an_audience_or_client_id() -> None:
    jwks = {**BASE, "CHAT_JWKS_URL": "https://idp.example/jwks.json"}
    with pytest.raises(ConfigError, match="CHAT_JWT_ISSUER"):
        Settings.from_env({**jwks, "CHAT_JWT_AUDIENCE": "app"})
    with pytest.raises(ConfigError, match="CHAT_JWT_AUDIENCE"):
        Settings.from_env({**jwks, "CHAT_JWT_ISSUER": "https://idp.example"})
    ok = Settings.from_env(
        {**jwks, "CHAT_JWT_ISSUER": "https://idp.example", "CHAT_JWT_CLIENT_ID": "app"}
    )
    assert ok.jwt_client_id == "app" and ok.jwt_audience is None


def test_tables_are_required() -> None:
    with pytest.raises(ConfigError, match="CHAT_MESSAGES_TABLE"):
        Settings.from_env({"CHAT_CONNECTIONS_TABLE": "c"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CHAT_RATE_LIMIT", "lots"),
        ("CHAT_RATE_LIMIT", "0"),
        ("CHAT_MESSAGE_RETENTION_DAYS", "-1"),
        ("CHAT_MAX_CONNECTIONS_PER_USER", "0"),
        ("CHAT_PUBLISH_RATE_LIMIT", "x"),
        ("CHAT_MAX_TOKEN_LIFETIME_SECONDS", "10"),
        ("CHAT_PRESENCE_MAX_USERS", "-5"),
    ],
)
def test_bad_numbers_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({**BASE, name: value})


def test_empty_strings_mean_unset() -> None:
    s = Settings.from_env({**BASE, "CHAT_JWKS_URL": "", "CHAT_JWT_ISSUER": " "})
    assert s.jwks_url is None and s.jwt_issuer is None
