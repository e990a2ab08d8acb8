"""Composing an announcement: its kind, its fields, its audience, a photo, the preview."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update, User
from telegram.constants import ParseMode

from bot import broadcasts
from bot.broadcasts import (
    FIELDS,
    FLOW,
    KIND_ICONS,
    KINDS,
    Action,
    Audience,
    AudienceOptions,
    Broadcast,
    BroadcastError,
    Composing,
    Step,
)
from bot.callbacks import pack, row_id
from bot.i18n import N_, Lang
from bot.residents import KIND_LABELS
from bot.roles import Role
from bot.services import BotContext
from handlers import fallback, keyboards
from handlers.auth import refuse, requires
from handlers.common import explain, lang_for, show
from handlers.fallback import stale_button
from handlers.keyboards import tick

T = TypeVar("T")
MAX_PHOTO_BYTES = 10 * 1024 * 1024  # Telegram's limit for a photo sent by file
WHO_IS_A_WIJK = N_(
    "Een wijk is: het wijkkanaal, de goedgekeurde groepen en de bewoners die hier zijn aangemeld."
)


def button(label: str, action: Action, value: str = "-") -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=pack(FLOW, action, value))


@requires(Role.COORDINATOR, Role.TEAM_SENDER)
async def compose(update: Update, context: BotContext) -> None:
    """/bericht: which kind of announcement?"""
    _ = (await lang_for(update, context)).gettext
    user = update.effective_user
    allowed = (
        await broadcasts.allowed_for(context.services, user.id, context.roles) if user else None
    )
    if allowed == frozenset():
        await show(update, _("Je team is (nog) niet goedgekeurd. Daarna kun je berichten sturen."))
        return
    kinds = [
        button(f"{KIND_ICONS[kind]} {_(KIND_LABELS[kind])}", Action.KIND, kind) for kind in KINDS
    ]
    keyboard = InlineKeyboardMarkup(keyboards.rows(kinds))
    await show(update, _("Wat voor bericht wil je sturen?"), keyboard)


async def ask_field(update: Update, context: BotContext, user_id: int, state: Composing) -> None:
    """The next field's question; an optional one with a button to leave it empty."""
    spec = state.spec
    assert spec is not None
    await broadcasts.keep(context.services, user_id, state)
    _ = (await lang_for(update, context)).gettext
    skip = [[button(_("Niets toevoegen"), Action.SKIP)]] if spec.optional else None
    text = "\n\n".join([_(spec.question), _("Stoppen? Stuur /annuleer.")])
    await show(update, text, InlineKeyboardMarkup(skip) if skip else None)


async def on_field(
    update: Update, context: BotContext, user_id: int, state: Composing, text: str
) -> None:
    """A field typed: checked, kept, and on to the next question."""
    if state.spec is None:
        raise BroadcastError(broadcasts.STALE)
    today = broadcasts.now_in(context.services.settings.tz).date()
    state.fields[state.spec.name] = broadcasts.check_field(state.spec, text, today)
    await next_field(update, context, user_id, state)


async def next_field(update: Update, context: BotContext, user_id: int, state: Composing) -> None:
    """The next field; after the last, the audience (or, for new words, saved)."""
    if state.index + 1 < len(FIELDS[state.kind or ""]):
        state.index += 1
        await ask_field(update, context, user_id, state)
        return
    if not state.replace:
        await ask_audience(update, context, user_id, state)
        return
    lang = await lang_for(update, context)
    saved = await broadcasts.save_edit(context.services, user_id, state, lang)
    when = broadcasts.when_label(lang, saved)
    await show(
        update, lang.gettext("Gewijzigd. Het gaat nog steeds weg op {when}.").format(when=when)
    )


# ---------------------------------------------------------------- the audience


