"""Uploads, file_id reuse, getFile and downloads; bot commands per scope and language."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import pytest
from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeChat,
    BotCommandScopeChatMember,
    MenuButtonCommands,
    MenuButtonDefault,
)
from telegram.error import BadRequest

from sandbox.botapi import image_size
from sandbox.client import SandboxClient

User = dict[str, Any]


def png(width: int, height: int) -> bytes:
    """A real, minimal PNG so dimensions can be checked."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def jpeg_header(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


def test_image_size() -> None:
    assert image_size(png(3, 2)) == (3, 2)
    assert image_size(jpeg_header(640, 480)) == (640, 480)
    assert image_size(b"GIF89a" + struct.pack("<HH", 7, 9)) == (7, 9)
    assert image_size(b"not an image") is None


async def test_upload_photo_get_file_download(bot: Bot, client: SandboxClient, anna: User) -> None:
    data = png(40, 30)
    sent = await bot.send_photo(anna["id"], data, caption="<b>Foto</b>", parse_mode="HTML")
    photo = sent.photo[-1]
    assert (photo.width, photo.height) == (40, 30)
    assert photo.file_size == len(data)
    assert sent.caption == "Foto"
    assert sent.caption_entities[0].type == "bold"
    file = await bot.get_file(photo.file_id)
    assert file.file_path is not None
    assert bytes(await file.download_as_bytearray()) == data
    again = await bot.send_photo(anna["id"], photo.file_id)
    assert again.photo[-1].file_id == photo.file_id
    stored = await client.bot_messages(anna["id"])
    assert stored[0]["photo"][0]["file_id"] == photo.file_id


async def test_upload_document(bot: Bot, anna: User) -> None:
    payload = b"datum;straat\n2025-01-01;Kerkstraat\n"
    sent = await bot.send_document(anna["id"], payload, filename="meldingen.csv")
    assert sent.document is not None
    assert sent.document.file_name == "meldingen.csv"
    assert sent.document.file_size == len(payload)
    file = await sent.document.get_file()
    assert bytes(await file.download_as_bytearray()) == payload
    with pytest.raises(BadRequest, match=r"(?i)type of file mismatch"):
        await bot.send_photo(anna["id"], sent.document.file_id)


async def test_media_errors(bot: Bot, anna: User) -> None:
    with pytest.raises(BadRequest, match=r"(?i)message caption is too long"):
        await bot.send_photo(anna["id"], png(1, 1), caption="x" * 1025)
    with pytest.raises(BadRequest, match=r"(?i)wrong file identifier/http url specified"):
        await bot.send_photo(anna["id"], "AgACnotarealid")
    with pytest.raises(BadRequest, match=r"(?i)wrong http url specified"):
        await bot.send_photo(anna["id"], "http://127.0.0.1:9/nothing.png")
    with pytest.raises(BadRequest, match=r"(?i)invalid file_id"):
        await bot.get_file("nope")


async def test_photo_from_url(bot: Bot, anna: User) -> None:
    data = png(5, 5)

    async def image(request: web.Request) -> web.Response:
        return web.Response(body=data, content_type="image/png")

    app = web.Application()
    app.router.add_get("/kaart.png", image)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        sent = await bot.send_photo(anna["id"], f"http://127.0.0.1:{port}/kaart.png")
        assert (sent.photo[-1].width, sent.photo[-1].height) == (5, 5)
    finally:
        await runner.cleanup()


async def test_user_photo_can_be_downloaded_by_bot(
    bot: Bot, client: SandboxClient, anna: User
) -> None:
    data = png(12, 8)
    await client.send_photo(anna["id"], data, caption="Verdachte auto")
    (update,) = (await bot.get_updates())[-1:]
    assert update.message is not None
    assert update.message.caption == "Verdachte auto"
    photo = update.message.photo[-1]
    assert (photo.width, photo.height) == (12, 8)
    file = await bot.get_file(photo.file_id)
    assert bytes(await file.download_as_bytearray()) == data


async def test_user_photo_with_a_declared_size(bot: Bot, client: SandboxClient, anna: User) -> None:
    """A test can act out a 12 MB photo without uploading 12 MB; the bytes stay small."""
    data = png(4, 4)
    await client.send_photo(anna["id"], data, file_size=12 * 1024 * 1024)
    (update,) = (await bot.get_updates())[-1:]
    assert update.message is not None
    photo = update.message.photo[-1]
    assert photo.file_size == 12 * 1024 * 1024
    file = await bot.get_file(photo.file_id)
    assert file.file_size == 12 * 1024 * 1024
    assert bytes(await file.download_as_bytearray()) == data


