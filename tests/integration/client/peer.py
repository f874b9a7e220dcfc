"""A second chat user on a plain WebSocket, for tests that watch the client from outside."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from client import protocol
from infra.stack import LocalStack
from tests.conftest import scaled
from tests.tokens import chat_token


class Peer:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, stack: LocalStack, sub: str, name: str | None = None) -> Peer:
        url = protocol.with_token(stack.ws_url, chat_token(stack, sub, name=name))
        return cls(await connect(url, compression=None))

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(protocol.encode(frame))

    async def until(
        self, match: Callable[[dict[str, Any]], bool], within: float = 10.0
    ) -> dict[str, Any]:
        """The next frame for which `match` is true (earlier ones are skipped)."""
        async with asyncio.timeout(scaled(within)):
            while True:
                frame: dict[str, Any] = json.loads(await self.ws.recv())
                if match(frame):
                    return frame

    async def join(self, room: str) -> dict[str, Any]:
        await self.send(protocol.join(room))
        return await self.until(lambda f: f.get("type") == "joined" and f.get("room") == room)

    async def say(self, room: str, text: str) -> dict[str, Any]:
        """Send and wait for the service's ack (our own copy of the message)."""
        await self.send(protocol.send(room, text=text))
        return await self.until(lambda f: f.get("type") == "message" and f.get("text") == text)

    async def close(self) -> None:
        await self.ws.close()
