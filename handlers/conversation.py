"""Typed text in a private chat: a step of a guided conversation, or input nobody asked for."""

from __future__ import annotations

from telegram import Update

from bot.i18n import N_
from bot.services import BotContext
from handlers import broadcasts, fallback, teams
from handlers.common import lang_for, show
from storage import conversations

# Longer than any field needs; a pasted essay is refused, not cut off.
MAX_TEXT = 300
FLOWS = {"team": teams.on_text, "bc": broadcasts.on_text}
CANCELLED = N_("Gestopt. Er is niets bewaard.")


async def on_text(update: Update, context: BotContext) -> None:
    """Hand typed text to the conversation that asked for it, else show the way back."""
    user, message = update.effective_user, update.effective_message
    if user is None or message is None:
        return
    async with context.services.sessions() as session:
        state = await conversations.get(session=session, user_id=user.id)
    flow = FLOWS.get(state.flow) if state is not None else None
    if state is None or flow is None or not message.text:
        await fallback.not_a_button(update, context)
        return
    if len(message.text) > MAX_TEXT:
        _ = (await lang_for(update, context)).gettext
        await show(
            update, _("Dat is te lang. Houd het kort: hoogstens {n} tekens.").format(n=MAX_TEXT)
        )
        return
    await flow(update, context, state)


async def cancel(update: Update, context: BotContext) -> None:
    """/annuleer: stop the conversation in progress; nothing half-made is kept."""
    user = update.effective_user
    if user is None:
        return
    async with context.services.sessions() as session:
        state = await conversations.get(session=session, user_id=user.id)
        await conversations.clear(session=session, user_id=user.id)
    _ = (await lang_for(update, context)).gettext
    await show(
        update,
        _(CANCELLED) if state is not None else _("Er was niets om te annuleren."),
    )
