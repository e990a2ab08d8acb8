"""Coordinators compose, preview, send and schedule announcements; everyone replies with a tap."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from html import escape

from telegram import (
    Bot,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
    User,
)
from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot import broadcasts
from bot.broadcasts import FIELDS, KINDS, Audience, BroadcastError
from bot.callbacks import pack, row_id, unpack
from bot.delivery import Counts
from bot.i18n import N_, Lang
from bot.residents import KIND_LABELS
from bot.roles import Role, roles_of
from bot.services import BotContext, Services
from handlers import fallback, keyboards, notify
from handlers.auth import refuse, requires
from handlers.common import explain, lang_for, show
from handlers.fallback import button, stale_button
from handlers.keyboards import bold, tick
from storage import broadcasts as store
from storage import conversations
from storage import groups as group_store
from storage import teams as team_store
from storage.models import Broadcast, Conversation

log = logging.getLogger(__name__)

FLOW = "bc"
MAX_PHOTO_BYTES = 10 * 1024 * 1024  # Telegram's limit for a photo sent by file
KIND_ICONS = {"witte_voetjes": "👣", "buurttent": "⛺", "challenge": "🏆", "nieuws": "📰"}


# ---------------------------------------------------------------- conversation state


async def _state(context: BotContext, user_id: int) -> dict[str, object] | None:
    async with context.services.sessions() as session:
        state = await conversations.get(session=session, user_id=user_id)
    return (
        conversations.data_of(state) | {"_step": state.step}
        if state and state.flow == FLOW
        else None
    )


async def _put(context: BotContext, user_id: int, step: str, data: dict[str, object]) -> None:
    clean = {key: value for key, value in data.items() if not key.startswith("_")}
    async with context.services.sessions() as session:
        await conversations.put(session=session, user_id=user_id, flow=FLOW, step=step, data=clean)


async def _clear(context: BotContext, user_id: int) -> None:
    async with context.services.sessions() as session:
        await conversations.clear(session=session, user_id=user_id)


async def _allowed(context: BotContext, user_id: int) -> frozenset[str] | None:
    """The wijken this person may send to; None: anywhere (a coordinator)."""
    roles = context.roles or await roles_of(context.services, user_id)
    return await broadcasts.allowed_wijken(context.services, roles)


async def _may_touch(context: BotContext, user_id: int, broadcast_id: int) -> bool:
    """Coordinators act on every broadcast; a team contact only on their own."""
    if await _allowed(context, user_id) is None:
        return True
    async with context.services.sessions() as session:
        broadcast = await store.get(session=session, broadcast_id=broadcast_id)
    return broadcast is not None and broadcast.author_id == user_id


# ---------------------------------------------------------------- composing


@requires(Role.COORDINATOR, Role.TEAM_SENDER)
async def compose(update: Update, context: BotContext) -> None:
    """/bericht: which kind of announcement?"""
    lang = await lang_for(update, context)
    _ = lang.gettext
    user = update.effective_user
    if user is not None and await _allowed(context, user.id) == frozenset():
        await show(update, _("Je team is (nog) niet goedgekeurd. Daarna kun je berichten sturen."))
        return
    buttons = [
        InlineKeyboardButton(
            f"{KIND_ICONS[kind]} {_(KIND_LABELS[kind])}", callback_data=pack("bc", "kind", kind)
        )
        for kind in KINDS
    ]
    await show(
        update, _("Wat voor bericht wil je sturen?"), InlineKeyboardMarkup(keyboards.rows(buttons))
    )


async def _ask_field(
    update: Update, context: BotContext, user_id: int, data: dict[str, object]
) -> None:
    kind, index = str(data["kind"]), int(str(data["i"]))
    spec = FIELDS[kind][index]
    await _put(context, user_id, "field", data)
    _ = (await lang_for(update, context)).gettext
    await show(update, "\n\n".join([_(spec.question), _("Stoppen? Stuur /annuleer.")]))


async def on_text(update: Update, context: BotContext, state: Conversation) -> None:
    """A typed answer while composing: a field, a moment to send, or a new moment."""
    user, message = update.effective_user, update.effective_message
    if user is None or message is None or not message.text:
        return
    data: dict[str, object] = conversations.data_of(state)
    lang = await lang_for(update, context)
    _ = lang.gettext
    now = broadcasts.now_in(context.services.settings.tz)
    try:
        if state.step == "field":
            kind, index = str(data["kind"]), int(str(data["i"]))
            fields = dict(data.get("fields") or {})  # type: ignore[call-overload]
            fields[FIELDS[kind][index].name] = broadcasts.check_field(
                FIELDS[kind][index], message.text, now.date()
            )
            data["fields"] = fields
            if index + 1 < len(FIELDS[kind]):
                data["i"] = index + 1
                await _ask_field(update, context, user.id, data)
            elif "replace" in data:
                await _save_edit(update, context, user.id, data, fields)
            else:
                await _ask_audience(update, context, user.id, data)
        elif state.step in ("when", "move"):
            moment = broadcasts.parse_moment(message.text, now)
            await _clear(context, user.id)
            bid = int(str(data["broadcast"]))
            if state.step == "when":
                planned = await broadcasts.schedule(
                    context.services, bid, moment, bool(data.get("weekly")), user.id
                )
            else:
                moved = await broadcasts.reschedule(
                    context.services, bid, moment, int(str(data["version"])), user.id
                )
                if moved is None:
                    raise BroadcastError(
                        N_(
                            "Iemand anders heeft dit bericht net gewijzigd. Kijk opnieuw bij /gepland."
                        )
                    )
                planned = moved
            await show(update, _("Ingepland voor {when}.").format(when=_when(lang, planned)))
        elif state.step == "result":
            homes = await broadcasts.record_result(
                context.services, user.id, int(str(data["broadcast"])), message.text
            )
            await _clear(context, user.id)
            await show(
                update, _("Genoteerd: {n} woningen met witte voetjes. Dank je!").format(n=homes)
            )
        elif state.step == "reason":
            reason = "" if message.text.strip() == "-" else message.text.strip()[:300]
            await _clear(context, user.id)
            total = await broadcasts.call_off(
                context.services, int(str(data["broadcast"])), user.id, reason
            )
            await show(update, _("De wijziging gaat naar {n} ontvangers.").format(n=total))
        elif state.step == "newtime":
            parts = message.text.split()
            if len(parts) != 2 or "-" not in parts[1][1:]:
                raise BroadcastError(N_("Schrijf het zo: 24-11 10:00-16:00."))
            start, end = parts[1].split("-", 1)
            day = broadcasts.parse_date(parts[0], now.date())
            fields = {
                "new_date": day.isoformat(),
                "new_start": broadcasts.parse_time(start).strftime("%H:%M"),
                "new_end": broadcasts.parse_time(end).strftime("%H:%M"),
            }
            await _clear(context, user.id)
            total = await broadcasts.move_event(
                context.services, int(str(data["broadcast"])), user.id, fields
            )
            await show(update, _("De wijziging gaat naar {n} ontvangers.").format(n=total))
        else:
            await show(update, _("Gebruik de knoppen hierboven, of stuur /annuleer."))
    except BroadcastError as error:
        await show(update, explain(lang, error))


def _when(lang: Lang, broadcast: Broadcast) -> str:
    if broadcast.send_at is None:
        return "-"
    return lang.datetime(broadcast.send_at, "EEEE d MMMM y HH:mm")


async def _save_edit(
    update: Update,
    context: BotContext,
    user_id: int,
    data: dict[str, object],
    fields: dict[str, str],
) -> None:
    """New words for a scheduled broadcast, unless someone changed it meanwhile."""
    lang = await lang_for(update, context)
    _ = lang.gettext
    bid = int(str(data["replace"]))
    async with context.services.sessions() as session:
        current = await store.get(session=session, broadcast_id=bid)
        if current is None:
            raise BroadcastError(N_("Dit bericht is al verstuurd of geannuleerd."))
        broadcasts.check_length(lang, current.kind, fields, current.photo_file_id is not None)
        saved = await store.replace_fields(
            session=session,
            broadcast_id=bid,
            fields=json.dumps(fields, ensure_ascii=False),
            version=int(str(data["version"])),
            actor_id=user_id,
        )
    await _clear(context, user_id)
    if saved is None:
        raise BroadcastError(
            N_("Iemand anders heeft dit bericht net gewijzigd. Kijk opnieuw bij /gepland.")
        )
    await show(
        update, _("Gewijzigd. Het gaat nog steeds weg op {when}.").format(when=_when(lang, saved))
    )


async def _ask_audience(
    update: Update, context: BotContext, user_id: int, data: dict[str, object]
) -> None:
    await _put(context, user_id, "audience", data)
    lang = await lang_for(update, context)
    _ = lang.gettext
    audience = Audience(**dict(data.get("audience") or {}))  # type: ignore[arg-type]
    allowed = await _allowed(context, user_id)
    if allowed is not None:
        await _ask_own_wijk(update, context, audience, allowed)
        return
    team_word, group_word, park_word = _("Team"), _("Groep"), _("Ondernemers")
    rows = [
        [
            InlineKeyboardButton(
                tick(audience.everyone, _("Iedereen")), callback_data=pack("bc", "all", "-")
            )
        ]
    ]
    wijk_buttons = [
        InlineKeyboardButton(
            tick(w.slug in audience.wijken, w.name),
            callback_data=pack("bc", "aw", w.slug),
        )
        for w in context.services.areas.wijken
    ]
    rows += keyboards.rows(wijk_buttons)
    extra = []
    async with context.services.sessions() as session:
        teams = await team_store.living(session=session)
        groups = await group_store.approved(session=session)
    extra += [
        InlineKeyboardButton(
            tick(t.id in audience.teams, f"{team_word} {t.name}"),
            callback_data=pack("bc", "at", str(t.id)),
        )
        for t in teams
    ]
    extra += [
        InlineKeyboardButton(
            tick(g.id in audience.groups, f"{group_word} {g.title}"[:60]),
            callback_data=pack("bc", "ag", str(g.id)),
        )
        for g in groups
    ]
    extra += [
        InlineKeyboardButton(
            tick(p.slug in audience.parks, f"{park_word} {p.name}"),
            callback_data=pack("bc", "ap", p.slug),
        )
        for p in context.services.areas.business_parks
    ]
    rows += keyboards.rows(extra, 1)
    rows.append([InlineKeyboardButton(_("Verder"), callback_data=pack("bc", "adone", "-"))])
    text = "\n\n".join(
        [
            _("Wie krijgt het bericht? Tik aan wie je wilt, dan op Verder."),
            _(
                "Een wijk is: het wijkkanaal, de goedgekeurde groepen en de bewoners die hier zijn aangemeld."
            ),
        ]
    )
    await show(update, text, InlineKeyboardMarkup(rows))


async def _ask_own_wijk(
    update: Update, context: BotContext, audience: Audience, allowed: frozenset[str]
) -> None:
    """A team contact sends to their own wijk only: no other choice is offered."""
    _ = (await lang_for(update, context)).gettext
    wijk_buttons = [
        InlineKeyboardButton(
            tick(w.slug in audience.wijken, w.name), callback_data=pack("bc", "aw", w.slug)
        )
        for w in context.services.areas.wijken
        if w.slug in allowed
    ]
    rows = [
        *keyboards.rows(wijk_buttons),
        [InlineKeyboardButton(_("Verder"), callback_data=pack("bc", "adone", "-"))],
    ]
    text = "\n\n".join(
        [
            _("Je stuurt aan de wijk van je team. Tik de wijk aan, dan op Verder."),
            _(
                "Een wijk is: het wijkkanaal, de goedgekeurde groepen en de bewoners die hier zijn aangemeld."
            ),
        ]
    )
    await show(update, text, InlineKeyboardMarkup(rows))


def _toggle(values: list[object], value: object) -> list[object]:
    return [v for v in values if v != value] if value in values else [*values, value]


@requires(Role.COORDINATOR, Role.TEAM_SENDER)
async def on_compose(update: Update, context: BotContext) -> None:
    """Every button of composing, scheduling and changing broadcasts.

    A team contact's presses are checked here on the server side, forged ones too: only
    their own wijk as audience, only their own broadcasts to send, move or cancel.
    """
    query, user = update.callback_query, update.effective_user
    parts = unpack(query.data if query else None)
    if query is None or user is None or parts is None or len(parts) != 3:
        await stale_button(update, context)
        return
    _action, action, value = parts
    lang = await lang_for(update, context)
    _ = lang.gettext
    try:
        if action == "kind" and value in KINDS:
            await query.answer()
            await _ask_field(update, context, user.id, {"kind": value, "i": 0, "fields": {}})
            return
        if action in ("all", "aw", "at", "ag", "ap", "adone", "nophoto"):
            allowed = await _allowed(context, user.id)
            if allowed is not None and not (
                action in ("adone", "nophoto") or (action == "aw" and value in allowed)
            ):
                await refuse(update, context)
                return
            await _audience_button(update, context, query, user, action, value)
            return
        if (
            action
            in ("send", "plan", "week", "drop", "late", "cancel", "move", "edit", "off", "moved")
            and (broadcast_id := row_id(value)) is not None
        ):
            if not await _may_touch(context, user.id, broadcast_id):
                await refuse(update, context)
                return
            await _broadcast_button(update, context, query, user, action, broadcast_id)
            return
    except BroadcastError as error:
        await query.answer(explain(lang, error), show_alert=True)
        return
    await stale_button(update, context)


async def _audience_button(
    update: Update, context: BotContext, query: CallbackQuery, user: User, action: str, value: str
) -> None:
    data = await _state(context, user.id)
    if data is None or data["_step"] not in ("audience", "photo"):
        await stale_button(update, context)
        return
    lang = await lang_for(update, context)
    _ = lang.gettext
    audience = dict(data.get("audience") or {})  # type: ignore[call-overload]
    areas = context.services.areas
    if action == "all":
        audience["everyone"] = not audience.get("everyone", False)
    elif action == "aw" and areas.wijk(value):
        audience["wijken"] = _toggle(list(audience.get("wijken", [])), value)
    elif action in ("at", "ag") and row_id(value) is not None:
        key = "teams" if action == "at" else "groups"
        audience[key] = _toggle(list(audience.get(key, [])), int(value))
    elif action == "ap" and areas.park(value):
        audience["parks"] = _toggle(list(audience.get("parks", [])), value)
    elif action == "adone":
        if Audience(**audience).empty:
            await query.answer(_("Kies eerst wie het bericht krijgt."), show_alert=True)
            return
        await query.answer()
        data["audience"] = audience
        await _put(context, user.id, "photo", data)
        keyboard = InlineKeyboardMarkup(
            [[InlineKeyboardButton(_("Zonder foto"), callback_data=pack("bc", "nophoto", "-"))]]
        )
        await show(
            update, _("Wil je er een foto bij? Stuur hem nu, of tik op Zonder foto."), keyboard
        )
        return
    elif action == "nophoto" and data["_step"] == "photo":
        await query.answer()
        await _preview(update, context, user.id, data, None)
        return
    else:
        await stale_button(update, context)
        return
    await query.answer()
    data["audience"] = audience
    await _ask_audience(update, context, user.id, data)


async def on_photo(update: Update, context: BotContext) -> None:
    """A photo sent while composing: attached to the announcement."""
    user, message = update.effective_user, update.effective_message
    if user is None or message is None or not message.photo:
        return
    data = await _state(context, user.id)
    _ = (await lang_for(update, context)).gettext
    if data is None or data["_step"] != "photo":
        await fallback.not_a_button(update, context)
        return
    largest = message.photo[-1]
    if largest.file_size is not None and largest.file_size > MAX_PHOTO_BYTES:
        await show(update, _("Die foto is te groot (hoogstens 10 MB). Stuur een kleinere."))
        return
    await _preview(update, context, user.id, data, largest.file_id)


async def _preview(
    update: Update, context: BotContext, user_id: int, data: dict[str, object], photo: str | None
) -> None:
    """Exactly what a recipient in this language will see, then the ways to send it."""
    lang = await lang_for(update, context)
    _ = lang.gettext
    kind, fields = str(data["kind"]), dict(data.get("fields") or {})  # type: ignore[call-overload]
    try:
        broadcasts.check_length(lang, kind, fields, photo is not None)
        draft = await broadcasts.create(
            context.services,
            user_id,
            kind,
            fields,
            Audience(**dict(data.get("audience") or {})),
            photo,
            await _allowed(context, user_id),
        )  # type: ignore[arg-type]
    except BroadcastError as error:
        await show(update, explain(lang, error))
        return
    await _clear(context, user_id)
    chat = update.effective_chat
    assert chat is not None
    outgoing = await broadcasts.render_for(
        context.services, context.bot.username, draft, lang.code, "user"
    )
    await context.bot.send_message(chat.id, _("Voorbeeld: zo ziet het eruit."))
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
    size = len(
        await broadcasts.recipients(context.services, Audience.loads(draft.audience), draft.kind)
    )
    bid = str(draft.id)
    actions = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(_("Nu versturen"), callback_data=pack("bc", "send", bid))],
            [
                InlineKeyboardButton(_("Inplannen"), callback_data=pack("bc", "plan", bid)),
                InlineKeyboardButton(_("Elke week"), callback_data=pack("bc", "week", bid)),
            ],
            [InlineKeyboardButton(_("Niet versturen"), callback_data=pack("bc", "drop", bid))],
        ]
    )
    await context.bot.send_message(
        chat.id,
        _("Dit gaat naar {n} ontvangers (kanalen, groepen en bewoners).").format(n=size),
        reply_markup=actions,
    )


async def _broadcast_button(
    update: Update, context: BotContext, query: CallbackQuery, user: User, action: str, bid: int
) -> None:
    lang = await lang_for(update, context)
    _ = lang.gettext
    if action in ("send", "late"):
        total = await broadcasts.start_sending(context.services, bid, user.id)
        await query.answer()
        if total == 0:
            await show(update, _("Bij deze keuze hoort nog niemand. Er is niets verstuurd."))
            return
        shown = await show(
            update,
            _("Bezig: {sent} van {total} verzonden.").format(sent=0, total=lang.number(total)),
        )
        if isinstance(shown, Message):
            async with context.services.sessions() as session:
                broadcast = await store.get(session=session, broadcast_id=bid)
                if broadcast is not None:
                    broadcast.progress_chat_id, broadcast.progress_message_id = (
                        shown.chat_id,
                        shown.message_id,
                    )
                    await store.save(session=session, broadcast=broadcast)
    elif action in ("plan", "week"):
        await query.answer()
        await _put(context, user.id, "when", {"broadcast": bid, "weekly": action == "week"})
        await show(update, _("Wanneer? Schrijf dag en tijd, bijvoorbeeld 24-11 19:30."))
    elif action in ("drop", "cancel"):
        await broadcasts.cancel(context.services, bid, user.id)
        await query.answer()
        await show(update, _("Dit bericht wordt niet verstuurd."))
    elif action == "edit":
        async with context.services.sessions() as session:
            broadcast = await store.get(session=session, broadcast_id=bid)
        if broadcast is None or broadcast.status != "scheduled":
            raise BroadcastError(N_("Dit bericht is al verstuurd of geannuleerd."))
        await query.answer()
        # The same questions again; the time, audience and photo stay as planned.
        data: dict[str, object] = {"kind": broadcast.kind, "i": 0, "fields": {}}
        data |= {"replace": bid, "version": broadcast.version}
        await _ask_field(update, context, user.id, data)
    elif action == "move":
        async with context.services.sessions() as session:
            broadcast = await store.get(session=session, broadcast_id=bid)
        if broadcast is None or broadcast.status != "scheduled":
            raise BroadcastError(N_("Dit bericht is al verstuurd of geannuleerd."))
        await query.answer()
        await _put(context, user.id, "move", {"broadcast": bid, "version": broadcast.version})
        await show(update, _("Wanneer dan? Schrijf dag en tijd, bijvoorbeeld 24-11 19:30."))
    elif action == "off":
        await query.answer()
        await _put(context, user.id, "reason", {"broadcast": bid})
        await show(
            update,
            _("Waarom gaat het niet door? Bijvoorbeeld: slecht weer. Stuur - om niets te zeggen."),
        )
    elif action == "moved":
        await query.answer()
        await _put(context, user.id, "newtime", {"broadcast": bid})
        await show(update, _("Wanneer dan? Schrijf dag en tijden, bijvoorbeeld 24-11 10:00-16:00."))


# ---------------------------------------------------------------- lists


def _audience_label(lang: Lang, context: BotContext, broadcast: Broadcast) -> str:
    _ = lang.gettext
    audience = Audience.loads(broadcast.audience)
    if audience.everyone:
        return _("iedereen")
    names = [w.name for w in context.services.areas.wijken if w.slug in audience.wijken]
    names += [_("{n} teams").format(n=len(audience.teams))] if audience.teams else []
    names += [_("{n} groepen").format(n=len(audience.groups))] if audience.groups else []
    names += [p.name for p in context.services.areas.business_parks if p.slug in audience.parks]
    return ", ".join(names)


@requires(Role.COORDINATOR, Role.TEAM_SENDER)
async def planned(update: Update, context: BotContext) -> None:
    """/gepland: what is scheduled (a team contact: their own), with cancel and move."""
    lang = await lang_for(update, context)
    _ = lang.gettext
    async with context.services.sessions() as session:
        items = await store.scheduled(session=session, author_id=await _own_only(update, context))
    if not items:
        await show(update, _("Er staat niets ingepland."))
        return
    lines, rows = ["<b>" + _("Ingepland") + "</b>"], []
    for number, item in enumerate(items, start=1):
        size = len(
            await broadcasts.recipients(context.services, Audience.loads(item.audience), item.kind)
        )
        weekly = " 🔁" if item.repeat_weekly else ""
        lines.append(
            f"{number}. {KIND_ICONS.get(item.kind, '')} {escape(_(KIND_LABELS.get(item.kind, item.kind)))}: {_when(lang, item)}{weekly} · "
            + escape(_audience_label(lang, context, item))
            + " · "
            + _("{n} ontvangers").format(n=size)
        )
        rows.append(
            [
                InlineKeyboardButton(
                    _("Verzet {n}").format(n=number), callback_data=pack("bc", "move", str(item.id))
                ),
                InlineKeyboardButton(
                    _("Wijzig {n}").format(n=number), callback_data=pack("bc", "edit", str(item.id))
                ),
                InlineKeyboardButton(
                    _("Annuleer {n}").format(n=number),
                    callback_data=pack("bc", "cancel", str(item.id)),
                ),
            ]
        )
    await show(update, "\n".join(lines), InlineKeyboardMarkup(rows))


async def _own_only(update: Update, context: BotContext) -> int | None:
    """None for a coordinator (every broadcast); a team contact's own id (only theirs)."""
    user = update.effective_user
    if user is None or await _allowed(context, user.id) is None:
        return None
    return user.id


