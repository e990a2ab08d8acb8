"""/stats and /export for coordinators: the figures of a week, month or year, per wijk."""

from __future__ import annotations

from telegram import CallbackQuery, Chat, InlineKeyboardButton, InlineKeyboardMarkup, Update, User

from bot import stats, yearly
from bot.callbacks import Button, pack
from bot.i18n import Lang
from bot.roles import Role
from bot.services import BotContext
from bot.stats import Period, StatsError, View
from handlers.auth import requires
from handlers.common import lang_for, show
from handlers.fallback import button, stale_button
from handlers.keyboards import miniapp_rows, rows

ALL = "all"  # the whole city in callback data
# "/export 2026 excel": the workbook instead of the CSV (the word in any of our languages).
EXCEL_WORDS = frozenset({"excel", "xlsx"})
# "/export 2026 pdf": the yearly report as a PDF, for the council.
PDF_WORDS = frozenset({"pdf"})


def _keyboard(
    lang: Lang, context: BotContext, period: Period, wijk: str | None, chat: Chat | None
) -> InlineKeyboardMarkup:
    _ = lang.gettext
    here = wijk or ALL
    today = stats.today_in(context.services)
    moves = [
        InlineKeyboardButton("◀", callback_data=pack(Button.STATS, period.previous().code, here))
    ]
    for kind, label in (("week", _("Week")), ("month", _("Maand")), ("year", _("Jaar"))):
        shown = f"• {label}" if kind == period.kind else label
        moves.append(
            InlineKeyboardButton(
                shown, callback_data=pack(Button.STATS, period.as_kind(kind, today).code, here)
            )
        )
    if period.next().first <= today:
        moves.append(
            InlineKeyboardButton("▶", callback_data=pack(Button.STATS, period.next().code, here))
        )
    places = [(_("Heel {city}").format(city=context.services.areas.city), ALL)]
    places += [(w.name, w.slug) for w in context.services.areas.wijken]
    wijk_buttons = [
        InlineKeyboardButton(
            f"• {name}" if slug == here else name,
            callback_data=pack(Button.STATS, period.code, slug),
        )
        for name, slug in places
    ]
    files = [
        InlineKeyboardButton(
            _("📈 Grafiek"), callback_data=pack(Button.STATS_CHART, period.code, here)
        ),
        InlineKeyboardButton(
            _("📄 CSV"), callback_data=pack(Button.STATS_EXPORT, period.code, here)
        ),
        InlineKeyboardButton(
            _("📊 Excel"), callback_data=pack(Button.STATS_XLSX, period.code, here)
        ),
    ]
    app = miniapp_rows(lang, context.services.settings.miniapp_url, chat)
    return InlineKeyboardMarkup([moves, *rows(wijk_buttons, 3), files, *app])


async def _period(
    update: Update,
    context: BotContext,
    lang: Lang,
    *,
    bad: str = stats.BAD_PERIOD,
    words: list[str] | None = None,
) -> Period | None:
    """The period typed after the command; `bad`, examples of this command, otherwise."""
    typed = " ".join(context.args or [] if words is None else words)
    try:
        return stats.parse_period(typed, stats.today_in(context.services))
    except StatsError:
        if update.effective_message is not None:
            await update.effective_message.reply_text(lang.gettext(bad))
        return None


async def _figures(
    update: Update, context: BotContext, lang: Lang, period: Period, wijk: str | None
) -> None:
    current, previous = await stats.compare(context.services, period)
    text = stats.render(context.services, View(lang), current, previous, wijk)
    await show(update, text, _keyboard(lang, context, period, wijk, update.effective_chat))


@requires(Role.COORDINATOR)
async def stats_command(update: Update, context: BotContext) -> None:
    """/stats [vorige | 2026-W47 | 2026-11 | 2026]: the city's figures, with buttons."""
    lang = await lang_for(update, context)
    period = await _period(update, context, lang)
    if period is not None:
        await _figures(update, context, lang, period, None)


