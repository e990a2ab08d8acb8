"""Short notes to the coordinators as things happen: a report filed, an invite used.

A note says that something happened and where, never what a report says: the report
itself opens only with its Details button, audited as in /vermoedens. Each coordinator
switches the notes off (or on again) for themselves; the choice is stored and audited.
Notes go out as notices, through the delivery engine, paced like everything else.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import notices
from bot.callbacks import Button, pack
from bot.i18n import N_, Lang
from bot.roles import coordinator_ids
from bot.services import Services
from storage import reports as state_store
from storage.models import Report

ON, OFF = "on", "off"
# Where the switch was pressed: under a note (answered in a pop-up) or in /vermoedens.
UNDER_NOTE, IN_LIST = "n", "l"
SWITCH_OFF = N_("🔕 Geen berichtjes meer")


def _key(user_id: int) -> str:
    return f"coordinator_notes_off:{user_id}"


async def wanted(services: Services, user_id: int) -> bool:
    async with services.sessions() as session:
        return await state_store.state(session=session, key=_key(user_id)) != "1"


async def switch(services: Services, user_id: int, on: bool) -> None:
    async with services.sessions() as session:
        await state_store.put_state(
            session=session, key=_key(user_id), value="0" if on else "1", actor_id=user_id
        )


async def _send(
    services: Services, render: Callable[[Lang], str], details: str | None = None
) -> int:
    """The note to every coordinator who wants notes, each in their own language."""
    if not services.settings.coordinator_notes:
        return 0
    letters = []
    for user_id in await coordinator_ids(services):
        if not await wanted(services, user_id):
            continue
        lang = await notices.language_of(services, user_id)
        _ = lang.gettext
        row = [
            InlineKeyboardButton(_(SWITCH_OFF), callback_data=pack(Button.NOTES, OFF, UNDER_NOTE))
        ]
        if details is not None:
            label = _("Details {ref}").format(ref=details)
            row.insert(
                0,
                InlineKeyboardButton(
                    label, callback_data=pack(Button.REPORT_DETAILS, details.lower())
                ),
            )
        keyboard = InlineKeyboardMarkup([row])
        letters.append((user_id, lang, notices.Letter(render(lang), keyboard)))
    await notices.queue(services, notices.Topic.NEWS, letters)
    return len(letters)


async def report_filed(services: Services, report: Report) -> int:
    """A new report: its number, category and area; no text, no photos, no reporter."""

    def render(lang: Lang) -> str:
        return "📥 " + lang.gettext("Nieuwe melding {ref}: {what} in {area}.").format(
            ref=report.ref,
            what=escape(services.categories.label(report.category, lang.code)),
            area=escape(services.areas.area_name(report.area)),
        )

    return await _send(services, render, details=report.ref)


async def invite_used(services: Services, what: Callable[[Lang], str]) -> int:
    """An invite was used: which role, for which scope (`what`, rendered per language)."""

    def render(lang: Lang) -> str:
        text = lang.gettext("Een uitnodiging is gebruikt: {role}. Zie /rollen.")
        return "🔑 " + text.format(role=escape(what(lang)))

    return await _send(services, render)
