"""The chat service end to end: the real serverless.yml and handlers, behind the local
gateway, over real sockets. One stack per session; tests keep apart by unique room and
user names instead of wiping the tables between them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from infra.stack import LocalStack, local_stack
from tests.conftest import scaled

REPO = Path(__file__).resolve().parents[3]
Frame = dict[str, Any]
ANSWERS = {"join": "joined", "leave": "left"}  # the answer's type, where not the action's


@dataclass
class ChatClient:
    """A WebSocket client that buffers every frame so tests can wait for the one they want."""

    ws: ClientConnection
    user: str
    frames: list[Frame] = field(default_factory=list)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    _reader: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.ws:
                async with self._arrived:
                    self.frames.append(json.loads(raw))
                    self._arrived.notify_all()

    async def send(self, action: str, **fields: Any) -> None:
        await self.ws.send(json.dumps({"action": action, **fields}))

    async def expect(self, type_: str, **match: Any) -> Frame:
        """The first buffered or future frame of `type_` whose fields equal `match` (taken)."""
        return await self.expect_any((type_, match))

    async def expect_any(self, *wanted: tuple[str, dict[str, Any]]) -> Frame:
        """The first frame matching any (type, fields) pair of `wanted` (taken)."""

        def find() -> Frame | None:
            for frame in self.frames:
                for type_, match in wanted:
                    if frame.get("type") == type_ and all(
                        frame.get(k) == v for k, v in match.items()
                    ):
                        return frame
            return None

        async with self._arrived:
            try:
                await asyncio.wait_for(
                    self._arrived.wait_for(lambda: find() is not None), scaled(10)
                )
            except TimeoutError:
                pytest.fail(f"{self.user}: no frame matching {wanted}; got {self.frames}")
            frame = find()
            assert frame is not None
            self.frames.remove(frame)
            return frame

    async def call(self, action: str, **fields: Any) -> Frame:
        """Send `action` and wait for its answer (the frame of the same type, same room)."""
        await self.send(action, **fields)
        answer = ANSWERS.get(action, action)
        return await self.expect(answer, **({"room": fields["room"]} if "room" in fields else {}))

    async def refused(self, action: str, **fields: Any) -> Frame:
        """Send `action` and wait for the error frame about it."""
        await self.send(action, **fields)
        return await self.expect("error", action=action)

    def pending(self, type_: str) -> list[Frame]:
        return [f for f in self.frames if f.get("type") == type_]

    async def close(self) -> None:
        await self.ws.close()
        if self._reader is not None:
            await self._reader


@dataclass
class Chat:
    stack: LocalStack
    clients: list[ChatClient] = field(default_factory=list)

    async def connect(self, user: str, name: str | None = None) -> ChatClient:
        token = self.stack.token(user, name)
        ws = await connect(
            f"{self.stack.ws_url}?token={token}", open_timeout=scaled(15), ping_interval=None
        )
        client = ChatClient(ws, user)
        client.start()
        self.clients.append(client)
        return client

    async def publish(
        self, room: str, body: Any, token: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        """POST /rooms/{room}/messages; (status, JSON body)."""
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.stack.http_url}/rooms/{room}/messages", data=data, headers=headers
        )

        def post() -> tuple[int, dict[str, Any]]:
            try:
                with urllib.request.urlopen(request, timeout=scaled(15)) as response:
                    return response.status, json.loads(response.read() or b"{}")
            except urllib.error.HTTPError as error:
                return error.code, json.loads(error.read() or b"{}")

        return await asyncio.to_thread(post)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
async def chat_stack() -> AsyncIterator[LocalStack]:
    # Its own embedded DynamoDB: other tests reset the shared one.
    async with local_stack(REPO / "serverless.yml", "dev", warm=True) as stack:
        yield stack


@pytest.fixture
async def chat(chat_stack: LocalStack) -> AsyncIterator[Chat]:
    session = Chat(chat_stack)
    yield session
    await asyncio.gather(*(c.close() for c in session.clients))


@pytest.fixture
def room() -> str:
    return unique("room")


@pytest.fixture
def names() -> Callable[[str], str]:
    return unique
