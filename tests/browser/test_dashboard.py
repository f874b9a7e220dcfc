"""The dashboard: a `feed:` room drawn as a live chart."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from playwright.async_api import Page, expect

from client.publish.api import publish
from infra.stack import LocalStack
from tests.browser.conftest import OpenPage
from tests.tokens import chat_token

_feeds = itertools.count()


async def post(stack: LocalStack, room: str, data: Any) -> None:
    token = chat_token(stack, "metrics", scopes=["publish"])
    await asyncio.to_thread(publish, stack.http_url, room, token, data=data)


async def points(page: Page, room: str) -> dict[str, list[list[float]]]:
    raw = await page.get_attribute(f"canvas.chart[data-room='{room}']", "data-points")
    assert raw is not None
    parsed: dict[str, list[list[float]]] = json.loads(raw)
    return parsed


async def test_a_published_point_appears_on_the_chart(
    open_page: OpenPage, web_stack: LocalStack
) -> None:
    room = f"feed:dash{next(_feeds)}"
    page = await open_page("viewer", room=room, view="dashboard")
    chart = page.locator(f"canvas.chart[data-room='{room}']")
    await expect(chart).to_have_attribute("data-count", "0")
    await expect(page.locator("#members .member")).to_have_count(1)  # joined

    await post(web_stack, room, {"cpu": 0.41, "mem": {"used": 0.5}, "host": "a"})
    await expect(chart).to_have_attribute("data-count", "2")
    series = await points(page, room)
    assert set(series) == {"cpu", "mem.used"}  # numeric fields only, nested ones dotted
    assert [p[1] for p in series["cpu"]] == [0.41]
    await expect(page.locator(f".chart-card[data-room='{room}'] .legend")).to_contain_text(
        "cpu 0.41"
    )

    await post(web_stack, room, {"cpu": 0.73})
    await expect(chart).to_have_attribute("data-count", "3")
    series = await points(page, room)
    assert [p[1] for p in series["cpu"]] == [0.41, 0.73]
    assert series["cpu"][0][0] <= series["cpu"][1][0]  # time order
    # The chart is drawn: the canvas is no longer blank.
    inked = await page.evaluate(
        """(room) => {
          const c = document.querySelector(`canvas.chart[data-room='${room}']`);
          const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
          let n = 0;
          for (let i = 3; i < px.length; i += 4) if (px[i]) n++;
          return n;
        }""",
        room,
    )
    assert inked > 500


async def test_a_feed_joined_later_starts_from_its_recent_history(
    open_page: OpenPage, web_stack: LocalStack
) -> None:
    room = f"feed:dash{next(_feeds)}"
    page = await open_page("viewer", view="dashboard")
    for value in (1, 2, 3):
        await post(web_stack, room, {"load": value})
    await page.fill("#watch-input", room.removeprefix("feed:"))  # "feed:" is implied
    await page.click("#watch-btn")
    chart = page.locator(f"canvas.chart[data-room='{room}']")
    await expect(chart).to_have_attribute("data-count", "3")
    assert [p[1] for p in (await points(page, room))["load"]] == [1, 2, 3]
    await expect(page.locator("#no-feeds")).to_be_hidden()
