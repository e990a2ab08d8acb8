"""Meld een Vermoeden: filing a report, its status, digests, hotspots and retention.

Rules decide, actions act: `may_report`, `hotspot_rule`, `digest_recipients` and
`status_recipient` say who is concerned; `render_*` say what they read, in their
language; `send_*` do the sending. Jobs and handlers call the same functions.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from html import escape
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import keys, notices
from bot.errors import KeyedError
from bot.i18n import N_, Lang
from bot.keys import Keyring, SealError
from bot.roles import Role, Roles, coordinator_ids, roles_of, wijkboa_scopes
from bot.services import Services
from storage import conversations, users
from storage import reports as store
from storage import roles as role_store
from storage.models import Report, ReportFollowUp, ReportStatus, utcnow
from storage.reports import DigestCount, FollowUpRow

log = logging.getLogger(__name__)

NOTE_FLOW = "mvn"
MAX_DESCRIPTION = 800
MIN_DESCRIPTION = 3  # letters or digits: "." or "-" says nothing
MAX_PHOTOS = 3
MAX_STREET = 120
DRAFT_TTL = timedelta(days=1)
# Seconds the coordinator's status change waits to say whether the reporter got word; one
# message goes out in well under this, unless Telegram asks the bot to wait.
STATUS_WAIT = 10.0
RESIDENTS_KEY = "reports.residents"
# Where an older version kept a generated key; moved out and erased at start.
STORED_KEY = "secret"
# Purposes of the keys derived from the master key (bot.keys).
FOLLOW_UP = "followup"
DRAFT = "report-draft"
LEGACY_TOKEN = "v1:"
# The area of a report filed under the whole city, for anonymity in a small crowd.
CITY = "city"
SHED_DELAY = 1.0
RETENTION_BATCH = 500
_REF = re.compile(r"^MV-\d{4}-\d{6,}$")

STATUSES: tuple[ReportStatus, ...] = tuple(ReportStatus)
STATUS_LABELS: dict[str, str] = {
    ReportStatus.RECEIVED: N_("ontvangen"),
    ReportStatus.IN_PROGRESS: N_("in behandeling"),
    ReportStatus.PASSED_ON: N_("doorgestuurd naar politie of partner"),
    ReportStatus.CLOSED: N_("afgehandeld"),
}
CLOSED = ReportStatus.CLOSED


class ReportStep(StrEnum):
    """The questions of a report, in the order they are asked (a draft resumes at the
    first one not answered); two of "when" wait for a typed time."""

    WHAT = "what"
    WHERE = "where"
    WHEN = "when"
    WHEN_TODAY = "when_today"  # typed: 14:30
    WHEN_OTHER = "when_other"  # typed: 24-11 14:30
    DESCRIBE = "describe"
    PHOTOS = "photos"
    ANONYMOUS = "anonymous"
    SUMMARY = "summary"


class ReportError(KeyedError):
    """A request that cannot be honoured; `key` is a message id the handler translates."""


@dataclass
class Draft:
    """What the reporter has said so far; kept in the conversation row until sent."""

    category: str | None = None
    area: str | None = None
    wijk: str | None = None
    street: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    occurred_at: str | None = None  # ISO, UTC
    description: str | None = None
    photos: list[str] = field(default_factory=list)
    photos_done: bool | None = None
    anonymous: bool | None = None
    home: str | None = None  # the entrepreneur's own park, offered first
    just_now: bool | None = None  # "when" was "just now": the filing time itself
    small_ok: bool | None = None  # told the crowd is small, and chose to stay

    def dump(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if value not in (None, [])}

    @classmethod
    def load(cls, data: dict[str, Any]) -> Draft:
        known = {key: data[key] for key in cls.__dataclass_fields__ if key in data}
        return cls(**known)

    @property
    def next_step(self) -> ReportStep:
        """The first question not answered yet: a draft resumes where it was left."""
        if self.category is None:
            return ReportStep.WHAT
        if self.area is None:
            return ReportStep.WHERE
        if self.occurred_at is None:
            return ReportStep.WHEN
        if self.description is None:
            return ReportStep.DESCRIBE
        if self.photos_done is None:
            return ReportStep.PHOTOS
        if self.anonymous is None:
            return ReportStep.ANONYMOUS
        return ReportStep.SUMMARY


@dataclass(frozen=True)
class Filed:
    report: Report
    token: str | None  # the anonymous reporter's follow-up token, shown once
    hotspot: int | None  # the count that crossed the hotspot threshold, if this one did


@dataclass(frozen=True)
class Recipient:
    user_id: int
    wijk: str | None  # None: the whole city
    hide_below: int | None  # None: sees every count as it is (coordinators)


# ---------------------------------------------------------------- rules: who may report


async def residents_may_report(services: Services) -> bool:
    async with services.sessions() as session:
        return await store.state(session=session, key=RESIDENTS_KEY) == "1"


async def set_residents_may_report(services: Services, allowed: bool, actor_id: int) -> None:
    async with services.sessions() as session:
        await store.put_state(
            session=session, key=RESIDENTS_KEY, value="1" if allowed else "0", actor_id=actor_id
        )


async def may_report(
    services: Services, user_id: int, *, session: AsyncSession | None = None
) -> Roles:
    """Entrepreneurs may report; residents too while the coordinator allows it."""
    if session is None:
        async with services.sessions() as own:
            return await may_report(services, user_id, session=own)
    mine = await roles_of(services, user_id, session=session)
    if mine.has(Role.ENTREPRENEUR, Role.COORDINATOR, Role.WIJKBOA):
        return mine
    if await store.state(session=session, key=RESIDENTS_KEY) == "1":
        person = await users.get_user(session=session, user_id=user_id)
        if person is not None and person.subscribed:
            return mine
        raise ReportError(
            N_("Melden kan voor bewoners die zich hebben aangemeld. Tik eerst op /start.")
        )
    raise ReportError(
        N_(
            "Melden kan voor ondernemers op een bedrijventerrein. Vraag de coördinator van je terrein om een uitnodigingslink; daarmee krijg je de rol ondernemer."
        )
    )


@dataclass(frozen=True)
class Opened:
    draft: Draft
    waiting: bool  # a draft left halfway: the reporter resumes it or starts again


async def open_draft(services: Services, user_id: int) -> Opened:
    """/melding: may this person report, and does a draft wait? A new draft is stored at
    once. One database session for all of it: under a rush of reporters every session
    waits its turn for the connection, so the first step should not need four."""
    async with services.sessions() as session:
        mine = await may_report(services, user_id, session=session)
        found = await load_draft(services, user_id, session=session)
        if found is not None and found[0].category is not None:
            return Opened(found[0], waiting=True)
        # A guided conversation left open elsewhere would take the typed answers.
        if await conversations.get(session=session, user_id=user_id) is not None:
            await conversations.clear(session=session, user_id=user_id)
        draft = Draft(home=home_park(mine))
        await save_draft(services, user_id, draft, session=session)
    return Opened(draft, waiting=False)


def check_quota(services: Services, user_id: int) -> None:
    if not services.report_quota.allows(user_id, services.settings.reports_per_hour):
        raise ReportError(
            N_(
                "Je hebt het afgelopen uur al {n} meldingen gedaan. Dank je wel! Probeer het over een uur opnieuw. Is er gevaar? Bel 112."
            ),
            n=services.settings.reports_per_hour,
        )


def home_park(roles: Roles) -> str | None:
    """An entrepreneur's own business park, offered first."""
    for scope in roles.scopes(Role.ENTREPRENEUR):
        if scope.startswith("park:"):
            return scope
    return None


