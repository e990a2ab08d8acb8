"""The coordinator's Mini App in Chromium, opened as Telegram opens it: the sandbox page's
menu button, initData signed with the sandbox token, the bot's own HTTP server, and the
real database behind it. As a coordinator and as a wijkboa, on a phone and on a desk."""

from __future__ import annotations

import io
import socket
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import openpyxl
import pypdf
import pytest

from bot.app import BotApplication, running
from bot.roles import Role, grant
from bot.services import services_of
from bot.settings import Settings
from handlers import commands
from sandbox.client import SandboxClient
from storage.models import utcnow
from tests.browser.conftest import PHONE
from tests.browser.helpers import axe_violations, phone_check
from tests.journeys.conftest import people
from tests.journeys.test_miniapp import add_report, views

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = pytest.mark.timeout(180)

ADMIN_ID = 900001  # BUURTBOT_ADMINS in tests/conftest.py
DESK = {"width": 1280, "height": 900}


def free_port() -> int:
    # The app's URL goes into the menu button before the server starts, so the port is
    # chosen first; a race with another process for it is possible but harmless here.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def settings(settings: Settings) -> Settings:
    port = free_port()
    return settings.with_overrides(listen_port=port, miniapp_url=f"http://127.0.0.1:{port}/app/")


@pytest.fixture
async def bot(app: BotApplication) -> AsyncIterator[BotApplication]:
    async with running(app, poll_timeout=1):
        yield app


async def open_app(
    open_page: Any, user_id: int, viewport: dict[str, int], label: str = "📊 Overzicht"
) -> Page:
    """The sandbox page as this user, then the menu button: the Mini App in a new tab."""
    page = await open_page(user_id, viewport)
    menu = page.locator("#menu-button")
    await menu.wait_for()
    assert (await menu.text_content()) == label
    async with page.context.expect_page() as opening:
        await menu.click()
    app = await opening.value
    errors: list[str] = []
    app.on("pageerror", lambda error: errors.append(str(error)))
    app.js_errors = errors  # type: ignore[attr-defined]
    await app.wait_for_load_state()
    assert "#tgWebAppData=" in app.url
    # Loaded: the status line is emptied once every part has arrived.
    await app.locator("#teams li").first.wait_for()
    await app.wait_for_function("document.getElementById('status').textContent === ''")
    return app


async def accessible(app: Page, viewport: dict[str, int]) -> None:
    assert await axe_violations(app) == []
    if viewport is PHONE:
        checked = await phone_check(app)
        assert checked["overflow"] <= 0, checked
        assert checked["tiny"] == [], checked


async def tap_wijk_and_switch_periods(app: Page, wijk: str, viewport: dict[str, int]) -> None:
    tile = app.locator("#map button", has_text=wijk)
    if viewport is PHONE:
        await tile.tap()
    else:  # at a desk by keyboard only: a tile is a button, Enter opens it
        await tile.focus()
        await app.keyboard.press("Enter")
    assert await tile.get_attribute("aria-pressed") == "true"
    assert await app.locator("#place").input_value() == wijk.lower()
    week = await app.locator("#period-title").text_content()
    await app.get_by_role("button", name="Maand").click()
    await app.wait_for_function(
        "(week) => document.getElementById('period-title').textContent !== week", arg=week
    )
    assert await app.locator("[data-kind=month]").get_attribute("aria-pressed") == "true"
    month = await app.locator("#period-title").text_content()
    await app.locator("#prev").click()
    await app.wait_for_function(
        "(month) => document.getElementById('period-title').textContent !== month", arg=month
    )
    # The wijk stays chosen over the switch.
    assert await app.locator("#place").input_value() == wijk.lower()


async def download(app: Page, button: str) -> bytes:
    async with app.expect_download() as waiting:
        await app.locator(button).click()
    got = await waiting.value
    path = await got.path()
    return path.read_bytes()


