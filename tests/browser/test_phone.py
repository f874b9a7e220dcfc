"""The page on a 360 px phone, and in the system's dark mode."""

from __future__ import annotations

import asyncio
import itertools

from playwright.async_api import Page, expect

from client.publish.api import publish
from infra.stack import LocalStack
from tests.browser.conftest import PHONE, OpenPage
from tests.tokens import chat_token

_rooms = itertools.count()


async def fits_the_screen(page: Page) -> None:
    """Nothing sticks out sideways (no horizontal scrolling on a phone)."""
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide on a {PHONE['width']} px screen"


async def inside_the_screen(page: Page, selector: str) -> None:
    box = await page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not shown"
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], f"{selector}: {box}"
    assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"], f"{selector}: {box}"


async def test_on_a_phone_the_log_and_composer_fill_the_screen_and_rooms_are_a_drawer(
    open_page: OpenPage,
) -> None:
    room = f"phone{next(_rooms)}"
    page = await open_page("alice", "Alice", room=room, phone=True)
    await expect(page.locator("#status")).to_have_text("online as Alice")
    await fits_the_screen(page)
    for selector in ("#composer-input", "#send-btn", "#logout", "#menu-btn"):
        await inside_the_screen(page, selector)
    log = page.locator("#logs .log:not([hidden])")
    box = await log.bounding_box()
    assert box is not None and box["width"] > 0.85 * PHONE["width"] and box["height"] > 400

    # The sidebar is off screen until the menu button opens it over the page.
    sidebar = page.locator("#sidebar")
    assert not await sidebar.evaluate("(e) => e.getBoundingClientRect().right > 0")
    await page.tap("#menu-btn")
    await expect(page.locator("#menu-btn")).to_have_attribute("aria-expanded", "true")
    await expect(sidebar).to_be_in_viewport()
    await page.fill("#join-input", "other")
    await page.tap("#join-btn")
    await expect(page.locator("#room-title")).to_have_text("#other")
    # Joining closed the drawer; picking a room closes it too.
    await expect(page.locator("#menu-btn")).to_have_attribute("aria-expanded", "false")
    await page.tap("#menu-btn")
    await page.tap(f"#rooms li[data-room={room}] .pick")
    await expect(page.locator("#room-title")).to_have_text(f"#{room}")
    await expect(page.locator("#menu-btn")).to_have_attribute("aria-expanded", "false")

    # A long message wraps; sending keeps the composer in view.
    await page.fill("#composer-input", "a-very-long-word-" * 12)
    await page.tap("#send-btn")
    await expect(log.locator(".msg.mine:not(.pending)")).to_have_count(1)
    await fits_the_screen(page)
    await inside_the_screen(page, "#composer-input")


async def test_on_a_phone_the_dashboard_chart_fits(
    open_page: OpenPage, web_stack: LocalStack
) -> None:
    room = f"feed:phone{next(_rooms)}"
    page = await open_page("viewer", room=room, view="dashboard", phone=True)
    chart = page.locator(f".chart[data-room='{room}']")
    await expect(chart).to_have_attribute("data-count", "0")
    token = chat_token(web_stack, "metrics", scopes=["publish"])
    for n in range(3):
        data = {"cpu": 0.2 + n / 10, "load1": 6 + n, "mem": 40 + n, "units": {"mem": "%"}}
        await asyncio.to_thread(publish, web_stack.http_url, room, token, data=data)
    await expect(chart).to_have_attribute("data-count", "9")
    await expect(chart.locator("canvas")).to_be_visible()
    await fits_the_screen(page)
    canvas = await chart.locator("canvas").bounding_box()
    assert canvas is not None and canvas["x"] + canvas["width"] <= PHONE["width"]
    await expect(chart.locator(".u-legend")).to_contain_text("mem")


async def test_the_page_follows_the_system_dark_mode(open_page: OpenPage) -> None:
    light = await open_page("alice", "Alice", room=f"dark{next(_rooms)}")
    dark = await open_page("alice", "Alice", room=f"dark{next(_rooms)}", dark=True)
    background = "getComputedStyle(document.querySelector('.log:not([hidden])')).backgroundColor"
    for page in (light, dark):
        await expect(page.locator("#logs .log:not([hidden])")).to_have_count(1)  # joined
    assert await light.evaluate(background) == "rgb(255, 255, 255)"
    assert await dark.evaluate(background) == "rgb(26, 29, 36)"
