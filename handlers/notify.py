"""Messages the bot starts itself (no update to answer): to coordinators, to one person."""

from __future__ import annotations

import logging
from collections.abc import Callable

from telegram import InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden

from bot.i18n import Lang
from bot.residents import language_of
from bot.roles import coordinator_ids
from bot.services import BotContext

__all__ = ["coordinator_ids", "language_of", "tell", "tell_coordinators"]

log = logging.getLogger(__name__)

Render = Callable[[Lang], tuple[str, InlineKeyboardMarkup | None]]


async def tell(context: BotContext, user_id: int, render: Render) -> bool:
    """Send one person a message in their own language; False if Telegram refused."""
    lang = await language_of(context.services, user_id)
    text, keyboard = render(lang)
    try:
        await context.bot.send_message(
            user_id, text, parse_mode=ParseMode.HTML, reply_markup=keyboard
        )
    except (Forbidden, BadRequest):
        # Never started the bot, or blocked it: the coordinator's overview still shows it.
        log.info("could not reach a user with a notification")
        return False
    return True


async def tell_coordinators(context: BotContext, render: Render) -> int:
    """Send every coordinator the same news, each in their language; how many got it."""
    # One by one: a handful of coordinators, and sequential sends stay under the
    # per-chat flood limits without bookkeeping.
    delivered = 0
    for user_id in await coordinator_ids(context.services):
        delivered += await tell(context, user_id, render)
    return delivered
