"""Everyone's answer to an announcement: one tap counts, a second takes it back."""

from __future__ import annotations

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType
from telegram.error import BadRequest

from bot import broadcasts
from bot.broadcasts import BroadcastError
from bot.callbacks import row_id, unpack
from bot.services import BotContext
from handlers.common import explain, lang_for, show
from handlers.fallback import stale_button

TICK = "✓ "


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
    _ = lang.gettext
    if parts[2] == "remind":
        await query.answer(
            _("Goed! Op de dag zelf krijg je hier een herinnering.")
            if on
            else _("Goed, je krijgt geen herinnering.")
        )
    else:
        await query.answer(_("Geteld. Dank je!") if on else _("Niet meer geteld."))
    await _tick(query, on)


async def _tick(query: CallbackQuery, on: bool) -> None:
    """In a private chat the pressed button shows the choice: "✓ Ik kom", or not any more.

    Only there: the buttons under a group's or channel's post are everyone's, and one
    reader's tick on them would tell the others who answered what.
    """
    message = query.message
    if not isinstance(message, Message) or message.chat.type != ChatType.PRIVATE:
        return
    markup = message.reply_markup
    if markup is None:
        return
    rows = [
        [
            InlineKeyboardButton(_ticked(button.text, on), callback_data=button.callback_data)
            if button.callback_data == query.data
            else button
            for button in row
        ]
        for row in markup.inline_keyboard
    ]
    try:
        await query.edit_message_reply_markup(InlineKeyboardMarkup(rows))
    except BadRequest as error:
        # Two quick taps ask for the same keyboard twice; the second is no change.
        if "not modified" not in error.message:
            raise


def _ticked(label: str, on: bool) -> str:
    plain = label.removeprefix(TICK)
    return TICK + plain if on else plain


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
