"""Menu buttons: each opens the same screen as its command."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram import CallbackQuery, Update, User

from bot.services import BotContext
from handlers import help as help_
from handlers import onboarding, preferences, privacy, reporting
from handlers.common import lang_for, show
from handlers.fallback import button, stale_button

Screen = Callable[[Update, BotContext], Awaitable[None]]


async def _saved(update: Update, context: BotContext) -> None:
    _ = (await lang_for(update, context)).gettext
    await show(update, _("Opgeslagen. Aanpassen kan altijd met /instellingen."))


SCREENS: dict[str, Screen] = {
    "start": onboarding.start,
    "help": help_.show_help,
    "wijk": onboarding.choose_wijk,
    "instellingen": preferences.show_preferences,
    "meldingen": preferences.show_preferences,  # buttons on messages sent before the rename
    "taal": onboarding.choose_language,
    onboarding.OTHER_LANGUAGE: onboarding.welcome_languages,
    "privacy": privacy.privacy,
    "done": _saved,
    "melding": reporting.report,
}


@button(1)
async def on_menu(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """A menu button: answer the press, then show its screen in place."""
    screen = SCREENS.get(args[0])
    if screen is None:
        await stale_button(update, context)
        return
    await query.answer()
    context.args = []
    await screen(update, context)
