"""Input the bot did not expect: always a short answer that shows the way back."""

from __future__ import annotations

from telegram import Update

from bot import residents
from bot.services import BotContext
from handlers import keyboards
from handlers.common import lang_for


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


async def edited(update: Update, context: BotContext) -> None:
    """An edited message: the first version was already handled (or ignored)."""
    _ = (await lang_for(update, context)).gettext
    await _way_back(
        update,
        context,
        _("Een aangepast bericht lees ik niet. Stuur een nieuw bericht of gebruik /help."),
    )


async def stale_button(update: Update, context: BotContext) -> None:
    """A button this bot cannot honour (old, forged, from a removed choice)."""
    query = update.callback_query
    if query is None:
        return
    _ = (await lang_for(update, context)).gettext
    await query.answer(_("Deze knop werkt niet meer. Tik op /start."), show_alert=True)
