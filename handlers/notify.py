"""Messages the bot starts itself (no update to answer): to coordinators, to one person."""

from __future__ import annotations

import logging
from collections.abc import Callable

from telegram import InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden

from bot.i18n import Lang
from bot.roles import Role
from bot.services import BotContext, Services
from storage import roles as role_store
from storage import users

log = logging.getLogger(__name__)

Render = Callable[[Lang], tuple[str, InlineKeyboardMarkup | None]]


async def language_of(services: Services, user_id: int) -> Lang:
    async with services.sessions() as session:
        stored = await users.get_user(session=session, user_id=user_id)
    return services.translator.for_language(
        (stored.language if stored else None) or services.translator.default_language
    )


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


async def coordinator_ids(services: Services) -> list[int]:
    """Everyone who acts as coordinator: appointed coordinators and the administrators."""
    async with services.sessions() as session:
        appointed = await role_store.holders(session=session, role=Role.COORDINATOR.value)
    return sorted({grant.user_id for grant in appointed} | set(services.settings.admins))


async def tell_coordinators(context: BotContext, render: Render) -> int:
    """Send every coordinator the same news, each in their language; how many got it."""
    # One by one: a handful of coordinators, and sequential sends stay under the
    # per-chat flood limits without bookkeeping.
    delivered = 0
    for user_id in await coordinator_ids(context.services):
        delivered += await tell(context, user_id, render)
    return delivered