# ---------------------------------------------------------------- checking answers


def choose_area(services: Services, draft: Draft, key: str) -> None:
    kind, _, slug = key.partition(":")
    if kind == "park" and (park := services.areas.park(slug)) is not None:
        draft.area, draft.wijk = key, park.wijk
    elif kind == "wijk" and services.areas.wijk(slug) is not None:
        draft.area, draft.wijk = key, slug
    else:
        raise ReportError(N_("Die plek ken ik niet. Kies met de knoppen."))
    draft.latitude = draft.longitude = None


def locate(services: Services, draft: Draft, latitude: float, longitude: float) -> None:
    located = services.areas.locate(latitude, longitude)
    if located is None:
        raise ReportError(
            N_(
                "Die plek ligt buiten {city}. Meldingen gaan alleen over {city}. Kies het terrein of de wijk met de knoppen."
            ),
            city=services.areas.city,
        )
    if located.park is not None:
        draft.area = f"park:{located.park.slug}"
        draft.wijk = located.park.wijk or located.wijk.slug
    else:
        draft.area, draft.wijk = f"wijk:{located.wijk.slug}", located.wijk.slug
    # Rounded to about 10 m: enough to find the spot, no more than needed.
    draft.latitude, draft.longitude = round(latitude, 4), round(longitude, 4)