@pytest.mark.parametrize("viewport", [PHONE, DESK], ids=["390px", "1280px"])
async def test_a_coordinator_opens_the_app_from_the_menu_button(
    bot: BotApplication, client: SandboxClient, open_page: Any, viewport: dict[str, int]
) -> None:
    make = people(bot, client)
    await make("Carla", user_id=ADMIN_ID)
    await make("Anna", wijk="stiphout")
    ref = await add_report(bot, "stiphout", "received", "folie bij de deur")
    app = await open_app(open_page, ADMIN_ID, viewport)
    await accessible(app, viewport)
    # The map is coloured by reports per category too: this week, one about drugs.
    await app.locator("#map-figure").select_option("cat:drugs")
    assert await app.locator("#map-figure option[value='cat:drugs']").text_content() == "Drugs"
    assert (await app.locator("#map button", has_text="Stiphout").text_content() or "").endswith(
        "1"
    )
    assert (await app.locator("#map button", has_text="Warande").text_content() or "").endswith("0")
    await tap_wijk_and_switch_periods(app, "Stiphout", viewport)

    # A report by number only; its text after a tap on Details, and the view audited.
    reports = app.locator("#reports")
    await reports.locator("li", has_text=ref).wait_for()
    assert "folie" not in (await reports.text_content() or "")
    assert await views(bot) == set()
    await app.get_by_role("button", name=f"Details {ref}").click()
    await app.locator(".details", has_text="folie bij de deur").wait_for()
    assert await views(bot) == {(ADMIN_ID, f"report:{ref}")}
    await accessible(app, viewport)

    year = str(utcnow().year)
    book = openpyxl.load_workbook(io.BytesIO(await download(app, "#yearly")))
    assert book.properties.title.startswith(f"Jaarrapport {year}")
    document = pypdf.PdfReader(io.BytesIO(await download(app, "#yearly-pdf")))
    assert f"Jaarrapport {year}" in document.pages[0].extract_text()

    # The statement, in the reader's language, and the way back to the app.
    await app.locator("#statement").click()
    await app.locator("h1", has_text="Toegankelijkheidsverklaring").wait_for()
    await accessible(app, viewport)
    await app.locator("#back").click()
    await app.locator("#teams li").first.wait_for()
    assert not app.js_errors, app.js_errors  # type: ignore[attr-defined]


@pytest.mark.parametrize("viewport", [PHONE, DESK], ids=["390px", "1280px"])
async def test_a_wijkboa_opens_their_wijk_without_details_or_yearly_report(
    bot: BotApplication, client: SandboxClient, open_page: Any, viewport: dict[str, int]
) -> None:
    make = people(bot, client)
    boa = await make("Bas")
    services = services_of(bot)
    await grant(services, boa.id, Role.WIJKBOA, "wijk:stiphout", name="Bas", by=ADMIN_ID)
    await commands.refresh_chat(bot.bot, services, boa.id)
    await add_report(bot, "stiphout", "received", "x")
    app = await open_app(open_page, boa.id, viewport)
    assert await app.locator("#map button").count() == 1
    await tap_wijk_and_switch_periods(app, "Stiphout", viewport)
    # One report: a small count, hidden; no list and no details for a wijkboa.
    await app.locator("#report-statuses button", has_text="(<3)").wait_for()
    assert await app.locator("#reports button").count() == 0
    assert await app.locator("#yearly").is_hidden()
    assert await app.locator("#yearly-pdf").is_hidden()
    await accessible(app, viewport)
    await app.locator("#statement").click()
    await app.locator("h1", has_text="Toegankelijkheidsverklaring").wait_for()
    await accessible(app, viewport)
    assert await views(bot) == set()
    assert not app.js_errors, app.js_errors  # type: ignore[attr-defined]


async def test_the_app_in_arabic_reads_right_to_left(
    bot: BotApplication, client: SandboxClient, open_page: Any
) -> None:
    make = people(bot, client)
    carla = await make("Carla", "ar", user_id=ADMIN_ID)
    app = await open_app(open_page, ADMIN_ID, PHONE, carla.lang.gettext("📊 Overzicht"))
    assert await app.evaluate("document.documentElement.dir") == "rtl"
    await accessible(app, PHONE)
    # The narrowest phone WCAG names (1.4.10, reflow): nothing sideways to scroll.
    await app.set_viewport_size({"width": 320, "height": 640})
    assert (await phone_check(app))["overflow"] <= 0
    await app.locator("#statement").click()
    await app.wait_for_function("document.documentElement.dir === 'rtl'")
    assert await app.evaluate("document.documentElement.lang") == "ar"
    await accessible(app, PHONE)
