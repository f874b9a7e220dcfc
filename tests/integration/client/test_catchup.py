"""Catch-up against the real service: more than one `history` page missed in an outage.

The chat's own loop (ChatApp + ChatState) runs in the test's process, its connection
through a relay the test cuts; a feed is written through the publish API, which no
per-connection rate limit slows down.
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

_feeds = itertools.count()


async def until(lines: list[str], found: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(scaled(20)):
            while not found():
                await asyncio.sleep(0.02)
    except TimeoutError:
        tail = "\n".join(lines[-20:])
        raise AssertionError(f"never saw {what}; last lines:\n{tail}") from None


async def test_a_reconnect_pages_forward_through_everything_missed(stack: LocalStack) -> None:
    room = f"feed:catchup{next(_feeds)}"
    token = stack.token("metrics", scopes=["publish"])

    async def post(n: int) -> None:
        await asyncio.to_thread(publish, stack.http_url, room, token, text=f"p{n:03d}")

    proxy = CuttableProxy(stack.host, stack.port)
    port = await proxy.start()
    lines: list[str] = []
    app = ChatApp(
        f"ws://127.0.0.1:{port}/{stack.stage}",
        lambda: stack.token("alice"),
        ChatState(me="alice"),
        rooms=[room],
        out=lines.append,
        backoff=Backoff(first_s=0.05, max_s=0.2),
    )
    inbox: asyncio.Queue[str | None] = asyncio.Queue()
    running = asyncio.create_task(app.run(inbox))
    try:
        await until(lines, lambda: any("you joined" in line for line in lines), "the join")
        for n in range(2):
            await post(n)
        await until(lines, lambda: any(line.endswith("p001") for line in lines), "p001")

        proxy.cut(refuse=True)
        await until(lines, lambda: any("disconnected" in line for line in lines), "the cut")
        for n in range(2, 152):  # 150 missed: two pages of at most 100
            await post(n)
        proxy.refusing = False
        await until(lines, lambda: any("150 new in" in line for line in lines), "the catch-up")
        await post(152)
        await until(lines, lambda: any(line.endswith("p152") for line in lines), "live again")

        shown = [m for line in lines for m in re.findall(r"> (p\d{3})$", line)]
        assert shown == [f"p{n:03d}" for n in range(153)]  # each once, in order
    finally:
        inbox.put_nowait(None)
        await running
        await proxy.close()
