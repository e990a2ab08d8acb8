"""Meld een Vermoeden: the reporter's guided report, their statuses, the coordinator's side."""

from __future__ import annotations

from collections.abc import Coroutine
from datetime import datetime
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

from bot import conversations, reports
from bot.callbacks import pack
from bot.conversations import Conversation
from bot.i18n import N_, Lang
from bot.reports import CLOSED, NOTE_FLOW, STATUSES, Draft, Report, ReportError
from bot.roles import Role, roles_of
from bot.services import BotContext
from handlers import commands, fallback, keyboards
from handlers.auth import requires
from handlers.common import explain, lang_for, show
from handlers.fallback import button, stale_button

CANCELLED = N_("Gestopt. Er is niets bewaard.")
NO_NOTE = "-"


# ---------------------------------------------------------------- the draft


async def _draft(context: BotContext, user_id: int) -> tuple[Draft, str] | None:
    return await reports.load_draft(context.services, user_id)


async def _save(context: BotContext, user_id: int, draft: Draft, step: str | None = None) -> str:
    return await reports.save_draft(context.services, user_id, draft, step)


async def _drop(context: BotContext, user_id: int) -> None:
    await reports.drop_draft(context.services, user_id)


def _button(label: str, *parts: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=pack(*parts))


def _stop(lang: Lang) -> list[InlineKeyboardButton]:
    return [_button(lang.gettext("Stoppen"), "mvx", "stop")]


def _areas(lang: Lang, context: BotContext, home: str | None) -> list[list[InlineKeyboardButton]]:
    areas = context.services.areas
    keys = [f"park:{park.slug}" for park in areas.business_parks]
    keys += [f"wijk:{wijk.slug}" for wijk in areas.wijken]
    if home in keys:
        keys.remove(home)
        keys.insert(0, home)
    buttons = [_button(areas.area_name(key), "mva", *key.split(":")) for key in keys]
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
    _ = lang.gettext
    step = draft.next_step if saved else await _save(context, user.id, draft)
    services = context.services
    if step == "what":
        buttons = [
            _button(f"{c.icon} {c.label(lang.code)}", "mvc", c.slug)
            for c in services.categories.items
        ]
        text = "\n\n".join(
            [
                "🚨 <b>"
                + _("Is het nu aan de hand en is er gevaar? Bel 112.")
                + "</b> "
                + _("(Tik op de kaart Alarmnummer 112 om te bellen.)"),
                _("Meld een Vermoeden is voor signalen, niet voor noodgevallen."),
                "<b>" + _("Wat heb je gezien?") + "</b>",
            ]
        )
        await show(
            update,
            text,
            InlineKeyboardMarkup([*keyboards.rows(buttons, 1), _stop(lang)]),
            below=below,
        )
    elif step == "where":
        home = draft.home
        text = _("Waar was het? Kies het terrein of de wijk, deel je locatie, of typ de straat.")
        if draft.street:
            text = _("In welk terrein of welke wijk ligt {street}?").format(
                street=escape(draft.street)
            )
        share = [_button("📍 " + _("Mijn locatie delen"), "mva", "loc", "-")]
        await show(
            update, text, InlineKeyboardMarkup([share, *_areas(lang, context, home), _stop(lang)])
        )
    elif step == "when":
        choices = [
            [_button(_("Nu net"), "mvw", "now")],
            [_button(_("Eerder vandaag"), "mvw", "today")],
            [_button(_("Een ander moment"), "mvw", "other")],
        ]
        await show(update, _("Wanneer was het?"), InlineKeyboardMarkup([*choices, _stop(lang)]))
    elif step == "describe":
        text = "\n\n".join(
            [
                "<b>" + _("Beschrijf kort wat je zag.") + "</b>",
                _("Beschrijf wat iemand doet, niet hoe iemand eruitziet."),
                _("Hoogstens {n} tekens.").format(n=lang.number(reports.MAX_DESCRIPTION)),
            ]
        )
        await show(update, text, InlineKeyboardMarkup([_stop(lang)]))
    elif step == "photos":
        await _ask_photos(update, lang, draft)
    elif step == "anonymous":
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
            [_button("🕶 " + _("Anoniem"), "mvn", "yes")],
            [_button("👤 " + _("Met mijn naam"), "mvn", "no")],
        ]
        await show(update, text, InlineKeyboardMarkup([*choices, _stop(lang)]))
    else:
        await _summary(update, context, lang, draft)


