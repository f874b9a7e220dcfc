"""Screenshots of the web page for docs/: `python -m tests.browser.screenshots`.

Starts a local stack, stages a short conversation and two live feeds, and saves
docs/screenshots/chat.png and docs/screenshots/dashboard.png. Run by hand; not a test.
"""

from __future__ import annotations

import asyncio
import math
import random
from urllib.parse import urlencode

from playwright.async_api import Browser, Page, async_playwright, expect

from client.publish.api import publish
from infra.stack import LocalStack, local_stack
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, REPO
from tests.tokens import chat_token

OUT = REPO / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 720}


async def open_as(browser: Browser, stack: LocalStack, sub: str, name: str, **query: str) -> Page:
    page = await (await browser.new_context(viewport=VIEWPORT)).new_page()  # type: ignore[arg-type]
    params = {"token": chat_token(stack, sub, name=name), **query}
    await page.goto(f"{stack.http_url}/?{urlencode(params)}")
    await expect(page.locator("#status")).to_have_text(f"online as {name}")
    return page


async def say(page: Page, text: str) -> None:
    await page.fill("#composer-input", text)
    await page.click("#send-btn")
    await expect(page.locator(".msg-text").last).to_have_text(text)


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


async def dashboard(browser: Browser, stack: LocalStack) -> None:
    viewer = await open_as(
        browser, stack, "ops", "Ops", room="feed:cpu", view="dashboard", window="20"
    )
    await viewer.fill("#watch-input", "orders")
    await viewer.click("#watch-btn")
    await expect(viewer.locator("canvas.chart")).to_have_count(2)
    token = chat_token(stack, "metrics", scopes=["publish"])
    rng = random.Random(4)
    for i in range(60):
        wave = math.sin(i / 6)
        cpu = {
            "cpu": round(0.45 + 0.25 * wave + rng.uniform(-0.05, 0.05), 3),
            "mem": round(0.62 + 0.01 * i / 60, 3),
            "load1": round(1.2 + 0.6 * wave, 2),
        }
        orders = {
            "orders_per_s": round(120 + 40 * math.cos(i / 8) + rng.uniform(-8, 8), 1),
            "p95_ms": round(180 + 60 * max(0.0, wave) + rng.uniform(-10, 10), 1),
        }
        await asyncio.to_thread(publish, stack.http_url, "feed:cpu", token, data=cpu)
        await asyncio.to_thread(publish, stack.http_url, "feed:orders", token, data=orders)
        await asyncio.sleep(0.25)  # spread the points over the chart's time axis
    await expect(viewer.locator("canvas.chart").first).to_have_attribute("data-count", "180")
    await viewer.screenshot(path=str(OUT / "dashboard.png"))


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=20_000)  # a busy machine's cold stack is slow
    async with (
        local_stack(
            REPO / "serverless.yml", "dev", log=None, static_dir=REPO / "client/web"
        ) as stack,
        async_playwright() as pw,
    ):
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        await chat(browser, stack)
        await dashboard(browser, stack)
        await browser.close()
    print(f"wrote {OUT / 'chat.png'} and {OUT / 'dashboard.png'}")


if __name__ == "__main__":
    asyncio.run(main())
