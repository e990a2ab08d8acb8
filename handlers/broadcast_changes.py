"""A composed or sent announcement: sent now, planned, dropped, moved, given new words,
and a sent BuurtTent called off or moved, its notice previewed before it goes."""

from __future__ import annotations

from telegram import CallbackQuery, InlineKeyboardMarkup, Update

from bot import broadcasts
from bot.broadcasts import Action, BroadcastError, Composing, Step
from bot.i18n import N_
from bot.services import BotContext
from handlers.broadcast_compose import ask_field, button
from handlers.common import lang_for, show
from handlers.fallback import stale_button

CHANGE_SENT = N_("De wijziging gaat naar {n} ontvangers.")


async def send_now(
    update: Update, context: BotContext, query: CallbackQuery, user_id: int, broadcast_id: int
) -> None:
    """Nu versturen (or Toch versturen, missed while down): the progress line follows."""
    lang = await lang_for(update, context)
    _ = lang.gettext
    total = await broadcasts.start_sending(context.services, broadcast_id, user_id)
    await query.answer()
    if total == 0:
        await show(update, _("Bij deze keuze hoort nog niemand. Er is niets verstuurd."))
        return
    line = _("Bezig: {sent} van {total} verzonden.").format(sent=0, total=lang.number(total))
    shown = await show(update, line)
    chat = update.effective_chat
    if shown is not None and chat is not None:
        await broadcasts.watch_progress(context.services, broadcast_id, chat.id, shown)


async def plan_once(
    update: Update, context: BotContext, query: CallbackQuery, user_id: int, broadcast_id: int
) -> None:
    """Inplannen: when?"""
    await _ask_when(update, context, query, Composing(Step.WHEN, broadcast=broadcast_id))


async def plan_weekly(
    update: Update, context: BotContext, query: CallbackQuery, user_id: int, broadcast_id: int
) -> None:
    """Elke week: from when?"""
    state = Composing(Step.WHEN, broadcast=broadcast_id, weekly=True)
    await _ask_when(update, context, query, state)


async def _ask_when(
    update: Update, context: BotContext, query: CallbackQuery, state: Composing
) -> None:
    assert query.from_user is not None
    await query.answer()
    await broadcasts.keep(context.services, query.from_user.id, state)
    _ = (await lang_for(update, context)).gettext
    await show(update, _("Wanneer? Schrijf dag en tijd, bijvoorbeeld 24-11 19:30."))


async def drop(
    update: Update, context: BotContext, query: CallbackQuery, user_id: int, broadcast_id: int
) -> None:
    """Niet versturen, Annuleer, Niet meer versturen."""
    await broadcasts.cancel(context.services, broadcast_id, user_id)
    await query.answer()
    _ = (await lang_for(update, context)).gettext
    await show(update, _("Dit bericht wordt niet verstuurd."))


async def edit(
    update: Update, context: BotContext, query: CallbackQuery, user_id: int, broadcast_id: int
) -> None:
    """Wijzig: the same questions again; the time, audience and photo stay as planned."""
    scheduled = await broadcasts.scheduled_one(context.services, broadcast_id)
    await query.answer()
    state = Composing(Step.FIELD, kind=scheduled.kind, broadcast=broadcast_id, replace=True)
    state.version = scheduled.version
    await ask_field(update, context, user_id, state)


async def ask_move(
    update: Update, context: BotContext, query: CallbackQuery, user_id: int, broadcast_id: int
) -> None:
    """Verzet: to when?"""
    scheduled = await broadcasts.scheduled_one(context.services, broadcast_id)
    await query.answer()
    state = Composing(Step.MOVE, broadcast=broadcast_id, version=scheduled.version)
    await broadcasts.keep(context.services, user_id, state)
    _ = (await lang_for(update, context)).gettext
    await show(update, _("Wanneer dan? Schrijf dag en tijd, bijvoorbeeld 24-11 19:30."))


async def ask_reason(
    update: Update, context: BotContext, query: CallbackQuery, user_id: int, broadcast_id: int
) -> None:
    """Gaat niet door: why? A button for no reason at all."""
    await query.answer()
    await broadcasts.keep(context.services, user_id, Composing(Step.REASON, broadcast=broadcast_id))
    _ = (await lang_for(update, context)).gettext
    keyboard = InlineKeyboardMarkup([[button(_("Zonder reden"), Action.SKIP)]])
    await show(update, _("Waarom gaat het niet door? Bijvoorbeeld: slecht weer."), keyboard)


async def ask_new_time(
    update: Update, context: BotContext, query: CallbackQuery, user_id: int, broadcast_id: int
) -> None:
    """Verplaatst: to which day and hours?"""
    await query.answer()
    await broadcasts.keep(
        context.services, user_id, Composing(Step.NEWTIME, broadcast=broadcast_id)
    )
    _ = (await lang_for(update, context)).gettext
    await show(update, _("Wanneer dan? Schrijf dag en tijden, bijvoorbeeld 24-11 10:00-16:00."))


