"""The lean Management API sender's boto3 parts: what it signs with, where it posts, and
what reaches the server verifying as SigV4 does. HTTP goes to a loopback peer that
records each request (tests/mgmt_peer.py); faults are tested against the real local
gateway (tests/integration/fanout/)."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, RefreshableCredentials
from botocore.exceptions import NoCredentialsError, NoRegionError

from handlers.chat import aws
from handlers.chat.management_api import ManagementApi, configured_endpoint
from tests.mgmt_peer import MgmtPeer, Post, mgmt_peer

AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, ")


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Lambda-like environment, and no endpoint configured unless a test says so."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDLAMBDA")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-from-the-runtime")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def peer() -> Iterator[MgmtPeer]:
    with mgmt_peer() as p:
        yield p


def fresh_session() -> botocore.session.Session:
    return botocore.session.Session()


def verifies(post: Post, base_url: str, credentials: Credentials, region: str) -> bool:
    """Recompute the signature from what the server received, as AWS does."""
    signed = re.search(r"SignedHeaders=([^,]+)", post.headers["Authorization"])
    assert signed is not None
    names = [n for n in signed.group(1).split(";") if n != "host"]  # host: from the URL
    headers = {k: v for k, v in post.headers.items() if k.lower() in names}
    request = AWSRequest("POST", base_url + post.path, headers=headers, data=post.body)
    request.context["timestamp"] = post.headers["X-Amz-Date"]
    auth = SigV4Auth(credentials, "execute-api", region)
    canonical = auth.canonical_request(request)
    expected = auth.signature(auth.string_to_sign(request, canonical), request)
    return post.headers["Authorization"].endswith(f"Signature={expected}")


def test_posts_are_signed_for_execute_api_with_the_functions_credentials(peer: MgmtPeer) -> None:
    api = ManagementApi(f"{peer.url}/dev", session=fresh_session())
    (posted,) = api.post_many(["Abc+/=="], b'{"hello": 1}')
    assert (posted.error, posted.status, posted.attempts) == (None, 200, 1)
    (post,) = peer.received
    # The id is percent-encoded once, exactly as signed, as boto3 sends it.
    assert post.path == "/dev/@connections/Abc%2B%2F%3D%3D"
    assert post.body == b'{"hello": 1}'
    match = AUTH.match(post.headers["Authorization"])
    assert match is not None
    assert (match[1], match[3], match[4]) == ("AKIDLAMBDA", "eu-west-1", "execute-api")
    assert post.headers["X-Amz-Security-Token"] == "session-token"
    creds = Credentials("AKIDLAMBDA", "secret-from-the-runtime", "session-token")
    assert verifies(post, peer.url, creds, "eu-west-1")
    assert not verifies(post, peer.url, Credentials("AKIDLAMBDA", "other"), "eu-west-1")


class RotatingProvider:
    """A credential provider whose credentials rotate at every refresh, like a role's."""

    METHOD = "rotating"
    CANONICAL_NAME = "rotating"

    def __init__(self) -> None:
        self.keys = (f"AKIDROTATED{n}" for n in itertools.count(1))

    def metadata(self) -> dict[str, Any]:
        # Expiring within botocore's mandatory refresh window: every read refreshes.
        expiry = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
        return {
            "access_key": next(self.keys),
            "secret_key": "s",
            "token": "t",
            "expiry_time": expiry.isoformat(),
        }

    def load(self) -> RefreshableCredentials:
        return RefreshableCredentials.create_from_metadata(
            self.metadata(), refresh_using=self.metadata, method=self.METHOD
        )


def test_rotated_credentials_are_picked_up_by_the_next_batch(peer: MgmtPeer) -> None:
    session = fresh_session()
    resolver = session.get_component("credential_provider")
    resolver.insert_before("env", RotatingProvider())
    api = ManagementApi(f"{peer.url}/dev", session=session)
    api.post_many(["a=", "b="], b"1")
    api.post_many(["c="], b"2")
    keys = [AUTH.match(p.headers["Authorization"])[1] for p in peer.received]  # type: ignore[index]
    # One set of credentials per batch, a fresh one after the rotation.
    assert len(set(keys[:2])) == 1 and keys[2] != keys[0]
    assert all(k.startswith("AKIDROTATED") for k in keys)


def test_the_configured_endpoint_wins_over_the_events_own(
    peer: MgmtPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    domain = "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com"
    given = f"https://{domain}/dev"
    assert configured_endpoint(fresh_session()) is None
    assert aws.management_endpoint(None, domain, "dev") == given
    assert aws.management_endpoint("https://custom.example/prod", "x", "dev") == (
        "https://custom.example/prod"
    )
    with pytest.raises(RuntimeError):
        aws.management_endpoint(None)
    # The global variable, then the service's own, as boto3 reads them.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9/global")
    assert configured_endpoint(fresh_session()) == "http://127.0.0.1:9/global"
    monkeypatch.setenv("AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI", f"{peer.url}/dev")
    assert aws.management_endpoint(None, domain, "dev") is None
    api = ManagementApi(given, session=fresh_session())
    assert api.endpoint == f"{peer.url}/dev"
    assert api.post("x=", b"{}").error is None
    assert peer.received[0].path == "/dev/@connections/x%3D"
    # ...unless configured endpoints are switched off, as boto3 allows.
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    assert ManagementApi(given, session=fresh_session()).endpoint == given


def test_missing_region_or_credentials_fail_when_the_sender_is_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(NoRegionError):
        ManagementApi("https://x.example/dev", session=fresh_session())
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(NoCredentialsError):
        ManagementApi("https://x.example/dev", session=fresh_session())


def test_a_gone_connection_is_told_apart_and_stops_nobody(peer: MgmtPeer) -> None:
    peer.stale.add("b=")
    api = ManagementApi(f"{peer.url}/dev", session=fresh_session())
    results = api.post_many(["a=", "b=", "c="], b'{"n": 1}', concurrency=2)
    assert [(p.connection_id, p.error, p.status) for p in results] == [
        ("a=", None, 200),
        ("b=", "GoneException", 410),
        ("c=", None, 200),
    ]
    assert set(peer.inbox) == {"a=", "c="}


def test_the_sender_refuses_to_block_a_running_event_loop(peer: MgmtPeer) -> None:
    import asyncio

    api = ManagementApi(f"{peer.url}/dev", session=fresh_session())

    async def inside() -> None:
        with pytest.raises(RuntimeError, match="running loop"):
            api.post("a=", b"{}")

    asyncio.run(inside())
    assert peer.received == []
