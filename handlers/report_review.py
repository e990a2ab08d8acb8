"""The coordinator's view of Meld een Vermoeden: the open reports, one report's details
(opened on purpose, audited), its status and the short message to the reporter."""

from __future__ import annotations

from html import escape

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update, User

from bot import conversations, coordinator_notes, reports
from bot.callbacks import Button
from bot.conversations import Conversation
from bot.i18n import Lang
from bot.reports import CLOSED, NOTE_FLOW, STATUSES, Report, ReportError
from bot.roles import Role, roles_of
from bot.services import BotContext
from handlers import commands, fallback, keyboards
from handlers.auth import requires
from handlers.common import explain, lang_for, show
from handlers.fallback import button, stale_button
from handlers.report_common import button_of, describe, or_alert


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
    lines += [_overview_line(lang, context, item) for item in items]
    buttons = [
        button_of(_("Details {ref}").format(ref=item.ref), Button.REPORT_DETAILS, item.ref.lower())
        for item in items
    ]
    switch = button_of(
        keyboards.tick(allowed, _("Bewoners mogen ook melden")),
        Button.RESIDENTS_MAY_REPORT,
        "off" if allowed else "on",
    )
    user = update.effective_user
    notes_on = user is not None and await coordinator_notes.wanted(services, user.id)
    notes = button_of(
        keyboards.tick(notes_on, _("Berichtje bij een nieuwe melding of uitnodiging")),
        Button.NOTES,
        coordinator_notes.OFF if notes_on else coordinator_notes.ON,
        coordinator_notes.IN_LIST,
    )
    await show(
        update,
        "\n".join(lines),
        InlineKeyboardMarkup([*keyboards.rows(buttons, 1), [switch], [notes]]),
    )


def _overview_line(lang: Lang, context: BotContext, item: Report) -> str:
    services = context.services
    _ = lang.gettext
    # Both moments, each named: when it happened is what the coordinator acts on, when
    # it was filed (to the hour, as stored) is how long it has waited.
    return "{ref} · {what} · {area} · {happened} · {filed} · {status}".format(
        ref=item.ref,
        what=escape(services.categories.label(item.category, lang.code)),
        area=escape(services.areas.area_name(item.area)),
        happened=_("Gebeurd: {when}").format(when=lang.datetime(item.occurred_at, "short")),
        filed=_("Gemeld: {when}").format(when=lang.datetime(item.created_at, "short")),
        status=_("Status: {status}").format(status=escape(reports.status_label(lang, item.status))),
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
@button(2)
async def on_notes_switch(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """This coordinator's own switch of the short notes (stored, audited)."""
    choice, where = args
    if choice not in (coordinator_notes.ON, coordinator_notes.OFF) or where not in (
        coordinator_notes.UNDER_NOTE,
        coordinator_notes.IN_LIST,
    ):
        await stale_button(update, context)
        return
    on = choice == coordinator_notes.ON
    await coordinator_notes.switch(context.services, user.id, on)
    _ = (await lang_for(update, context)).gettext
    if where == coordinator_notes.UNDER_NOTE:
        # Under a note: say so in a pop-up and leave the note as it is.
        await query.answer(
            _("Berichtjes staan aan.")
            if on
            else _("Berichtjes staan uit. Weer aanzetten kan in /vermoedens."),
            show_alert=not on,
        )
        return
    await query.answer()
    await overview(update, context)


@requires(Role.COORDINATOR)
@button(1)
async def on_details(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """One report's details, opened on purpose; the view goes into the audit log."""
    lang = await lang_for(update, context)
    _ = lang.gettext
    found = await or_alert(query, lang, reports.view(context.services, args[0].upper(), user.id))
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
    await show(update, "\n".join(lines), _details_keyboard(lang, found))


def _details_keyboard(lang: Lang, found: Report) -> InlineKeyboardMarkup:
    """A button per status (the current one ticked), and the photos if there are any."""
    code = found.ref.lower()
    status_buttons = [
        button_of(
            keyboards.tick(status == found.status, reports.status_label(lang, status)),
            Button.REPORT_STATUS,
            code,
            status,
            "ask",
        )
        for status in STATUSES
    ]
    rows: list[list[InlineKeyboardButton]] = keyboards.rows(status_buttons, 1)
    if found.photos:
        rows.append(
            [button_of("📷 " + lang.gettext("Foto's bekijken"), Button.REPORT_PHOTOS_VIEW, code)]
        )
    return InlineKeyboardMarkup(rows)


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
    found = await or_alert(query, lang, reports.view(context.services, args[0].upper(), user.id))
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
    if args[2] == "go":
        await query.answer()
        await _apply_status(update, context, user, lang, ref, status, None)
        return
    if await reports.get(context.services, ref) is None:
        await query.answer(lang.gettext("Die melding bestaat niet (meer)."), show_alert=True)
        return
    await query.answer()
    await _ask_note(update, context, user, lang, args[0], status)


async def _ask_note(
    update: Update, context: BotContext, user: User, lang: Lang, code: str, status: str
) -> None:
    """Wait for the coordinator's short message to the reporter, or the button without."""
    _ = lang.gettext
    data = {"ref": code.upper(), "status": status}
    await conversations.put(context.services, user.id, NOTE_FLOW, "note", data)
    text = _(
        "Nieuwe status: {status}. Typ een kort bericht voor de melder, of tik op Zonder bericht."
    ).format(status=escape(reports.status_label(lang, status)))
    without = button_of(_("Zonder bericht"), Button.REPORT_STATUS, code, status, "go")
    await show(update, text, InlineKeyboardMarkup([[without]]))


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
    await _drop_note(context, user.id)
    try:
        changed = await reports.set_status(context.services, ref, status, note, user.id)
    except ReportError as error:
        await show(update, explain(lang, error))
        return
    told = await reports.send_status(context.services, changed)
    await show(update, "\n".join(_status_lines(lang, context, changed, told)))


def _status_lines(lang: Lang, context: BotContext, changed: Report, told: bool | None) -> list[str]:
    """What the coordinator reads after a status change: whether the reporter got word."""
    _ = lang.gettext
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
    return lines
