"""My reports: the reporter's own reports and, for an anonymous one, its status button."""

from __future__ import annotations

from html import escape

from telegram import CallbackQuery, InlineKeyboardMarkup, Update, User

from bot import reports
from bot.callbacks import Button
from bot.i18n import Lang
from bot.reports import Report
from bot.services import BotContext
from handlers.common import lang_for, show
from handlers.fallback import button
from handlers.report_common import button_of, or_alert


async def my_reports(update: Update, context: BotContext) -> None:
    """/mijnmeldingen: the reporter's own (named) reports and where they stand."""
    user = update.effective_user
    if user is None:
        return
    lang = await lang_for(update, context)
    _ = lang.gettext
    mine = await reports.mine(context.services, user.id)
    lines = ["<b>" + _("Je meldingen") + "</b>"]
    if not mine:
        lines.append(_("Je hebt nog geen meldingen met je naam gedaan."))
    lines += [_line(lang, context, item) for item in mine]
    lines.append(
        _(
            "Anonieme meldingen staan hier niet: die zijn niet aan jou gekoppeld. Hun status zie je met de knop onder de bevestiging."
        )
    )
    again = InlineKeyboardMarkup([[button_of(_("Nieuwe melding"), Button.MENU, "melding")]])
    await show(update, "\n\n".join(lines), again)


def _line(lang: Lang, context: BotContext, item: Report) -> str:
    line = "{ref} · {what} · {when} · <b>{status}</b>".format(
        ref=item.ref,
        what=escape(context.services.categories.label(item.category, lang.code)),
        when=lang.datetime(item.created_at, "short"),
        status=escape(reports.status_label(lang, item.status)),
    )
    if item.status_note:
        line += "\n   " + escape(item.status_note)
    return line


@button(2)
async def on_anonymous_status(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """The anonymous reporter's status button: the token is the only key."""
    lang = await lang_for(update, context)
    _ = lang.gettext
    found = await or_alert(
        query, lang, reports.anonymous_status(context.services, args[0].upper(), args[1])
    )
    if found is None:
        return
    text = _("{ref}: {status}").format(
        ref=found.ref, status=reports.status_label(lang, found.status)
    )
    if found.status_note:
        text += f"\n{found.status_note}"
    await query.answer(text[:200], show_alert=True)
