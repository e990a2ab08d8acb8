"""/help: what this user can do here."""

from __future__ import annotations

from telegram import Update

from bot.reports import residents_may_report
from bot.roles import roles_of
from bot.services import BotContext
from handlers.commands import RESIDENT_COMMANDS, role_commands
from handlers.common import lang_for, show


async def show_help(update: Update, context: BotContext) -> None:
    """List the commands of this user's roles, each with one line."""
    user = update.effective_user
    if user is None:
        return
    _ = (await lang_for(update, context)).gettext
    lines = [f"/{name} – {_(description)}" for name, description in RESIDENT_COMMANDS]
    extra = role_commands(
        (await roles_of(context.services, user.id)).names,
        may_report=await residents_may_report(context.services),
    )
    if extra:
        lines += ["", "<b>" + _("Voor jouw rol") + "</b>"]
        lines += [f"/{name} – {_(description)}" for name, description in extra]
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
