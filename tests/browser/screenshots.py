"""Screenshots of the web page for docs/: `python -m tests.browser.screenshots`.

Starts a local stack, stages a short conversation and two live feeds, and saves
docs/screenshots/chat.png and dashboard.png (a desktop window), chat-phone.png and
dashboard-phone.png (a 360 px phone, dashboard in dark mode). Run by hand; not a test.
"""

from __future__ import annotations

import asyncio
import math
import random
from urllib.parse import urlencode

from playwright.async_api import Browser, Page, async_playwright, expect

from client.publish.api import publish
from infra.stack import LocalStack, local_stack
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE, REPO
from tests.tokens import chat_token

OUT = REPO / "docs" / "screenshots"


async def open_as(
    browser: Browser,
    stack: LocalStack,
    sub: str,
    name: str,
    phone: bool = False,
    dark: bool = False,
    **query: str,
) -> Page:
    context = await browser.new_context(
        viewport=PHONE if phone else DESKTOP,  # type: ignore[arg-type]
        device_scale_factor=2 if phone else 1,
        is_mobile=phone,
        has_touch=phone,
        color_scheme="dark" if dark else "light",
    )
    page = await context.new_page()
    token = urlencode({"token": chat_token(stack, sub, name=name)})
    await page.goto(f"{stack.http_url}/?{urlencode(query)}#{token}")
    await expect(page.locator("#status")).to_have_text(f"online as {name}")
    return page


async def say(page: Page, text: str) -> None:
    await page.fill("#composer-input", text)
    await page.click("#send-btn")
    await expect(
        page.locator("#logs .log:not([hidden]) .msg:not(.pending) .msg-text").last
    ).to_have_text(text)


async def chat(browser: Browser, stack: LocalStack) -> None:
    alice = await open_as(browser, stack, "alice", "Alice", room="general")
    await expect(alice.locator("#members .member")).to_have_count(1)
    bob = await open_as(browser, stack, "bob", "Bob", room="general")
    await expect(alice.locator("#members .member")).to_have_count(2)
    carol = await open_as(browser, stack, "carol", "Carol", room="general")
    await expect(alice.locator("#members .member")).to_have_count(3)
    await say(bob, "morning! is the deploy still on for 11:00?")
    await say(alice, "yes, the load test passed: 2,000 connections, nothing lost")
    await say(carol, "nice. I'll watch feed:cpu on the dashboard")
    await say(bob, "<script>alert('hi')</script> <- shows as text, not markup")
    await bob.click("#members .member[data-user=alice] .dm")
    await say(bob, "can you send me the JSON report?")
    await expect(alice.locator("#directs .badge")).to_have_text("1")
    await alice.fill("#join-input", "random")
    await alice.click("#join-btn")
    await expect(alice.locator("#room-title")).to_have_text("#random")
    await alice.click("#rooms li[data-room=general] .pick")
    await alice.fill("#composer-input", "on it")
    await alice.screenshot(path=str(OUT / "chat.png"))
    # The same conversation on a phone; a message waiting for its echo is marked.
    phone = await open_as(browser, stack, "dave", "Dave", phone=True, room="general")
    await bob.click("#rooms li[data-room=general] .pick")
    await say(bob, "runbook: https://example.com/runbooks/deploy#rollback")
    await expect(phone.locator(".msg-text a")).to_have_count(1)
    await phone.fill("#composer-input", "joining from my phone")
    await phone.screenshot(path=str(OUT / "chat-phone.png"))


async def dashboard(browser: Browser, stack: LocalStack) -> None:
    viewer = await open_as(
        browser, stack, "ops", "Ops", room="feed:cpu", view="dashboard", window="20"
    )
    phone = await open_as(
        browser, stack, "oncall", "On call", phone=True, dark=True, room="feed:cpu",
        view="dashboard", window="20",
    )  # fmt: skip
    for page in (viewer, phone):
        await page.fill("#watch-input", "orders")
        await page.click("#watch-btn")
        await expect(page.locator(".chart")).to_have_count(2)
    token = chat_token(stack, "metrics", scopes=["publish"])
    rng = random.Random(4)
    for i in range(60):
        wave = math.sin(i / 6)
        cpu = {
            "cpu": round(45 + 25 * wave + rng.uniform(-5, 5), 1),
            "mem": round(62 + i / 60, 1),
            "load1": round(6.2 + 1.5 * wave, 2),
            "units": {"cpu": "%", "mem": "%"},
        }
        orders = {
            "orders": round(120 + 40 * math.cos(i / 8) + rng.uniform(-8, 8), 1),
            "p95": round(180 + 60 * max(0.0, wave) + rng.uniform(-10, 10), 1),
            "units": {"orders": "/s", "p95": "ms"},
        }
        await asyncio.to_thread(publish, stack.http_url, "feed:cpu", token, data=cpu)
        await asyncio.to_thread(publish, stack.http_url, "feed:orders", token, data=orders)
        await asyncio.sleep(0.25)  # spread the points over the chart's time axis
    for page in (viewer, phone):
        await expect(page.locator(".chart").first).to_have_attribute("data-count", "180")
    # Hover the middle of the first chart: the legend reads out the values there.
    over = await viewer.locator(".chart .u-over").first.bounding_box()
    assert over is not None
    await viewer.mouse.move(over["x"] + over["width"] * 0.6, over["y"] + over["height"] / 2)
    await viewer.screenshot(path=str(OUT / "dashboard.png"))
    await phone.screenshot(path=str(OUT / "dashboard-phone.png"), full_page=True)


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=20_000)  # a busy machine's cold stack is slow
    async with (
        local_stack(
            REPO / "serverless.yml",
            "dev",
            log=None,
            static_dir=REPO / "client/web",
            # The demo feed publishes 120 points in about 15 s, close to the default
            # publish rate limit (100 per 10 s); the limit is not what this shows.
            environment={"CHAT_PUBLISH_RATE_LIMIT": "10000"},
        ) as stack,
        async_playwright() as pw,
    ):
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        await chat(browser, stack)
        await dashboard(browser, stack)
        await browser.close()
    print(f"wrote chat.png, chat-phone.png, dashboard.png, dashboard-phone.png in {OUT}")


if __name__ == "__main__":
    asyncio.run(main())