async def _ask_photos(update: Update, lang: Lang, draft: Draft) -> None:
    _ = lang.gettext
    if draft.photos:
        text = _("Foto ontvangen ({n} van {max}). Nog een foto, of tik op Klaar.").format(
            n=len(draft.photos), max=reports.MAX_PHOTOS
        )
        done = _button(_("Klaar"), "mvp", "done")
    else:
        text = _("Wil je een foto meesturen? Stuur hem hier (hoogstens {max}).").format(
            max=reports.MAX_PHOTOS
        )
        done = _button(_("Geen foto"), "mvp", "done")
    await show(update, text, InlineKeyboardMarkup([[done], _stop(lang)]))


def describe(lang: Lang, context: BotContext, draft: Draft | Report) -> list[str]:
    """The report as its reporter (summary) or the coordinator (details) reads it."""
    _ = lang.gettext
    services = context.services
    place = services.areas.area_name(draft.area or "")
    if draft.street:
        place += f", {draft.street}"
    if draft.latitude is not None:
        place += f" (📍 {draft.latitude:.4f}, {draft.longitude:.4f})"
    occurred = draft.occurred_at
    moment = lang.datetime(datetime_of(occurred), "short") if occurred is not None else "-"
    photos = draft.photos if isinstance(draft.photos, list) else draft.photos.split()
    return [
        _("Wat: {what}").format(
            what=escape(services.categories.label(draft.category or "", lang.code))
        ),
        _("Waar: {where}").format(where=escape(place)),
        _("Wanneer: {when}").format(when=moment),
        _("Beschrijving: {text}").format(text=escape(draft.description or "")),
        _("Foto's: {n}").format(n=len(photos)),
    ]


def datetime_of(value: str | datetime) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