def set_street(draft: Draft, text: str) -> None:
    street = " ".join(text.split())
    if not street:
        raise ReportError(N_("Typ de straat, of kies met de knoppen."))
    if len(street) > MAX_STREET:
        raise ReportError(N_("Dat is te lang: hoogstens {n} tekens."), n=MAX_STREET)
    draft.street = street


_PAST_MOMENT = re.compile(r"^(\d{1,2})[-/.](\d{1,2})\s+(\d{1,2})[:.](\d{2})$")
_CLOCK = re.compile(r"^(\d{1,2})[:.](\d{2})$")


def just_now(draft: Draft) -> None:
    draft.occurred_at = utcnow().isoformat()
    draft.just_now = True


def moment_examples(services: Services, now: datetime | None = None) -> tuple[str, str]:
    """Examples a reporter can copy that are already past: an earlier hour today, yesterday.

    A fixed "14:30" typed at 07:25 is refused as not past yet: the example itself
    led them into the refusal.
    """
    local = (now or utcnow()).astimezone(services.settings.tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    earlier = max(local - timedelta(hours=1), midnight)
    earlier = earlier.replace(minute=0 if earlier.minute < 30 else 30)
    yesterday = (local - timedelta(days=1)).replace(hour=14, minute=30)
    return earlier.strftime("%H:%M"), yesterday.strftime("%d-%m %H:%M")


def parse_moment(services: Services, draft: Draft, text: str, *, today_only: bool) -> None:
    """ "14:30" (earlier today) or "24-11 14:30": a moment in the last 30 days."""
    tz = services.settings.tz
    now = utcnow().astimezone(tz)
    value = " ".join(text.split())
    clock = _CLOCK.match(value)
    full = _PAST_MOMENT.match(value)
    try:
        if clock is not None:
            day = now.date()
            hour, minute = int(clock[1]), int(clock[2])
        elif full is not None and not today_only:
            day = date(now.year, int(full[2]), int(full[1]))
            if day > now.date():  # "28-12" typed on 2 January means last December
                day = date(now.year - 1, day.month, day.day)
            hour, minute = int(full[3]), int(full[4])
        else:
            raise ValueError(value)
        moment = datetime.combine(day, time(hour, minute), tzinfo=tz)
        draft.just_now = None
    except ValueError:
        clock_example, moment_example = moment_examples(services)
        if today_only:
            raise ReportError(
                N_("Die tijd kan ik niet lezen. Schrijf hem zo: {example}."), example=clock_example
            ) from None
        raise ReportError(
            N_("Dat moment kan ik niet lezen. Schrijf het zo: {example}."), example=moment_example
        ) from None
    if moment > now + timedelta(minutes=5):
        raise ReportError(N_("Dat moment is nog niet geweest. Meld alleen wat al gebeurd is."))
    if moment < now - timedelta(days=30):
        raise ReportError(N_("Dat is meer dan 30 dagen geleden. Meld alleen wat kort geleden was."))
    draft.occurred_at = moment.astimezone(utcnow().tzinfo).isoformat()


def set_description(draft: Draft, text: str) -> None:
    value = text.strip()
    if sum(ch.isalnum() for ch in value) < MIN_DESCRIPTION:
        raise ReportError(N_("Schrijf in een paar woorden wat je zag."))
    if len(value) > MAX_DESCRIPTION:
        raise ReportError(
            N_("Dat is te lang: hoogstens {n} tekens. Houd het kort."), n=MAX_DESCRIPTION
        )
    draft.description = value


def add_photo(draft: Draft, file_id: str) -> None:
    if len(draft.photos) >= MAX_PHOTOS:
        raise ReportError(N_("Er zijn al {n} foto's. Tik op Klaar."), n=MAX_PHOTOS)
    draft.photos.append(file_id)


# ---------------------------------------------------------------- anonymity


def follow_up_row(keyring: Keyring, ref: str, token: str, chat_id: int) -> FollowUpRow:
    """The anonymous reporter's follow-up: a label, the sealed chat id, the token's hash."""
    label = keyring.label(FOLLOW_UP, ref)
    sealed = keyring.seal(FOLLOW_UP, struct.pack(">q", chat_id), bound_to=label)
    return FollowUpRow(label=label, token_hash=keys.token_hash(token), sealed=sealed)


def chat_of(keyring: Keyring, row: FollowUpRow | ReportFollowUp) -> int:
    """The chat a follow-up leads to; SealError without the right key."""
    plain = keyring.open(FOLLOW_UP, row.sealed, bound_to=row.label)
    return int(struct.unpack(">q", plain)[0])


def token_matches(keyring: Keyring, token: str, stored: str) -> bool:
    if stored.startswith(LEGACY_TOKEN):
        # A follow-up from before sealing: its token was an HMAC under the master key.
        expected = _legacy_mac(keyring.master, "token", token).hex()
        return hmac.compare_digest(LEGACY_TOKEN + expected, stored)
    return hmac.compare_digest(keys.token_hash(token), stored)


def _legacy_mac(key: bytes, purpose: str, value: str) -> bytes:
    return hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).digest()