async def test_user_document_arrives_with_its_name_and_type(
    bot: Bot, client: SandboxClient, anna: User
) -> None:
    data = b"%PDF-1.4 not really"
    await client.send_document(
        anna["id"], data, file_name="plattegrond.pdf", mime_type="application/pdf"
    )
    (update,) = (await bot.get_updates())[-1:]
    assert update.message is not None
    document = update.message.document
    assert document is not None
    assert (document.file_name, document.mime_type, document.file_size) == (
        "plattegrond.pdf",
        "application/pdf",
        len(data),
    )
    file = await bot.get_file(document.file_id)
    assert bytes(await file.download_as_bytearray()) == data


async def test_edit_caption(bot: Bot, anna: User) -> None:
    sent = await bot.send_photo(anna["id"], png(1, 1), caption="oud")
    edited = await bot.edit_message_caption(anna["id"], sent.message_id, caption="nieuw")
    assert isinstance(edited, type(sent))
    assert edited.caption == "nieuw"
    text_message = await bot.send_message(anna["id"], "tekst")
    with pytest.raises(BadRequest, match=r"(?i)there is no caption in the message to edit"):
        await bot.edit_message_caption(anna["id"], text_message.message_id, caption="x")
    with pytest.raises(BadRequest, match=r"(?i)there is no text in the message to edit"):
        await bot.edit_message_text("x", chat_id=anna["id"], message_id=sent.message_id)


async def test_commands_per_scope_and_language(bot: Bot, client: SandboxClient, anna: User) -> None:
    default = [BotCommand("start", "Begin"), BotCommand("melding", "Doe een melding")]
    english = [BotCommand("start", "Start"), BotCommand("report", "Report")]
    assert await bot.set_my_commands(default)
    assert await bot.set_my_commands(english, language_code="en")
    assert await bot.set_my_commands(
        [BotCommand("beheer", "Beheer")], scope=BotCommandScopeAllGroupChats()
    )
    assert await bot.set_my_commands(
        [BotCommand("alleen_anna", "Voor Anna")],
        scope=BotCommandScopeChat(anna["id"]),
    )
    assert await bot.get_my_commands() == tuple(default)
    assert await bot.get_my_commands(language_code="en") == tuple(english)
    assert await bot.get_my_commands(language_code="de") == ()
    assert [c.command for c in await bot.get_my_commands(scope=BotCommandScopeAllGroupChats())] == [
        "beheer"
    ]
    assert await client.commands() == [c.to_dict() for c in default]
    assert await client.commands(language_code="en") == [c.to_dict() for c in english]
    assert await client.commands(scope={"type": "chat", "chat_id": anna["id"]}) == [
        {"command": "alleen_anna", "description": "Voor Anna"}
    ]
    assert await bot.delete_my_commands(language_code="en")
    assert await bot.get_my_commands(language_code="en") == ()
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.set_my_commands(default, scope=BotCommandScopeChatMember(-5, anna["id"]))


@pytest.mark.parametrize(
    ("command", "description", "error"),
    [
        ("Start", "hoofdletters", "BOT_COMMAND_INVALID"),
        ("a" * 33, "te lang", "BOT_COMMAND_INVALID"),
        ("met-streep", "x", "BOT_COMMAND_INVALID"),
        ("ok", "", "BOT_COMMAND_DESCRIPTION_INVALID"),
        ("ok", "x" * 257, "BOT_COMMAND_DESCRIPTION_INVALID"),
    ],
)
async def test_command_validation(bot: Bot, command: str, description: str, error: str) -> None:
    with pytest.raises(BadRequest, match=rf"(?i){error}"):
        await bot.set_my_commands([BotCommand(command, description)])


async def test_too_many_commands(bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMANDS_TOO_MUCH"):
        await bot.set_my_commands([BotCommand(f"c{i}", "x") for i in range(101)])


async def test_profile_stores(bot: Bot, anna: User) -> None:
    assert await bot.set_my_description("Buurtpreventie Helmond")
    assert (await bot.get_my_description()).description == "Buurtpreventie Helmond"
    assert await bot.set_my_short_description("Meldingen", language_code="nl")
    short = await bot.get_my_short_description(language_code="nl")
    assert short.short_description == "Meldingen"
    assert (await bot.get_my_name()).name == "Buurtbot"
    assert isinstance(await bot.get_chat_menu_button(), MenuButtonCommands)
    assert await bot.set_chat_menu_button(anna["id"], MenuButtonDefault())
    assert isinstance(await bot.get_chat_menu_button(anna["id"]), MenuButtonCommands)
