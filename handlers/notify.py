"""Messages the bot starts itself (no update to answer): to coordinators, to one person."""

from __future__ import annotations

from bot import notices
from bot.notices import Render, Topic, language_of
from bot.roles import coordinator_ids
from bot.services import BotContext

__all__ = ["Render", "coordinator_ids", "language_of", "tell", "tell_coordinators"]


async def tell(context: BotContext, user_id: int, render: Render) -> bool:
    """Queue one person a message in their own language (the delivery engine sends it)."""
    return await notices.tell(context.services, Topic.NEWS, [user_id], render) > 0


async def tell_coordinators(context: BotContext, render: Render) -> int:
    """Queue every coordinator the same news, each in their language; how many."""
    coordinators = await coordinator_ids(context.services)
    return await notices.tell(context.services, Topic.NEWS, coordinators, render)