@requires(Role.COORDINATOR, Role.TEAM_SENDER)
async def sent(update: Update, context: BotContext) -> None:
    """/verzonden: recent broadcasts with delivered, failed, blocked and replies."""
    lang = await lang_for(update, context)
    _ = lang.gettext
    async with context.services.sessions() as session:
        items = await store.recent(session=session, author_id=await _own_only(update, context))
        stats = [
            (
                item,
                await store.delivery_counts(session=session, broadcast_id=item.id or 0),
                await store.reply_counts(session=session, broadcast_id=item.id or 0),
                await store.homes_marked(session=session, broadcast_id=item.id or 0),
            )
            for item in items
        ]
    if not items:
        await show(update, _("Er is nog niets verzonden."))
        return
    lines, rows = ["<b>" + _("Verzonden") + "</b>"], []
    for number, (item, counts, replies, homes) in enumerate(stats, start=1):
        label = _(KIND_LABELS.get(item.kind, "")) if item.kind in KIND_LABELS else _("Wijziging")
        reply_text = ", ".join(
            f"{_(broadcasts.CHOICE_LABELS[c])}: {n}"
            for c, n in replies.items()
            if c in broadcasts.CHOICE_LABELS
        )
        if homes is not None:
            reply_text += (", " if reply_text else "") + _("woningen met voetjes: {n}").format(
                n=homes
            )
        # When and to whom: a row says which announcement it is, and its buttons name
        # that, not a list number that shifts as new ones come in.
        sent_on = lang.datetime(item.started_at, "d MMM HH:mm") if item.started_at else ""
        title = f"{escape(label)} {sent_on}".strip()
        state = " · ❌ " + _("gaat niet door") if item.called_off_at is not None else ""
        lines.append(
            f"{number}. {KIND_ICONS.get(item.kind, '⚠️')} <b>{title}</b> · "
            + escape(_audience_label(lang, context, item))
            + state
            + "\n   "
            + _("bezorgd {sent}, mislukt {failed}, geblokkeerd {blocked}").format(
                sent=counts["sent"],
                failed=counts["failed"],
                blocked=counts["blocked"] + counts["gone"],
            )
            + (f" · {escape(reply_text)}" if reply_text else "")
        )
        if item.kind == "buurttent" and item.called_off_at is None:
            rows.append(
                [
                    InlineKeyboardButton(
                        _("Gaat niet door: {what}").format(what=sent_on),
                        callback_data=pack("bc", "off", str(item.id)),
                    ),
                    InlineKeyboardButton(
                        _("Verplaatst: {what}").format(what=sent_on),
                        callback_data=pack("bc", "moved", str(item.id)),
                    ),
                ]
            )
    await show(update, "\n".join(lines), InlineKeyboardMarkup(rows) if rows else None)


