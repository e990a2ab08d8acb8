"""The sandbox page on a phone (390 by 844) with the real bot: readable, tappable, right to
left where the language is, and a chat that stays where the reader left it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from bot.app import BotApplication
from handlers.keyboards import language_name
from sandbox.client import SandboxClient
from sandbox.server import SandboxServer
from tests.browser.helpers import axe_violations, bot_call, phone_check, presses

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = pytest.mark.timeout(90)

AT_BOTTOM = (
    "() => { const l = document.getElementById('log');"
    " return l.scrollHeight - l.scrollTop - l.clientHeight < 48; }"
)


async def start_as_new_user(page: Page, name: str, code: str) -> None:
    """Make a user in the page's form, send /start, choose the language if asked."""
    await page.locator("#user-name").fill(name)
    await page.locator("#user-lang").select_option(code)
    await page.get_by_role("button", name="Maak gebruiker").click()
    await page.locator("#text").fill("/start")
    await page.locator("#send").click()  # by id: the page now speaks the user's language
    welcome = page.locator(".msg:not(.mine) .inline-keyboard").first
    await welcome.wait_for()
    choice = page.locator(".inline-keyboard button", has_text=language_name(code))
    if await choice.count():
        await choice.first.click()


async def test_on_a_phone_nothing_is_too_wide_too_small_or_too_hard_to_tap(
    bot: BotApplication, open_page: Any
) -> None:
    page = await open_page()
    await page.locator("#menu[open]").wait_for()  # nobody yet: the menu opens by itself
    await start_as_new_user(page, "Anna", "nl")
    await page.locator(".inline-keyboard button", has_text="Helmond-West").wait_for()
    await page.locator("#menu summary").click()  # the menu open too
    found = await phone_check(page)
    assert found["overflow"] <= 0, "the page scrolls sideways"
    assert found["small"] == [], "text under 14 px"
    assert found["tiny"] == [], "tap targets under 40 px"
    # The wijk buttons come in rows of more than one, as the bot laid them out.
    rows = page.locator(".msg", has_text="Helmond-West").locator(".inline-keyboard .row")
    assert await rows.count() > 1
    assert await rows.first.locator("button").count() > 1
    assert await axe_violations(page) == []


async def test_arabic_bubbles_run_right_to_left(bot: BotApplication, open_page: Any) -> None:
    page = await open_page()
    await start_as_new_user(page, "Fatima", "ar")
    arabic = page.locator(".msg:not(.mine)").filter(has_text="ا").last
    await arabic.wait_for()
    assert await arabic.evaluate("el => el.matches(':dir(rtl)')")
    assert await arabic.evaluate("el => getComputedStyle(el).direction") == "rtl"
    mine = page.locator(".msg.mine", has_text="/start")
    assert await mine.evaluate("el => el.matches(':dir(ltr)')")


@pytest.mark.parametrize(
    ("code", "send", "follow"),
    [
        ("nl", "Stuur", "Nieuwe gebruiker, groep of kanaal"),
        ("pl", "Wyślij", "Nowy użytkownik, grupa lub kanał"),
        ("ar", "إرسال", "مستخدم أو مجموعة أو قناة جديدة"),
    ],
)
async def test_the_page_speaks_the_language_of_the_user_it_plays(
    client: SandboxClient, open_page: Any, code: str, send: str, follow: str
) -> None:
    """Its own buttons and menus too, from the bot's catalogs; Dutch for a phone in German."""
    user = await client.create_user("Ola", language_code=code)
    page = await open_page(user["id"])
    await page.get_by_role("button", name=send, exact=True).wait_for()
    assert await page.locator("#menu summary").inner_text() == follow
    assert await page.locator("html").get_attribute("lang") == code
    assert await page.locator("html").get_attribute("dir") == ("rtl" if code == "ar" else "ltr")
    # Switched to someone whose phone speaks German: the page falls back to Dutch.
    other = await client.create_user("Jonas", language_code="de")
    await page.locator("#user option", has_text="Jonas").wait_for(state="attached")
    await page.locator("#user").select_option(str(other["id"]))
    await page.get_by_role("button", name="Stuur", exact=True).wait_for()
    assert await page.locator("#text").get_attribute("placeholder") == "Bericht, bijv. /start"
    assert await page.locator("html").get_attribute("dir") == "ltr"


async def test_updates_keep_the_reader_where_they_are_and_never_swallow_a_tap(
    sandbox: SandboxServer, client: SandboxClient, started_page: Any, open_page: Any
) -> None:
    await client.set_limits(enabled=False)
    anna, page = await started_page()
    first = await bot_call(
        sandbox,
        "sendMessage",
        chat_id=anna["id"],
        text="Kom je?",
        reply_markup={"inline_keyboard": [[{"text": "Ik kom", "callback_data": "kom"}]]},
    )
    for n in range(40):
        await bot_call(sandbox, "sendMessage", chat_id=anna["id"], text=f"Bericht {n}")
    log = page.locator("#log")
    await page.locator(".msg", has_text="Bericht 39").wait_for()
    assert await log.evaluate("el => el.scrollHeight - el.scrollTop - el.clientHeight") < 48
    # The reader scrolls back to the first message and holds on to its bubble.
    await log.evaluate("el => { el.scrollTop = 0; window.firstBubble = el.querySelector('.msg'); }")

    async def more(count: int, label: str) -> None:
        for n in range(count):
            await bot_call(sandbox, "sendMessage", chat_id=anna["id"], text=f"{label} {n}")

    # Messages keep arriving while the reader taps the button of the first one.
    arriving = asyncio.create_task(more(20, "Nieuw"))
    await page.locator(".msg", has_text="Kom je?").get_by_role("button", name="Ik kom").click()
    await arriving
    await page.locator(".msg", has_text="Nieuw 19").wait_for()
    assert [(p["data"], p["message"]["message_id"]) for p in await presses(client)] == [
        ("kom", first["message_id"])
    ]
    assert await log.evaluate("el => el.scrollTop") == 0
    assert await page.evaluate("window.firstBubble.isConnected"), "the chat was redrawn"
    assert await page.locator(".msg").count() == 61

    # At the bottom again, new messages scroll into view.
    await page.get_by_role("button", name="↓ Nieuwe berichten").click()
    await more(3, "Laatste")
    await page.locator(".msg", has_text="Laatste 2").wait_for()
    await page.wait_for_function(AT_BOTTOM)

    # Opened afresh, on a desktop, the chat starts at its newest message, also when a
    # reply keyboard takes room below it after the messages came in.
    await bot_call(
        sandbox,
        "sendMessage",
        chat_id=anna["id"],
        text="Kies:",
        reply_markup={"keyboard": [["Ja", "Nee"]], "input_field_placeholder": "Ja of nee"},
    )
    desk = await open_page(anna["id"], viewport={"width": 1280, "height": 800})
    await desk.locator("#keyboard button", has_text="Nee").wait_for()
    await desk.wait_for_function(AT_BOTTOM)
    assert await desk.locator("#text").get_attribute("placeholder") == "Ja of nee"
    assert await desk.locator("#to-bottom").is_hidden()
    assert (await phone_check(desk))["overflow"] <= 0
