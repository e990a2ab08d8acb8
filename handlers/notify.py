"""Messages the bot starts itself (no update to answer): to coordinators, to one person."""

from __future__ import annotations

from bot import outgoing
from bot.outgoing import Render, language_of
from bot.roles import coordinator_ids
from bot.services import BotContext

__all__ = ["Render", "coordinator_ids", "language_of", "tell", "tell_coordinators"]


async def tell(context: BotContext, user_id: int, render: Render) -> bool:
    """Send one person a message in their own language; False if Telegram refused."""
    return await outgoing.send(context.bot, context.services, user_id, render)


async def tell_coordinators(context: BotContext, render: Render) -> int:
    """Send every coordinator the same news, each in their language; how many got it."""
    # One by one: a handful of coordinators, and sequential sends stay under the
    # per-chat flood limits without bookkeeping.
    delivered = 0
    for user_id in await coordinator_ids(context.services):
        delivered += await tell(context, user_id, render)
    return delivered
