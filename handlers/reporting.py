"""Reporting: Meld een Vermoeden as a guided conversation, one question at a time, kept as
a draft (under a pseudonym) until the reporter sends it."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
    User,
)

from bot import coordinator_notes, reports
from bot.callbacks import Button
from bot.i18n import N_, Lang
from bot.reports import Draft, ReportError, ReportStep
from bot.services import BotContext
from handlers import fallback, keyboards
from handlers.common import explain, lang_for, show
from handlers.fallback import button, stale_button
from handlers.report_common import button_of, describe

CANCELLED = N_("Gestopt. Er is niets bewaard.")


# ---------------------------------------------------------------- the draft


async def _draft(context: BotContext, user_id: int) -> tuple[Draft, str] | None:
    return await reports.load_draft(context.services, user_id)


async def _save(context: BotContext, user_id: int, draft: Draft, step: str | None = None) -> str:
    return await reports.save_draft(context.services, user_id, draft, step)


async def _drop(context: BotContext, user_id: int) -> None:
    await reports.drop_draft(context.services, user_id)


def _stop(lang: Lang) -> list[InlineKeyboardButton]:
    return [button_of(lang.gettext("Stoppen"), Button.REPORT_ACTION, "stop")]


def _areas(lang: Lang, context: BotContext, home: str | None) -> list[list[InlineKeyboardButton]]:
    areas = context.services.areas
    keys = [f"park:{park.slug}" for park in areas.business_parks]
    keys += [f"wijk:{wijk.slug}" for wijk in areas.wijken]
    if home in keys:
        keys.remove(home)
        keys.insert(0, home)
    buttons = [
        button_of(areas.area_name(key), Button.REPORT_WHERE, *key.split(":")) for key in keys
    ]
    return keyboards.rows(buttons)


async def _ask(
    update: Update,
    context: BotContext,
    user: User,
    draft: Draft,
    *,
    saved: bool = False,
    below: bool = False,
) -> None:
    """Ask the first open question of the draft (also when it resumes after a break)."""
    lang = await lang_for(update, context)
    step = draft.next_step if saved else await _save(context, user.id, draft)
    question = QUESTIONS.get(step)
    if question is None:
        await _summary(update, context, lang, draft)
        return
    text, rows = question(lang, context, draft)
    await show(update, text, InlineKeyboardMarkup([*rows, _stop(lang)]), below=below)


Rows = list[list[InlineKeyboardButton]]


def _ask_what(lang: Lang, context: BotContext, draft: Draft) -> tuple[str, Rows]:
    _ = lang.gettext
    buttons = [
        button_of(f"{c.icon} {c.label(lang.code)}", Button.REPORT_WHAT, c.slug)
        for c in context.services.categories.items
    ]
    text = "\n\n".join(
        [
            "🚨 <b>"
            + _("Is het nu aan de hand en is er gevaar? Bel 112.")
            + "</b> "
            + _("(Tik op de kaart Alarmnummer 112 om te bellen.)"),
            _("Meld een Vermoeden is voor dingen die niet kloppen, niet voor noodgevallen."),
            "<b>" + _("Wat heb je gezien?") + "</b>",
        ]
    )
    return text, keyboards.rows(buttons, 1)


def _ask_where(lang: Lang, context: BotContext, draft: Draft) -> tuple[str, Rows]:
    _ = lang.gettext
    text = _("Waar was het? Kies het terrein of de wijk, deel je locatie, of typ de straat.")
    if draft.street:
        text = _("Op welk terrein of in welke wijk ligt {street}?").format(
            street=escape(draft.street)
        )
    share = [button_of("📍 " + _("Mijn locatie delen"), Button.REPORT_WHERE, "loc", "-")]
    return text, [share, *_areas(lang, context, draft.home)]


def _ask_when(lang: Lang, context: BotContext, draft: Draft) -> tuple[str, Rows]:
    # The stop row is added by the caller, as for every question.
    choices = list(_when_keyboard(lang).inline_keyboard[:-1])
    return lang.gettext("Wanneer was het?"), [list(row) for row in choices]


def _ask_describe(lang: Lang, context: BotContext, draft: Draft) -> tuple[str, Rows]:
    _ = lang.gettext
    text = "\n\n".join(
        [
            "<b>" + _("Beschrijf kort wat je zag.") + "</b>",
            _("Beschrijf wat iemand doet, niet hoe iemand eruitziet."),
            _("Hoogstens {n} tekens.").format(n=lang.number(reports.MAX_DESCRIPTION)),
        ]
    )
    return text, []


def _ask_photos(lang: Lang, context: BotContext, draft: Draft) -> tuple[str, Rows]:
    _ = lang.gettext
    if draft.photos:
        text = _("Foto ontvangen ({n} van {max}). Nog een foto, of tik op Klaar.").format(
            n=len(draft.photos), max=reports.MAX_PHOTOS
        )
        done = button_of(_("Klaar"), Button.REPORT_PHOTOS, "done")
    else:
        text = _("Wil je een foto meesturen? Stuur hem hier (hoogstens {max}).").format(
            max=reports.MAX_PHOTOS
        )
        done = button_of(_("Geen foto"), Button.REPORT_PHOTOS, "done")
    return text, [[done]]


def _ask_anonymous(lang: Lang, context: BotContext, draft: Draft) -> tuple[str, Rows]:
    _ = lang.gettext
    text = "\n\n".join(
        [
            "<b>" + _("Wil je anoniem melden?") + "</b>",
            _(
                "Anoniem: niemand kan zien dat de melding van jou komt, ook de coördinator niet. Je krijgt toch bericht over je melding, hier in dit gesprek."
            ),
            _("Met je naam: de coördinator kan je bereiken als er vragen zijn."),
        ]
    )
    choices = [
        [button_of("🕶 " + _("Anoniem"), Button.REPORT_ANONYMOUS, "yes")],
        [button_of("👤 " + _("Met mijn naam"), Button.REPORT_ANONYMOUS, "no")],
    ]
    return text, choices


# One question per step of the draft (bot.reports.Draft.next_step); after the last, the summary.
QUESTIONS: dict[str, Callable[[Lang, BotContext, Draft], tuple[str, Rows]]] = {
    ReportStep.WHAT: _ask_what,
    ReportStep.WHERE: _ask_where,
    ReportStep.WHEN: _ask_when,
    ReportStep.DESCRIBE: _ask_describe,
    ReportStep.PHOTOS: _ask_photos,
    ReportStep.ANONYMOUS: _ask_anonymous,
}


async def _summary(update: Update, context: BotContext, lang: Lang, draft: Draft) -> None:
    _ = lang.gettext
    lines = ["<b>" + _("Klopt dit?") + "</b>", *describe(lang, context, draft)]
    lines.append(_("Anoniem") if draft.anonymous else _("Met je naam"))
    actions = [
        [button_of("✅ " + _("Versturen"), Button.REPORT_ACTION, "send")],
        [button_of(_("Opnieuw beginnen"), Button.REPORT_ACTION, "restart")],
        _stop(lang),
    ]
    await show(update, "\n".join(lines), InlineKeyboardMarkup(actions))


# ---------------------------------------------------------------- starting


async def report(update: Update, context: BotContext) -> None:
    """/melding: a new report, or the one left halfway."""
    user = update.effective_user
    if user is None:
        return
    lang = await lang_for(update, context)
    try:
        reports.check_quota(context.services, user.id)
        opened = await reports.open_draft(context.services, user.id)
    except ReportError as error:
        await show(update, explain(lang, error))
        return
    if opened.waiting:
        await _offer_resume(update, lang)
        return
    chat = update.effective_chat
    if chat is not None:
        # A contact card is what Telegram lets a bot offer to tap and call.
        await context.bot.send_contact(
            chat.id, phone_number="112", first_name=lang.gettext("Alarmnummer")
        )
    # The question under the 112 card, also when /melding came from a button.
    await _ask(update, context, user, opened.draft, saved=True, below=True)


async def _offer_resume(update: Update, lang: Lang) -> None:
    _ = lang.gettext
    choices = [
        [button_of(_("Verder waar ik was"), Button.REPORT_ACTION, "resume")],
        [button_of(_("Opnieuw beginnen"), Button.REPORT_ACTION, "restart")],
    ]
    await show(
        update,
        _("Je was nog bezig met een melding. Wil je verder, of opnieuw beginnen?"),
        InlineKeyboardMarkup(choices),
    )


async def _answer(
    update: Update,
    context: BotContext,
    query: CallbackQuery | None,
    user: User,
    change: Any,
    retry: InlineKeyboardMarkup | None = None,
) -> None:
    """Apply one answer to the draft, then ask the next question; refusals in words.

    A typed answer refused gets `retry` under it: the ways on, not a dead end.
    """
    refused: ReportError | None = None
    draft: Draft | None = None
    try:
        draft = await reports.change_draft(context.services, user.id, change)
    except ReportError as error:
        refused = error
    if draft is None and refused is None:
        await stale_button(update, context)
        return
    if refused is not None:
        text = (await lang_for(update, context)).gettext(refused.key).format(**refused.values)
        if query is not None:
            await query.answer(text, show_alert=True)
        else:
            await show(update, text, retry)
        return
    if query is not None:
        await query.answer()
    assert draft is not None
    await _ask(update, context, user, draft, saved=True)


@button(1)
async def on_category(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """What was seen: one of the categories."""
    if context.services.categories.get(args[0]) is None:
        await stale_button(update, context)
        return
    await _answer(update, context, query, user, lambda d: setattr(d, "category", args[0]))


@button(2)
async def on_area(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """Where: a business park or wijk by button, or the way to share a location."""
    if args[0] == "loc":
        lang = await lang_for(update, context)
        await query.answer()
        share = KeyboardButton("📍 " + lang.gettext("Deel mijn locatie"), request_location=True)
        await context.bot.send_message(
            user.id,
            lang.gettext("Tik op de knop onderaan om je locatie te delen."),
            reply_markup=ReplyKeyboardMarkup(
                [[share]], resize_keyboard=True, one_time_keyboard=True
            ),
        )
        return
    key = f"{args[0]}:{args[1]}"
    await _answer(
        update, context, query, user, lambda d: reports.choose_area(context.services, d, key)
    )


@button(1)
async def on_when(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """When: just now, or a typed time today, or a typed day and time."""
    found = await _draft(context, user.id)
    if found is None or args[0] not in ("now", "today", "other"):
        await stale_button(update, context)
        return
    if args[0] == "now":
        await _answer(update, context, query, user, reports.just_now)
        return
    lang = await lang_for(update, context)
    _ = lang.gettext
    await query.answer()
    await _save(
        context,
        user.id,
        found[0],
        step=ReportStep.WHEN_TODAY if args[0] == "today" else ReportStep.WHEN_OTHER,
    )
    await show(update, _when_prompt(lang, context, args[0] == "today"), _when_keyboard(lang))


def _when_prompt(lang: Lang, context: BotContext, today: bool) -> str:
    _ = lang.gettext
    clock, moment = reports.moment_examples(context.services)
    if today:
        return _("Hoe laat ongeveer? Typ de tijd, bijvoorbeeld {example}.").format(example=clock)
    return _("Typ dag en tijd, bijvoorbeeld {example}.").format(example=moment)


def _when_keyboard(lang: Lang) -> InlineKeyboardMarkup:
    """While a time is typed, the other ways to answer stay a tap away."""
    _ = lang.gettext
    return InlineKeyboardMarkup(
        [
            [button_of(_("Nu net"), Button.REPORT_WHEN, "now")],
            [button_of(_("Eerder vandaag"), Button.REPORT_WHEN, "today")],
            [button_of(_("Een ander moment"), Button.REPORT_WHEN, "other")],
            _stop(lang),
        ]
    )


@button(1)
async def on_photos(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """No (more) photos."""
    await _choose(update, context, query, user, args[0], {"done": ("photos_done", True)})


@button(1)
async def on_anonymous(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """Anonymous or with one's name; anonymous in a small crowd is told so first."""
    if args[0] == "yes":
        found = await _draft(context, user.id)
        if found is not None and await _small_crowd(context, found[0]):
            await query.answer()
            await _offer_wider(update, context, found[0])
            return
    options = {"yes": ("anonymous", True), "no": ("anonymous", False)}
    await _choose(update, context, query, user, args[0], options)


