"""FanOut and the lean Management API sender through the real local gateway (infra.apigateway,
real HTTP and WebSockets): a 410 with its error type reports the recipient gone, a 429 is
retried with backoff, a 413 is reported and not retried, no POST or retry starts past the
invocation's deadline, and one failure never stops the rest. Also https with the CA bundle
named by AWS_CA_BUNDLE, as botocore honours it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import botocore.session
import pytest
from websockets.asyncio.client import ClientConnection

from handlers.chat.fanout import DEADLINE_MARGIN_MS, Deliveries, FanOut
from handlers.chat.management_api import NOT_STARTED, ManagementApi, Posted
from infra.tls import self_signed
from tests.integration.gateway.conftest import Harness, StartGateway, closed, recv

UNKNOWN_ID = "AAAAAAAAAAAAAAA="
LIMIT = 131072  # API Gateway's largest POST body


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI", "AWS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def senders() -> Iterator[list[ManagementApi]]:
    made: list[ManagementApi] = []
    yield made
    for sender in made:
        sender.close()


def sender_for(
    gw: Harness, made: list[ManagementApi], scheme: str = "http", **options: int
) -> ManagementApi:
    """The sender as the handlers configure it, on a fresh botocore session (this
    test's environment). The gateway answers http and https on its one port."""
    endpoint = f"{scheme}://{gw.server.authority}/{gw.server.spec.stage}"
    sender = ManagementApi(endpoint, session=botocore.session.Session(), **options)
    made.append(sender)
    return sender


async def live(gw: Harness, n: int) -> tuple[list[ClientConnection], list[str]]:
    sockets = [await gw.connect() for _ in range(n)]
    return sockets, [await gw.connection_id(ws) for ws in sockets]


async def deliver(
    sender: ManagementApi,
    ids: list[str],
    payload: str,
    concurrency: int = 8,
    remaining_ms: Callable[[], int] | None = None,
) -> Deliveries:
    fanout = FanOut(sender, concurrency, remaining_ms)
    return await asyncio.to_thread(fanout.deliver, ids, payload)


async def post_many(sender: ManagementApi, ids: list[str], data: bytes, **kw: int) -> list[Posted]:
    return await asyncio.to_thread(sender.post_many, ids, data, **kw)  # type: ignore[arg-type]


async def test_gone_and_bad_recipients_are_reported_and_the_rest_delivered(
    gw: Harness, senders: list[ManagementApi]
) -> None:
    sockets, ids = await live(gw, 3)
    await sockets[2].close()
    await gw.disconnect_of(ids[2])
    recipients = [ids[0], UNKNOWN_ID, "not-an-id", ids[2], ids[1]]
    result = await deliver(sender_for(gw, senders), recipients, '{"to": "all"}')
    assert result.delivered == 2
    assert sorted(result.gone) == sorted([UNKNOWN_ID, ids[2]])
    assert (result.failed, result.errors) == (1, {"BadRequestException": 1})
    assert [await recv(ws) for ws in sockets[:2]] == ['{"to": "all"}'] * 2


async def test_a_connection_dropped_by_the_gateway_is_gone(
    start_gateway: StartGateway, senders: list[ManagementApi]
) -> None:
    gw = await start_gateway(gone_rate=1.0, seed=3)
    (ws,), (cid,) = await live(gw, 1)
    (posted,) = await post_many(sender_for(gw, senders), [cid], b"x")
    assert (posted.error, posted.status, posted.attempts) == ("GoneException", 410, 1)
    await closed(ws)


async def test_throttled_posts_are_retried_until_they_go_through(
    start_gateway: StartGateway, senders: list[ManagementApi]
) -> None:
    # One at a time on a seeded gateway: the same throttles every run.
    gw = await start_gateway(throttle_rate=0.5, seed=11)
    (ws,), (cid,) = await live(gw, 1)
    results = await post_many(sender_for(gw, senders), [cid] * 8, b"t", concurrency=1)
    retried = [p for p in results if p.error is None and p.attempts > 1]
    assert retried, [(p.error, p.attempts) for p in results]
    delivered = [p for p in results if p.error is None]
    # A post still throttled after its 3 attempts is reported as such, never lost silently.
    assert all(
        (p.error, p.status, p.attempts) == ("LimitExceededException", 429, 3)
        for p in results
        if p.error is not None
    )
    assert [await recv(ws) for _ in delivered] == ["t"] * len(delivered)


async def test_a_post_throttled_every_time_fails_after_the_standard_attempts(
    start_gateway: StartGateway, senders: list[ManagementApi]
) -> None:
    gw = await start_gateway(throttle_rate=1.0)
    (_ws,), (cid,) = await live(gw, 1)
    result = await deliver(sender_for(gw, senders, attempts=3), [cid], "x")
    assert (result.delivered, result.failed) == (0, 1)
    assert result.errors == {"LimitExceededException": 1}


async def test_a_payload_over_the_limit_is_reported_and_not_retried(
    gw: Harness, senders: list[ManagementApi]
) -> None:
    (ws,), (cid,) = await live(gw, 1)
    sender = sender_for(gw, senders)
    (too_big,) = await post_many(sender, [cid], b"x" * (LIMIT + 1))
    assert (too_big.error, too_big.status, too_big.attempts) == (
        "PayloadTooLargeException",
        413,
        1,
    )
    result = await deliver(sender, [cid, UNKNOWN_ID], "y" * (LIMIT + 1))
    assert result.errors == {"PayloadTooLargeException": 2}
    (fits,) = await post_many(sender, [cid], b"z" * LIMIT)
    assert fits.error is None
    assert await recv(ws) == "z" * LIMIT  # the first frame it got: nothing else went through


async def test_no_post_starts_past_the_deadline(gw: Harness, senders: list[ManagementApi]) -> None:
    sockets, ids = await live(gw, 2)
    sender = sender_for(gw, senders)
    late = await deliver(sender, ids, "late", remaining_ms=lambda: DEADLINE_MARGIN_MS - 1)
    assert (late.delivered, late.failed, late.errors) == (0, 2, {NOT_STARTED: 2})
    await deliver(sender, ids, "in time", remaining_ms=lambda: DEADLINE_MARGIN_MS + 1)
    assert [await recv(ws) for ws in sockets] == ["in time", "in time"]


async def test_the_deadline_stops_a_fan_out_midway(
    gw: Harness, senders: list[ManagementApi]
) -> None:
    sockets, ids = await live(gw, 5)
    asked = 0

    def remaining_ms() -> int:
        nonlocal asked
        asked += 1
        return 10_000 if asked <= 3 else 0

    result = await deliver(sender_for(gw, senders), ids, "m", 1, remaining_ms)
    assert (result.delivered, result.errors) == (3, {NOT_STARTED: 2})
    for ws in sockets[:3]:
        assert await recv(ws) == "m"


async def test_a_retry_is_not_started_past_the_deadline(
    start_gateway: StartGateway, senders: list[ManagementApi]
) -> None:
    gw = await start_gateway(throttle_rate=1.0)
    (_ws,), (cid,) = await live(gw, 1)
    asked = 0

    def remaining_ms() -> int:
        nonlocal asked
        asked += 1
        return 10_000 if asked == 1 else 0

    sender = sender_for(gw, senders)
    fanout = FanOut(sender, 1, remaining_ms)
    result = await asyncio.to_thread(fanout.deliver, [cid], "x")
    assert result.errors == {"LimitExceededException": 1}
    assert asked == 2  # asked once for the POST and once for its retry, which did not start


async def test_https_with_the_ca_bundle_the_environment_names(
    start_gateway: StartGateway,
    senders: list[ManagementApi],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cert = self_signed(tmp_path)
    gw = await start_gateway(ssl=cert.server_context())
    ws = await gw.connect_url(
        f"wss://{gw.server.authority}/test?token=allow", ssl=cert.client_context()
    )
    cid = await gw.connection_id(ws)
    untrusted = await post_many(sender_for(gw, senders, "https"), [cid], b"x")
    assert untrusted[0].error == "SSLError"
    monkeypatch.setenv("AWS_CA_BUNDLE", str(cert.cert))
    trusted = await post_many(sender_for(gw, senders, "https"), [cid], json.dumps("tls").encode())
    assert trusted[0].error is None
    assert await recv(ws) == '"tls"'