def _legacy_chat(key: bytes, ref: str, cipher: str) -> int:
    pad = _legacy_mac(key, "pad", ref)[:8]
    plain = bytes(a ^ b for a, b in zip(bytes.fromhex(cipher), pad, strict=True))
    return int(struct.unpack(">q", plain)[0])


@dataclass(frozen=True)
class Settled:
    moved: int  # follow-ups sealed anew from the old scheme
    erased_key: bool  # a key kept in the database was erased


async def settle_keys(services: Services, *, stored_ok: Keyring | None = None) -> Settled:
    """Once, at start: follow-ups of the old scheme sealed under the running key, and the
    key an older version kept in bot_state erased from the database.

    A stored key that differs from the configured one is not lost: rows made under it
    are sealed anew under the configured key before it goes. `stored_ok` is the stored
    key as `secret init` wrote it to its file (then it equals the running key).
    """
    keyring = services.keyring
    async with services.sessions() as session:
        stored = await store.state(session=session, key=STORED_KEY)
        legacy = await store.legacy_follow_ups(session=session)
        if stored is None and not legacy:
            return Settled(0, erased_key=False)
        masters = [keyring.master]
        if stored is not None:
            masters.append(stored.encode())
        if stored_ok is not None:
            masters.append(stored_ok.master)
        by_hash = {row.ref_hash: row for row in legacy}
        rows: list[FollowUpRow] = []
        for ref in await store.anonymous_refs(session=session):
            for master in masters:
                old = by_hash.pop(_legacy_mac(master, "ref", ref).hex(), None)
                if old is None:
                    continue
                label = keyring.label(FOLLOW_UP, ref)
                chat = _legacy_chat(master, ref, old.chat_cipher)
                sealed = keyring.seal(FOLLOW_UP, struct.pack(">q", chat), bound_to=label)
                # Only a key equal to the running one can check the old token again.
                token = LEGACY_TOKEN + old.token_hash if master == keyring.master else "-"
                rows.append(FollowUpRow(label=label, token_hash=token, sealed=sealed))
                break
        # What is left belongs to no kept report (erased meanwhile): nothing to move.
        await store.replace_follow_ups(
            session=session, rows=rows, drop_legacy=[row.ref_hash for row in legacy]
        )
        if stored is not None:
            await store.forget_state(session=session, key=STORED_KEY)
        await session.commit()
        await store.shed_history(session=session)
    if rows or stored is not None:
        log.warning(
            "anonymous follow-ups: %d sealed anew%s",
            len(rows),
            "; the key kept in the database is erased" if stored is not None else "",
        )
    return Settled(len(rows), erased_key=stored is not None)


async def stored_key(services: Services) -> str | None:
    """The key an older version kept in the database, for `secret init` to move out."""
    async with services.sessions() as session:
        return await store.state(session=session, key=STORED_KEY)


@dataclass(frozen=True)
class Rotated:
    sealed: int  # follow-ups sealed under the new key
    dropped: int  # follow-ups the old key could not open (left by an older key)
    drafts: int  # report drafts dropped (their owners' labels cannot be re-made)


