"""First contact: /start in a private chat."""

from __future__ import annotations

from html import escape

from telegram import Update
from telegram.constants import ParseMode

from bot.services import BotContext
from handlers.common import lang_for
from storage import users


async def start(update: Update, context: BotContext) -> None:
    """Greet a new or returning user and say what the bot is (and is not) for."""
    if update.effective_user is None or update.effective_message is None:
        return
    async with context.services.sessions() as session:
        await users.touch_user(session=session, user_id=update.effective_user.id)
    _ = (await lang_for(update, context)).gettext
    city = escape(context.services.areas.city)
    text = "\n\n".join(
        [
            _("Welkom bij Buurtbot, de buurtpreventie van {city}.").format(city=f"<b>{city}</b>"),
            _("Hier krijg je berichten over veiligheid in je wijk."),
            _("Is er nu gevaar? Bel altijd eerst 112."),
        ]
    )
    await update.effective_message.reply_text(text, parse_mode=ParseMode.HTML)