@requires(Role.COORDINATOR)
async def export_command(update: Update, context: BotContext) -> None:
    """/export [period] [excel|pdf]: the figures per wijk as a CSV (or Excel) file; a
    year's as the yearly PDF."""
    lang = await lang_for(update, context)
    words = list(context.args or [])
    last = words[-1].lower() if words else ""
    excel, as_pdf = last in EXCEL_WORDS, last in PDF_WORDS
    period = await _period(
        update,
        context,
        lang,
        bad=stats.BAD_EXPORT_PERIOD,
        words=words[:-1] if excel or as_pdf else words,
    )
    if period is None:
        return
    if not as_pdf:
        await _send_export(update, context, lang, period, excel=excel)
    elif period.kind != "year":
        await show(
            update,
            lang.gettext("De PDF is het jaarrapport: kies een jaar, zoals /export 2026 pdf."),
        )
    elif (chat := update.effective_chat) is not None:
        body, name = await yearly.yearly_pdf(context.services, lang, period)
        caption = lang.gettext("Jaarrapport {year}. Zonder persoonsgegevens.").format(
            year=period.key
        )
        await context.bot.send_document(chat.id, body, filename=name, caption=caption)


async def _send_export(
    update: Update, context: BotContext, lang: Lang, period: Period, *, excel: bool = False
) -> None:
    """The figures per wijk as CSV or Excel; for a year also the yearly report as a
    workbook (bot.yearly), for the council."""
    current = await stats.compute(context.services, period)
    chat = update.effective_chat
    if chat is None:
        return
    caption = lang.gettext("Cijfers per wijk, {period}. Zonder persoonsgegevens.").format(
        period=stats.period_title(lang, period)
    )
    export = stats.export_xlsx if excel else stats.export_csv
    files = [
        (
            export(context.services, lang, current),
            stats.export_name(current, "xlsx" if excel else "csv"),
        )
    ]
    if period.kind == "year":
        files.append(await yearly.yearly_report(context.services, lang, period))
    for body, name in files:
        await context.bot.send_document(chat.id, body, filename=name, caption=caption)


async def _chosen(
    update: Update, context: BotContext, args: tuple[str, ...]
) -> tuple[Period, str | None] | None:
    """A button's period and wijk, checked here: callback data is whatever the client sent."""
    code, place = args
    period = stats.period_from_code(code, stats.today_in(context.services))
    if period is None or (place != ALL and context.services.areas.wijk(place) is None):
        await stale_button(update, context)
        return None
    return period, None if place == ALL else place


@requires(Role.COORDINATOR)
@button(2)
async def on_stats(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """Another period or wijk, in place."""
    chosen = await _chosen(update, context, args)
    if chosen is not None:
        await query.answer()
        await _figures(update, context, await lang_for(update, context), *chosen)


@requires(Role.COORDINATOR)
@button(2)
async def on_chart(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """The chart of the chosen period and wijk, as a photo with its text in the caption."""
    chosen = await _chosen(update, context, args)
    if chosen is None:
        return
    await query.answer()
    period, wijk = chosen
    lang = await lang_for(update, context)
    current = await stats.compute(context.services, period)
    data, caption = await stats.chart_data(context.services, lang, current, wijk)
    await context.bot.send_photo(user.id, await stats.chart_png(data), caption=caption)


async def _export_pressed(
    update: Update, context: BotContext, query: CallbackQuery, args: tuple[str, ...], excel: bool
) -> None:
    """A file of the chosen period (every wijk in it: the file is for the yearly report)."""
    chosen = await _chosen(update, context, args)
    if chosen is not None:
        await query.answer()
        lang = await lang_for(update, context)
        await _send_export(update, context, lang, chosen[0], excel=excel)


@requires(Role.COORDINATOR)
@button(2)
async def on_export(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """The CSV of the chosen period."""
    await _export_pressed(update, context, query, args, excel=False)


@requires(Role.COORDINATOR)
@button(2)
async def on_export_xlsx(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """The same figures as an Excel workbook."""
    await _export_pressed(update, context, query, args, excel=True)
