"""The sandbox page in a real browser: Playwright driving Debian's Chromium.

Never a browser Playwright downloads itself: `.ci/run` installs the `chromium` package
when it is missing, and a machine without it skips these tests with one line.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from sandbox.client import SandboxClient

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

CHROMIUM = os.environ.get("BUURTBOT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}
VENDOR = Path(__file__).with_name("vendor")

try:
    from playwright.async_api import async_playwright
except ImportError:  # the [dev] extras not installed
    async_playwright = None
MISSING = (
    f"browser tests need Playwright and Chromium at {CHROMIUM} (apt-get install chromium)"
    if async_playwright is None or not Path(CHROMIUM).exists()
    else None
)


class _NoBrowser(pytest.Module):
    def collect(self) -> list[pytest.Item]:
        # Raised from this one line for every module, so `pytest -ra` sums the browser
        # tests up in one line, and before anything (a bot, a sandbox) is started.
        raise pytest.skip.Exception(str(MISSING), allow_module_level=True)


def pytest_pycollect_makemodule(
    module_path: Path, parent: pytest.Collector
) -> pytest.Module | None:
    if MISSING and module_path.name.startswith("test_"):
        return _NoBrowser.from_parent(parent, path=module_path)
    return None


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    assert async_playwright is not None
    async with async_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's own sandbox refuses to start.
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        await browser.close()


@pytest.fixture
def open_page(browser: Browser, client: SandboxClient) -> Any:
    """Open the page as a user on a phone (390 by 844, touch), or another viewport."""
    pages: list[Page] = []

    async def open_(user_id: int | None = None, viewport: dict[str, int] = PHONE) -> Page:
        context = await browser.new_context(
            viewport=viewport,
            device_scale_factor=2,
            is_mobile=viewport is PHONE,
            has_touch=viewport is PHONE,
            locale="nl-NL",
            accept_downloads=True,
        )
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.js_errors = errors  # type: ignore[attr-defined]
        query = f"?user={user_id}" if user_id is not None else ""
        await page.goto(client.url + "/" + query)
        pages.append(page)
        return page

    yield open_
    for page in pages:
        # A script error on the page is a failure even when the test's checks passed.
        assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]


@pytest.fixture
def started_page(client: SandboxClient, open_page: Any) -> Any:
    """Someone who wrote to the bot before (so the bot may write first), and their page."""

    async def make(name: str = "Anna") -> tuple[dict[str, Any], Page]:
        user = await client.create_user(name, started=True)
        return user, await open_page(user["id"])

    return make