async def rotate(services: Services, new: Keyring) -> Rotated:
    """Seal every follow-up under `new`, in one transaction; the old key can then go.

    Labels are made from the reports' references, so each follow-up is found, opened
    with the old key and sealed again. Drafts are keyed by a label of their writer's
    user id, which the database does not hold: they are dropped, and their writers
    are asked to start again when they come back.
    """
    old = services.keyring
    async with services.sessions() as session:
        current = {row.label: row for row in await store.all_follow_ups(session=session)}
        rows: list[FollowUpRow] = []
        dropped = 0
        for ref in await store.anonymous_refs(session=session):
            row = current.get(old.label(FOLLOW_UP, ref))
            if row is None:
                continue
            try:
                chat = chat_of(old, row)
            except SealError:
                dropped += 1
                continue
            label = new.label(FOLLOW_UP, ref)
            sealed = new.seal(FOLLOW_UP, struct.pack(">q", chat), bound_to=label)
            token = row.token_hash if not row.token_hash.startswith(LEGACY_TOKEN) else "-"
            rows.append(FollowUpRow(label=label, token_hash=token, sealed=sealed))
        await store.replace_follow_ups(session=session, rows=rows, drop_labels=list(current))
        await session.commit()
        drafts = await store.drop_drafts(session=session)
        await store.shed_history(session=session)
    services.keyring = new
    return Rotated(len(rows), dropped, drafts)


# ---------------------------------------------------------------- the draft, under a pseudonym


def _owner(services: Services, user_id: int) -> str:
    return services.keyring.label(DRAFT, str(user_id))


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


async def load_draft(
    services: Services, user_id: int, *, session: AsyncSession | None = None
) -> tuple[Draft, str] | None:
    """The draft and its step, or None (also when the key changed since it was saved)."""
    if session is None:
        async with services.sessions() as own:
            return await load_draft(services, user_id, session=own)
    owner = _owner(services, user_id)
    row = await store.draft(session=session, owner=owner)
    if row is None:
        return None
    try:
        data = json.loads(services.keyring.open(DRAFT, row.sealed, bound_to=owner))
    except (SealError, ValueError):
        return None
    return Draft.load(data.get("draft", {})), str(data.get("step", ""))


async def save_draft(
    services: Services,
    user_id: int,
    draft: Draft,
    step: str | None = None,
    *,
    session: AsyncSession | None = None,
) -> str:
    step = step or draft.next_step
    if session is None:
        async with services.sessions() as own:
            return await save_draft(services, user_id, draft, step, session=own)
    owner = _owner(services, user_id)
    plain = json.dumps({"step": step, "draft": draft.dump()}, ensure_ascii=False).encode()
    sealed = services.keyring.seal(DRAFT, plain, bound_to=owner)
    await store.put_draft(session=session, owner=owner, sealed=sealed, at=_hour(utcnow()))
    return step


async def drop_draft(services: Services, user_id: int) -> bool:
    async with services.sessions() as session:
        dropped = await store.drop_draft(session=session, owner=_owner(services, user_id))
        await session.commit()
    return dropped


async def change_draft(
    services: Services, user_id: int, change: Callable[[Draft], None]
) -> Draft | None:
    """Apply one answer to the draft in one session; None when there is no draft.

    A refused answer raises ReportError and leaves the draft as it was.
    """
    async with services.sessions() as session:
        found = await load_draft(services, user_id, session=session)
        if found is None:
            return None
        draft = found[0]
        change(draft)
        await save_draft(services, user_id, draft, session=session)
    return draft


async def crowd(services: Services, draft: Draft) -> int:
    """How many people could have sent a report about the draft's area."""
    kind, _, slug = (draft.area or "").partition(":")
    if kind == "city":
        return services.settings.small_count  # the whole city is never a small crowd
    residents = await residents_may_report(services)
    async with services.sessions() as session:
        return await store.possible_reporters(
            session=session,
            park=slug if kind == "park" else None,
            wijk=draft.wijk,
            residents=residents,
        )


def widen(services: Services, draft: Draft, to: str) -> None:
    """File under the wijk or the whole city instead: the precise place is left out."""
    if to == "wijk" and draft.wijk is not None and services.areas.wijk(draft.wijk) is not None:
        draft.area = f"wijk:{draft.wijk}"
    elif to == "city":
        draft.area, draft.wijk = CITY, None
    else:
        raise ReportError(N_("Die plek ken ik niet. Kies met de knoppen."))
    draft.street = draft.latitude = draft.longitude = None
    draft.anonymous = True


