"""sendMessage / edits / deletes / callbacks through python-telegram-bot's real Bot."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from telegram import (
    Bot,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, InvalidToken

from sandbox.client import SandboxClient, SandboxError
from sandbox.server import SandboxServer

from .conftest import TOKEN, make_config

User = dict[str, Any]


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(d, callback_data=d) for d in data]])


async def test_get_me_parses_completely(bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == 123456
    assert me.is_bot
    assert me.username == "buurtbot_sandbox_bot"
    assert me.can_join_groups is True
    assert me.can_read_all_group_messages is False
    assert me.api_kwargs == {}


async def test_wrong_token_is_unauthorized(server: SandboxServer) -> None:
    wrong = Bot("999:WRONG", base_url=server.api_base_url)
    with pytest.raises(InvalidToken, match=r"(?i)rejected by the server"):
        await wrong.initialize()
    await wrong.shutdown()


async def test_unknown_method_and_case_insensitive_names(
    server: SandboxServer, bot: Bot, client: SandboxClient
) -> None:
    async with client._http().get(f"{server.api_base_url}{TOKEN}/noSuchMethod") as response:
        assert response.status == 404
        assert await response.json() == {
            "ok": False,
            "error_code": 404,
            "description": "Not Found",
        }
    async with client._http().get(f"{server.api_base_url}{TOKEN}/GETME") as response:
        body = await response.json()
        assert body["ok"] is True
        assert body["result"]["id"] == 123456


async def test_json_and_form_bodies_and_reply_markup_as_string(
    server: SandboxServer, client: SandboxClient, anna: User
) -> None:
    url = f"{server.api_base_url}{TOKEN}/sendMessage"
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    http = client._http()
    async with http.post(
        url, json={"chat_id": anna["id"], "text": "json", "reply_markup": markup}
    ) as response:
        first = await response.json()
    async with http.post(
        url,
        data={"chat_id": str(anna["id"]), "text": "form", "reply_markup": _dumps(markup)},
    ) as response:
        second = await response.json()
    assert first["result"]["reply_markup"] == markup
    assert second["result"]["reply_markup"] == markup
    assert isinstance(first["result"]["date"], int)


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value)


async def test_send_message_round_trip(bot: Bot, client: SandboxClient, anna: User) -> None:
    sent = await bot.send_message(anna["id"], "Hallo <b>buurt</b>!", parse_mode=ParseMode.HTML)
    assert sent.text == "Hallo buurt!"
    assert sent.entities[0].type == "bold"
    assert (sent.entities[0].offset, sent.entities[0].length) == (6, 5)
    assert sent.from_user is not None
    assert sent.from_user.id == 123456
    assert sent.api_kwargs == {}
    got = await client.wait_bot_message(anna["id"])
    assert got["message_id"] == sent.message_id
    assert got["text"] == "Hallo buurt!"
    assert got["edited"] is False


async def test_message_ids_increase_per_chat(bot: Bot, anna: User, bram: User) -> None:
    a1 = await bot.send_message(anna["id"], "1")
    a2 = await bot.send_message(anna["id"], "2")
    b1 = await bot.send_message(bram["id"], "1")
    assert a2.message_id == a1.message_id + 1
    assert b1.message_id == 2  # /start was message 1 in Bram's chat


@pytest.mark.parametrize(
    ("text", "mode", "error"),
    [
        ("<b>bold", ParseMode.HTML, 'Can\'t find end tag corresponding to start tag "b"'),
        ("<blink>x</blink>", ParseMode.HTML, 'Unsupported start tag "blink" at byte offset 0'),
        ("1 < 2", ParseMode.HTML, 'Unsupported start tag "" at byte offset 2'),
        ("<b>x</i>", ParseMode.HTML, "Unmatched end tag at byte offset 4"),
        ("Tom & Jerry", ParseMode.HTML, "Unescaped '&' at byte offset 4"),
        ("Klaar.", ParseMode.MARKDOWN_V2, "Character '.' is reserved and must be escaped"),
        ("*vet", ParseMode.MARKDOWN_V2, "Can't find end of Bold entity at byte offset 0"),
        ("_cursief", ParseMode.MARKDOWN, "Can't find end of the entity starting at byte offset 0"),
    ],
)
async def test_malformed_markup_is_rejected(
    bot: Bot, client: SandboxClient, anna: User, text: str, mode: str, error: str
) -> None:
    with pytest.raises(BadRequest, match=r"(?i)Can't parse entities: "):
        await bot.send_message(anna["id"], text, parse_mode=mode)
    # PTB lower-cases the description; the log keeps Telegram's exact wording.
    description = (await client.requests("sendMessage"))[-1]["error"]
    assert description.startswith("Bad Request: can't parse entities: ")
    assert error in description


async def test_markdown_v2_escapes_and_entities(bot: Bot, anna: User) -> None:
    sent = await bot.send_message(
        anna["id"], r"*Let op\!* Zie [site](https://helmond.nl)\.", parse_mode="MarkdownV2"
    )
    assert sent.text == "Let op! Zie site."
    types = [(e.type, e.offset, e.length) for e in sent.entities]
    assert ("bold", 0, 7) in types
    assert ("text_link", 12, 4) in types


async def test_text_length_is_counted_after_parsing_in_utf16(bot: Bot, anna: User) -> None:
    await bot.send_message(anna["id"], "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)Message is too long"):
        await bot.send_message(anna["id"], "x" * 4097)
    # An emoji outside the BMP is two UTF-16 code units.
    with pytest.raises(BadRequest, match=r"(?i)Message is too long"):
        await bot.send_message(anna["id"], "\U0001f600" * 2049)
    await bot.send_message(anna["id"], "\U0001f600" * 2048)


async def test_empty_text(bot: Bot, anna: User) -> None:
    with pytest.raises(BadRequest, match=r"(?i)Message text is empty"):
        await bot.send_message(anna["id"], "   ")
    with pytest.raises(BadRequest, match=r"(?i)Message text is empty"):
        await bot.send_message(anna["id"], "<b></b>", parse_mode="HTML")


async def test_unknown_chat_and_uninitiated_user(bot: Bot, client: SandboxClient) -> None:
    with pytest.raises(BadRequest, match=r"(?i)Chat not found"):
        await bot.send_message(424242, "hoi")
    silent = await client.create_user("Stil")
    with pytest.raises(Forbidden, match=r"(?i)bot can't initiate conversation with a user"):
        await bot.send_message(silent["id"], "hoi")


async def test_inline_keyboard_validation(bot: Bot, anna: User) -> None:
    with pytest.raises(BadRequest, match=r"(?i)Button_data_invalid"):
        await bot.send_message(anna["id"], "x", reply_markup=keyboard("x" * 65))
    # 64 bytes is fine, even when it is fewer characters.
    await bot.send_message(anna["id"], "x", reply_markup=keyboard("é" * 32))
    with pytest.raises(BadRequest, match=r"(?i)Button_data_invalid"):
        await bot.send_message(anna["id"], "x", reply_markup=keyboard("é" * 33))
    url_ok = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("t.me", url="https://t.me/buurtbot_sandbox_bot?start=x")],
            [InlineKeyboardButton("tg", url="tg://resolve?domain=helmond")],
        ]
    )
    await bot.send_message(anna["id"], "x", reply_markup=url_ok)
    with pytest.raises(BadRequest, match=r"(?i)is invalid: Wrong HTTP URL"):
        await bot.send_message(
            anna["id"], "x", reply_markup={"inline_keyboard": [[{"text": "a", "url": "nope"}]]}
        )
    with pytest.raises(BadRequest, match=r"(?i)Text buttons are unallowed"):
        await bot.send_message(anna["id"], "x", reply_markup={"inline_keyboard": [[{"text": "a"}]]})
    with pytest.raises(BadRequest, match=r"(?i)exactly one of the optional fields"):
        await bot.send_message(
            anna["id"],
            "x",
            reply_markup={
                "inline_keyboard": [[{"text": "a", "callback_data": "a", "url": "https://a.nl"}]]
            },
        )
    with pytest.raises(BadRequest, match=r"(?i)must be an Array"):
        await bot.send_message(anna["id"], "x", reply_markup={"inline_keyboard": {"a": 1}})


async def test_reply_keyboards_and_force_reply(bot: Bot, client: SandboxClient, anna: User) -> None:
    sent = await bot.send_message(
        anna["id"], "Kies", reply_markup=ReplyKeyboardMarkup([["Ja", "Nee"]])
    )
    assert sent.reply_markup is None  # only inline keyboards are part of a Message
    await bot.send_message(anna["id"], "Weg", reply_markup=ReplyKeyboardRemove())
    await bot.send_message(anna["id"], "Typ", reply_markup=ForceReply())
    stored = await client.bot_messages(anna["id"])
    assert stored[0]["reply_keyboard"]["keyboard"] == [[{"text": "Ja"}, {"text": "Nee"}]]
    assert stored[1]["reply_keyboard"] == {"remove_keyboard": True}


async def test_replies(bot: Bot, client: SandboxClient, anna: User) -> None:
    question = await client.send(anna["id"], "Waar is de vergadering?")
    answer = await bot.send_message(
        anna["id"], "In het buurthuis", reply_parameters=ReplyParameters(question["message_id"])
    )
    assert answer.reply_to_message is not None
    assert answer.reply_to_message.text == "Waar is de vergadering?"
    legacy = await bot.send_message(anna["id"], "ook", reply_to_message_id=question["message_id"])
    assert legacy.reply_to_message is not None
    with pytest.raises(BadRequest, match=r"(?i)Message to be replied not found"):
        await bot.send_message(anna["id"], "x", reply_parameters=ReplyParameters(9999))
    lenient = await bot.send_message(
        anna["id"],
        "x",
        reply_parameters=ReplyParameters(9999, allow_sending_without_reply=True),
    )
    assert lenient.reply_to_message is None


async def test_link_preview_options_accepted(bot: Bot, anna: User) -> None:
    await bot.send_message(anna["id"], "https://helmond.nl", disable_web_page_preview=True)
    sent = await bot.send_message(anna["id"], "https://helmond.nl")
    assert sent.entities[0].type == "url"


async def test_edit_message_text(bot: Bot, client: SandboxClient, anna: User) -> None:
    sent = await bot.send_message(anna["id"], "Eerste", reply_markup=keyboard("a"))
    edited = await bot.edit_message_text("Tweede", chat_id=anna["id"], message_id=sent.message_id)
    assert isinstance(edited, type(sent))
    assert edited.text == "Tweede"
    assert edited.edit_date is not None
    # Editing the text without reply_markup removes the inline keyboard, as on Telegram.
    assert edited.reply_markup is None
    stored = await client.wait_edited(anna["id"], sent.message_id)
    assert stored["edited"] is True
    assert stored["text"] == "Tweede"
    with pytest.raises(
        BadRequest, match=r"(?i)Message is not modified: specified new message content"
    ):
        await bot.edit_message_text("Tweede", chat_id=anna["id"], message_id=sent.message_id)
    with pytest.raises(BadRequest, match=r"(?i)Message to edit not found"):
        await bot.edit_message_text("x", chat_id=anna["id"], message_id=9999)
    users_message = await client.send(anna["id"], "van Anna")
    with pytest.raises(BadRequest, match=r"(?i)Message can't be edited"):
        await bot.edit_message_text("x", chat_id=anna["id"], message_id=users_message["message_id"])
    with pytest.raises(BadRequest, match=r"(?i)Can't parse entities"):
        await bot.edit_message_text(
            "<i>x", chat_id=anna["id"], message_id=sent.message_id, parse_mode="HTML"
        )


async def test_edit_reply_markup_and_not_modified(bot: Bot, anna: User) -> None:
    sent = await bot.send_message(anna["id"], "Stem", reply_markup=keyboard("ja", "nee"))
    changed = await bot.edit_message_reply_markup(
        anna["id"], sent.message_id, reply_markup=keyboard("ja")
    )
    assert isinstance(changed, type(sent))
    assert changed.reply_markup == keyboard("ja")
    with pytest.raises(BadRequest, match=r"(?i)Message is not modified"):
        await bot.edit_message_reply_markup(
            anna["id"], sent.message_id, reply_markup=keyboard("ja")
        )
    removed = await bot.edit_message_reply_markup(anna["id"], sent.message_id)
    assert isinstance(removed, type(sent))
    assert removed.reply_markup is None


async def test_delete_message(bot: Bot, client: SandboxClient, anna: User) -> None:
    sent = await bot.send_message(anna["id"], "weg ermee")
    assert await bot.delete_message(anna["id"], sent.message_id) is True
    messages = await client.messages(anna["id"])
    assert messages[-1]["deleted"] is True
    with pytest.raises(BadRequest, match=r"(?i)Message to delete not found"):
        await bot.delete_message(anna["id"], sent.message_id)
    # Bots may delete incoming messages in private chats.
    incoming = await client.send(anna["id"], "oeps")
    assert await bot.delete_message(anna["id"], incoming["message_id"]) is True


async def test_callback_query_flow(bot: Bot, client: SandboxClient, anna: User) -> None:
    sent = await bot.send_message(anna["id"], "Melding?", reply_markup=keyboard("ja", "nee"))
    updates = await bot.get_updates()
    pressed = await client.press(anna["id"], anna["id"], sent.message_id, "ja")
    new = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=2)
    query = new[0].callback_query
    assert query is not None
    assert query.data == "ja"
    assert query.id == pressed["callback_query_id"]
    assert query.from_user.id == anna["id"]
    assert query.message is not None
    assert query.message.message_id == sent.message_id
    assert query.chat_instance
    assert await query.answer("Bedankt", show_alert=True) is True
    answer = await client.callback_answer(pressed["callback_query_id"])
    assert answer == {"text": "Bedankt", "show_alert": True}
    with pytest.raises(BadRequest, match=r"(?i)Query is too old and response timeout expired"):
        await query.answer("nog een keer")


async def test_press_requires_existing_button(bot: Bot, client: SandboxClient, anna: User) -> None:
    sent = await bot.send_message(anna["id"], "Melding?", reply_markup=keyboard("ja"))
    with pytest.raises(SandboxError, match=r"(?i)no button with callback_data 'admin'"):
        await client.press(anna["id"], anna["id"], sent.message_id, "admin")
    forged = await client.press_forged(anna["id"], anna["id"], sent.message_id, "admin")
    updates = await bot.get_updates()
    assert updates[-1].callback_query is not None
    assert updates[-1].callback_query.data == "admin"
    assert updates[-1].callback_query.id == forged["callback_query_id"]
    assert await client.callback_answer(forged["callback_query_id"], timeout=0.05) is None


async def test_a_burst_of_presses_arrives_in_order(
    bot: Bot, client: SandboxClient, anna: User
) -> None:
    sent = await bot.send_message(anna["id"], "Melding?", reply_markup=keyboard("ja"))
    await bot.get_updates()
    ids = await client.press_burst(anna["id"], anna["id"], sent.message_id, "ja", 120, forged=False)
    assert len(set(ids)) == 120
    updates = await bot.get_updates(limit=100)
    updates += await bot.get_updates(offset=updates[-1].update_id + 1, limit=100)
    queries = [update.callback_query for update in updates]
    assert [query.id for query in queries if query is not None] == ids
    assert {query.data for query in queries if query is not None} == {"ja"}
    # Forged data needs forged=True, as with press; a burst has a bound.
    with pytest.raises(SandboxError, match=r"(?i)no button with callback_data 'admin'"):
        await client.press_burst(anna["id"], anna["id"], sent.message_id, "admin", 2, forged=False)
    await client.press_burst(anna["id"], anna["id"], sent.message_id, "admin", 1)
    for count in (0, 10_001):
        with pytest.raises(SandboxError, match="count must be between 1 and 10000"):
            await client.press_burst(anna["id"], anna["id"], sent.message_id, "ja", count)
    with pytest.raises(SandboxError, match="data must be a string"):
        await client._call("POST", "/sandbox/press_burst", json_body={"user_id": anna["id"]})


async def test_answer_callback_query_errors() -> None:
    from sandbox.client import SandboxClient as Client

    server = SandboxServer(make_config(callback_query_timeout=0.05))
    await server.start()
    try:
        async with Client(server.url) as client, Bot(TOKEN, base_url=server.api_base_url) as bot:
            user = await client.create_user("Cor")
            await client.send(user["id"], "/start")
            sent = await bot.send_message(user["id"], "?", reply_markup=keyboard("a"))
            with pytest.raises(BadRequest, match=r"(?i)Query is too old"):
                await bot.answer_callback_query("123")
            pressed = await client.press(user["id"], user["id"], sent.message_id, "a")
            with pytest.raises(BadRequest, match=r"(?i)Message_too_long"):
                await bot.answer_callback_query(pressed["callback_query_id"], text="x" * 201)
            await asyncio.sleep(0.1)
            with pytest.raises(BadRequest, match=r"(?i)Query is too old"):
                await bot.answer_callback_query(pressed["callback_query_id"], text="laat")
    finally:
        await server.stop()


async def test_user_edits_produce_edited_message(
    bot: Bot, client: SandboxClient, anna: User
) -> None:
    first = await client.send(anna["id"], "tikfuot")
    await client.edit(anna["id"], anna["id"], first["message_id"], "tikfout")
    updates = await bot.get_updates()
    assert updates[-1].edited_message is not None
    assert updates[-1].edited_message.text == "tikfout"
    assert updates[-1].edited_message.edit_date is not None


async def test_user_content_types(bot: Bot, client: SandboxClient, anna: User) -> None:
    await client.send_location(anna["id"], 51.4793, 5.6570)
    await client.send_sticker(anna["id"])
    await client.send(anna["id"], "/melding@buurtbot_sandbox_bot inbraak")
    updates = await bot.get_updates()
    location, sticker, command = (u.message for u in updates[-3:])
    assert location is not None
    assert location.location is not None
    assert location.location.latitude == pytest.approx(51.4793)
    assert sticker is not None
    assert sticker.sticker is not None
    assert command is not None
    assert command.entities[0].type == "bot_command"
    assert command.entities[0].length == len("/melding@buurtbot_sandbox_bot")


async def test_requests_log(bot: Bot, client: SandboxClient, anna: User) -> None:
    await bot.send_message(anna["id"], "hoi")
    with pytest.raises(BadRequest):
        await bot.send_message(anna["id"], "")
    log = await client.requests("sendMessage")
    assert [entry["status"] for entry in log] == [200, 400]
    assert log[1]["error"] == "Bad Request: message text is empty"
    assert log[0]["params"]["text"] == "hoi"
    assert all(entry["status"] != 429 for entry in await client.requests())


async def test_refused_requests_are_counted_by_error(
    bot: Bot, client: SandboxClient, anna: User
) -> None:
    await bot.send_message(anna["id"], "<b>ok</b>", parse_mode=ParseMode.HTML)
    for _ in range(3):
        with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
            await bot.send_message(anna["id"], "<b>kapot", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest):
        await bot.send_message(anna["id"], "")
    assert await client.refusals() == {
        "sendMessage: Bad Request: can't parse entities: Can't find end tag corresponding "
        'to start tag "b"': 3,
        "sendMessage: Bad Request: message text is empty": 1,
    }
    await client.reset()
    assert await client.refusals() == {}


async def test_wait_bot_message_times_out_with_transcript(
    client: SandboxClient, anna: User
) -> None:
    with pytest.raises(TimeoutError, match=r"(?i)#1 100001: '/start'"):
        await client.wait_bot_message(anna["id"], timeout=0.05)
    with pytest.raises(SandboxError, match=r"(?i)timed out"):
        await client.wait_bot_message(anna["id"], timeout=0.05)


async def test_wait_bot_message_wakes_up_on_send(
    bot: Bot, client: SandboxClient, anna: User
) -> None:
    waiter = asyncio.create_task(client.wait_bot_messages(anna["id"], 2, timeout=5))
    await asyncio.sleep(0.02)
    await bot.send_message(anna["id"], "een")
    await bot.send_message(anna["id"], "twee")
    got = await asyncio.wait_for(waiter, 2)
    assert [m["text"] for m in got] == ["een", "twee"]


async def test_send_chat_action_and_location(bot: Bot, anna: User) -> None:
    assert await bot.send_chat_action(anna["id"], "typing") is True
    with pytest.raises(BadRequest, match=r"(?i)Wrong parameter action"):
        await bot.send_chat_action(anna["id"], "dancing")
    sent = await bot.send_location(anna["id"], 51.48, 5.66)
    assert sent.location is not None


async def test_send_contact_is_a_card_to_tap(bot: Bot, client: SandboxClient, anna: User) -> None:
    sent = await bot.send_contact(anna["id"], phone_number="112", first_name="Alarmnummer")
    assert sent.contact is not None
    assert (sent.contact.phone_number, sent.contact.first_name) == ("112", "Alarmnummer")
    (shown,) = (await client.bot_messages(anna["id"]))[-1:]
    assert shown["contact"] == {"phone_number": "112", "first_name": "Alarmnummer"}
    # PTB refuses empty fields itself, so ask the server directly.
    async with aiohttp.ClientSession() as http:
        for body, error in (
            ({"first_name": "x"}, "Bad Request: phone_number is empty"),
            ({"phone_number": "112", "first_name": " "}, "Bad Request: first_name is empty"),
        ):
            async with http.post(
                f"{bot.base_url}/sendContact", json={"chat_id": anna["id"], **body}
            ) as answer:
                assert answer.status == 400
                assert (await answer.json())["description"] == error


async def test_queued_updates_are_snapshots(bot: Bot, client: SandboxClient, anna: User) -> None:
    first = await client.send(anna["id"], "origineel")
    await client.edit(anna["id"], anna["id"], first["message_id"], "bewerkt")
    updates = await bot.get_updates()
    assert updates[-2].message is not None
    assert updates[-2].message.text == "origineel"
    assert updates[-1].edited_message is not None
    assert updates[-1].edited_message.text == "bewerkt"
