"""The command menu Telegram shows, per language and (after /taal) per chat."""

from __future__ import annotations

import logging

from telegram import BotCommand, BotCommandScopeAllPrivateChats, BotCommandScopeChat
from telegram.error import BadRequest, Forbidden
from telegram.ext import ExtBot

from bot.i18n import N_, Lang
from bot.services import Services

log = logging.getLogger(__name__)

# The resident's commands in menu order. Each description is translated per language.
RESIDENT_COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", N_("Aanmelden of je wijk bekijken")),
    ("wijk", N_("Een andere wijk kiezen")),
    ("meldingen", N_("Kiezen welke berichten je krijgt")),
    ("taal", N_("Een andere taal kiezen")),
    ("help", N_("Wat kan ik hier?")),
    ("privacy", N_("Wat we bewaren en waarom")),
    ("mijngegevens", N_("Je gegevens downloaden")),
    ("verwijder", N_("Al je gegevens wissen")),
    ("stop", N_("Stoppen met berichten")),
)


def resident_commands(lang: Lang) -> list[BotCommand]:
    return [BotCommand(name, lang.gettext(description)) for name, description in RESIDENT_COMMANDS]


async def register(bot: ExtBot[None], services: Services) -> None:
    """Menus for private chats in every language; Telegram picks by the app's language."""
    translator = services.translator
    scope = BotCommandScopeAllPrivateChats()
    default = translator.for_language(translator.default_language)
    await bot.set_my_commands(resident_commands(default), scope=scope)
    for code in translator.languages:
        await bot.set_my_commands(
            resident_commands(translator.for_language(code)), scope=scope, language_code=code
        )


async def set_for_chat(bot: ExtBot[None], services: Services, chat_id: int, language: str) -> None:
    """After /taal the menu follows the chosen language, not the phone's."""
    lang = services.translator.for_language(language)
    try:
        await bot.set_my_commands(resident_commands(lang), scope=BotCommandScopeChat(chat_id))
    except (BadRequest, Forbidden):
        # The menu is a convenience; the choice itself is already stored.
        log.warning("could not set the chat's command menu", exc_info=True)


async def clear_for_chat(bot: ExtBot[None], chat_id: int) -> None:
    try:
        await bot.delete_my_commands(scope=BotCommandScopeChat(chat_id))
    except (BadRequest, Forbidden):
        log.warning("could not clear the chat's command menu", exc_info=True)
