"""Input the bot did not expect: always a short answer that shows the way back."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from telegram import CallbackQuery, Chat, Update, User
from telegram.ext import ApplicationHandlerStop

from bot import residents
from bot.callbacks import row_id, unpack
from bot.residents import ResidentError
from bot.services import BotContext
from handlers import keyboards
from handlers.common import lang_for

ButtonHandler = Callable[
    [Update, BotContext, CallbackQuery, User, tuple[str, ...]], Awaitable[None]
]


async def _way_back(update: Update, context: BotContext, text: str) -> None:
    user = update.effective_user
    if user is None or update.effective_chat is None:
        return
    stored = await residents.get(context.services, user.id)
    lang = await lang_for(update, context)
    await context.bot.send_message(
        update.effective_chat.id,
        text,
        reply_markup=keyboards.way_back(lang, subscribed=bool(stored and stored.subscribed)),
    )


async def unknown_command(update: Update, context: BotContext) -> None:
    """A command the bot does not know."""
    _ = (await lang_for(update, context)).gettext
    await _way_back(update, context, _("Dat commando ken ik niet. Kijk bij /help wat wel kan."))


async def not_a_button(update: Update, context: BotContext) -> None:
    """Typed text, a sticker, a photo...: the bot reads none of it, and says so kindly."""
    _ = (await lang_for(update, context)).gettext
    await _way_back(update, context, _("Wat je typt, lees ik niet. Gebruik de knoppen of /help."))


async def not_usable(update: Update, context: BotContext) -> None:
    """A file or a sticker: say in one line what the bot cannot use; the rest as typing."""
    message = update.effective_message
    _ = (await lang_for(update, context)).gettext
    if message is not None and message.document is not None:
        text = _("Bestanden kan ik hier niet openen. Gebruik de knoppen of /help.")
    elif message is not None and message.sticker is not None:
        text = _("Een sticker kan ik niet lezen. Gebruik de knoppen of /help.")
    else:
        await not_a_button(update, context)
        return
    await _way_back(update, context, text)


async def edited(update: Update, context: BotContext) -> None:
    """An edited message: the first version was already handled (or ignored)."""
    _ = (await lang_for(update, context)).gettext
    await _way_back(
        update,
        context,
        _("Een aangepast bericht lees ik niet. Stuur een nieuw bericht of gebruik /help."),
    )


async def private_buttons_only(update: Update, context: BotContext) -> None:
    """A private chat's button pressed in a group or channel: refused, nothing edited there."""
    chat = update.effective_chat
    if chat is None or chat.type == Chat.PRIVATE:
        return  # on to the button's own handler
    await stale_button(update, context)
    raise ApplicationHandlerStop


async def stale_button(update: Update, context: BotContext) -> None:
    """A button this bot cannot honour (old, forged, from a removed choice)."""
    query = update.callback_query
    if query is None:
        return
    _ = (await lang_for(update, context)).gettext
    await query.answer(_("Deze knop werkt niet meer. Tik op /start."), show_alert=True)


async def slow_down(update: Update, context: BotContext) -> None:
    """Button presses beyond what one chat may queue: one short answer a burst."""
    query = update.callback_query
    if query is None:
        return
    _ = (await lang_for(update, context)).gettext
    await query.answer(_("Even rustig aan."))


def button(
    size: int, *, numeric: bool = False
) -> Callable[[ButtonHandler], Callable[[Update, BotContext], Awaitable[None]]]:
    """Parse a button's data into `size` parts after the action, or answer it as stale.

    With `numeric`, every part must be a row id (bot.callbacks.row_id), so the
    handler may int() them.

    A ResidentError from the domain (a wijk, language or choice that does not exist)
    also ends as a stale answer, so the wrapped handler must make its domain call
    before it answers the press itself.
    """

    def wrap(handler: ButtonHandler) -> Callable[[Update, BotContext], Awaitable[None]]:
        @functools.wraps(handler)
        async def wrapped(update: Update, context: BotContext) -> None:
            query, user = update.callback_query, update.effective_user
            parts = unpack(query.data if query else None)
            if (
                query is None
                or user is None
                or parts is None
                or len(parts) != size + 1
                or (numeric and not all(row_id(part) is not None for part in parts[1:]))
            ):
                await stale_button(update, context)
                return
            try:
                await handler(update, context, query, user, parts[1:])
            except ResidentError:
                await stale_button(update, context)

        return wrapped

    return wrap
