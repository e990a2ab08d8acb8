"""What the report journeys share: button rows and how a report reads."""

from __future__ import annotations

from collections.abc import Coroutine
from datetime import datetime
from html import escape
from typing import Any

from telegram import CallbackQuery, InlineKeyboardButton

from bot.callbacks import pack
from bot.i18n import Lang
from bot.reports import Draft, Report, ReportError
from bot.services import BotContext


def button_of(label: str, *parts: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=pack(*parts))


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


async def or_alert(
    query: CallbackQuery, lang: Lang, pending: Coroutine[Any, Any, Report]
) -> Report | None:
    """The report a button asks for, or None once the refusal is shown as a pop-up."""
    try:
        return await pending
    except ReportError as error:
        await query.answer(lang.gettext(error.key), show_alert=True)
        return None