async def on_audience(
    update: Update,
    context: BotContext,
    query: CallbackQuery,
    user: User,
    action: Action,
    value: str,
) -> None:
    """Who gets it: toggled one by one, then Verder; then a photo or none."""
    allowed = await broadcasts.allowed_for(context.services, user.id, context.roles)
    ends = action in (Action.AUDIENCE_DONE, Action.NO_PHOTO)
    if allowed is not None and not (ends or (action == Action.WIJK and value in allowed)):
        await refuse(update, context)
        return
    state = await broadcasts.composing(context.services, user.id)
    if state is None or state.step not in (Step.AUDIENCE, Step.PHOTO):
        await stale_button(update, context)
    elif action == Action.AUDIENCE_DONE:
        await _ask_photo(update, context, query, user.id, state)
    elif action == Action.NO_PHOTO and state.step == Step.PHOTO:
        await query.answer()
        await preview(update, context, user.id, state, None)
    elif _toggled(context, state.audience, action, value):
        await query.answer()
        await ask_audience(update, context, user.id, state)
    else:
        await stale_button(update, context)


def _toggled(context: BotContext, audience: Audience, action: Action, value: str) -> bool:
    """One choice of audience switched on or off; False for a value that is none."""
    areas, number = context.services.areas, row_id(value)
    if action == Action.EVERYONE:
        audience.everyone = not audience.everyone
    elif action == Action.WIJK and areas.wijk(value):
        audience.wijken = _toggle(audience.wijken, value)
    elif action == Action.TEAM and number is not None:
        audience.teams = _toggle(audience.teams, number)
    elif action == Action.GROUP and number is not None:
        audience.groups = _toggle(audience.groups, number)
    elif action == Action.PARK and areas.park(value):
        audience.parks = _toggle(audience.parks, value)
    else:
        return False
    return True


def _toggle(values: list[T], value: T) -> list[T]:
    return [v for v in values if v != value] if value in values else [*values, value]


async def ask_audience(update: Update, context: BotContext, user_id: int, state: Composing) -> None:
    """Who gets it? A team contact is offered their own wijk only."""
    state.step = Step.AUDIENCE
    await broadcasts.keep(context.services, user_id, state)
    _ = (await lang_for(update, context)).gettext
    allowed = await broadcasts.allowed_for(context.services, user_id, context.roles)
    if allowed is not None:
        question = _("Je stuurt aan de wijk van je team. Tik de wijk aan, dan op Verder.")
        rows = _wijk_rows(context, state.audience, allowed)
    else:
        question = _("Wie krijgt het bericht? Tik aan wie je wilt, dan op Verder.")
        options = await broadcasts.audience_options(context.services)
        rows = _audience_rows(_, context, state.audience, options)
    rows.append([button(_("Verder"), Action.AUDIENCE_DONE)])
    await show(update, f"{question}\n\n{_(WHO_IS_A_WIJK)}", InlineKeyboardMarkup(rows))


def _wijk_rows(
    context: BotContext, audience: Audience, allowed: frozenset[str] | None
) -> list[list[InlineKeyboardButton]]:
    return keyboards.rows(
        [
            button(tick(w.slug in audience.wijken, w.name), Action.WIJK, w.slug)
            for w in context.services.areas.wijken
            if allowed is None or w.slug in allowed
        ]
    )


def _audience_rows(
    _: Callable[[str], str], context: BotContext, audience: Audience, options: AudienceOptions
) -> list[list[InlineKeyboardButton]]:
    everyone = [button(tick(audience.everyone, _("Iedereen")), Action.EVERYONE)]
    team, group, park = _("Team"), _("Groep"), _("Ondernemers")
    extra = [
        button(tick(i in audience.teams, f"{team} {name}"), Action.TEAM, str(i))
        for i, name in options.teams
    ]
    extra += [
        button(tick(i in audience.groups, f"{group} {title}"[:60]), Action.GROUP, str(i))
        for i, title in options.groups
    ]
    extra += [
        button(tick(p.slug in audience.parks, f"{park} {p.name}"), Action.PARK, p.slug)
        for p in context.services.areas.business_parks
    ]
    return [everyone, *_wijk_rows(context, audience, None), *keyboards.rows(extra, 1)]