# ---------------------------------------------------------------- filing


def _local_day(services: Services, moment: datetime) -> date:
    return moment.astimezone(services.settings.tz).date()


async def file(services: Services, user_id: int, draft: Draft) -> Filed:
    """Store the report; for an anonymous one, nothing in the row points to the sender."""
    check_quota(services, user_id)
    if draft.next_step != ReportStep.SUMMARY or draft.category not in services.categories.slugs:
        raise ReportError(N_("Deze melding is niet compleet. Begin opnieuw met /melding."))
    now = utcnow()
    anonymous = bool(draft.anonymous)
    occurred = datetime.fromisoformat(draft.occurred_at or now.isoformat())
    if anonymous and draft.just_now:
        occurred = _hour(occurred)  # "just now" is the filing time: no finer than the hour
    report = Report(
        ref="",
        created_at=_hour(now),
        occurred_at=occurred,
        category=draft.category or "",
        area=draft.area or "",
        wijk=draft.wijk,
        street=draft.street,
        latitude=draft.latitude,
        longitude=draft.longitude,
        description=draft.description or "",
        anonymous=anonymous,
        reporter_id=None if anonymous else user_id,
        photos=" ".join(draft.photos),
    )
    token = secrets.token_hex(16) if anonymous else None
    keyring = services.keyring
    async with services.sessions() as session:
        stored = await store.add(
            session=session,
            report=report,
            day=_local_day(services, now),
            follow_up=(lambda ref: follow_up_row(keyring, ref, token, user_id)) if token else None,
            draft_owner=_owner(services, user_id),
        )
    services.report_quota.record(user_id)
    if anonymous:
        services.later(shed_history(services))
    return Filed(stored, token, await hotspot_rule(services, stored))


async def shed_history(services: Services) -> None:
    """After an anonymous report: no earlier version of its draft left in the files.

    Run a moment later, from a task of its own, so the update that filed it has
    finished (and whatever it wrote on the way is part of what is cleaned)."""
    await asyncio.sleep(SHED_DELAY)
    async with services.sessions() as session:
        await store.shed_history(session=session)


async def hotspot_rule(services: Services, report: Report) -> int | None:
    """The count, when this report is the one that makes its category and area a hotspot.

    Exactly at the threshold, so one hotspot gives one alert, not one per report after.
    Counted up to this report, so the answer holds when asked again at the hour (an
    anonymous report's alert waits for it, as its note does: bot.coordinator_notes).
    """
    assert report.id is not None
    since = report.created_at - timedelta(hours=services.settings.hotspot_hours)
    async with services.sessions() as session:
        count = await store.recent_count(
            session=session,
            category=report.category,
            area=report.area,
            since=since,
            up_to_id=report.id,
        )
    return count if count == services.settings.hotspot_count else None


# ---------------------------------------------------------------- who hears what


async def digest_recipients(services: Services, wijk: str | None = None) -> list[Recipient]:
    """Coordinators see the whole city as it is; a wijkboa their own wijk, small counts hidden.

    With `wijk`, only the wijkboa of that wijk (and every coordinator).
    """
    found = [Recipient(user_id, None, None) for user_id in await coordinator_ids(services)]
    taken = {recipient.user_id for recipient in found}
    for user_id, scope in await wijkboa_scopes(services):
        if user_id in taken or (wijk is not None and scope != wijk):
            continue
        found.append(Recipient(user_id, scope, services.settings.small_count))
        taken.add(user_id)
    return found


async def status_recipient(services: Services, report: Report) -> int | None:
    """Whom to tell about a status: the named reporter, or the anonymous one's chat."""
    if report.reporter_id is not None:
        return report.reporter_id
    if not report.anonymous:
        return None  # the reporter erased their data: nobody to tell
    keyring = services.keyring
    async with services.sessions() as session:
        row = await store.follow_up(session=session, label=keyring.label(FOLLOW_UP, report.ref))
    if row is None:
        return None
    try:
        return chat_of(keyring, row)
    except SealError:
        log.warning("a follow-up did not open with the running key (left by another key?)")
        return None


# ---------------------------------------------------------------- reading


async def get(services: Services, ref: str) -> Report | None:
    if not _REF.match(ref):
        return None
    async with services.sessions() as session:
        return await store.by_ref(session=session, ref=ref)


