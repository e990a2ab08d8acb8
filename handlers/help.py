"""/help: what this user can do here."""

from __future__ import annotations

from telegram import Update

from bot.services import BotContext
from handlers.commands import RESIDENT_COMMANDS
from handlers.common import lang_for, show


async def show_help(update: Update, context: BotContext) -> None:
    """List the commands of this user's roles, each with one line."""
    _ = (await lang_for(update, context)).gettext
    lines = [f"/{name} – {_(description)}" for name, description in RESIDENT_COMMANDS]
    text = "\n".join(
        [
            "<b>" + _("Wat kun je hier doen?") + "</b>",
            "",
            *lines,
            "",
            _("Is er nu gevaar? Bel altijd eerst 112."),
        ]
    )
    await show(update, text)
