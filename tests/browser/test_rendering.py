"""What the bot sends, as the page shows it: formatting kept and made safe, files to
download, contact cards, button rows, reply keyboards, clickable commands and deep links.

The bot here is the test itself, calling the sandbox's Bot API over HTTP (no buurtbot),
so every kind of message and every hostile string can be sent on purpose.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.client import SandboxClient
from sandbox.server import SandboxServer
from tests.browser.helpers import PNG, axe_violations, bot_call, presses

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
async def _no_flood_limits(client: SandboxClient) -> None:
    # The test sends a bot's five messages in a row, faster than a chat's burst allows.
    await client.set_limits(enabled=False)


async def test_formatting_is_rendered_as_elements_and_never_as_markup(
    sandbox: SandboxServer, client: SandboxClient, started_page: Any
) -> None:
    anna, page = await started_page()
    hostile = "&lt;img src=x onerror=&quot;window.pwned=1&quot;&gt;"
    await bot_call(
        sandbox,
        "sendMessage",
        chat_id=anna["id"],
        parse_mode="HTML",
        text=(
            "<b>Vet</b> <i>schuin</i> <u>onder</u> <s>door</s> <code>code</code>\n"
            "<pre>blok</pre><blockquote>citaat</blockquote><tg-spoiler>geheim</tg-spoiler>\n"
            f'<a href="https://example.org/">link</a> <a href="javascript:alert(1)">nep</a> {hostile}'
        ),
    )
    body = page.locator(".msg .body").last
    await body.wait_for()
    assert await body.locator("strong").inner_text() == "Vet"
    for tag, text in [("em", "schuin"), ("u", "onder"), ("s", "door"), ("pre", "blok")]:
        assert await body.locator(tag).inner_text() == text
    assert await body.locator("blockquote").inner_text() == "citaat"
    assert await body.locator("a[href='https://example.org/']").inner_text() == "link"
    # The hostile text is text; a javascript: link is no link at all.
    assert "<img src=x" in await body.inner_text()
    assert await page.locator(".msg img").count() == 0
    assert await page.evaluate("window.pwned") is None
    assert await body.locator("a[href^='javascript']").count() == 0
    spoiler = body.locator(".spoiler")
    assert "shown" not in (await spoiler.get_attribute("class") or "")
    await spoiler.click()
    assert "shown" in (await spoiler.get_attribute("class") or "")
    assert await axe_violations(page) == []


async def test_files_contacts_and_keyboards(
    sandbox: SandboxServer, client: SandboxClient, started_page: Any
) -> None:
    anna, page = await started_page()
    data = json.dumps({"wijk": "Stiphout"}).encode()
    await bot_call(
        sandbox, "sendDocument", chat_id=anna["id"], document=("mijngegevens.json", data)
    )
    await bot_call(sandbox, "sendPhoto", chat_id=anna["id"], photo=("grafiek.png", PNG))
    await bot_call(
        sandbox, "sendContact", chat_id=anna["id"], phone_number="112", first_name="Alarm 112"
    )
    await bot_call(
        sandbox,
        "sendMessage",
        chat_id=anna["id"],
        text="Kies:",
        reply_markup={
            "inline_keyboard": [
                [{"text": "Ja", "callback_data": "y"}, {"text": "Nee", "callback_data": "n"}],
                [{"text": "Later", "callback_data": "l"}],
            ]
        },
    )
    await bot_call(
        sandbox,
        "sendMessage",
        chat_id=anna["id"],
        text="Typ of tik:",
        reply_markup={"keyboard": [["Helmond-West", "Stiphout"]], "resize_keyboard": True},
    )
    await page.locator("#keyboard button", has_text="Stiphout").wait_for()

    async with page.expect_download() as waiting:
        await page.locator("a.file", has_text="mijngegevens.json").click()
    download = await waiting.value
    assert download.suggested_filename == "mijngegevens.json"
    assert json.loads((await download.path()).read_bytes()) == {"wijk": "Stiphout"}

    photo = page.locator("img.photo")
    assert await photo.evaluate("img => img.complete && img.naturalWidth") == 1
    card = page.locator(".contact")
    assert "Alarm 112" in await card.inner_text()
    assert await card.locator("a").get_attribute("href") == "tel:112"

    rows = page.locator(".msg", has_text="Kies:").locator(".inline-keyboard .row")
    assert await rows.count() == 2
    assert await rows.nth(0).locator("button").all_inner_texts() == ["Ja", "Nee"]
    await rows.nth(1).locator("button").click()
    assert [press["data"] for press in await presses(client)] == ["l"]

    # A reply keyboard's button sends its label as the user's message.
    await page.locator("#keyboard button", has_text="Stiphout").click()
    await page.locator(".msg.mine", has_text="Stiphout").wait_for()
    assert (await client.messages(anna["id"]))[-1]["text"] == "Stiphout"
    await page.locator("#menu summary").click()
    assert await axe_violations(page) == []


async def test_commands_and_deep_links_are_taps(
    sandbox: SandboxServer, client: SandboxClient, started_page: Any
) -> None:
    anna, page = await started_page()
    bot = sandbox.config.bot_username
    await bot_call(
        sandbox,
        "sendMessage",
        chat_id=anna["id"],
        text=f"Tik /help of open https://t.me/{bot}?start=inv-AbC_12",
    )
    await page.locator(".msg .body a", has_text="/help").click()
    await page.locator(".msg.mine", has_text="/help").wait_for()
    await page.locator(".msg .body a", has_text="t.me").click()
    await page.locator(".msg.mine", has_text="/start inv-AbC_12").wait_for()
    sent = [m["text"] for m in await client.messages(anna["id"]) if not m["from_bot"]]
    assert sent == ["/help", "/start inv-AbC_12"]