async def _small_crowd(context: BotContext, draft: Draft) -> bool:
    if draft.small_ok or draft.area == reports.CITY:
        return False
    return await reports.crowd(context.services, draft) < context.services.settings.small_count


async def _offer_wider(update: Update, context: BotContext, draft: Draft) -> None:
    """Few people could have sent this: anonymous is weaker there, so offer a wider area."""
    lang = await lang_for(update, context)
    _ = lang.gettext
    areas = context.services.areas
    text = _(
        "Let op: weinig mensen melden over {area}. Dan is het makkelijker te raden dat jij dit meldt, ook anoniem. Meld je het liever onder een groter gebied? Dan laat ik weg waar het precies was."
    ).format(area=escape(areas.area_name(draft.area or "")))
    choices = []
    wijk = areas.wijk(draft.wijk) if draft.wijk else None
    if wijk is not None and draft.area != f"wijk:{wijk.slug}":
        choices.append(
            [button_of(_("Onder wijk {wijk}").format(wijk=wijk.name), Button.REPORT_WIDER, "wijk")]
        )
    choices.append(
        [button_of(_("Onder heel {city}").format(city=areas.city), Button.REPORT_WIDER, "city")]
    )
    choices.append(
        [
            button_of(
                _("Toch onder {area}").format(area=areas.area_name(draft.area or "")),
                Button.REPORT_WIDER,
                "stay",
            )
        ]
    )
    await show(update, text, InlineKeyboardMarkup([*choices, _stop(lang)]))


