"""The real python-telegram-bot Application polling the sandbox, as the bot's e2e tests do."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from sandbox.client import SandboxClient
from sandbox.server import SandboxServer

from .conftest import TOKEN

Context = ContextTypes.DEFAULT_TYPE


async def start(update: Update, context: Context) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_html(
        "<b>Welkom</b> bij de buurtpreventie!",
        reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton("Aanmelden", callback_data="join")]]
        ),
    )


async def join(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer("Aangemeld")
    await query.edit_message_text("Je bent aangemeld.")


@pytest.fixture
async def application(
    server: SandboxServer,
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    app = (
        Application.builder()
        .token(TOKEN)
        .base_url(server.api_base_url)
        .base_file_url(server.file_base_url)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(join, pattern="^join$"))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=5)
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()


async def test_application_end_to_end(
    application: Application[Any, Any, Any, Any, Any, Any], client: SandboxClient
) -> None:
    anna = await client.create_user("Anna")
    started = time.monotonic()
    command = await client.send(anna["id"], "/start")
    welcome = await client.wait_bot_message(anna["id"], after=command["message_id"])
    assert welcome["text"] == "Welkom bij de buurtpreventie!"
    assert welcome["entities"] == [{"type": "bold", "offset": 0, "length": 6}]
    pressed = await client.press(anna["id"], anna["id"], welcome["message_id"], "join")
    assert await client.callback_answer(pressed["callback_query_id"]) == {
        "text": "Aangemeld",
        "show_alert": False,
    }
    edited = await client.wait_edited(anna["id"], welcome["message_id"])
    assert edited["text"] == "Je bent aangemeld."
    assert "reply_markup" not in edited
    assert time.monotonic() - started < 2
    errors = [r for r in await client.requests() if r["status"] != 200]
    assert errors == []


async def test_browser_page_is_served(server: SandboxServer, client: SandboxClient) -> None:
    async with client._http().get(server.url + "/") as response:
        assert response.status == 200
        assert "Buurtbot sandbox" in await response.text()
