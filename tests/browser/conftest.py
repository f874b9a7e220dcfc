"""Browser tests: the bundled web page in Debian's headless Chromium, against a real stack.

Needs /usr/bin/chromium (`make chromium`); Playwright drives it (never its own browser
download). The stack serves the page itself (static_dir=client/web), as `make run` does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from infra.stack import LocalStack, local_stack
from tests.conftest import scaled
from tests.tokens import chat_token

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

OpenPage = Callable[..., Awaitable[Page]]
DESKTOP = {"width": 1280, "height": 720}
PHONE = {"width": 360, "height": 740}  # the narrowest phone the page is made for

# Every wait in these tests is an `expect(...)` (or an action) with a scaled timeout.
expect.set_options(timeout=scaled(10) * 1000)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="package")
async def web_stack() -> AsyncIterator[LocalStack]:
    async with local_stack(
        REPO / "serverless.yml", "dev", log=None, warm=True, static_dir=REPO / "client" / "web"
    ) as stack:
        yield stack


@pytest.fixture(scope="package")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        await b.close()


@pytest.fixture
async def open_page(browser: Browser, web_stack: LocalStack) -> AsyncIterator[OpenPage]:
    """Open the page as user `sub` (a fresh browser profile each), with extra query params;
    the token goes in the address's fragment (#token=, as `make run`'s link has it).
    `phone`: a 360 px wide touch screen; `dark`: the system prefers dark colours."""
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    async def open_(
        sub: str | None,
        name: str | None = None,
        *,
        phone: bool = False,
        dark: bool = False,
        **query: str | list[str],
    ) -> Page:
        context = await browser.new_context(
            viewport=PHONE if phone else DESKTOP,  # type: ignore[arg-type]
            has_touch=phone,
            is_mobile=phone,
            color_scheme="dark" if dark else "light",
        )
        context.set_default_timeout(scaled(10) * 1000)
        contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        params: dict[str, str | list[str]] = dict(query)
        fragment = ""
        if sub is not None:
            fragment = "#" + urlencode({"token": chat_token(web_stack, sub, name=name)})
        await page.goto(f"{web_stack.http_url}/?{urlencode(params, doseq=True)}{fragment}")
        return page

    yield open_
    for context in contexts:
        await context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
