"""Small pieces every handler uses: the user's language and one way to answer."""

from __future__ import annotations

from typing import cast

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest

from bot import residents
from bot.errors import KeyedError
from bot.i18n import Lang
from bot.inbox import InboxBot
from bot.services import BotContext

LANGUAGE_KEY = "language"


async def lang_for(update: Update, context: BotContext) -> Lang:
    """The user's chosen language, else Telegram's language_code, else the default.

    The choice is cached in user_data (memory only) so most updates cost no query;
    after a restart the first update reads it back from the database.
    """
    translator = context.services.translator
    user = update.effective_user
    if user is None:
        return translator.for_language(translator.default_language)
    chosen = context.user_data.get(LANGUAGE_KEY) if context.user_data is not None else None
    if chosen is None:
        stored = await residents.get(context.services, user.id)
        chosen = stored.language if stored and stored.language else ""
        remember_language(context, chosen)
    return translator.for_language(chosen or user.language_code or translator.default_language)


def explain(lang: Lang, error: KeyedError) -> str:
    """A domain error in the user's language, its values filled in."""
    return lang.gettext(error.key).format(**error.values)


def remember_language(context: BotContext, language: str) -> None:
    if context.user_data is not None:
        context.user_data[LANGUAGE_KEY] = language


def forget_user(context: BotContext) -> None:
    if context.user_data is not None:
        context.user_data.clear()


def has_text(message: object) -> bool:
    """A message whose text can be edited (not a photo, a file, nor one too old to see)."""
    return isinstance(message, Message) and message.text is not None


async def show(
    update: Update,
    text: str,
    keyboard: InlineKeyboardMarkup | None = None,
    *,
    below: bool = False,
) -> int | None:
    """Answer in place: edit the message under a pressed button, else send a new one.
    Returns the id of the message that shows it, or None when nothing was sent.

    With `below`, always a new message: when something was just sent after the pressed
    message (the 112 card), the answer must come under it, not above it. A press on a
    message without text (a photo such as the stats chart, a file: a forged or replayed
    button can land there) also gets a new message: editMessageText would be refused.
    `text` is HTML; whoever builds it escapes what came from outside the code.
    """
    query = update.callback_query
    if query is not None and has_text(query.message) and not below:
        message = cast(Message, query.message)
        try:
            if _plain_private(message):
                bot = cast(InboxBot, message.get_bot())
                return await bot.put_html(
                    message.chat_id, text, keyboard, message_id=message.message_id
                )
            await query.edit_message_text(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)
        except BadRequest as error:
            # A double tap asks for the same content again; Telegram refuses, nothing is wrong.
            if "not modified" not in error.message:
                raise
            return None
        return message.message_id
    message = update.effective_message
    if message is None:
        return None
    if _plain_private(message):
        return await cast(InboxBot, message.get_bot()).put_html(message.chat_id, text, keyboard)
    sent = await message.reply_text(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)
    return sent.message_id


def _plain_private(message: Message) -> bool:
    """A private chat without topics, answered by the application's own bot: nothing of
    reply_text's (thread, business connection, quote) applies, so put_html can answer."""
    return (
        message.chat.type == ChatType.PRIVATE
        and message.message_thread_id is None
        and message.business_connection_id is None
        and isinstance(message.get_bot(), InboxBot)
    )