async def _ask_photo(
    update: Update, context: BotContext, query: CallbackQuery, user_id: int, state: Composing
) -> None:
    _ = (await lang_for(update, context)).gettext
    if state.audience.empty:
        await query.answer(_("Kies eerst wie het bericht krijgt."), show_alert=True)
        return
    await query.answer()
    state.step = Step.PHOTO
    await broadcasts.keep(context.services, user_id, state)
    keyboard = InlineKeyboardMarkup([[button(_("Zonder foto"), Action.NO_PHOTO)]])
    await show(update, _("Wil je er een foto bij? Stuur hem nu, of tik op Zonder foto."), keyboard)


async def on_photo(update: Update, context: BotContext) -> None:
    """A photo sent while composing: attached to the announcement."""
    user, message = update.effective_user, update.effective_message
    if user is None or message is None or not message.photo:
        return
    state = await broadcasts.composing(context.services, user.id)
    if state is None or state.step != Step.PHOTO:
        await fallback.not_a_button(update, context)
        return
    largest = message.photo[-1]
    if largest.file_size is not None and largest.file_size > MAX_PHOTO_BYTES:
        _ = (await lang_for(update, context)).gettext
        await show(update, _("Die foto is te groot (hoogstens 10 MB). Stuur een kleinere."))
        return
    await preview(update, context, user.id, state, largest.file_id)


# ---------------------------------------------------------------- the preview


async def preview(
    update: Update, context: BotContext, user_id: int, state: Composing, photo: str | None
) -> None:
    """The draft stored; exactly what a recipient in this language will see, then the ways
    to send it."""
    lang = await lang_for(update, context)
    try:
        broadcasts.check_length(lang, state.kind or "", state.fields, photo is not None)
        allowed = await broadcasts.allowed_for(context.services, user_id, context.roles)
        draft = await broadcasts.create(
            context.services,
            user_id,
            state.kind or "",
            state.fields,
            state.audience,
            photo,
            allowed,
        )
    except BroadcastError as error:
        await show(update, explain(lang, error))
        return
    await broadcasts.stop(context.services, user_id)
    await _send_preview(update, context, lang, draft)
    size = await broadcasts.size_of(context.services, draft)
    await show(update, _ways_text(lang, size), _ways_to_send(lang, draft.id or 0), below=True)


async def _send_preview(update: Update, context: BotContext, lang: Lang, draft: Broadcast) -> None:
    chat = update.effective_chat
    assert chat is not None
    outgoing = await broadcasts.render_for(
        context.services, context.bot.username, draft, lang.code, "user"
    )
    await context.bot.send_message(chat.id, lang.gettext("Voorbeeld: zo ziet het eruit."))
    if outgoing.photo:
        await context.bot.send_photo(
            chat.id,
            outgoing.photo,
            caption=outgoing.text,
            parse_mode=ParseMode.HTML,
            reply_markup=outgoing.keyboard,
        )
    else:
        await context.bot.send_message(
            chat.id, outgoing.text, parse_mode=ParseMode.HTML, reply_markup=outgoing.keyboard
        )


def _ways_text(lang: Lang, size: int) -> str:
    return lang.gettext("Dit gaat naar {n} ontvangers (kanalen, groepen en bewoners).").format(
        n=size
    )


def _ways_to_send(lang: Lang, broadcast_id: int) -> InlineKeyboardMarkup:
    _, bid = lang.gettext, str(broadcast_id)
    return InlineKeyboardMarkup(
        [
            [button(_("Nu versturen"), Action.SEND, bid)],
            [button(_("Inplannen"), Action.PLAN, bid), button(_("Elke week"), Action.WEEK, bid)],
            [button(_("Niet versturen"), Action.DROP, bid)],
        ]
    )