@button(1)
async def on_widen(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """After the small-crowd warning: file under the wijk, the city, or stay."""
    services = context.services
    if args[0] == "stay":

        def stay(draft: Draft) -> None:
            draft.anonymous, draft.small_ok = True, True

        await _answer(update, context, query, user, stay)
    elif args[0] in ("wijk", "city"):
        await _answer(update, context, query, user, lambda d: reports.widen(services, d, args[0]))
    else:
        await stale_button(update, context)


async def _choose(
    update: Update,
    context: BotContext,
    query: CallbackQuery,
    user: User,
    choice: str,
    options: dict[str, tuple[str, Any]],
) -> None:
    """A button that sets one field of the draft; data it does not offer is stale."""
    if choice not in options:
        await stale_button(update, context)
        return
    name, value = options[choice]
    await _answer(update, context, query, user, lambda d: setattr(d, name, value))


@button(1)
async def on_action(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """Send, start again, resume or stop."""
    lang = await lang_for(update, context)
    _ = lang.gettext
    action = args[0]
    if action == "stop":
        await query.answer()
        await _drop(context, user.id)
        await show(update, _(CANCELLED))
        return
    found = await _draft(context, user.id)
    if action == "restart":
        await query.answer()
        await _ask(update, context, user, Draft(home=found[0].home if found else None))
        return
    if found is None or action not in ("resume", "send"):
        await stale_button(update, context)
        return
    if action == "resume":
        await query.answer()
        await _ask(update, context, user, found[0])
        return
    await _send(update, context, query, user, lang, found[0])


async def _send(
    update: Update,
    context: BotContext,
    query: CallbackQuery,
    user: User,
    lang: Lang,
    draft: Draft,
) -> None:
    services = context.services
    try:
        await reports.may_report(services, user.id)
        filed = await reports.file(services, user.id, draft)
    except ReportError as error:
        await query.answer(explain(lang, error), show_alert=True)
        return
    await query.answer()
    await coordinator_notes.report_filed(services, filed.report)
    text, keyboard = _confirmation(lang, filed.report.ref, filed.token)
    await show(update, text, keyboard)
    # An anonymous report's alert, like its note, waits for the next full hour: its minute
    # in the coordinators' chats would be finer than the hour the database keeps.
    if filed.hotspot is not None and not filed.report.anonymous:
        await reports.send_hotspot(services, filed.report, filed.hotspot)


def _confirmation(
    lang: Lang, ref: str, token: str | None
) -> tuple[str, InlineKeyboardMarkup | None]:
    """Thanks and the number; an anonymous reporter gets the status button to keep."""
    _ = lang.gettext
    lines = [
        "✅ " + _("Dank je wel! Je melding is verstuurd."),
        _("Je nummer: {ref}").format(ref=f"<b>{ref}</b>"),
    ]
    keyboard = None
    if token is not None:
        lines.append(
            _(
                "Je meldde anoniem. Met de knop hieronder zie je hoe het met je melding staat; bewaar dit bericht. Wij weten niet dat de melding van jou is."
            )
        )
        keyboard = InlineKeyboardMarkup(
            [[button_of(_("Status bekijken"), Button.REPORT_MINE, ref.lower(), token)]]
        )
    else:
        lines.append(_("Hoe het ermee staat, zie je met /mijnmeldingen."))
    lines.append(_("Is er nu gevaar? Bel 112."))
    return "\n\n".join(lines), keyboard


# ---------------------------------------------------------------- typed input and media


async def on_text(update: Update, context: BotContext, step: str) -> None:
    """Typed answers: a street, a time, a description."""
    user, message = update.effective_user, update.effective_message
    if user is None or message is None or not message.text:
        return
    text = message.text
    services = context.services
    steps = {
        ReportStep.WHERE: lambda d: reports.set_street(d, text),
        ReportStep.WHEN_TODAY: lambda d: reports.parse_moment(services, d, text, today_only=True),
        ReportStep.WHEN_OTHER: lambda d: reports.parse_moment(services, d, text, today_only=False),
        ReportStep.DESCRIBE: lambda d: reports.set_description(d, text),
    }
    change = steps.get(step)
    lang = await lang_for(update, context)
    if change is None:
        await show(update, lang.gettext("Gebruik de knoppen hierboven, of tik op /melding."))
        return
    typing_time = step in (ReportStep.WHEN_TODAY, ReportStep.WHEN_OTHER)
    retry = _when_keyboard(lang) if typing_time else InlineKeyboardMarkup([_stop(lang)])
    await _answer(update, context, None, user, change, retry)


async def on_location(update: Update, context: BotContext) -> None:
    """A shared location: mapped to the business park or wijk it lies in."""
    user, message = update.effective_user, update.effective_message
    if user is None or message is None or message.location is None:
        return
    found = await _draft(context, user.id)
    lang = await lang_for(update, context)
    if found is None:
        await fallback.not_a_button(update, context)
        return
    if found[1] != ReportStep.WHERE:
        await message.reply_text(
            lang.gettext("Een locatie hoort bij de vraag waar het was. Gebruik de knoppen."),
            reply_markup=ReplyKeyboardRemove(),
        )
        return
    draft = found[0]
    where = message.location
    try:
        reports.locate(context.services, draft, where.latitude, where.longitude)
    except ReportError as error:
        await message.reply_text(lang.gettext(error.key).format(**error.values))
        return
    await message.reply_text(
        "📍 " + context.services.areas.area_name(draft.area or ""),
        reply_markup=ReplyKeyboardRemove(),
    )
    await _ask(update, context, user, draft)


async def on_photo(update: Update, context: BotContext) -> None:
    """A photo for the report."""
    user, message = update.effective_user, update.effective_message
    if user is None or message is None or not message.photo:
        return
    found = await _draft(context, user.id)
    lang = await lang_for(update, context)
    if found is None or found[1] != ReportStep.PHOTOS:
        await show(update, lang.gettext("Een foto kan pas bij die stap. Gebruik de knoppen."))
        return
    draft = found[0]
    try:
        reports.add_photo(draft, message.photo[-1].file_id)
    except ReportError as error:
        await show(update, lang.gettext(error.key).format(**error.values))
        return
    await _save(context, user.id, draft)
    text, rows = _ask_photos(lang, context, draft)
    await show(update, text, InlineKeyboardMarkup([*rows, _stop(lang)]))


async def on_unsupported(update: Update, context: BotContext) -> None:
    """A file, video, voice or sticker during a report: only photos are taken."""
    _ = (await lang_for(update, context)).gettext
    await show(
        update,
        _("Dat soort bestand kan ik niet gebruiken. Stuur een foto, of gebruik de knoppen."),
    )


async def in_draft(context: BotContext, user_id: int) -> bool:
    return await _draft(context, user_id) is not None


async def draft_step(context: BotContext, user_id: int) -> str | None:
    found = await _draft(context, user_id)
    return found[1] if found is not None else None
