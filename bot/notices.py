"""Notices: what the bot tells one person unasked (a report's status, a hotspot alert, a
digest, news for a coordinator), through the one way out, the delivery engine.

Rules (who is told) live with their service: `reports.status_recipient`,
`reports.digest_recipients`, `roles.coordinator_ids`. Actions render per recipient, in
their language, when the notice is queued: each outbox row carries its own message, so a
restart sends exactly what was meant, paced and counted like every broadcast, and a
recipient who blocked the bot is recorded the same way (`blocked`, the user retired).

A notice is a `Broadcast` of kind "notice" (its topic in `fields`, never shown in
/verzonden nor counted in the figures) with one delivery per recipient. Once a row is
settled its message is erased; for a private topic (a report's status) its chat too, so
the outbox keeps nothing that links an anonymous reporter to their report.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import InlineKeyboardMarkup

from bot.delivery import Counts, Outgoing
from bot.i18n import Lang
from bot.services import Services
from storage import notices as store
from storage import reports as report_store
from storage import users
from storage.models import Delivery

log = logging.getLogger(__name__)

# Seconds between looks at a notice whose outcome someone waits for.
OUTCOME_POLL = 0.1


class Topic(StrEnum):
    STATUS = "status"  # a report's new status, to its reporter (named or anonymous)
    HOTSPOT = "hotspot"  # many reports of one kind in one area, to coordinators and wijkboa
    DIGEST = "digest"  # the daily count of reports
    WEEKLY = "weekly"  # the weekly figures, with the coordinators' chart
    NEWS = "news"  # news for a coordinator, a team contact, a role holder


# Topics whose settled rows keep no chat: the status of a report may be an anonymous one's.
PRIVATE: tuple[Topic, ...] = (Topic.STATUS,)

Render = Callable[[Lang], tuple[str, InlineKeyboardMarkup | None]]


@dataclass(frozen=True)
class Letter:
    """One recipient's message, already in their language."""

    text: str  # HTML, escaped by whoever rendered it; the caption when photo is set
    keyboard: InlineKeyboardMarkup | None = None
    photo: bytes | None = None  # a picture drawn here (the weekly chart)


async def language_of(services: Services, user_id: int) -> Lang:
    async with services.sessions() as session:
        stored = await users.get_user(session=session, user_id=user_id)
    return services.translator.for_language(
        (stored.language if stored else None) or services.translator.default_language
    )


def encode(letter: Letter) -> str:
    content: dict[str, Any] = {"text": letter.text}
    if letter.keyboard is not None:
        content["keyboard"] = letter.keyboard.to_dict()
    if letter.photo is not None:
        content["photo"] = base64.b64encode(letter.photo).decode("ascii")
    return json.dumps(content, ensure_ascii=False)


def decode(content: str) -> Outgoing:
    loaded = json.loads(content)
    keyboard = loaded.get("keyboard")
    photo = loaded.get("photo")
    return Outgoing(
        text=loaded["text"],
        keyboard=InlineKeyboardMarkup.de_json(keyboard, None) if keyboard else None,
        photo=base64.b64decode(photo) if photo else None,
    )


async def queue(
    services: Services,
    topic: Topic,
    letters: Sequence[tuple[int, Lang, Letter]],
    *,
    guard: Callable[[AsyncSession], Awaitable[bool]] | None = None,
) -> int | None:
    """One notice to these recipients, each their own letter; its id (None: nobody).

    `guard` runs first, in the same transaction: False queues nothing. What it writes is
    committed with the notice (or alone, for nobody), so a kill cannot keep one without
    the other."""
    if not letters and guard is None:
        return None
    rows = [(user_id, lang.code, encode(letter)) for user_id, lang, letter in letters]
    async with services.sessions() as session:
        if guard is not None and not await guard(session):
            await session.rollback()
            return None
        if not rows:
            await session.commit()
            return None
        notice = await store.create(session=session, topic=topic, rows=rows)
    if services.delivery is not None:
        services.delivery.queued()
    # else: a process that does not send (a standby); the leader's engine finds the rows.
    return notice.id


async def outcome(services: Services, notice_id: int, within: float) -> bool | None:
    """Whether a notice reached anyone, once its rows are settled; None if they are not
    within `within` seconds (held up by a flood wait, or no engine in this process)."""
    if services.delivery is None:
        return None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        counts = await services.delivery.counts(notice_id)
        if counts.pending == 0:
            return counts.sent > 0
        if loop.time() >= deadline:
            return None
        await asyncio.sleep(OUTCOME_POLL)


async def tell(services: Services, topic: Topic, user_ids: Iterable[int], render: Render) -> int:
    """The same news to these people, each rendered in their own language."""
    letters = []
    for user_id in dict.fromkeys(user_ids):  # one copy each, in the order given
        lang = await language_of(services, user_id)
        text, keyboard = render(lang)
        letters.append((user_id, lang, Letter(text, keyboard)))
    await queue(services, topic, letters)
    return len(letters)


def renderer(
    fallback: Callable[[Delivery], Awaitable[Outgoing]],
) -> Callable[[Delivery], Awaitable[Outgoing]]:
    """The engine's render callback: a row that carries its message is a notice; any other
    row is a broadcast's, rendered by `fallback` (bot.broadcasts.delivery_renderer)."""

    async def render(delivery: Delivery) -> Outgoing:
        if delivery.content is not None:
            return decode(delivery.content)
        return await fallback(delivery)

    return render


async def scrub(services: Services, broadcast_id: int | None = None) -> int:
    """Erase the messages of settled notice rows (of one notice, or all of them)."""
    async with services.sessions() as session:
        erased, hidden = await store.scrub(
            session=session, private_topics=PRIVATE, broadcast_id=broadcast_id
        )
        if hidden:
            # An anonymous reporter's chat stood beside what they were told: no older
            # version of those rows stays in the files (SQLite's WAL, PostgreSQL's order).
            await report_store.shed_history(session=session, followups=False)
    return erased


def progress(
    services: Services, then: Callable[[int, Counts], Awaitable[None]]
) -> Callable[[int, Counts], Awaitable[None]]:
    """The engine's progress callback: `then` (the broadcasts service finishes what is done),
    and a notice that is done keeps no message."""

    async def progressed(broadcast_id: int, counts: Counts) -> None:
        await then(broadcast_id, counts)
        if counts.pending == 0:
            await scrub(services, broadcast_id)

    return progressed
