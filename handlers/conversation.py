"""Typed text in a private chat: a step of a guided conversation, or input nobody asked for."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram import Update

from bot import broadcasts, conversations
from bot.i18n import N_
from bot.reports import MAX_DESCRIPTION
from bot.services import BotContext
from handlers import broadcast_compose, broadcast_steps, fallback, report_review, reporting, teams
from handlers.common import lang_for, show

Screen = Callable[[Update, BotContext], Awaitable[None]]
# Longer than any field needs; a pasted essay is refused, not cut off.
MAX_TEXT = 300
FLOWS = {
    "team": teams.on_text,
    broadcasts.FLOW: broadcast_steps.on_text,
    "mvn": report_review.on_note,
}
CANCELLED = N_("Gestopt. Er is niets bewaard.")


async def on_text(update: Update, context: BotContext) -> None:
    """Hand typed text to the conversation that asked for it, else show the way back."""
    user, message = update.effective_user, update.effective_message
    if user is None or message is None:
        return
    state = await conversations.get(context.services, user.id)
    flow = FLOWS.get(state.flow) if state is not None else None
    if state is None and message.text:
        # A report draft is kept apart, under a pseudonym (bot.reports.load_draft).
        step = await reporting.draft_step(context, user.id)
        if step is not None:
            if await _fits(update, context, message.text, MAX_DESCRIPTION):
                await reporting.on_text(update, context, step)
            return
    if state is None or flow is None or not message.text:
        await fallback.not_a_button(update, context)
        return
    if await _fits(update, context, message.text, MAX_TEXT):
        await flow(update, context, state)


async def _fits(update: Update, context: BotContext, text: str, limit: int) -> bool:
    """A pasted essay is refused with the limit, not cut off."""
    if len(text) <= limit:
        return True
    _ = (await lang_for(update, context)).gettext
    await show(update, _("Dat is te lang. Houd het kort: hoogstens {n} tekens.").format(n=limit))
    return False


async def on_photo(update: Update, context: BotContext) -> None:
    """A photo belongs to a report being made, or to an announcement being composed."""
    await _report_first(update, context, reporting.on_photo, broadcast_compose.on_photo)


async def on_other(update: Update, context: BotContext) -> None:
    """Anything else (a file, a sticker, a voice note): refused kindly, the draft kept."""
    await _report_first(update, context, reporting.on_unsupported, fallback.not_usable)


async def _report_first(
    update: Update, context: BotContext, in_report: Screen, otherwise: Screen
) -> None:
    user = update.effective_user
    if user is not None and await reporting.in_draft(context, user.id):
        await in_report(update, context)
    else:
        await otherwise(update, context)


async def cancel(update: Update, context: BotContext) -> None:
    """/annuleer: stop the conversation in progress; nothing half-made is kept, and an
    announcement previewed but not yet sent or planned is dropped."""
    user = update.effective_user
    if user is None:
        return
    state = await conversations.clear(context.services, user.id)
    dropped = await broadcasts.drop_drafts(context.services, user.id)
    _ = (await lang_for(update, context)).gettext
    if dropped:
        await show(update, _("Gestopt. Het bericht wordt niet verstuurd."))
    else:
        await show(
            update, _(CANCELLED) if state is not None else _("Er was niets om te annuleren.")
        )
