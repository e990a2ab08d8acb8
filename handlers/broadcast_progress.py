"""What the engine and the scheduler show an author: the progress line of a broadcast
going out, and the question about one missed while the bot was down."""

from __future__ import annotations

import logging

from telegram import Bot, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot import broadcasts
from bot.broadcasts import Action, Broadcast
from bot.delivery import Counts
from bot.i18n import Lang
from bot.residents import KIND_LABELS
from bot.services import Services
from handlers import notify
from handlers.broadcast_compose import button
from handlers.keyboards import bold

log = logging.getLogger(__name__)

# The last word on a broadcast waits out flood control this many times (each wait as
# long as Telegram asks, up to the rate limiter's cap) before it goes as a new message.
SETTLED_RETRIES = 5


def progress_line(lang: Lang, counts: Counts, held: int) -> str:
    """ "Bezig: 3 van 5 verzonden.", "4 van 5 verzonden, 1 wacht op stille uren.", "Klaar: ..." """
    _, number = lang.gettext, lang.number
    if counts.pending == 0:
        return _(
            "Klaar: {sent} van {total} bezorgd. Mislukt: {failed}. Geblokkeerd of verdwenen: {blocked}."
        ).format(
            sent=number(counts.sent),
            total=number(counts.total),
            failed=number(counts.failed),
            blocked=number(counts.blocked + counts.gone),
        )
    sent, total = number(counts.sent), number(counts.total)
    if held == 0:
        return _("Bezig: {sent} van {total} verzonden.").format(sent=sent, total=total)
    return lang.ngettext(
        "{sent} van {total} verzonden, {n} wacht op stille uren.",
        "{sent} van {total} verzonden, {n} wachten op stille uren.",
        held,
    ).format(sent=sent, total=total, n=number(held))


async def show_progress(bot: Bot, services: Services, broadcast_id: int, counts: Counts) -> None:
    """Edit the author's progress line as the engine goes (the engine reports every few
    seconds, within Telegram's edits per chat); the settled state is never dropped."""
    broadcast = await broadcasts.get(services, broadcast_id)
    if broadcast is None or broadcast.progress_chat_id is None:
        return
    held = await broadcasts.held_back(services, broadcast_id) if counts.queued else 0
    lang = await notify.language_of(services, broadcast.author_id)
    # Settled: finished, or nothing left but copies waiting for quiet hours. No later
    # report may come to correct a lost one, so it waits out flood control.
    settled = counts.pending == 0 or held == counts.pending
    chat_id, text = broadcast.progress_chat_id, progress_line(lang, counts, held)
    try:
        await bot.edit_message_text(
            text,
            chat_id,
            broadcast.progress_message_id,
            rate_limit_args=SETTLED_RETRIES if settled else 0,
        )
    except TelegramError as error:
        # In between, a lost edit is made good by the next report ("not modified": nothing
        # moved). A settled line that cannot be edited (gone, flood control beyond the
        # retries) comes as a new message instead.
        if not settled or "not modified" in error.message:
            log.debug("progress line not edited", exc_info=True)
            return
        log.info("progress line of broadcast %d not edited (%s); sent anew", broadcast_id, error)
        await bot.send_message(chat_id, text, rate_limit_args=SETTLED_RETRIES)


def late_question(lang: Lang, broadcast: Broadcast) -> tuple[str, InlineKeyboardMarkup]:
    """For the scheduler: a broadcast missed while the bot was down, too late to just send."""
    _, bid = lang.gettext, str(broadcast.id)
    keyboard = InlineKeyboardMarkup(
        [
            [
                button(_("Toch versturen"), Action.LATE, bid),
                button(_("Niet meer versturen"), Action.DROP, bid),
            ]
        ]
    )
    kind = bold(_(KIND_LABELS.get(broadcast.kind, broadcast.kind)))
    text = _(
        "De bot stond uit toen dit bericht weg moest ({when}): {kind}. Nu nog versturen?"
    ).format(when=broadcasts.when_label(lang, broadcast), kind=kind)
    return text, keyboard


async def ask_late(bot: Bot, services: Services, broadcast: Broadcast) -> None:
    """The scheduler found a broadcast missed by more than the grace: its author decides."""
    lang = await notify.language_of(services, broadcast.author_id)
    text, keyboard = late_question(lang, broadcast)
    try:
        await bot.send_message(
            broadcast.author_id, text, parse_mode=ParseMode.HTML, reply_markup=keyboard
        )
    except TelegramError:
        log.warning("could not ask the author about a missed broadcast")
