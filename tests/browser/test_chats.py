"""Groups, channels, photos and places from the page, as a user does them on Telegram."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from sandbox.client import SandboxClient
from sandbox.server import SandboxServer
from tests.browser.helpers import PNG, Json, bot_call

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = pytest.mark.timeout(60)


async def make_chat(
    client: SandboxClient, open_page: Any, title: str, kind: str = "group"
) -> tuple[Page, Json]:
    """A new user opens the page and makes a group or channel with the bot in its menu."""
    maker = await client.create_user("Carla" if kind == "channel" else "Anna")
    page = await open_page(maker["id"])
    await page.locator("#menu summary").click()
    await page.locator("#chat-title").fill(title)
    await page.locator("#chat-type").select_option(kind)
    # A bot can post in a channel only as its administrator; the form knows.
    assert await page.locator("#chat-bot-admin").is_checked() == (kind == "channel")
    await page.get_by_role("button", name="Maak aan").click()
    await page.locator("#chat option", has_text=title).wait_for(state="attached")
    [chat] = [c for c in await client.chats() if c["type"] == kind]
    assert chat["title"] == title
    return page, chat


async def test_a_group_with_the_bot_where_a_member_posts(
    client: SandboxClient, open_page: Any
) -> None:
    page, group = await make_chat(client, open_page, "Buurtapp Dorp")
    piet = await client.create_user("Piet")
    await page.locator(".msg.service", has_text="Groep gemaakt").wait_for()
    assert (await client.chat(group["id"]))["bot_status"] == "member"

    await page.locator("#menu summary").click()
    await page.locator("#member-user").select_option(str(piet["id"]))
    await page.get_by_role("button", name="Voeg toe").click()
    await page.locator(".msg.service", has_text="Piet kwam erbij").wait_for()

    # Piet, in a page of his own, finds the group in his chats and writes in it.
    his = await open_page(piet["id"])
    await his.locator("#chat").select_option(str(group["id"]))
    await his.locator("#text").fill("Wie heeft de fiets bij de kerk gezien?")
    await his.get_by_role("button", name="Stuur").click()
    await page.locator(".msg", has_text="Wie heeft de fiets").wait_for()
    assert (
        await page.locator(".msg", has_text="Wie heeft de fiets").locator(".sender").inner_text()
        == "Piet"
    )
    last = (await client.messages(group["id"]))[-1]
    assert (last["from"]["id"], last["text"]) == (
        piet["id"],
        "Wie heeft de fiets bij de kerk gezien?",
    )


async def test_a_channel_is_followed_and_read(
    sandbox: SandboxServer, client: SandboxClient, open_page: Any
) -> None:
    _, channel = await make_chat(client, open_page, "Wijk Stiphout", "channel")
    anna = await client.create_user("Anna")
    assert (await client.chat(channel["id"]))["bot_status"] == "administrator"
    await bot_call(sandbox, "sendMessage", chat_id=channel["id"], text="Vanavond Witte Voetjes.")

    reader = await open_page(anna["id"])
    await reader.locator("#chat").select_option(str(channel["id"]))
    assert await reader.locator("#composer").is_hidden()  # followers read, they do not post
    await reader.get_by_role("button", name="Volg dit kanaal").click()
    await reader.locator(".msg", has_text="Vanavond Witte Voetjes.").wait_for()
    # A public channel's posts show before one follows it: the button's new label is the
    # sign that the follow went through (reading the sandbox at once raced the request).
    await reader.get_by_role("button", name="Ontvolg dit kanaal").wait_for()
    assert (await client.chat(channel["id"]))["members"][str(anna["id"])] == "member"
    assert await reader.locator(".msg .sender").inner_text() == "Wijk Stiphout"


async def test_a_photo_with_a_caption_and_a_place_are_sent(
    client: SandboxClient, open_page: Any
) -> None:
    anna = await client.create_user("Anna")
    page = await open_page(anna["id"])
    await page.locator("#text").fill("Verdachte auto")
    await page.locator("#photo-file").set_input_files(
        files=[{"name": "auto.png", "mimeType": "image/png", "buffer": PNG}]
    )
    await page.locator(".msg.mine img.photo").wait_for()
    await page.get_by_role("button", name="Locatie sturen").click()
    await page.locator("#lat").fill("51,4811")
    await page.get_by_role("button", name="Stuur locatie").click()
    await page.locator(".msg.mine .place").wait_for()
    photo, place = await client.messages(anna["id"])
    assert (photo["caption"], len(photo["photo"])) == ("Verdachte auto", 1)
    assert place["location"]["latitude"] == pytest.approx(51.4811)