async def mine(services: Services, user_id: int) -> list[Report]:
    async with services.sessions() as session:
        return await store.of_reporter(session=session, reporter_id=user_id)


async def reporter_name(services: Services, user_id: int) -> str | None:
    """The first name kept beside a role (reporters are role holders); None if none."""
    async with services.sessions() as session:
        grants = await role_store.active_grants(session=session, user_id=user_id)
    return next((grant.name for grant in grants if grant.name), None)


async def latest(services: Services, *, open_only: bool = True) -> list[Report]:
    async with services.sessions() as session:
        return await store.latest(session=session, open_only=open_only)


async def view(services: Services, ref: str, actor_id: int) -> Report:
    """One report's details, opened on purpose: the view is written to the audit log."""
    if not _REF.match(ref):
        raise ReportError(N_("Die melding bestaat niet (meer)."))
    async with services.sessions() as session:
        report = await store.viewed(session=session, ref=ref, actor_id=actor_id)
    if report is None:
        raise ReportError(N_("Die melding bestaat niet (meer)."))
    return report


async def anonymous_status(services: Services, ref: str, token: str) -> Report:
    """The anonymous reporter's own look at their report, with the token from their chat."""
    report = await get(services, ref)
    keyring = services.keyring
    row = None
    if report is not None:
        async with services.sessions() as session:
            row = await store.follow_up(session=session, label=keyring.label(FOLLOW_UP, ref))
    if report is None or row is None or not token_matches(keyring, token, row.token_hash):
        raise ReportError(N_("Die melding bestaat niet (meer)."))
    return report


async def set_status(
    services: Services, ref: str, status: str, note: str | None, actor_id: int
) -> Report:
    if status not in STATUSES:
        raise ReportError(N_("Die status ken ik niet."))
    async with services.sessions() as session:
        report = await store.set_status(
            session=session,
            ref=ref,
            status=status,
            note=note or None,
            closed=status == CLOSED,
            actor_id=actor_id,
        )
    if report is None:
        raise ReportError(N_("Die melding bestaat niet (meer)."))
    return report


async def digest_counts(
    services: Services, today: date, wijk: str | None = None
) -> list[DigestCount]:
    """The last 7 full days against the 7 days before them."""
    async with services.sessions() as session:
        return await store.digest_counts(
            session=session,
            first=today - timedelta(days=14),
            split=today - timedelta(days=7),
            last=today - timedelta(days=1),
            wijk=wijk,
        )


# ---------------------------------------------------------------- rendering


def status_label(lang: Lang, status: str) -> str:
    return lang.gettext(STATUS_LABELS.get(status, status))


def render_status(lang: Lang, services: Services, report: Report) -> str:
    _ = lang.gettext
    lines = [
        _("Nieuws over je melding {ref} ({category}):").format(
            ref=report.ref, category=escape(services.categories.label(report.category, lang.code))
        ),
        _("Status: {status}").format(
            status="<b>" + escape(status_label(lang, report.status)) + "</b>"
        ),
    ]
    if report.status_note:
        # The coordinator's own words speak for them (a note mostly thanks already):
        # a second, canned thanks under it reads as a form letter.
        lines.append(
            _("Bericht van de coördinator: {note}").format(note=escape(report.status_note))
        )
    else:
        lines.append(_("Dank je wel voor je melding."))
    return "\n".join(lines)


def _change(lang: Lang, recent: int, before: int, hide_below: int | None) -> str:
    if hide_below is not None and (0 < recent < hide_below or 0 < before < hide_below):
        return ""  # a difference of small numbers gives them away
    delta = recent - before
    if delta == 0:
        return "(=)"
    sign = "+" if delta > 0 else "−"
    return f"({sign}{lang.number(abs(delta))})"


