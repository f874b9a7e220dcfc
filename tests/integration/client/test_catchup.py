"""Catch-up against the real service: more than one `history` page missed in an outage.

The chat's own loop (ChatApp + ChatState) runs in the test's process, its connection
through a relay the test cuts; a feed is written through the publish API, which no
per-connection rate limit slows down (and the client tests' stack lifts the publisher's).
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Callable

from client.backoff import Backoff
from client.chat.app import ChatApp
from client.chat.state import ChatState
from client.publish.api import publish
from infra.stack import LocalStack
from tests.conftest import scaled
from tests.integration.client.proxy import CuttableProxy
from tests.tokens import chat_token

_feeds = itertools.count()


class Screen:
    """The lines the chat printed, and a wake-up for each new one."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.changed = asyncio.Event()

    def out(self, line: str) -> None:
        self.lines.append(line)
        self.changed.set()

    async def until(self, found: Callable[[str], bool], what: str) -> None:
        try:
            async with asyncio.timeout(scaled(20)):
                while not any(found(line) for line in self.lines):
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            tail = "\n".join(self.lines[-20:])
            raise AssertionError(f"never saw {what}; last lines:\n{tail}") from None


async def test_a_reconnect_pages_forward_through_everything_missed(stack: LocalStack) -> None:
    room = f"feed:catchup{next(_feeds)}"
    token = chat_token(stack, "metrics", scopes=["publish"])

    async def post(n: int) -> None:
        await asyncio.to_thread(publish, stack.http_url, room, token, text=f"p{n:03d}")

    proxy = CuttableProxy(stack.host, stack.port)
    port = await proxy.start()
    screen = Screen()
    app = ChatApp(
        f"ws://127.0.0.1:{port}/{stack.stage}",
        lambda: chat_token(stack, "alice"),
        ChatState(me="alice"),
        rooms=[room],
        out=screen.out,
        backoff=Backoff(first_s=0.05, max_s=0.2),
    )
    inbox: asyncio.Queue[str | None] = asyncio.Queue()
    running = asyncio.create_task(app.run(inbox))
    try:
        await screen.until(lambda line: "you joined" in line, "the join")
        for n in range(2):
            await post(n)
        await screen.until(lambda line: line.endswith("p001"), "p001")

        proxy.cut(refuse=True)
        await screen.until(lambda line: "disconnected" in line, "the cut")
        for n in range(2, 152):  # 150 missed: two pages of at most 100
            await post(n)
        proxy.refusing = False
        await screen.until(lambda line: "150 new in" in line, "the catch-up")
        await post(152)
        await screen.until(lambda line: line.endswith("p152"), "live again")

        shown = [m for line in screen.lines for m in re.findall(r"> (p\d{3})$", line)]
        assert shown == [f"p{n:03d}" for n in range(153)]  # each once, in order
    finally:
        inbox.put_nowait(None)
        await running
        await proxy.close()
