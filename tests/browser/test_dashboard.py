"""The dashboard: a `feed:` room drawn as a live uPlot chart."""

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
    raw = await page.get_attribute(f".chart[data-room='{room}']", "data-points")
    assert raw is not None
    parsed: dict[str, list[list[float]]] = json.loads(raw)
    return parsed


def legend_entry(page: Page, room: str, series: str) -> Any:
    return page.locator(f".chart[data-room='{room}'] .u-legend .u-series").filter(
        has=page.locator(".u-label", has_text=series)
    )


async def test_a_published_point_appears_on_the_chart(
    open_page: OpenPage, web_stack: LocalStack
) -> None:
    room = f"feed:dash{next(_feeds)}"
    page = await open_page("viewer", room=room, view="dashboard")
    chart = page.locator(f".chart[data-room='{room}']")
    await expect(chart).to_have_attribute("data-count", "0")
    await expect(chart).to_contain_text("waiting for data")

    await post(web_stack, room, {"cpu": 0.41, "mem": {"used": 0.5}, "host": "a"})
    await expect(chart).to_have_attribute("data-count", "2")
    series = await points(page, room)
    assert set(series) == {"cpu", "mem.used"}  # numeric fields only, nested ones dotted
    assert [p[1] for p in series["cpu"]] == [0.41]
    await expect(legend_entry(page, room, "cpu").locator(".u-value")).to_have_text("0.41")

    await post(web_stack, room, {"cpu": 0.73})
    await expect(chart).to_have_attribute("data-count", "3")
    series = await points(page, room)
    assert [p[1] for p in series["cpu"]] == [0.41, 0.73]
    assert series["cpu"][0][0] <= series["cpu"][1][0]  # time order
    # The chart is drawn: the canvas is no longer blank.
    inked = await page.evaluate(
        """(room) => {
          const c = document.querySelector(`.chart[data-room='${room}'] canvas`);
          const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
          let n = 0;
          for (let i = 3; i < px.length; i += 4) if (px[i]) n++;
          return n;
        }""",
        room,
    )
    assert inked > 500


async def test_each_series_has_its_own_scale_units_hover_and_a_legend_toggle(
    open_page: OpenPage, web_stack: LocalStack
) -> None:
    room = f"feed:dash{next(_feeds)}"
    # A 3-second window, points half a second apart: far enough apart to hover each.
    page = await open_page("viewer", room=room, view="dashboard", window="3")
    chart = page.locator(f".chart[data-room='{room}']")
    await expect(chart).to_have_attribute("data-count", "0")
    # cpu 0-1 beside load near 7: on one axis cpu would be a flat line.
    samples = [(0.20, 6.5, 40.0), (0.35, 7.2, 42.0), (0.30, 6.9, 41.0)]
    for cpu, load, mem in samples:
        await post(web_stack, room, {"cpu": cpu, "load": load, "mem": mem, "units": {"mem": "%"}})
        await asyncio.sleep(0.5)  # spreads the points over the time axis
    await expect(chart).to_have_attribute("data-count", "9")
    assert set(await points(page, room)) == {"cpu", "load", "mem"}  # `units` is no series

    scales = await page.evaluate(
        """(room) => {
          const u = window.wschat.rooms.get(room).chart.plot;
          return Object.fromEntries(u.series.slice(1).map((s) => [s.label,
            {scale: s.scale, min: u.scales[s.scale].min, max: u.scales[s.scale].max}]));
        }""",
        room,
    )
    assert len({s["scale"] for s in scales.values()}) == 3
    assert scales["cpu"]["max"] < 1 and scales["load"]["min"] > 5  # each fits its own values

    # Not hovering: the latest value of each, with its unit.
    await expect(legend_entry(page, room, "mem").locator(".u-value")).to_have_text("41 %")
    await expect(legend_entry(page, room, "load").locator(".u-value")).to_have_text("6.9")
    # Hovering the start of the chart reads out the first point's values.
    over = chart.locator(".u-over")
    box = await over.bounding_box()
    assert box is not None
    first_x = await page.evaluate(
        """(room) => {
          const u = window.wschat.rooms.get(room).chart.plot;
          return u.valToPos(u.data[0][0], "x");
        }""",
        room,
    )
    await page.mouse.move(box["x"] + first_x + 1, box["y"] + box["height"] / 2)
    await expect(legend_entry(page, room, "load").locator(".u-value")).to_have_text("6.5")
    await expect(legend_entry(page, room, "mem").locator(".u-value")).to_have_text("40 %")

    # Clicking a legend entry hides its series; again shows it.
    await legend_entry(page, room, "cpu").locator(".u-label").click()
    await expect(legend_entry(page, room, "cpu")).to_have_class("u-series u-off")
    shown = "(room) => window.wschat.rooms.get(room).chart.plot.series[1].show"
    assert await page.evaluate(shown, room) is False
    await legend_entry(page, room, "cpu").locator(".u-label").click()
    assert await page.evaluate(shown, room) is True


async def test_a_feed_joined_later_starts_from_its_recent_history(
    open_page: OpenPage, web_stack: LocalStack
) -> None:
    room = f"feed:dash{next(_feeds)}"
    page = await open_page("viewer", view="dashboard")
    for value in (1, 2, 3):
        await post(web_stack, room, {"load": value})
    await page.fill("#watch-input", room.removeprefix("feed:"))  # "feed:" is implied
    await page.click("#watch-btn")
    chart = page.locator(f".chart[data-room='{room}']")
    await expect(chart).to_have_attribute("data-count", "3")
    assert [p[1] for p in (await points(page, room))["load"]] == [1, 2, 3]
    await expect(page.locator("#no-feeds")).to_be_hidden()
