"""Private commands typed in a group: one line pointing to the private chat."""

from __future__ import annotations

from telegram import Update

from bot.services import BotContext
from handlers import keyboards
from handlers.common import lang_for


async def go_private(update: Update, context: BotContext) -> None:
    """Answer with one short line and a button into the private chat, nothing else."""
    message = update.effective_message
    if message is None:
        return
    lang = await lang_for(update, context)
    await message.reply_text(
        lang.gettext("Dit regel je in een privégesprek met mij."),
        reply_markup=keyboards.private_chat(lang, context.bot.username),
    )
