"""The bot's own membership of a chat changed: who added, removed, promoted or blocked it."""

from __future__ import annotations

from telegram import ChatMember, Update
from telegram.constants import ChatType

from bot import residents
from bot.services import BotContext
from handlers import channels, chats


async def on_my_chat_member(update: Update, context: BotContext) -> None:
    """Route by kind of chat: a private chat, a group, or a channel."""
    change = update.my_chat_member
    if change is None:
        return
    if change.chat.type == ChatType.PRIVATE:
        await private_status(update, context)
    elif change.chat.type == ChatType.CHANNEL:
        await channels.bot_membership(update, context)
    else:
        await chats.bot_membership(update, context)


async def private_status(update: Update, context: BotContext) -> None:
    """A user blocked the bot: no more messages, marked inactive. Unblocking is a new /start."""
    change = update.my_chat_member
    if change is None:
        return
    if change.new_chat_member.status == ChatMember.BANNED:
        await residents.mark_blocked(context.services, change.chat.id)