@requires(Role.TEAM_CONTACT)
async def result(update: Update, context: BotContext) -> None:
    """/resultaat: after a Witte Voetjes evening, how many homes got footprints."""
    lang = await lang_for(update, context)
    _ = lang.gettext
    since = broadcasts.now_in(context.services.settings.tz) - timedelta(days=30)
    async with context.services.sessions() as session:
        actions = await store.recent_of_kind(session=session, kind="witte_voetjes", since=since)
    if not actions:
        await show(update, _("Er was de laatste 30 dagen geen Witte Voetjes-actie."))
        return
    rows = []
    for action in actions[:10]:
        fields = broadcasts.fields_of(action)
        label = f"{broadcasts.day_label(lang, fields.get('date', ''))} · {fields.get('place', '')}"[
            :60
        ]
        rows.append([InlineKeyboardButton(label, callback_data=pack("res", str(action.id)))])
    await show(update, _("Over welke actie?"), InlineKeyboardMarkup(rows))


@requires(Role.TEAM_CONTACT)
@button(1, numeric=True)
async def on_result(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """The action chosen: ask the number."""
    _ = (await lang_for(update, context)).gettext
    await query.answer()
    await _put(context, user.id, "result", {"broadcast": int(args[0])})
    await show(update, _("Hoeveel woningen kregen witte voetjes? Typ een getal."))


# ---------------------------------------------------------------- replies (everyone)


async def on_reply(update: Update, context: BotContext) -> None:
    """ "Ik doe mee", "ik kom", "herinner me": one tap, one count, a second tap takes it back."""
    query, user = update.callback_query, update.effective_user
    parts = unpack(query.data if query else None)
    broadcast_id = row_id(parts[1]) if parts is not None and len(parts) == 3 else None
    if query is None or user is None or parts is None or broadcast_id is None:
        await stale_button(update, context)
        return
    _ = (await lang_for(update, context)).gettext
    try:
        on = await broadcasts.reply(context.services, broadcast_id, user.id, parts[2])
    except BroadcastError as error:
        await query.answer(_(error.key), show_alert=True)
        return
    await query.answer(_("Geteld. Dank je!") if on else _("Niet meer geteld."))


async def remind_link(update: Update, context: BotContext, payload: str) -> None:
    """/start rem-<id>: a reminder asked for under a channel or group post."""
    user = update.effective_user
    _ = (await lang_for(update, context)).gettext
    broadcast_id = row_id(payload)
    if user is None or broadcast_id is None:
        await show(update, _("Deze herinnering ken ik niet."))
        return
    try:
        await broadcasts.remind_me(context.services, broadcast_id, user.id)
    except BroadcastError as error:
        await show(update, _(error.key))
        return
    await show(update, _("Goed! Op de dag zelf krijg je hier een herinnering."))


def late_question(lang: Lang, broadcast: Broadcast) -> tuple[str, InlineKeyboardMarkup]:
    """For the scheduler: a broadcast missed while the bot was down, too late to just send."""
    _ = lang.gettext
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    _("Toch versturen"), callback_data=pack("bc", "late", str(broadcast.id))
                ),
                InlineKeyboardButton(
                    _("Niet meer versturen"), callback_data=pack("bc", "drop", str(broadcast.id))
                ),
            ]
        ]
    )
    text = _(
        "De bot stond uit toen dit bericht weg moest ({when}): {kind}. Nu nog versturen?"
    ).format(
        when=_when(lang, broadcast), kind=bold(_(KIND_LABELS.get(broadcast.kind, broadcast.kind)))
    )
    return text, keyboard


