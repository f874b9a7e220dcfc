"""The chat service end to end: the real serverless.yml and handlers, behind the local
gateway, over real sockets, with tests/wire.py's client. One stack per session; tests keep
apart by unique room and user names instead of wiping the tables between them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from infra.stack import LocalStack, local_stack
from tests.wire import REPO, Peer, open_peer, unique


@dataclass
class Chat:
    """The peers one test opened on a stack, so the fixture can close them all after it."""

    stack: LocalStack
    peers: list[Peer] = field(default_factory=list)

    async def connect(self, user: str, name: str | None = None) -> Peer:
        peer = await open_peer(self.stack, user, name)
        self.peers.append(peer)
        return peer

    async def close(self) -> None:
        await asyncio.gather(*(p.close() for p in self.peers))


@pytest.fixture(scope="session")
async def chat_stack() -> AsyncIterator[LocalStack]:
    # Its own embedded DynamoDB: other tests reset the shared one.
    async with local_stack(REPO / "serverless.yml", "dev", warm=True) as stack:
        yield stack


@pytest.fixture
async def chat(chat_stack: LocalStack) -> AsyncIterator[Chat]:
    session = Chat(chat_stack)
    yield session
    await session.close()


@pytest.fixture
def room() -> str:
    return unique("room")


@pytest.fixture
def names() -> Callable[[str], str]:
    return unique
