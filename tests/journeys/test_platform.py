"""The platform end to end: the real bot, over real HTTP, against the sandbox."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot.app import BotApplication, running
from bot.areas import load_areas
from bot.services import BotContext, services_of
from handlers import commands
from sandbox.client import SandboxClient
from tests.journeys.resident import next_message, next_messages


async def test_start_answers_in_dutch(bot: BotApplication, client: SandboxClient) -> None:
    user = await client.create_user("Anna", language_code="nl")
    await client.send(user["id"], "/start")
    reply = await next_message(client, user["id"])
    assert reply["text"].startswith("Welkom bij Buurtbot, de buurtpreventie van Helmond.")
    assert "Bel altijd eerst 112." in reply["text"]
    # The city name is bold through HTML entities, which the sandbox parsed like Telegram.
    assert any(entity["type"] == "bold" for entity in reply["entities"])


async def test_start_answers_in_english_for_an_english_telegram(
    bot: BotApplication, client: SandboxClient
) -> None:
    user = await client.create_user("John", language_code="en-GB")
    await client.send(user["id"], "/start")
    reply = await next_message(client, user["id"])
    assert reply["text"].startswith("Welcome to Buurtbot, the neighbourhood watch of Helmond.")
    assert "Always call 112 first." in reply["text"]


async def test_another_citys_areas_file_shows_its_name(
    app: BotApplication, client: SandboxClient, tmp_path: Path
) -> None:
    areas = tmp_path / "deurne.json"
    areas.write_text(
        '{"city": "Deurne", "bbox": {"south": 51.40, "west": 5.70, "north": 51.50, "east": 5.85},'
        ' "wijken": [{"slug": "centrum", "name": "Centrum", "lat": 51.46, "lon": 5.79,'
        ' "buurten": []}], "business_parks": []}'
    )
    services_of(app).areas = load_areas(areas)
    async with running(app, poll_timeout=1):
        user = await client.create_user("Piet", language_code="nl")
        await client.send(user["id"], "/start")
        reply = await next_message(client, user["id"])
    assert "de buurtpreventie van Deurne." in reply["text"]


async def _broken_command(update: Update, context: BotContext) -> None:
    raise RuntimeError("a bug in a handler")


async def _broken_button(update: Update, context: BotContext) -> None:
    raise RuntimeError("a bug behind a button")


async def _answered_then_broken(update: Update, context: BotContext) -> None:
    assert update.callback_query is not None
    await update.callback_query.answer()  # as most handlers do before they work
    raise RuntimeError("a bug after the press was answered")


async def _offer_button(update: Update, context: BotContext) -> None:
    assert update.effective_message is not None
    keyboard = [
        [InlineKeyboardButton("x", callback_data="x"), InlineKeyboardButton("y", callback_data="y")]
    ]
    await update.effective_message.reply_text("Druk", reply_markup=InlineKeyboardMarkup(keyboard))


@pytest.fixture
def broken_app(app: BotApplication) -> BotApplication:
    """The real bot plus handlers with a bug, to reach the error handler as a bug would."""
    app.add_handler(CommandHandler("kapot", _broken_command), group=-1)
    app.add_handler(CommandHandler("knop", _offer_button), group=-1)
    app.add_handler(CallbackQueryHandler(_answered_then_broken, pattern="^y$"), group=-1)
    app.add_handler(CallbackQueryHandler(_broken_button), group=-1)
    return app


async def test_a_failing_handler_gets_an_apology_and_the_loop_lives_on(
    broken_app: BotApplication, client: SandboxClient, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(broken_app, poll_timeout=1):
        user = await client.create_user("Jan", language_code="en")
        with caplog.at_level(logging.ERROR, logger="handlers.errors"):
            await client.send(user["id"], "/kapot")
            # The test's handler sits before the bot's own, whose fallback then also
            # answers the unknown /kapot: two messages, the apology first.
            apology, _unknown = await next_messages(client, user["id"], 2)
        assert apology["text"] == "Sorry, something went wrong. Please try again in a moment."
        assert any(
            "error while handling update" in record.getMessage() and record.exc_info
            for record in caplog.records
        )
        sent = await client.send(user["id"], "/start")
        greeting = await next_message(client, user["id"], after=sent["message_id"])
        assert greeting["text"].startswith("Welcome to Buurtbot")


async def test_a_failing_button_answers_the_press_with_an_alert(
    broken_app: BotApplication, client: SandboxClient
) -> None:
    async with running(broken_app, poll_timeout=1):
        user = await client.create_user("Ewa", language_code="pl")
        await client.send(user["id"], "/knop")
        offer = await next_message(client, user["id"])
        press = await client.press(user["id"], user["id"], offer["message_id"], "x")
        answer = await client.callback_answer(press["callback_query_id"])
    assert answer is not None
    assert answer["show_alert"] is True
    assert answer["text"] == "Przepraszamy, coś poszło nie tak. Spróbuj ponownie za chwilę."


async def test_a_button_that_fails_after_its_answer_gets_the_apology_in_the_chat(
    broken_app: BotApplication, client: SandboxClient
) -> None:
    async with running(broken_app, poll_timeout=1):
        user = await client.create_user("Ewa", language_code="en")
        await client.send(user["id"], "/knop")
        # The offer, then the bot's own answer to the unknown /knop (as above).
        offer, unknown = await next_messages(client, user["id"], 2)
        press = await client.press(user["id"], user["id"], offer["message_id"], "y")
        assert await client.callback_answer(press["callback_query_id"]) == {
            "text": "",
            "show_alert": False,
        }
        apology = await next_message(client, user["id"], after=unknown["message_id"])
    # A press can be answered once: the apology came as a message instead.
    assert apology["text"] == "Sorry, something went wrong. Please try again in a moment."


async def test_an_apology_that_cannot_be_sent_is_logged_not_raised(
    app: BotApplication, client: SandboxClient, caplog: pytest.LogCaptureFixture
) -> None:
    async def block_then_fail(update: Update, context: BotContext) -> None:
        # The user blocks the bot while their update is being handled, so the apology
        # meets a 403: the error handler must swallow that, not die on it.
        assert update.effective_user is not None
        await client.block(update.effective_user.id)
        raise RuntimeError("a bug, and then nobody to tell")

    app.add_handler(CommandHandler("weg", block_then_fail), group=-1)
    async with running(app, poll_timeout=1):
        user = await client.create_user("Kees", language_code="nl")
        with caplog.at_level(logging.WARNING, logger="handlers.errors"):
            await client.send(user["id"], "/weg")
            for _ in range(200):
                if any("could not tell the user" in r.getMessage() for r in caplog.records):
                    break
                await asyncio.sleep(0.025)
        assert any("could not tell the user" in r.getMessage() for r in caplog.records)
        assert app.running


async def test_an_administrator_who_never_wrote_gets_one_warning_line_and_a_menu_at_start(
    app: BotApplication, client: SandboxClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="handlers.commands"):
        async with running(app, poll_timeout=1):
            # 900001 is in BUURTBOT_ADMINS (tests/conftest.py) and has no chat with the bot.
            told = [r for r in caplog.records if r.name == "handlers.commands"]
            assert [(r.levelno, r.getMessage(), r.exc_info) for r in told] == [
                (
                    logging.WARNING,
                    "administrator 900001 has not started a chat with the bot yet; "
                    "their menu is set when they do",
                    None,
                )
            ]
            admin = await client.create_user("Carla", user_id=900001, language_code="nl")
            sent = await client.send(admin["id"], "/start")
            await next_message(client, admin["id"], after=sent["message_id"])
            menu = await client.commands({"type": "chat", "chat_id": admin["id"]})
    assert "uitnodigen" in [command["command"] for command in menu]


async def test_a_menu_refused_for_another_reason_is_logged_with_its_cause(
    bot: BotApplication, client: SandboxClient, caplog: pytest.LogCaptureFixture
) -> None:
    user = await client.create_user("Kees", language_code="nl", started=True)
    await client.add_fault(
        "setMyCommands", error_code=400, description="Bad Request: BOT_COMMAND_INVALID"
    )
    with caplog.at_level(logging.WARNING, logger="handlers.commands"):
        await commands.set_for_chat(bot.bot, services_of(bot), user["id"], "nl")
    told = [r for r in caplog.records if r.name == "handlers.commands"]
    assert [r.getMessage() for r in told] == ["could not set the chat's command menu"]
    assert told[0].exc_info is not None


async def test_clearing_the_menu_of_someone_without_a_chat_is_one_quiet_line(
    bot: BotApplication, client: SandboxClient, caplog: pytest.LogCaptureFixture
) -> None:
    stranger = await client.create_user("Bob")  # never wrote to the bot
    with caplog.at_level(logging.INFO, logger="handlers.commands"):
        await commands.clear_for_chat(bot.bot, stranger["id"])
        await client.add_fault(
            "deleteMyCommands", error_code=400, description="Bad Request: BOT_COMMAND_INVALID"
        )
        started = await client.create_user("Kees", started=True)
        await commands.clear_for_chat(bot.bot, started["id"])
    told = [
        (r.levelno, r.getMessage(), bool(r.exc_info))
        for r in caplog.records
        if r.name == "handlers.commands"
    ]
    assert told == [
        (
            logging.INFO,
            f"user {stranger['id']} has not started a chat with the bot; no menu to clear",
            False,
        ),
        (logging.WARNING, "could not clear the chat's command menu", True),
    ]
