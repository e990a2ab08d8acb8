"""The bot's own membership in a private chat: blocked or unblocked by the user."""

from __future__ import annotations

from telegram import ChatMember, Update
from telegram.constants import ChatType

from bot import residents
from bot.services import BotContext


async def private_status(update: Update, context: BotContext) -> None:
    """A user blocked the bot: no more messages, marked inactive. Unblocking is a new /start."""
    change = update.my_chat_member
    if change is None or change.chat.type != ChatType.PRIVATE:
        return
    if change.new_chat_member.status == ChatMember.BANNED:
        await residents.mark_blocked(context.services, change.chat.id)