async def send_change(
    update: Update, context: BotContext, query: CallbackQuery, user_id: int, broadcast_id: int
) -> None:
    """Versturen under a previewed notice: the tent is called off or moved, for everyone."""
    state = await broadcasts.composing(context.services, user_id)
    if state is None or state.step != Step.CONFIRM or state.broadcast != broadcast_id:
        await stale_button(update, context)
        return
    await broadcasts.stop(context.services, user_id)
    total = await broadcasts.send_change(context.services, broadcast_id, user_id, state.change)
    await query.answer()
    _ = (await lang_for(update, context)).gettext
    await show(update, _(CHANGE_SENT).format(n=total))


async def keep_change(
    update: Update, context: BotContext, query: CallbackQuery, user_id: int, broadcast_id: int
) -> None:
    """Niet versturen under a previewed notice: nothing changes, nobody is told."""
    state = await broadcasts.composing(context.services, user_id)
    if state is not None and state.step == Step.CONFIRM and state.broadcast == broadcast_id:
        await broadcasts.stop(context.services, user_id)
    await query.answer()
    _ = (await lang_for(update, context)).gettext
    await show(update, _("Er is niets verstuurd. De BuurtTent blijft zoals hij was."))


# ---------------------------------------------------------------- typed answers


async def on_when(
    update: Update, context: BotContext, user_id: int, state: Composing, text: str
) -> None:
    """The moment to send a draft (once, or every week from then on)."""
    lang = await lang_for(update, context)
    moment = broadcasts.parse_moment(text, broadcasts.now_in(context.services.settings.tz))
    await broadcasts.stop(context.services, user_id)
    planned = await broadcasts.schedule(
        context.services, state.broadcast or 0, moment, state.weekly, user_id
    )
    when = broadcasts.when_label(lang, planned)
    await show(update, lang.gettext("Ingepland voor {when}.").format(when=when))


async def on_move(
    update: Update, context: BotContext, user_id: int, state: Composing, text: str
) -> None:
    """The new moment of a scheduled broadcast, unless someone changed it meanwhile."""
    lang = await lang_for(update, context)
    moment = broadcasts.parse_moment(text, broadcasts.now_in(context.services.settings.tz))
    await broadcasts.stop(context.services, user_id)
    moved = await broadcasts.reschedule(
        context.services, state.broadcast or 0, moment, state.version or 0, user_id
    )
    if moved is None:
        raise BroadcastError(broadcasts.CHANGED_MEANWHILE)
    when = broadcasts.when_label(lang, moved)
    await show(update, lang.gettext("Ingepland voor {when}.").format(when=when))


async def on_result(
    update: Update, context: BotContext, user_id: int, state: Composing, text: str
) -> None:
    """How many homes got footprints (/resultaat)."""
    homes = await broadcasts.record_result(context.services, user_id, state.broadcast or 0, text)
    await broadcasts.stop(context.services, user_id)
    _ = (await lang_for(update, context)).gettext
    await show(update, _("Genoteerd: {n} woningen met witte voetjes. Dank je!").format(n=homes))


async def on_reason(
    update: Update, context: BotContext, user_id: int, state: Composing, text: str
) -> None:
    """Why the tent does not go ahead (nothing, by the button): on to the preview."""
    reason = "" if text.strip() == broadcasts.SKIP else text.strip()[:300]
    await _preview_change(update, context, user_id, state, {"what": "cancelled", "reason": reason})


async def on_new_time(
    update: Update, context: BotContext, user_id: int, state: Composing, text: str
) -> None:
    """The tent's new day and hours, "24-11 10:00-16:00": on to the preview."""
    today = broadcasts.now_in(context.services.settings.tz).date()
    moved = broadcasts.parse_new_time(text, today)
    await _preview_change(update, context, user_id, state, {"what": "moved", **moved})


async def _preview_change(
    update: Update, context: BotContext, user_id: int, state: Composing, change: dict[str, str]
) -> None:
    """The notice as its readers will get it, with Versturen / Niet versturen."""
    lang = await lang_for(update, context)
    _ = lang.gettext
    bid = state.broadcast or 0
    text, reached = await broadcasts.preview_change(context.services, bid, change, lang)
    await broadcasts.keep(
        context.services, user_id, Composing(Step.CONFIRM, broadcast=bid, change=change)
    )
    await show(update, _("Voorbeeld: zo lezen de ontvangers het.") + "\n\n" + text)
    keyboard = InlineKeyboardMarkup(
        [
            [
                button(_("Versturen"), Action.CHANGE, str(bid)),
                button(_("Niet versturen"), Action.KEEP, str(bid)),
            ]
        ]
    )
    question = _("Dit gaat naar {n} ontvangers. Versturen?").format(n=reached)
    await show(update, question, keyboard, below=True)
