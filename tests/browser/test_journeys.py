"""A resident's join and a coordinator's broadcast, clicked through in the page against
the real bot (as tests/journeys do over HTTP, but with a finger on a phone screen)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from bot.app import BotApplication
from sandbox.client import SandboxClient
from tests.browser.test_phone import start_as_new_user
from tests.journeys.conftest import people

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = pytest.mark.timeout(120)

ADMIN_ID = 900001  # BUURTBOT_ADMINS in tests/conftest.py


async def tap(page: Page, label: str) -> None:
    """Tap the newest inline button with this label (the bot edits messages in place)."""
    await page.locator(".inline-keyboard button", has_text=label).last.click()


async def type_(page: Page, text: str) -> None:
    await page.locator("#text").fill(text)
    await page.get_by_role("button", name="Stuur").click()
    await page.locator(".msg.mine", has_text=text).last.wait_for()


async def test_a_resident_joins_and_downloads_their_data(
    bot: BotApplication, client: SandboxClient, open_page: Any
) -> None:
    page = await open_page()
    await start_as_new_user(page, "Anna", "nl")
    await tap(page, "Helmond-West")
    await tap(page, "Houtsdonk")
    await page.locator(".msg", has_text="Gelukt! Je volgt nu Houtsdonk, Helmond-West.").wait_for()

    # /mijngegevens is a command link in the bot's own help text: a tap, not typing.
    await type_(page, "/help")
    await page.locator(".msg:not(.mine) .body a", has_text="/mijngegevens").last.click()
    async with page.expect_download() as waiting:
        await page.locator("a.file").last.click()
    download = await waiting.value
    assert download.suggested_filename.endswith(".json")
    data = json.loads((await download.path()).read_text(encoding="utf-8"))
    assert "houtsdonk" in json.dumps(data, ensure_ascii=False).lower()
    [anna] = await client.users()
    assert anna["language_code"] == "nl"


async def test_a_coordinator_broadcasts_and_the_resident_reads_it(
    bot: BotApplication, client: SandboxClient, open_page: Any
) -> None:
    make = people(bot, client)
    await make("Carla", "nl", user_id=ADMIN_ID)
    anna = await make("Anna", "nl", wijk="stiphout")

    page = await open_page(ADMIN_ID)
    await type_(page, "/bericht")
    await tap(page, "📰 Nieuws")
    await page.locator(".msg:not(.mine)").last.wait_for()
    for answer in ["Nieuwe wijkboa", "Vanaf maandag is Sanne de wijkboa van Stiphout."]:
        before = await page.locator(".msg:not(.mine)").count()
        await type_(page, answer)
        await page.locator(".msg:not(.mine)").nth(before).wait_for()
    await tap(page, "⬜ Stiphout")
    await page.locator(".inline-keyboard button", has_text="✅ Stiphout").wait_for()
    await tap(page, "Verder")
    await tap(page, "Zonder foto")
    await page.locator(".msg", has_text="Voorbeeld: zo ziet het eruit.").wait_for()
    await tap(page, "Nu versturen")

    # Anna, on her own phone, sees it arrive with its title in bold.
    sent = await client.wait_bot_message(anna.id, after=anna.last_id, timeout=20)
    assert "Nieuwe wijkboa" in sent["text"]
    hers = await open_page(anna.id)
    news = hers.locator(".msg", has_text="Vanaf maandag is Sanne de wijkboa van Stiphout.")
    await news.wait_for()
    assert "Nieuwe wijkboa" in await news.locator(".body strong, .body b").all_inner_texts()