def render_digest(
    lang: Lang,
    services: Services,
    rows: list[DigestCount],
    today: date,
    recipient: Recipient,
) -> str:
    _ = lang.gettext
    hide = recipient.hide_below
    first = today - timedelta(days=7)
    last = today - timedelta(days=1)
    period = " – ".join(lang.date(day, "d MMM") for day in (first, last))
    lines = [
        "<b>" + _("Meld een Vermoeden: meldingen van de afgelopen 7 dagen") + "</b>",
        period + " · " + _("tussen haakjes: verschil met de week ervoor"),
    ]
    if recipient.wijk is not None:
        lines.append(
            _("Alleen je eigen wijk: {wijk}.").format(
                wijk=escape(services.areas.area_name(f"wijk:{recipient.wijk}"))
            )
        )
    current = None
    for row in rows:
        if row.area != current:
            current = row.area
            lines += ["", "<b>" + escape(services.areas.area_name(row.area)) + "</b>"]
        label = services.categories.label(row.category, lang.code)
        count = escape(lang.count(row.recent, hide_below=hide))
        change = _change(lang, row.recent, row.before, hide)
        lines.append(f"• {escape(label)}: {count} {change}".rstrip())
    return "\n".join(lines).rstrip()


def render_hotspot(
    lang: Lang, services: Services, report: Report, count: int, recipient: Recipient
) -> str:
    _ = lang.gettext
    return "\n".join(
        [
            "⚠️ <b>" + _("Opvallend veel meldingen") + "</b>",
            _("{count} meldingen van “{category}” in {area} in de afgelopen {hours} uur.").format(
                count=escape(lang.count(count, hide_below=recipient.hide_below)),
                category=escape(services.categories.label(report.category, lang.code)),
                area=escape(services.areas.area_name(report.area)),
                hours=lang.number(services.settings.hotspot_hours),
            ),
        ]
    )


# ---------------------------------------------------------------- actions


# Each queues one notice (bot.notices): the delivery engine sends it, paced and counted.


async def send_hotspot(services: Services, report: Report, count: int) -> int:
    """Tell the coordinators, and the wijkboa of the wijk, right away; how many are queued."""
    letters = []
    for recipient in await digest_recipients(services, report.wijk or "-"):
        lang = await notices.language_of(services, recipient.user_id)
        text = render_hotspot(lang, services, report, count, recipient)
        letters.append((recipient.user_id, lang, notices.Letter(text)))
    await notices.queue(services, notices.Topic.HOTSPOT, letters)
    return len(letters)


async def send_digest(services: Services) -> int:
    """The daily digest: to each recipient their counts; nothing when there is nothing."""
    today = utcnow().astimezone(services.settings.tz).date()
    letters = []
    for recipient in await digest_recipients(services):
        rows = await digest_counts(services, today, recipient.wijk)
        if not any(row.recent or row.before for row in rows):
            continue
        lang = await notices.language_of(services, recipient.user_id)
        text = render_digest(lang, services, rows, today, recipient)
        letters.append((recipient.user_id, lang, notices.Letter(text)))
    await notices.queue(services, notices.Topic.DIGEST, letters)
    return len(letters)


async def send_status(services: Services, report: Report, wait: float = STATUS_WAIT) -> bool | None:
    """The reporter hears of a new status: True once it arrived, False when there is
    nobody to tell or Telegram refused, None when it is still on its way after `wait`.

    A notice of its own per status, so that once it is sent the outbox forgets the chat
    (bot.notices.PRIVATE): an anonymous reporter's chat is never left beside their report.
    """
    chat_id = await status_recipient(services, report)
    if chat_id is None:
        return False
    lang = await notices.language_of(services, chat_id)
    letter = notices.Letter(render_status(lang, services, report))
    notice = await notices.queue(services, notices.Topic.STATUS, [(chat_id, lang, letter)])
    assert notice is not None
    return await notices.outcome(services, notice, within=wait)


async def retention(services: Services) -> int:
    """Erase reports closed longer ago than the retention period, with what hangs on them."""
    cutoff = utcnow() - timedelta(days=services.settings.report_retention_days)
    keyring = services.keyring
    erased = 0
    while True:
        async with services.sessions() as session:
            batch = await store.closed_before(session=session, moment=cutoff, limit=RETENTION_BATCH)
            if not batch:
                break
            await store.erase(
                session=session,
                ids=[report.id for report in batch if report.id is not None],
                labels=[keyring.label(FOLLOW_UP, report.ref) for report in batch],
            )
        erased += len(batch)
    async with services.sessions() as session:
        await store.drop_drafts(session=session, before=utcnow() - DRAFT_TTL)
    if erased:
        log.info("retention: erased %s closed reports", erased)
    return erased


def draft_owner(services: Services, user_id: int) -> str:
    """The pseudonym a user's report draft is kept under (for erasure, which deletes it)."""
    return _owner(services, user_id)
