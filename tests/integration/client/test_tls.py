"""--ca and --insecure: the chat and the publisher against a stack on wss:// and https://."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from infra.dynamodb import MotoServer
from infra.stack import LocalStack, local_stack
from tests.integration.client.conftest import PYTHON, REPO, client_env
from tests.integration.client.run import run_client
from tests.integration.client.terminal import Terminal

_rooms = itertools.count()


@pytest.fixture(scope="module")
async def tls_stack(moto_server: MotoServer) -> AsyncIterator[LocalStack]:
    async with local_stack(
        REPO / "serverless.yml", "dev", moto=moto_server, log=None, tls=True
    ) as s:
        yield s


@pytest.fixture
def ca(tls_stack: LocalStack) -> Path:
    return tls_stack.ca


@pytest.fixture
async def chat(tls_stack: LocalStack) -> AsyncIterator[list[Terminal]]:
    opened: list[Terminal] = []
    yield opened
    for t in opened:
        t.close()


def start_chat(stack: LocalStack, opened: list[Terminal], *args: str) -> Terminal:
    argv = [PYTHON, "-m", "client.chat", "--url", stack.ws_url, "--name", "Alice", *args]
    t = Terminal(argv, env=client_env(stack), cwd=str(REPO))
    opened.append(t)
    return t


async def test_the_chat_trusts_the_certificate_given_with_ca(
    tls_stack: LocalStack, ca: Path, chat: list[Terminal]
) -> None:
    assert tls_stack.ws_url.startswith("wss://")
    room = f"tls{next(_rooms)}"
    alice = start_chat(tls_stack, chat, "--room", room, "--ca", str(ca))
    await alice.expect(rf"\* you joined #{room}")
    alice.type("over tls")
    await alice.expect(rf"#{room} <Alice \(alice\)> over tls")


async def test_insecure_skips_the_certificate_check(
    tls_stack: LocalStack, chat: list[Terminal]
) -> None:
    room = f"tls{next(_rooms)}"
    alice = start_chat(tls_stack, chat, "--room", room, "--insecure")
    await alice.expect(rf"\* you joined #{room}")


async def test_an_untrusted_certificate_ends_the_chat_with_a_clear_message(
    tls_stack: LocalStack, chat: list[Terminal]
) -> None:
    alice = start_chat(tls_stack, chat, "--max-backoff", "0.2")
    await alice.expect(r"! the service's certificate is not trusted \(.*\); pass --ca FILE")
    assert await alice.exit_status() == 1
    assert "retrying" not in alice.output  # no retry forever


async def test_a_missing_ca_file_is_a_usage_error(tls_stack: LocalStack, tmp_path: Path) -> None:
    done = await run_client(
        tls_stack, "client.chat", "--url", tls_stack.ws_url, "--name", "a", "--ca", "nope.pem"
    )
    assert done.status == 2
    assert "--ca nope.pem: no such file" in done.err


async def test_the_publisher_takes_ca_and_stops_on_an_untrusted_certificate(
    tls_stack: LocalStack, ca: Path
) -> None:
    args = ("--url", tls_stack.http_url, "--room", "feed:tls", "--data", "1")
    done = await run_client(tls_stack, "client.publish", *args, "--ca", str(ca))
    assert done.status == 0, done.err
    assert '"delivered": 0' in done.out
    done = await run_client(tls_stack, "client.publish", *args, "--insecure")
    assert done.status == 0, done.err
    demo = ("--url", tls_stack.http_url, "--room", "feed:tls", "--demo", "--interval", "0.1")
    done = await run_client(tls_stack, "client.publish", *demo)
    assert done.status == 1  # the demo feed stops instead of retrying forever
    assert "certificate is not trusted" in done.err and "--ca FILE" in done.err
