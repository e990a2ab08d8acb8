"""Messages the bot starts itself, from a handler or a job: one person, their language."""

from __future__ import annotations

import logging
from collections.abc import Callable

from telegram import Bot, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden

from bot.i18n import Lang
from bot.services import Services
from storage import users

log = logging.getLogger(__name__)

Render = Callable[[Lang], tuple[str, InlineKeyboardMarkup | None]]


async def language_of(services: Services, user_id: int) -> Lang:
    async with services.sessions() as session:
        stored = await users.get_user(session=session, user_id=user_id)
    return services.translator.for_language(
        (stored.language if stored else None) or services.translator.default_language
    )


async def send(bot: Bot, services: Services, user_id: int, render: Render) -> bool:
    """Send one person a message in their own language; False if Telegram refused."""
    lang = await language_of(services, user_id)
    text, keyboard = render(lang)
    try:
        await bot.send_message(user_id, text, parse_mode=ParseMode.HTML, reply_markup=keyboard)
    except (Forbidden, BadRequest):
        # Never started the bot, or blocked it: nothing to retry, and nobody to tell.
        log.info("could not reach a user with a notification")
        return False
    return True