# ---------------------------------------------------------------- called by the engine and scheduler


async def show_progress(bot: Bot, services: Services, broadcast_id: int, counts: Counts) -> None:
    """Edit the coordinator's progress line as the engine goes; at the end, the report."""
    async with services.sessions() as session:
        broadcast = await store.get(session=session, broadcast_id=broadcast_id)
    if broadcast is None:
        return
    done = counts.queued + counts.sending == 0
    if broadcast.progress_chat_id is None or broadcast.progress_message_id is None:
        return
    lang = await notify.language_of(services, broadcast.author_id)
    _ = lang.gettext
    number = lang.number
    if done:
        text = _(
            "Klaar: {sent} van {total} bezorgd. Mislukt: {failed}. Geblokkeerd of verdwenen: {blocked}."
        ).format(
            sent=number(counts.sent),
            total=number(counts.total),
            failed=number(counts.failed),
            blocked=number(counts.blocked + counts.gone),
        )
    else:
        text = _("Bezig: {sent} van {total} verzonden.").format(
            sent=number(counts.sent), total=number(counts.total)
        )
    try:
        await bot.edit_message_text(text, broadcast.progress_chat_id, broadcast.progress_message_id)
    except TelegramError:
        # "Not modified" when nothing moved since the last edit; or the message is gone.
        log.debug("progress line not edited", exc_info=True)


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
