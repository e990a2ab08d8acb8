"""Everyone's answer to an announcement: one tap counts, a second takes it back."""

from __future__ import annotations

from telegram import Update

from bot import broadcasts
from bot.broadcasts import BroadcastError
from bot.callbacks import row_id, unpack
from bot.services import BotContext
from handlers.common import explain, lang_for, show
from handlers.fallback import stale_button


async def on_reply(update: Update, context: BotContext) -> None:
    """ "Ik doe mee", "ik kom", "herinner me": one tap, one count, a second tap takes it back."""
    query, user = update.callback_query, update.effective_user
    parts = unpack(query.data if query else None)
    broadcast_id = row_id(parts[1]) if parts is not None and len(parts) == 3 else None
    if query is None or user is None or parts is None or broadcast_id is None:
        await stale_button(update, context)
        return
    lang = await lang_for(update, context)
    try:
        on = await broadcasts.reply(context.services, broadcast_id, user.id, parts[2])
    except BroadcastError as error:
        await query.answer(explain(lang, error), show_alert=True)
        return
    await query.answer(
        lang.gettext("Geteld. Dank je!") if on else lang.gettext("Niet meer geteld.")
    )


async def remind_link(update: Update, context: BotContext, payload: str) -> None:
    """/start rem-<id>: a reminder asked for under a channel or group post."""
    user = update.effective_user
    lang = await lang_for(update, context)
    broadcast_id = row_id(payload)
    if user is None or broadcast_id is None:
        await show(update, lang.gettext("Deze herinnering ken ik niet."))
        return
    try:
        await broadcasts.remind_me(context.services, broadcast_id, user.id)
    except BroadcastError as error:
        await show(update, explain(lang, error))
        return
    await show(update, lang.gettext("Goed! Op de dag zelf krijg je hier een herinnering."))
