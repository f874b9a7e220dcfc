"""The chat over real loopback sockets, for every tier that talks to it as a client (chat
integration, fuzz, security, soak): a local stack running the real serverless.yml, a
WebSocket peer that buffers every frame it gets so a test can wait for the one it wants
(never sleep and hope), and the HTTP publish API."""

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

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from infra.dynamodb import MotoServer
from infra.stack import LocalStack, local_stack
from tests.conftest import scaled
from tests.tokens import chat_token
from wschat_protocol import ERROR_CODES as PROTOCOL_ERROR_CODES

REPO = Path(__file__).resolve().parents[1]
Frame = dict[str, Any]

# protocol.md's error codes a client may legitimately get; `internal` is a bug.
ERROR_CODES = frozenset(PROTOCOL_ERROR_CODES) - {"internal"}
# The frame type that answers each action.
ANSWERS = {
    "join": "joined",
    "leave": "left",
    "send": "message",
    "history": "history",
    "members": "members",
    "direct": "direct",
    "whoami": "whoami",
    "ping": "pong",
}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Logs:
    """Every line the functions wrote, so a test can check nothing blew up inside."""

    lines: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, function: str, line: str) -> None:
        self.lines.append((function, line))

    def failures(self) -> list[str]:
        """Log lines of handler exceptions ("action failed" or a traceback)."""
        return [
            f"{fn}: {line}"
            for fn, line in self.lines
            if '"level":"ERROR"' in line or "Traceback" in line
        ]


_logs: dict[int, Logs] = {}  # id(stack) -> its logs, while it runs


@contextlib.asynccontextmanager
async def start_stack(
    moto: MotoServer | None = None, **gateway_options: Any
) -> AsyncIterator[LocalStack]:
    """The real service behind the local gateway on a free loopback port, logs kept
    (`logs_of(stack)`). Two sandboxes per function: enough for the tests, cheap to start."""
    logs = Logs()
    async with local_stack(
        REPO / "serverless.yml", "dev", moto=moto, log=logs, concurrency=2, **gateway_options
    ) as stack:
        _logs[id(stack)] = logs
        try:
            yield stack
        finally:
            del _logs[id(stack)]


def logs_of(stack: LocalStack) -> Logs:
    return _logs[id(stack)]


@dataclass
class Peer:
    """One WebSocket client of the chat."""

    ws: ClientConnection
    user: str
    frames: list[Frame] = field(default_factory=list)  # arrived, not yet taken by a wait
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    _reader: asyncio.Task[None] | None = None

    def user_json(self, name: str | None = None) -> dict[str, str]:
        """This peer's user as frames show it (the name defaults to the id)."""
        return {"id": self.user, "name": name or self.user}

    def start(self) -> None:
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.ws:
                async with self._arrived:
                    self.frames.append(json.loads(raw))
                    self._arrived.notify_all()
        async with self._arrived:
            self._arrived.notify_all()

    async def send(self, action: str, **fields: Any) -> None:
        """Send one action frame; frames that are not actions go through `ws.send`."""
        await self.ws.send(json.dumps({"action": action, **fields}))

    async def wait_for(
        self, match: Callable[[Frame], bool], seconds: float = 10, what: str = "matching frame"
    ) -> Frame:
        """The first buffered or future frame for which `match` holds (taken off the buffer)."""

        def find() -> Frame | None:
            return next((f for f in self.frames if match(f)), None)

        async with self._arrived:
            try:
                await asyncio.wait_for(
                    self._arrived.wait_for(lambda: find() is not None), scaled(seconds)
                )
            except TimeoutError:
                # What was wanted and everything that came instead: enough to see why.
                raise AssertionError(
                    f"{self.user}: no {what} within {scaled(seconds):g} s; got {self.frames}"
                ) from None
            frame = find()
            assert frame is not None
            self.frames.remove(frame)
            return frame

    async def expect(self, type_: str, seconds: float = 10, **fields: Any) -> Frame:
        """The first frame of `type_` whose `fields` have these values (taken)."""
        return await self.expect_any((type_, fields), seconds=seconds)

    async def expect_any(self, *wanted: tuple[str, dict[str, Any]], seconds: float = 10) -> Frame:
        """The first frame matching any (type, fields) pair of `wanted` (taken)."""

        def match(f: Frame) -> bool:
            return any(
                f.get("type") == type_ and all(f.get(k) == v for k, v in fields.items())
                for type_, fields in wanted
            )

        what = " or ".join(f"{type_} frame with {fields}" for type_, fields in wanted)
        return await self.wait_for(match, seconds, what)

    async def _reply(self, action: str, fields: dict[str, Any]) -> Frame:
        """Send `action` and wait for its reply: the right frame type, or an error about it
        (waiting for either, so the wrong one fails at once instead of timing out)."""
        await self.send(action, **fields)
        want = ANSWERS.get(action)  # an unknown action has only an error for an answer
        room = fields.get("room")

        def reply(f: Frame) -> bool:
            if f.get("type") == "error":
                return f.get("action") == action
            if want is None or f.get("type") != want:
                return False
            # A room answer is about this room; a `message` is ours (others' are deliveries).
            if room is not None and f.get("room") != room:
                return False
            return want not in ("message", "direct") or f.get("from", {}).get("id") == self.user

        return await self.wait_for(reply, what=f"reply to {action}")

    async def call(self, action: str, **fields: Any) -> Frame:
        """Send `action` and wait for its answer; an error about it fails the test."""
        frame = await self._reply(action, fields)
        assert frame["type"] != "error", f"{self.user}: {action} {fields} refused: {frame}"
        return frame

    async def refused(self, action: str, **fields: Any) -> Frame:
        """Send `action` and wait for the error about it; an answer fails the test."""
        frame = await self._reply(action, fields)
        assert frame["type"] == "error", f"{self.user}: {action} {fields} answered: {frame}"
        return frame

    def pending(self, type_: str) -> list[Frame]:
        """The buffered frames of `type_` no wait has taken."""
        return [f for f in self.frames if f.get("type") == type_]

    async def closed(self, seconds: float = 10) -> int | None:
        """Wait until the server closes the socket; the close code it sent."""
        await asyncio.wait_for(self.ws.wait_closed(), scaled(seconds))
        rcvd = self.ws.protocol.close_rcvd
        return rcvd.code if rcvd else None

    def abort(self) -> None:
        """Drop the TCP connection without a close frame (a phone losing its network)."""
        self.ws.transport.abort()

    async def close(self) -> None:
        await self.ws.close()
        if self._reader is not None:
            await self._reader


async def open_peer(stack: LocalStack, user: str, name: str | None = None) -> Peer:
    ws = await connect(
        f"{stack.ws_url}?token={chat_token(stack, user, name)}",
        open_timeout=scaled(30),
        close_timeout=scaled(5),
        ping_interval=None,
    )
    peer = Peer(ws, user)
    peer.start()
    return peer


async def publish(
    stack: LocalStack,
    room: str,
    body: Any,
    headers: dict[str, str] | None = None,
    query: str = "",
) -> tuple[int, dict[str, Any]]:
    """POST /rooms/{room}/messages[?query] on the HTTP API; (status, JSON body)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{stack.http_url}/rooms/{room}/messages" + (f"?{query}" if query else ""),
        data=data,
        headers={"Content-Type": "application/json", **(headers or {})},
    )

    def post() -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(request, timeout=scaled(30)) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    return await asyncio.to_thread(post)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
