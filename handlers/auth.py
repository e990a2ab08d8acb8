"""Role checks on the server side, for every privileged command and button."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from telegram import Update

from bot.roles import Role, Roles, roles_of
from bot.services import BotContext
from handlers.common import lang_for

Handler = Callable[[Update, BotContext], Awaitable[None]]


async def refuse(update: Update, context: BotContext) -> None:
    """The same short refusal for a command or a button, forged or not."""
    _ = (await lang_for(update, context)).gettext
    text = _("Dat mag je niet. Kijk bij /help wat je wel kunt.")
    if update.callback_query is not None:
        await update.callback_query.answer(text, show_alert=True)
    elif update.effective_message is not None:
        await update.effective_message.reply_text(text)


def requires(*roles: Role) -> Callable[[Handler], Handler]:
    """Run the handler only for someone holding one of `roles` (checked in the database
    at every update: nothing the client sends, callback data included, is trusted)."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(update: Update, context: BotContext) -> None:
            user = update.effective_user
            if user is None:
                return
            mine: Roles = await roles_of(context.services, user.id)
            if not mine.has(*roles):
                await refuse(update, context)
                return
            context.roles = mine
            await handler(update, context)

        return guarded

    return wrap
