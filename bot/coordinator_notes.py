"""Short notes to the coordinators as things happen: a report filed, an invite used.

A note says that something happened and where, never what a report says: the report
itself opens only with its Details button, audited as in /vermoedens. Each coordinator
switches the notes off (or on again) for themselves; the choice is stored and audited.
Notes go out as notices, through the delivery engine, paced like everything else.

A note about an anonymous report waits for the next full hour (`release`, hourly): sent
at once, the coordinator's chat would show the minute it was filed, where the database
keeps only the hour. What is held is no list of its own: the reports themselves, and a
mark in the bot's state (the last anonymous report noted), moved in the same commit as
the note. So a kill loses no note, sends none twice, and a restart sends none early.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, tzinfo
from html import escape

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import notices, reports
from bot.callbacks import Button, pack
from bot.i18n import N_, Lang
from bot.roles import coordinator_ids
from bot.services import Services
from storage import reports as state_store
from storage.models import Report, utcnow

log = logging.getLogger(__name__)

ON, OFF = "on", "off"
# Where the switch was pressed: under a note (answered in a pop-up) or in /vermoedens.
UNDER_NOTE, IN_LIST = "n", "l"
SWITCH_OFF = N_("🔕 Geen berichtjes meer")
# The last anonymous report a note was released for (its id, as text).
HELD_MARK = "coordinator_notes:anonymous_through"


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


async def _letters(
    services: Services,
    render: Callable[[Lang], str],
    details: str | None,
    *,
    besides: int | None = None,
) -> list[tuple[int, Lang, notices.Letter]]:
    """The note for every coordinator who wants notes (but `besides`, who did it), each
    in their own language."""
    if not services.settings.coordinator_notes:
        return []
    letters = []
    for user_id in await coordinator_ids(services):
        if user_id == besides or not await wanted(services, user_id):
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
    return letters


async def _send(
    services: Services,
    render: Callable[[Lang], str],
    details: str | None = None,
    *,
    besides: int | None = None,
) -> int:
    letters = await _letters(services, render, details, besides=besides)
    await notices.queue(services, notices.Topic.NEWS, letters)
    return len(letters)


def _report_note(services: Services, report: Report) -> Callable[[Lang], str]:
    """Its number, category and area; no text, no photos, no reporter, no time."""

    def render(lang: Lang) -> str:
        return "📥 " + lang.gettext("Nieuwe melding {ref}: {what} in {area}.").format(
            ref=report.ref,
            what=escape(services.categories.label(report.category, lang.code)),
            area=escape(services.areas.area_name(report.area)),
        )

    return render


async def report_filed(services: Services, report: Report) -> int:
    """A new report: a note now, or at the next full hour for an anonymous one."""
    if report.anonymous:
        assert report.id is not None
        # The first anonymous report ever starts the mark just below itself.
        async with services.sessions() as session:
            await state_store.state_once(session=session, key=HELD_MARK, value=str(report.id - 1))
        return 0
    # A coordinator who reports with their name needs no note of it.
    return await _send(
        services, _report_note(services, report), details=report.ref, besides=report.reporter_id
    )


def full_hour(tz: tzinfo, now: datetime) -> datetime:
    """The start of the hour `now` is in, in the city's time zone (as UTC)."""
    local = now.astimezone(tz)
    return local.replace(minute=0, second=0, microsecond=0).astimezone(now.tzinfo)


async def release(services: Services, now: datetime | None = None) -> int:
    """The held notes of anonymous reports filed before this hour began; how many reports.

    Hourly on the hour, and once at start for an hour passed while the bot was down."""
    before = full_hour(services.settings.tz, now or utcnow())
    async with services.sessions() as session:
        mark = await state_store.state(session=session, key=HELD_MARK)
        if mark is None:
            log.info("held notes released: 0")
            return 0  # no anonymous report since notes were held
        held = await state_store.anonymous_after(session=session, after_id=int(mark), before=before)
    released = 0
    for report in held:
        if not await _release_one(services, report, mark):
            break  # another run (a replica starting) released it first
        mark = str(report.id)
        released += 1
    log.info("held notes released: %d", released)
    return released


async def _release_one(services: Services, report: Report, mark: str) -> bool:
    """One held note, queued in the commit that moves the mark past its report."""
    moved = False

    async def advance(session: AsyncSession) -> bool:
        nonlocal moved
        moved = await state_store.move_state(
            session=session, key=HELD_MARK, old=mark, new=str(report.id)
        )
        return moved

    # A coordinator who wants no notes still moves the mark: no stale note later on.
    letters = await _letters(services, _report_note(services, report), report.ref)
    await notices.queue(services, notices.Topic.NEWS, letters, guard=advance)
    if moved:
        # Its hotspot alert waited too (handlers.reporting); a crash just before this
        # line loses that alert, never sends it early.
        count = await reports.hotspot_rule(services, report)
        if count is not None:
            await reports.send_hotspot(services, report, count)
    return moved


async def invite_used(services: Services, what: Callable[[Lang], str], user_id: int) -> int:
    """An invite was used: which role, for which scope (`what`, rendered per language).
    Not to whoever used it, when the role it gave makes them a coordinator too."""

    def render(lang: Lang) -> str:
        text = lang.gettext("Een uitnodiging is gebruikt: {role}. Zie /rollen.")
        return "🔑 " + text.format(role=escape(what(lang)))

    return await _send(services, render, besides=user_id)
