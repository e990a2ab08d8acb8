"""The command menu Telegram shows: per language, and per chat for role holders."""

from __future__ import annotations

import logging

from telegram import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    MenuButtonDefault,
    MenuButtonWebApp,
    WebAppInfo,
)
from telegram.error import BadRequest, Forbidden
from telegram.ext import ExtBot

from bot import residents
from bot.i18n import N_, Lang
from bot.reports import residents_may_report
from bot.roles import Role, Roles, roles_of
from bot.services import Services

log = logging.getLogger(__name__)

# The resident's commands in menu order. Each description is translated per language.
RESIDENT_COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", N_("Aanmelden of je wijk bekijken")),
    ("wijk", N_("Een andere wijk kiezen")),
    ("instellingen", N_("Kiezen welke berichten je krijgt")),
    ("taal", N_("Een andere taal kiezen")),
    ("help", N_("Wat kan ik hier?")),
    ("privacy", N_("Wat we bewaren en waarom")),
    ("mijngegevens", N_("Je gegevens downloaden")),
    ("verwijder", N_("Al je gegevens wissen")),
    ("stop", N_("Stoppen met berichten")),
)
_COORDINATION = (
    ("bericht", N_("Een bericht sturen")),
    ("gepland", N_("Ingeplande berichten")),
    ("verzonden", N_("Verzonden berichten en reacties")),
    ("overzicht", N_("Wijken, teams en groepen")),
    ("stats", N_("Cijfers van een week, maand of jaar")),
    ("export", N_("Cijfers als bestand (CSV)")),
    ("uitnodigen", N_("Iemand uitnodigen voor een rol")),
    ("rollen", N_("Rollen bekijken en intrekken")),
    ("vermoedens", N_("Meldingen van vermoedens bekijken")),
)
# Each role's own commands; they appear in /help and the menu of its holders only.
ROLE_COMMANDS: dict[Role, tuple[tuple[str, str], ...]] = {
    Role.ADMIN: _COORDINATION,
    Role.COORDINATOR: _COORDINATION,
    Role.ENTREPRENEUR: (
        ("melding", N_("Een vermoeden melden")),
        ("mijnmeldingen", N_("Je meldingen en hun status")),
    ),
    Role.TEAM_CONTACT: (
        ("team", N_("Je buurtpreventieteam")),
        ("resultaat", N_("Resultaat van Witte Voetjes doorgeven")),
    ),
    Role.TEAM_SENDER: _COORDINATION[:3],
}


def role_commands(roles: set[Role], *, may_report: bool = False) -> list[tuple[str, str]]:
    """The commands of these roles; with `may_report` (the coordinator lets residents
    report too) the reporting commands as well."""
    seen: dict[str, str] = dict(ROLE_COMMANDS[Role.ENTREPRENEUR]) if may_report else {}
    for role in Role:
        if role in roles:
            for name, description in ROLE_COMMANDS.get(role, ()):
                seen.setdefault(name, description)
    return list(seen.items())


def resident_commands(
    lang: Lang, roles: set[Role] | None = None, *, may_report: bool = False
) -> list[BotCommand]:
    entries = [*RESIDENT_COMMANDS, *role_commands(roles or set(), may_report=may_report)]
    return [BotCommand(name, lang.gettext(description)) for name, description in entries]


async def register(bot: ExtBot[None], services: Services) -> None:
    """Menus for private chats in every language; Telegram picks by the app's language.

    Run at start and when the coordinator lets residents report or stops it.
    """
    translator = services.translator
    scope = BotCommandScopeAllPrivateChats()
    may_report = await residents_may_report(services)
    default = translator.for_language(translator.default_language)
    await bot.set_my_commands(resident_commands(default, may_report=may_report), scope=scope)
    for code in translator.languages:
        await bot.set_my_commands(
            resident_commands(translator.for_language(code), may_report=may_report),
            scope=scope,
            language_code=code,
        )


def never_started(error: BadRequest | Forbidden) -> bool:
    """Telegram has no chat with this user yet: they never wrote to the bot."""
    message = error.message.lower()
    return "chat not found" in message or "can't initiate conversation" in message


async def set_for_chat(
    bot: ExtBot[None], services: Services, chat_id: int, language: str, *, who: str = "user"
) -> None:
    """This chat's own menu: the chosen language, and the commands of the user's roles."""
    lang = services.translator.for_language(language)
    roles = await roles_of(services, chat_id)
    held = roles.names
    commands = resident_commands(lang, held, may_report=await residents_may_report(services))
    try:
        await bot.set_my_commands(commands, scope=BotCommandScopeChat(chat_id))
        await _set_menu_button(bot, services, chat_id, lang, roles)
    except (BadRequest, Forbidden) as error:
        # The menu is a convenience; the choice itself is already stored.
        if never_started(error):
            # Expected, not a fault: /start sets an administrator's menu (handlers.onboarding).
            log.warning(
                "%s %s has not started a chat with the bot yet; their menu is set when they do",
                who,
                chat_id,
            )
        else:
            log.warning("could not set the chat's command menu", exc_info=True)


# Who gets the Mini App in their menu button; the app checks the role again on every call.
MINIAPP_ROLES = (Role.COORDINATOR, Role.WIJKBOA)


async def _set_menu_button(
    bot: ExtBot[None], services: Services, chat_id: int, lang: Lang, roles: Roles
) -> None:
    """The menu button opens the Mini App for a coordinator or wijkboa; else the commands."""
    url = services.settings.miniapp_url
    if url is None:
        return  # no app served: Telegram's default button, never touched
    if roles.has(*MINIAPP_ROLES):
        button: MenuButtonWebApp | MenuButtonDefault = MenuButtonWebApp(
            lang.gettext("📊 Overzicht"), WebAppInfo(url)
        )
    else:
        button = MenuButtonDefault()
    await bot.set_chat_menu_button(chat_id, button)


async def refresh_chat(
    bot: ExtBot[None], services: Services, user_id: int, *, who: str = "user"
) -> None:
    """After a role ends, or at start: the menu in the user's language with what is left."""
    stored = await residents.get(services, user_id)
    language = (stored.language if stored else None) or services.translator.default_language
    await set_for_chat(bot, services, user_id, language, who=who)


async def clear_for_chat(bot: ExtBot[None], chat_id: int) -> None:
    try:
        await bot.delete_my_commands(scope=BotCommandScopeChat(chat_id))
        await bot.set_chat_menu_button(chat_id, MenuButtonDefault())
    except (BadRequest, Forbidden) as error:
        if never_started(error):
            # Nothing to clear where Telegram knows no chat with this user.
            log.info("user %s has not started a chat with the bot; no menu to clear", chat_id)
        else:
            log.warning("could not clear the chat's command menu", exc_info=True)
