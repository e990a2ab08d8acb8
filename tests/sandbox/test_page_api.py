"""The two routes the sandbox page lives on, without a browser: its event stream and its
downloads (tests/browser drives the page itself)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup

from sandbox.client import SandboxClient
from sandbox.server import SandboxServer

Json = dict[str, Any]


class EventStream:
    """A reader of text/event-stream, one (event, data) at a time."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next(self) -> tuple[str, Any]:
        event, data = "message", ""
        while True:
            line = (await self.response.content.readline()).decode().rstrip("\n")
            if not line:
                if data:
                    return event, json.loads(data)
                continue
            field, _, value = line.partition(": ")
            if field == "event":
                event = value
            elif field == "data":
                data += value

    async def until(self, wanted: str) -> Any:
        while True:
            event, data = await self.next()
            if event == wanted:
                return data


@pytest.fixture
async def http() -> Any:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def streams(http: aiohttp.ClientSession, server: SandboxServer) -> Any:
    """Open the page's event stream with a query; closed again after the test."""
    opened: list[aiohttp.ClientResponse] = []

    async def open_(**query: int) -> EventStream:
        response = await http.get(f"{server.url}/sandbox/events", params=query)
        opened.append(response)
        assert response.headers["Content-Type"].startswith("text/event-stream")
        return EventStream(response)

    yield open_
    for response in opened:
        response.close()


@pytest.mark.timeout(30)
async def test_each_message_is_sent_once_and_again_only_when_it_changes(
    server: SandboxServer, client: SandboxClient, bot: Bot, anna: Json, streams: Any
) -> None:
    stream = await streams(user_id=anna["id"], chat_id=anna["id"])
    assert (await stream.next())[0] == "hello"
    world = await stream.until("world")
    assert [u["first_name"] for u in world["users"]] == ["Anna"]
    assert [c["id"] for c in world["chats"]] == [anna["id"]]
    assert world["bot"]["username"] == server.config.bot_username
    start = await stream.until("msg")
    assert (start["text"], start["from_bot"]) == ("/start", False)

    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Ik kom", callback_data="kom")]])
    sent = await bot.send_message(anna["id"], "Kom je?", reply_markup=keyboard)
    event, message = await stream.next()
    assert (event, message["text"], message["edited"]) == ("msg", "Kom je?", False)
    await bot.edit_message_text("Kom je? ✓", chat_id=anna["id"], message_id=sent.message_id)
    event, edited = await stream.next()
    assert (event, edited["message_id"], edited["text"]) == ("msg", sent.message_id, "Kom je? ✓")
    assert edited["edited"]
    assert "reply_markup" not in edited  # an edit without markup drops the buttons

    # What the user does elsewhere (another tab, curl) arrives too, and nothing twice.
    await client.send(anna["id"], "Ja")
    event, mine = await stream.next()
    assert (event, mine["text"]) == ("msg", "Ja")
    group = await client.create_group("Buurtapp", creator_id=anna["id"])
    world = await stream.until("world")
    assert [c["id"] for c in world["chats"]] == [anna["id"], group["id"]]
    assert world["chats"][1]["status"] == "creator"


@pytest.mark.timeout(30)
async def test_a_channel_is_listed_to_all_a_group_only_to_members(
    client: SandboxClient, anna: Json, bram: Json, streams: Any
) -> None:
    group = await client.create_group("Buurtapp", creator_id=anna["id"])
    channel = await client.create_channel("Wijk Stiphout", creator_id=anna["id"])
    stream = await streams(user_id=bram["id"])
    world = await stream.until("world")
    listed = {c["id"]: c["status"] for c in world["chats"]}
    assert listed == {bram["id"]: "member", channel["id"]: None}
    await client.add_member(group["id"], bram["id"], by=anna["id"])
    world = await stream.until("world")
    assert {c["id"]: c["status"] for c in world["chats"]}[group["id"]] == "member"


async def test_files_download_under_their_name_and_never_run_in_the_page(
    server: SandboxServer, bot: Bot, anna: Json, http: Any
) -> None:
    html = b"<script>alert(1)</script>"
    sent = await bot.send_document(
        anna["id"], html, filename="wijk stiphout.html", caption="Figures"
    )
    response = await http.get(f"{server.url}/sandbox/files/{sent.document.file_id}")
    assert await response.read() == html
    assert response.headers["Content-Disposition"] == (
        "attachment; filename*=UTF-8''wijk%20stiphout.html"
    )
    assert response.headers["X-Content-Type-Options"] == "nosniff"

    png = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")
    photo = await bot.send_photo(anna["id"], png)
    response = await http.get(f"{server.url}/sandbox/files/{photo.photo[-1].file_id}")
    assert response.headers["Content-Type"] == "image/png"
    assert "Content-Disposition" not in response.headers
    missing = await http.get(f"{server.url}/sandbox/files/nope")
    assert missing.status == 404
    bad = await http.get(f"{server.url}/sandbox/events", params={"chat_id": "abc"})
    assert (bad.status, (await bad.json())["ok"]) == (400, False)


async def test_the_page_and_its_files_are_served(server: SandboxServer, http: Any) -> None:
    page = await (await http.get(server.url + "/")).text()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    for asset, kind in [("/static/app.js", "javascript"), ("/static/app.css", "text/css")]:
        response = await http.get(server.url + asset)
        assert response.status == 200
        assert kind in response.headers["Content-Type"]


@pytest.mark.parametrize(
    ("asked", "lang", "send", "direction", "clock"),
    [
        ("pl", "pl", "Wyślij", "ltr", "pl-PL"),
        ("ar", "ar", "إرسال", "rtl", "ar"),
        ("en-US", "en", "Send", "ltr", "en-GB"),
        ("de", "nl", "Stuur", "ltr", "nl-NL"),  # a language the bot lacks: the Dutch page
        ("", "nl", "Stuur", "ltr", "nl-NL"),
    ],
)
async def test_the_pages_own_words_come_from_the_bots_catalogs(
    client: SandboxClient, asked: str, lang: str, send: str, direction: str, clock: str
) -> None:
    found = await client.page_strings(asked)
    assert (found["lang"], found["dir"], found["time_locale"]) == (lang, direction, clock)
    words = found["strings"]
    assert words["Stuur"] == send
    # Both the script's t("…") and the HTML's data-t marks, every one translated.
    assert {"Groep gemaakt", "{name} ging weg", "Maak gebruiker", "Foto sturen"} <= set(words)
    if lang != "nl":
        assert not [source for source, said in words.items() if not said]
        assert words["{name} ging weg"].count("{name}") == 1
