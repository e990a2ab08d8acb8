"""What is planned (/gepland), what went out (/verzonden), and a Witte Voetjes result."""

from __future__ import annotations

from datetime import date
from html import escape

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update, User

from bot import broadcasts
from bot.broadcasts import CHOICE_LABELS, KIND_ICONS, Action, Audience, Broadcast, Composing, Step
from bot.callbacks import Button, pack
from bot.delivery import DeliveryStatus
from bot.i18n import Lang
from bot.residents import KIND_LABELS
from bot.roles import Role
from bot.services import BotContext
from handlers.auth import requires
from handlers.broadcast_compose import button
from handlers.common import lang_for, show
from handlers.fallback import button as numeric_button


def audience_label(lang: Lang, context: BotContext, broadcast: Broadcast) -> str:
    """To whom, in a few words: "Stiphout, 2 teams"."""
    _ = lang.gettext
    audience = Audience.loads(broadcast.audience)
    if audience.everyone:
        return _("iedereen")
    names = [w.name for w in context.services.areas.wijken if w.slug in audience.wijken]
    names += [_("{n} teams").format(n=len(audience.teams))] if audience.teams else []
    names += [_("{n} groepen").format(n=len(audience.groups))] if audience.groups else []
    names += [p.name for p in context.services.areas.business_parks if p.slug in audience.parks]
    return ", ".join(names)


def _kind(lang: Lang, broadcast: Broadcast) -> str:
    label = KIND_LABELS.get(broadcast.kind)
    return lang.gettext(label) if label else lang.gettext("Wijziging")


@requires(Role.COORDINATOR, Role.TEAM_SENDER)
async def planned(update: Update, context: BotContext) -> None:
    """/gepland: what is scheduled (a team contact: their own), with move, edit, cancel."""
    lang, user = await lang_for(update, context), update.effective_user
    _ = lang.gettext
    own = await broadcasts.own_only(context.services, user.id, context.roles) if user else None
    items = await broadcasts.planned_list(context.services, own)
    if not items:
        await show(update, _("Er staat niets ingepland."))
        return
    lines, rows = ["<b>" + _("Ingepland") + "</b>"], []
    for number, (item, size) in enumerate(items, start=1):
        weekly = " 🔁" if item.repeat_weekly else ""
        when = broadcasts.when_label(lang, item)
        lines.append(
            f"{number}. {KIND_ICONS.get(item.kind, '')} {escape(_kind(lang, item))}: {when}{weekly}"
            f" · {escape(audience_label(lang, context, item))} · "
            + _("{n} ontvangers").format(n=size)
        )
        rows.append(_planned_buttons(lang, number, item.id or 0))
    await show(update, "\n".join(lines), InlineKeyboardMarkup(rows))


def _planned_buttons(lang: Lang, number: int, broadcast_id: int) -> list[InlineKeyboardButton]:
    _, bid = lang.gettext, str(broadcast_id)
    return [
        button(_("Verzet {n}").format(n=number), Action.MOVE, bid),
        button(_("Wijzig {n}").format(n=number), Action.EDIT, bid),
        button(_("Annuleer {n}").format(n=number), Action.CANCEL, bid),
    ]


@requires(Role.COORDINATOR, Role.TEAM_SENDER)
async def sent(update: Update, context: BotContext) -> None:
    """/verzonden: recent broadcasts with delivered, failed, blocked and replies."""
    lang, user = await lang_for(update, context), update.effective_user
    _ = lang.gettext
    own = await broadcasts.own_only(context.services, user.id, context.roles) if user else None
    items = await broadcasts.sent_list(context.services, own)
    if not items:
        await show(update, _("Er is nog niets verzonden."))
        return
    lines, rows = ["<b>" + _("Verzonden") + "</b>"], []
    for number, row in enumerate(items, start=1):
        lines.append(f"{number}. {_sent_line(lang, context, row)}")
        if row.broadcast.kind == "buurttent" and row.broadcast.called_off_at is None:
            rows.append(_tent_buttons(lang, row.broadcast))
    await show(update, "\n".join(lines), InlineKeyboardMarkup(rows) if rows else None)


def _sent_line(lang: Lang, context: BotContext, row: broadcasts.SentRow) -> str:
    """When and to whom, then what became of it: a row says which announcement it is."""
    _, item = lang.gettext, row.broadcast
    replies = [f"{_(CHOICE_LABELS[c])}: {n}" for c, n in row.replies.items() if c in CHOICE_LABELS]
    if row.homes is not None:
        replies.append(_("woningen met voetjes: {n}").format(n=row.homes))
    sent_on = lang.datetime(item.started_at, "d MMM HH:mm") if item.started_at else ""
    title = f"{escape(_kind(lang, item))} {sent_on}".strip()
    state = " · ❌ " + _("gaat niet door") if item.called_off_at is not None else ""
    counts = _("bezorgd {sent}, mislukt {failed}, geblokkeerd {blocked}").format(
        sent=row.counts.get(DeliveryStatus.SENT, 0),
        failed=row.counts.get(DeliveryStatus.FAILED, 0),
        blocked=row.counts.get(DeliveryStatus.BLOCKED, 0) + row.counts.get(DeliveryStatus.GONE, 0),
    )
    reply_text = f" · {escape(', '.join(replies))}" if replies else ""
    audience = escape(audience_label(lang, context, item))
    return f"{KIND_ICONS.get(item.kind, '⚠️')} <b>{title}</b> · {audience}{state}\n   {counts}{reply_text}"


def _tent_buttons(lang: Lang, tent: Broadcast) -> list[InlineKeyboardButton]:
    """Named by the tent's own day (what the coordinator knows it by), not a list number
    that shifts as new broadcasts come in."""
    _, bid = lang.gettext, str(tent.id)
    iso = broadcasts.fields_of(tent).get("date", "")
    what = lang.date(date.fromisoformat(iso), "d MMM") if iso else ""
    return [
        button(_("Gaat niet door: {what}").format(what=what), Action.OFF, bid),
        button(_("Verplaatst: {what}").format(what=what), Action.MOVED, bid),
    ]


@requires(Role.TEAM_CONTACT)
async def result(update: Update, context: BotContext) -> None:
    """/resultaat: after a Witte Voetjes evening, how many homes got footprints."""
    lang = await lang_for(update, context)
    actions = await broadcasts.recent_actions(context.services)
    if not actions:
        await show(update, lang.gettext("Er was de laatste 30 dagen geen Witte Voetjes-actie."))
        return
    rows = []
    for action in actions[:10]:
        fields = broadcasts.fields_of(action)
        day = broadcasts.day_label(lang, fields.get("date", ""))
        label = f"{day} · {fields.get('place', '')}"[:60]
        rows.append(
            [InlineKeyboardButton(label, callback_data=pack(Button.RESULT, str(action.id)))]
        )
    await show(update, lang.gettext("Over welke actie?"), InlineKeyboardMarkup(rows))


@requires(Role.TEAM_CONTACT)
@numeric_button(1, numeric=True)
async def on_result(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """The action chosen: ask the number."""
    _ = (await lang_for(update, context)).gettext
    await query.answer()
    state = Composing(Step.RESULT, broadcast=int(args[0]))
    await broadcasts.keep(context.services, user.id, state)
    await show(update, _("Hoeveel woningen kregen witte voetjes? Typ een getal."))
