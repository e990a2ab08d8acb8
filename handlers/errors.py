"""The one error handler: log with context, tell the user, keep the update loop alive."""

from __future__ import annotations

import contextlib
import logging

from telegram import Update
from telegram.error import BadRequest

from bot.services import BotContext
from handlers.common import lang_for

log = logging.getLogger(__name__)


async def on_error(update: object, context: BotContext) -> None:
    """Log the failure with its update, and say sorry in the user's language."""
    if not isinstance(update, Update):
        # Errors outside an update (polling, jobs) have nobody to answer.
        log.error("error outside an update: %s", context.error, exc_info=context.error)
        return
    log.error(
        "error while handling update %s (%s in %s chat)",
        update.update_id,
        type(context.error).__name__,
        update.effective_chat.type if update.effective_chat else "no",
        exc_info=context.error,
    )
    if update.effective_chat is None:
        return
    try:
        _ = (await lang_for(update, context)).gettext
        text = _("Sorry, er ging iets mis. Probeer het zo nog eens.")
        if update.callback_query is not None:
            # False or BadRequest: already answered (most handlers answer a press before
            # they work) or too old (bot.inbox.InboxBot says so with False); the apology
            # then goes into the chat instead.
            with contextlib.suppress(BadRequest):
                if await update.callback_query.answer(text, show_alert=True):
                    return
        await context.bot.send_message(update.effective_chat.id, text)
    except Exception:  # the apology itself must never take the loop down
        log.warning("could not tell the user about the error", exc_info=True)