async def _summary(update: Update, context: BotContext, lang: Lang, draft: Draft) -> None:
    _ = lang.gettext
    lines = ["<b>" + _("Klopt dit?") + "</b>", *describe(lang, context, draft)]
    lines.append(_("Anoniem") if draft.anonymous else _("Met je naam"))
    actions = [
        [_button("✅ " + _("Versturen"), "mvx", "send")],
        [_button(_("Opnieuw beginnen"), "mvx", "restart")],
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
    _ = lang.gettext
    try:
        reports.check_quota(context.services, user.id)
        opened = await reports.open_draft(context.services, user.id)
    except ReportError as error:
        await show(update, explain(lang, error))
        return
    if opened.waiting:
        choices = [
            [_button(_("Verder waar ik was"), "mvx", "resume")],
            [_button(_("Opnieuw beginnen"), "mvx", "restart")],
        ]
        await show(
            update,
            _("Je was nog bezig met een melding. Wil je verder, of opnieuw beginnen?"),
            InlineKeyboardMarkup(choices),
        )
        return
    chat = update.effective_chat
    if chat is not None:
        # A contact card is what Telegram lets a bot offer to tap and call.
        await context.bot.send_contact(chat.id, phone_number="112", first_name=_("Alarmnummer"))
    # The question under the 112 card, also when /melding came from a button.
    await _ask(update, context, user, opened.draft, saved=True, below=True)


async def _answer(
    update: Update, context: BotContext, query: CallbackQuery | None, user: User, change: Any
) -> None:
    """Apply one answer to the draft, then ask the next question; refusals in words."""
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
            await show(update, text)
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
    await _save(context, user.id, found[0], step=f"when_{args[0]}")
    text = (
        _("Hoe laat ongeveer? Typ de tijd, bijvoorbeeld 14:30.")
        if args[0] == "today"
        else _("Typ dag en tijd, bijvoorbeeld 24-11 14:30.")
    )
    await show(update, text, InlineKeyboardMarkup([_stop(lang)]))


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
        "Let op: weinig mensen melden over {area}. Dan is het makkelijker te raden dat jij dit meldt, ook anoniem. Meld je het liever onder een groter gebied? Dan laat ik de precieze plek weg."
    ).format(area=escape(areas.area_name(draft.area or "")))
    choices = []
    wijk = areas.wijk(draft.wijk) if draft.wijk else None
    if wijk is not None and draft.area != f"wijk:{wijk.slug}":
        choices.append([_button(_("Onder wijk {wijk}").format(wijk=wijk.name), "mvk", "wijk")])
    choices.append([_button(_("Onder heel {city}").format(city=areas.city), "mvk", "city")])
    choices.append(
        [
            _button(
                _("Toch onder {area}").format(area=areas.area_name(draft.area or "")), "mvk", "stay"
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
    _ = lang.gettext
    services = context.services
    try:
        await reports.may_report(services, user.id)
        filed = await reports.file(services, user.id, draft)
    except ReportError as error:
        await query.answer(explain(lang, error), show_alert=True)
        return
    await query.answer()
    ref = filed.report.ref
    lines = [
        "✅ " + _("Dank je wel! Je melding is verstuurd."),
        _("Je nummer: {ref}").format(ref=f"<b>{ref}</b>"),
    ]
    keyboard = None
    if filed.token is not None:
        lines.append(
            _(
                "Je meldde anoniem. Met de knop hieronder zie je hoe het met je melding staat; bewaar dit bericht. Wij weten niet dat de melding van jou is."
            )
        )
        keyboard = InlineKeyboardMarkup(
            [[_button(_("Status bekijken"), "mvs", ref.lower(), filed.token)]]
        )
    else:
        lines.append(_("Hoe het ermee staat, zie je met /mijnmeldingen."))
    lines.append(_("Is er nu gevaar? Bel 112."))
    await show(update, "\n\n".join(lines), keyboard)
    if filed.hotspot is not None:
        await reports.send_hotspot(services, filed.report, filed.hotspot)


# ---------------------------------------------------------------- typed input and media


async def on_text(update: Update, context: BotContext, step: str) -> None:
    """Typed answers: a street, a time, a description."""
    user, message = update.effective_user, update.effective_message
    if user is None or message is None or not message.text:
        return
    text = message.text
    services = context.services
    steps = {
        "where": lambda d: reports.set_street(d, text),
        "when_today": lambda d: reports.parse_moment(services, d, text, today_only=True),
        "when_other": lambda d: reports.parse_moment(services, d, text, today_only=False),
        "describe": lambda d: reports.set_description(d, text),
    }
    change = steps.get(step)
    if change is None:
        _ = (await lang_for(update, context)).gettext
        await show(update, _("Gebruik de knoppen hierboven, of tik op /melding."))
        return
    await _answer(update, context, None, user, change)


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
    if found[1] != "where":
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
    if found is None or found[1] != "photos":
        await show(update, lang.gettext("Een foto kan pas bij die stap. Gebruik de knoppen."))
        return
    draft = found[0]
    try:
        reports.add_photo(draft, message.photo[-1].file_id)
    except ReportError as error:
        await show(update, lang.gettext(error.key).format(**error.values))
        return
    await _save(context, user.id, draft)
    await _ask_photos(update, lang, draft)


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


# ---------------------------------------------------------------- the reporter's statuses


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
    for item in mine:
        line = "{ref} · {what} · {when} · <b>{status}</b>".format(
            ref=item.ref,
            what=escape(context.services.categories.label(item.category, lang.code)),
            when=lang.datetime(item.created_at, "short"),
            status=escape(reports.status_label(lang, item.status)),
        )
        if item.status_note:
            line += "\n   " + escape(item.status_note)
        lines.append(line)
    lines.append(
        _(
            "Anonieme meldingen staan hier niet: die zijn niet aan jou gekoppeld. Hun status zie je met de knop onder de bevestiging."
        )
    )
    again = InlineKeyboardMarkup([[_button(_("Nieuwe melding"), "menu", "melding")]])
    await show(update, "\n\n".join(lines), again)


async def _or_alert(
    query: CallbackQuery, lang: Lang, pending: Coroutine[Any, Any, Report]
) -> Report | None:
    """The report a button asks for, or None once the refusal is shown as a pop-up."""
    try:
        return await pending
    except ReportError as error:
        await query.answer(lang.gettext(error.key), show_alert=True)
        return None


@button(2)
async def on_anonymous_status(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """The anonymous reporter's status button: the token is the only key."""
    lang = await lang_for(update, context)
    _ = lang.gettext
    found = await _or_alert(
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


# ---------------------------------------------------------------- the coordinator's side


@requires(Role.COORDINATOR)
async def overview(update: Update, context: BotContext) -> None:
    """/vermoedens: the open reports, by number only; details on purpose, by button."""
    lang = await lang_for(update, context)
    _ = lang.gettext
    services = context.services
    items = await reports.latest(services)
    allowed = await reports.residents_may_report(services)
    lines = ["<b>" + _("Meld een Vermoeden: open meldingen") + "</b>"]
    if not items:
        lines.append(_("Er zijn geen open meldingen."))
    buttons = []
    for item in items:
        lines.append(
            "{ref} · {what} · {area} · {when} · {status}".format(
                ref=item.ref,
                what=escape(services.categories.label(item.category, lang.code)),
                area=escape(services.areas.area_name(item.area)),
                when=lang.datetime(item.created_at, "short"),
                status=escape(reports.status_label(lang, item.status)),
            )
        )
        buttons.append(_button(_("Details {ref}").format(ref=item.ref), "mvd", item.ref.lower()))
    switch = _button(
        keyboards.tick(allowed, _("Bewoners mogen ook melden")),
        "mvr",
        "off" if allowed else "on",
    )
    await show(
        update, "\n".join(lines), InlineKeyboardMarkup([*keyboards.rows(buttons, 1), [switch]])
    )


@requires(Role.COORDINATOR)
@button(1)
async def on_residents_switch(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """The coordinator's switch: may residents report too (stored, audited)."""
    if args[0] not in ("on", "off"):
        await stale_button(update, context)
        return
    await reports.set_residents_may_report(context.services, args[0] == "on", user.id)
    await query.answer()
    # Everyone's menu shows /melding exactly while residents may report.
    await commands.register(context.bot, context.services)
    await overview(update, context)


@requires(Role.COORDINATOR)
@button(1)
async def on_details(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """One report's details, opened on purpose; the view goes into the audit log."""
    lang = await lang_for(update, context)
    _ = lang.gettext
    found = await _or_alert(query, lang, reports.view(context.services, args[0].upper(), user.id))
    if found is None:
        return
    await query.answer()
    lines = [f"<b>{found.ref}</b>", *describe(lang, context, found)]
    lines.append(
        _("Status: {status}").format(status=escape(reports.status_label(lang, found.status)))
    )
    if found.status_note:
        lines.append(_("Bericht aan de melder: {note}").format(note=escape(found.status_note)))
    lines.append(await _who(lang, context, found))
    code = found.ref.lower()
    status_buttons = [
        _button(
            keyboards.tick(status == found.status, reports.status_label(lang, status)),
            "mvt",
            code,
            status,
            "ask",
        )
        for status in STATUSES
    ]
    rows = keyboards.rows(status_buttons, 1)
    if found.photos:
        rows.append([_button("📷 " + _("Foto's bekijken"), "mvf", code)])
    await show(update, "\n".join(lines), InlineKeyboardMarkup(rows))


async def _who(lang: Lang, context: BotContext, found: Report) -> str:
    _ = lang.gettext
    if found.anonymous:
        return _("Melder: anoniem")
    if found.reporter_id is None:
        return _("Melder: heeft zijn of haar gegevens gewist")
    name = await reports.reporter_name(context.services, found.reporter_id)
    link = f'<a href="tg://user?id={found.reporter_id}">{escape(name or _("melder"))}</a>'
    return _("Melder: {name} (tik op de naam om een bericht te sturen)").format(name=link)


@requires(Role.COORDINATOR)
@button(1)
async def on_photos_view(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """The report's photos, sent to the coordinator who asked (also audited)."""
    lang = await lang_for(update, context)
    found = await _or_alert(query, lang, reports.view(context.services, args[0].upper(), user.id))
    if found is None:
        return
    await query.answer()
    for photo in found.photos.split():
        await context.bot.send_photo(user.id, photo, caption=found.ref)


@requires(Role.COORDINATOR)
@button(3)
async def on_status(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """A new status: first the chance of a short message, then it is set and told."""
    if args[1] not in STATUSES or args[2] not in ("ask", "go"):
        await stale_button(update, context)
        return
    ref, status = args[0].upper(), args[1]
    lang = await lang_for(update, context)
    _ = lang.gettext
    if args[2] == "ask":
        if await reports.get(context.services, ref) is None:
            await query.answer(_("Die melding bestaat niet (meer)."), show_alert=True)
            return
        await query.answer()
        await conversations.put(
            context.services, user.id, NOTE_FLOW, "note", {"ref": ref, "status": status}
        )
        text = _(
            "Nieuwe status: {status}. Typ een kort bericht voor de melder, of tik op Zonder bericht."
        ).format(status=escape(reports.status_label(lang, status)))
        without = _button(_("Zonder bericht"), "mvt", args[0], status, "go")
        await show(update, text, InlineKeyboardMarkup([[without]]))
        return
    await query.answer()
    await _apply_status(update, context, user, lang, ref, status, None)


async def on_note(update: Update, context: BotContext, state: Conversation) -> None:
    """The coordinator's short message with a new status."""
    user, message = update.effective_user, update.effective_message
    if user is None or message is None or not message.text:
        return
    if not (await roles_of(context.services, user.id)).has(Role.COORDINATOR):
        await _drop_note(context, user.id)
        await fallback.not_a_button(update, context)
        return
    data = conversations.data_of(state)
    lang = await lang_for(update, context)
    note = " ".join(message.text.split())
    await _apply_status(
        update, context, user, lang, str(data["ref"]), str(data["status"]), note or None
    )


async def _drop_note(context: BotContext, user_id: int) -> None:
    await conversations.clear(context.services, user_id)


async def _apply_status(
    update: Update,
    context: BotContext,
    user: User,
    lang: Lang,
    ref: str,
    status: str,
    note: str | None,
) -> None:
    _ = lang.gettext
    await _drop_note(context, user.id)
    try:
        changed = await reports.set_status(context.services, ref, status, note, user.id)
    except ReportError as error:
        await show(update, explain(lang, error))
        return
    told = await reports.send_status(context.services, changed)
    lines = [
        _("{ref} staat nu op: {status}.").format(
            ref=changed.ref, status=escape(reports.status_label(lang, changed.status))
        ),
        _("De melder heeft bericht gekregen.")
        if told
        else _("De melder krijgt zo bericht.")
        if told is None
        else _("De melder kon geen bericht krijgen."),
    ]
    if changed.status == CLOSED:
        lines.append(
            _("De melding wordt over {n} dagen gewist; de tellingen blijven.").format(
                n=context.services.settings.report_retention_days
            )
        )
    await show(update, "\n".join(lines))
