"""Broadcasts: the four kinds, their templates per language, audiences, sending and replies."""

from __future__ import annotations

import functools
import json
import logging
import re
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from html import escape
from typing import Any

from babel.dates import format_time
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import Button, pack
from bot.delivery import Counts, Outgoing
from bot.delivery import Recipient as Outbound
from bot.errors import KeyedError
from bot.i18n import N_, SUPPORTED_LANGUAGES, Lang
from bot.roles import Role, Roles, roles_of
from bot.services import Services
from storage import broadcasts as store
from storage import channels as channel_store
from storage import conversations
from storage import groups as group_store
from storage import teams as team_store
from storage.models import Broadcast, BroadcastStatus, TeamStatus, utcnow

log = logging.getLogger(__name__)

KINDS: tuple[str, ...] = ("witte_voetjes", "buurttent", "challenge", "nieuws")
KIND_ICONS = {"witte_voetjes": "👣", "buurttent": "⛺", "challenge": "🏆", "nieuws": "📰"}
STALE = N_("Deze knop werkt niet meer. Tik op /start.")
TEXT_LIMIT, CAPTION_LIMIT = 4096, 1024  # Telegram's, after entities are parsed
REMIND_BEFORE = timedelta(hours=2)


FLOW = Button.BROADCAST  # the conversation and the buttons of composing and changing broadcasts


class Action(StrEnum):
    """What a broadcast button does: the second part of its callback data, one list."""

    KIND = "kind"
    EVERYONE = "all"
    WIJK = "aw"
    TEAM = "at"
    GROUP = "ag"
    PARK = "ap"
    AUDIENCE_DONE = "adone"
    NO_PHOTO = "nophoto"
    SKIP = "skip"  # an optional answer left empty ("Niets toevoegen", "Zonder reden")
    SEND = "send"
    PLAN = "plan"
    WEEK = "week"
    DROP = "drop"
    LATE = "late"
    CANCEL = "cancel"
    MOVE = "move"
    EDIT = "edit"
    OFF = "off"
    MOVED = "moved"
    CHANGE = "change"  # the previewed notice of a called-off or moved tent: send it
    KEEP = "keep"  # ... or not


# Buttons about the audience of the draft in the conversation; the rest name a broadcast.
AUDIENCE_ACTIONS = frozenset(
    {Action.EVERYONE, Action.WIJK, Action.TEAM, Action.GROUP, Action.PARK}
    | {Action.AUDIENCE_DONE, Action.NO_PHOTO}
)
BROADCAST_ACTIONS = frozenset(
    {Action.SEND, Action.PLAN, Action.WEEK, Action.DROP, Action.LATE, Action.CANCEL}
    | {Action.MOVE, Action.EDIT, Action.OFF, Action.MOVED, Action.CHANGE, Action.KEEP}
)


class Step(StrEnum):
    """Where a coordinator is in a broadcast conversation: what the next message answers."""

    FIELD = "field"
    AUDIENCE = "audience"
    PHOTO = "photo"
    WHEN = "when"
    MOVE = "move"
    RESULT = "result"
    REASON = "reason"
    NEWTIME = "newtime"
    CONFIRM = "confirm"  # a called-off or moved tent's notice, previewed


@dataclass(frozen=True)
class Spec:
    """One thing the coordinator fills in: asked as a question, checked as it comes."""

    name: str
    question: str
    kind: str = "text"  # text | date | time
    limit: int = 200
    optional: bool = False


FIELDS: dict[str, tuple[Spec, ...]] = {
    "witte_voetjes": (
        Spec("date", N_("Op welke dag? Bijvoorbeeld 24-11 of 24-11-2026."), "date"),
        Spec("time", N_("Hoe laat verzamelen de vrijwilligers? Bijvoorbeeld 19:30."), "time"),
        Spec("place", N_("Waar verzamelen ze? Bijvoorbeeld: de kerk, Kerkstraat 1."), limit=120),
        Spec(
            "team",
            N_("Welk team loopt mee? Geen team? Tik op Niets toevoegen."),
            limit=80,
            optional=True,
        ),
        Spec(
            "note",
            N_("Nog iets voor de bewoners? Zo niet, tik op Niets toevoegen."),
            limit=400,
            optional=True,
        ),
    ),
    "buurttent": (
        Spec("date", N_("Op welke dag staat de BuurtTent? Bijvoorbeeld 24-11."), "date"),
        Spec("start", N_("Hoe laat begint het? Bijvoorbeeld 10:00."), "time"),
        Spec("end", N_("Hoe laat is het afgelopen? Bijvoorbeeld 16:00."), "time"),
        Spec("place", N_("In welke straat of op welke plek?"), limit=120),
        Spec("about", N_("Waar gaat het over? Kort, in een of twee zinnen."), limit=400),
    ),
    "challenge": (
        Spec("title", N_("Wat is de titel van de challenge?"), limit=80),
        Spec(
            "period",
            N_("Wanneer loopt de challenge? Bijvoorbeeld: 1 tot en met 30 juni."),
            limit=80,
        ),
        Spec("what", N_("Wat doen de teams?"), limit=500),
        Spec("how", N_("Hoe doe je mee?"), limit=300),
    ),
    "nieuws": (
        Spec("title", N_("Wat is de kop van het bericht?"), limit=80),
        Spec("text", N_("Wat is het bericht?"), limit=2000),
    ),
}
# The reply buttons each kind carries, in order.
CHOICES: dict[str, tuple[tuple[str, str], ...]] = {
    "witte_voetjes": (("join", N_("Ik doe mee")),),
    "buurttent": (("come", N_("Ik kom")), ("remind", N_("Herinner me"))),
    "challenge": (("team", N_("Ons team doet mee")),),
    "nieuws": (),
}
CHOICE_LABELS = {choice: label for kind in CHOICES.values() for choice, label in kind}
SKIP = "-"
# Broadcasts about another one: the notice everyone who got it reads, and the edits of
# its copies (called off or moved). Neither is counted in the figures (KINDS only).
UPDATE, RETRACT, REMINDER = "update", "retract", "reminder"
CALLED_OFF = N_("Deze BuurtTent gaat niet door.")


class BroadcastError(KeyedError):
    """A request about a broadcast that cannot be honoured; `key` is a message id."""


@dataclass
class Audience:
    everyone: bool = False
    wijken: list[str] = field(default_factory=list)
    teams: list[int] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)
    parks: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.everyone or self.wijken or self.teams or self.groups or self.parks)

    def within(self, allowed: frozenset[str] | None) -> bool:
        """Only wijken, all of them allowed (None: no limit, as for a coordinator)."""
        if allowed is None:
            return True
        only_wijken = not (self.everyone or self.teams or self.groups or self.parks)
        return only_wijken and bool(self.wijken) and set(self.wijken) <= allowed

    def dumps(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def loads(cls, raw: str | None) -> Audience:
        data = json.loads(raw or "{}")
        return cls(**{key: data[key] for key in asdict(cls()) if key in data})


@dataclass(frozen=True)
class Recipient:
    chat_id: int
    kind: str  # user | group | channel
    language: str | None = None
    not_before: datetime | None = None


def quiet_until(now: datetime, start: int | None, end: int | None) -> datetime | None:
    """When a resident's quiet hours end, if `now` (city time) falls inside them."""
    if start is None or end is None or start == end:
        return None
    minute = now.hour * 60 + now.minute
    inside = start <= minute < end if start < end else (minute >= start or minute < end)
    if not inside:
        return None
    ends = now.replace(hour=end // 60, minute=end % 60, second=0, microsecond=0)
    return ends if ends > now else ends + timedelta(days=1)


# ---------------------------------------------------------------- reading what is typed

_DATE = re.compile(r"^\s*(\d{1,2})[-/.](\d{1,2})(?:[-/.](\d{2}|\d{4}))?\s*$")
_TIME = re.compile(r"^\s*(\d{1,2})[:.](\d{2})\s*$")


def parse_date(text: str, today: date) -> date:
    """ "24-11", "24/11/2026", "24.11.26": a day from today on; a date without a year is this year's."""
    found = _DATE.match(text)
    if not found:
        raise BroadcastError(
            N_("Die datum kan ik niet lezen. Schrijf hem zo: 24-11 of 24-11-2026.")
        )
    day, month, year = int(found[1]), int(found[2]), found[3]
    try:
        if year:
            wanted = date(int(year) + (2000 if len(year) == 2 else 0), month, day)
        else:
            wanted = date(today.year, month, day)
    except ValueError:
        raise BroadcastError(
            N_("Die datum bestaat niet. Schrijf hem zo: 24-11 of 24-11-2026.")
        ) from None
    if wanted < today and not year:
        # Silently meaning next year surprised coordinators (24-11 typed on 1 December):
        # refuse, and show how to write the date they probably mean.
        raise BroadcastError(
            N_("{typed} is al geweest; bedoel je {example}?"),
            typed=f"{day}-{month}",
            example=f"{day}-{month}-{today.year + 1}",
        )
    if wanted < today:
        raise BroadcastError(N_("Die datum is al voorbij."))
    return wanted


def parse_time(text: str) -> time:
    found = _TIME.match(text)
    if not found or int(found[1]) > 23 or int(found[2]) > 59:
        raise BroadcastError(N_("Die tijd kan ik niet lezen. Schrijf hem zo: 19:30."))
    return time(int(found[1]), int(found[2]))


def parse_moment(text: str, now: datetime) -> datetime:
    """ "24-11 19:30" in the city's time zone (`now` carries it); it must lie ahead."""
    parts = text.split()
    if len(parts) != 2:
        raise BroadcastError(N_("Schrijf dag en tijd zo: 24-11 19:30."))
    moment = datetime.combine(
        parse_date(parts[0], now.date()), parse_time(parts[1]), tzinfo=now.tzinfo
    )
    if moment <= now:
        raise BroadcastError(N_("Dat moment is al voorbij."))
    return moment


def parse_new_time(text: str, today: date) -> dict[str, str]:
    """A BuurtTent's new day and hours, "24-11 10:00-16:00", as its fields are stored."""
    parts = text.split()
    if len(parts) != 2 or "-" not in parts[1][1:]:
        raise BroadcastError(N_("Schrijf het zo: 24-11 10:00-16:00."))
    start, end = parts[1].split("-", 1)
    return {
        "new_date": parse_date(parts[0], today).isoformat(),
        "new_start": parse_time(start).strftime("%H:%M"),
        "new_end": parse_time(end).strftime("%H:%M"),
    }


def check_field(spec: Spec, text: str, today: date) -> str:
    """The typed answer as stored (dates ISO, times HH:MM), or a BroadcastError."""
    value = " ".join(text.split())
    if spec.optional and value == SKIP:
        return ""
    if not value:
        raise BroadcastError(N_("Dit mag niet leeg zijn."))
    if len(value) > spec.limit:
        raise BroadcastError(N_("Dat is te lang: hoogstens {n} tekens."), n=spec.limit)
    if spec.kind == "date":
        return parse_date(value, today).isoformat()
    if spec.kind == "time":
        return parse_time(value).strftime("%H:%M")
    return value


# ---------------------------------------------------------------- templates


def _day(lang: Lang, iso: str) -> str:
    # With the year: "24-11" typed in December must read back as the year it means.
    return lang.full_date(date.fromisoformat(iso))


def day_label(lang: Lang, iso: str) -> str:
    """A stored date as the reader writes it ("dinsdag 24 november"); "" for none."""
    return _day(lang, iso) if iso else ""


def _clock(lang: Lang, hhmm: str) -> str:
    return format_time(time.fromisoformat(hhmm), "short", locale=lang.locale)


def when_label(lang: Lang, broadcast: Broadcast) -> str:
    """When a scheduled broadcast goes out, with the year ("-" when not planned)."""
    if broadcast.send_at is None:
        return "-"
    return lang.full_datetime(broadcast.send_at)


def render_text(lang: Lang, kind: str, fields: dict[str, str]) -> str:
    """The announcement in one language: fixed parts translated, the coordinator's words escaped."""
    _ = lang.gettext
    f = {key: escape(value) for key, value in fields.items()}
    if kind == "witte_voetjes":
        lines = [
            "👣 <b>" + _("Witte Voetjes") + "</b>",
            _("{day} om {time}: vrijwilligers lopen door de buurt.").format(
                day=_day(lang, fields["date"]), time=_clock(lang, fields["time"])
            ),
            _("Doe je ramen en deuren dicht, ook als je even weg bent."),
            _("Meelopen? Verzamelen bij {place}.").format(place=f["place"]),
        ]
        if f.get("team"):
            lines.append(_("Met het team {team}.").format(team=f["team"]))
        if f.get("note"):
            lines.append(f["note"])
    elif kind == "buurttent":
        lines = [
            "⛺ <b>" + _("BuurtTent") + "</b>",
            _("{day}, van {start} tot {end}").format(
                day=_day(lang, fields["date"]),
                start=_clock(lang, fields["start"]),
                end=_clock(lang, fields["end"]),
            ),
            "📍 " + f["place"],
            # The coordinator's own words say what this tent is about; a fixed line
            # about tips under them said the same again.
            f["about"],
        ]
    elif kind == "challenge":
        lines = [
            "🏆 <b>" + _("Buurtsaam Challenge") + ": " + f["title"] + "</b>",
            f["period"],
            f["what"],
            _("Meedoen: {how}").format(how=f["how"]),
        ]
    elif kind == "update":
        what = fields.get("what")
        title = _("Gaat niet door") if what == "cancelled" else _("Nieuwe datum of tijd")
        lines = ["⚠️ <b>" + _("BuurtTent") + ": " + title + "</b>"]
        if what == "cancelled":
            lines.append(
                _("De BuurtTent van {day} gaat niet door.").format(day=_day(lang, fields["date"]))
            )
        else:
            lines.append(
                _("De BuurtTent komt nu op {day}, van {start} tot {end}.").format(
                    day=_day(lang, fields["new_date"]),
                    start=_clock(lang, fields["new_start"]),
                    end=_clock(lang, fields["new_end"]),
                )
            )
        if f.get("reason"):
            lines.append(f["reason"])
    elif kind == "reminder":
        lines = [
            "⏰ "
            + _("Herinnering: vandaag staat de BuurtTent van {start} tot {end}.").format(
                start=_clock(lang, fields["start"]), end=_clock(lang, fields["end"])
            ),
            "📍 " + f["place"],
        ]
    else:
        lines = ["📰 <b>" + f["title"] + "</b>", f["text"]]
    lines.append(_("Is er nu gevaar? Bel altijd eerst 112."))
    return "\n\n".join(line for line in lines if line)


def check_length(lang: Lang, kind: str, fields: dict[str, str], with_photo: bool) -> None:
    """Refuse, with the reason, what Telegram would refuse; measured on the longest language."""
    limit = CAPTION_LIMIT if with_photo else TEXT_LIMIT
    for code in SUPPORTED_LANGUAGES:
        text = render_text(lang.translator.for_language(code), kind, fields)
        visible = len(re.sub(r"<[^>]+>", "", text).encode("utf-16-le")) // 2
        if visible > limit:
            raise BroadcastError(
                N_(
                    "Het bericht is {over} tekens te lang voor Telegram (hoogstens {limit}). Maak het korter."
                ),
                over=visible - limit,
                limit=limit,
            )


# ---------------------------------------------------------------- lifecycle


def fields_of(broadcast: Broadcast) -> dict[str, str]:
    loaded = json.loads(broadcast.fields or "{}")
    return loaded if isinstance(loaded, dict) else {}


NOT_ALLOWED = N_("Naar dit publiek mag je geen berichten sturen.")


async def allowed_wijken(services: Services, roles: Roles) -> frozenset[str] | None:
    """Where someone may send announcements: None for coordinators (anywhere); for a team
    contact the coordinator allowed, the wijk of each approved team they are contact of."""
    if roles.has(Role.COORDINATOR):
        return None
    scopes = set(roles.scopes(Role.TEAM_SENDER)) & set(roles.scopes(Role.TEAM_CONTACT))
    ids = [int(s.removeprefix("team:")) for s in scopes if s.removeprefix("team:").isdigit()]
    async with services.sessions() as session:
        teams = [await team_store.get(session=session, team_id=team_id) for team_id in ids]
    return frozenset(t.wijk for t in teams if t is not None and t.status == TeamStatus.APPROVED)


async def check_may_send(services: Services, broadcast: Broadcast) -> None:
    """Checked again when it goes out: a team contact's permission may have ended since."""
    if broadcast.kind == "reminder":
        return  # asked for by the residents themselves
    allowed = await allowed_wijken(services, await roles_of(services, broadcast.author_id))
    if not Audience.loads(broadcast.audience).within(allowed):
        raise BroadcastError(NOT_ALLOWED)


async def create(
    services: Services,
    author_id: int,
    kind: str,
    fields: dict[str, str],
    audience: Audience,
    photo: str | None,
    allowed: frozenset[str] | None = None,
) -> Broadcast:
    if kind not in KINDS:
        raise BroadcastError(N_("Die soort bericht ken ik niet."))
    if audience.empty:
        raise BroadcastError(N_("Kies eerst wie het bericht krijgt."))
    if not audience.within(allowed):
        raise BroadcastError(NOT_ALLOWED)
    broadcast = Broadcast(
        kind=kind,
        author_id=author_id,
        fields=json.dumps(fields, ensure_ascii=False),
        audience=audience.dumps(),
        photo_file_id=photo,
    )
    async with services.sessions() as session:
        return await store.save(session=session, broadcast=broadcast)


async def recipients(
    services: Services, audience: Audience, kind: str | None = None
) -> tuple[list[Recipient], store.Residents]:
    """Who gets it: per wijk its channel (one post), its approved groups, and its private
    subscribers who do not also follow that channel and want this kind; teams and groups;
    park entrepreneurs. A resident inside their quiet hours is held back until they end.

    The channels and groups come as a list; the residents as what the database is to
    pick (a city's worth of them), with the end of each quiet-hours preset in use.
    """
    wijken = [w.slug for w in services.areas.wijken] if audience.everyone else list(audience.wijken)
    now = now_in(services.settings.tz)
    async with services.sessions() as session:
        channels = await store.active_channels(session=session, wijken=wijken) if wijken else []
        with_channel = await _wijken_with_channel(session, wijken)
        found = {chat_id: Recipient(chat_id, "channel") for chat_id in channels}
        groups = await store.approved_groups(
            session=session, wijken=wijken, teams=audience.teams, groups=audience.groups
        )
        for chat_id in groups:
            found.setdefault(chat_id, Recipient(chat_id, "group"))
        pairs = await store.quiet_hours_in_use(session=session, wijken=wijken) if wijken else []
    held = [
        (start, end, until)
        for start, end in pairs
        if (until := quiet_until(now, start, end)) is not None
    ]
    residents = store.Residents(
        skip_followers=with_channel,
        everyone_in=[w for w in wijken if w not in with_channel],
        kind=kind,
        parks=list(audience.parks),
        held=held,
    )
    return list(found.values()), residents


async def _wijken_with_channel(session: Any, wijken: list[str]) -> list[str]:
    active = await channel_store.active_by_wijk(session=session)
    return [w for w in wijken if w in active]


async def start_sending(services: Services, broadcast_id: int, actor_id: int | None) -> int:
    """Hand a draft or due broadcast to the delivery engine; how many recipients it has."""
    async with services.sessions() as session:
        due = await store.get(session=session, broadcast_id=broadcast_id)
    if due is not None and due.status in (BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED):
        try:
            await check_may_send(services, due)
        except BroadcastError:
            # Planned by someone who may no longer send there: it never goes out.
            await _move(services, broadcast_id, BroadcastStatus.CANCELLED, actor_id)
            forget_jobs(services, broadcast_id)
            raise
    broadcast = await _move(services, broadcast_id, BroadcastStatus.SENDING, actor_id)
    # Sent now (by its job, or by hand ahead of it): nothing waits to send it again.
    if services.scheduler is not None:
        services.scheduler.forget(_send_job(broadcast_id))
    residents: store.Residents | None = None
    if broadcast.kind == "reminder":
        async with services.sessions() as session:
            languages = await store.languages_of(
                session=session, user_ids=list(json.loads(broadcast.audience).get("users", []))
            )
        targets = [Recipient(uid, "user", language) for uid, language in languages]
    elif broadcast.update_of is not None:
        async with services.sessions() as session:
            sent = await store.delivered_to(session=session, broadcast_id=broadcast.update_of)
        targets = [Recipient(d.chat_id, d.recipient, d.language) for d in sent]
        if broadcast.kind == RETRACT and fields_of(broadcast).get("what") != "cancelled":
            # A moved tent keeps its private copies' buttons; the update message tells them.
            targets = [t for t in targets if t.kind != "user"]
    else:
        targets, residents = await recipients(
            services, Audience.loads(broadcast.audience), broadcast.kind
        )
    if services.delivery is None:
        raise RuntimeError("the delivery engine is not running")
    queued = await services.delivery.enqueue(
        broadcast_id,
        [Outbound(r.chat_id, r.kind, r.language, r.not_before) for r in targets],
        chosen=store.resident_selects(residents) if residents is not None else (),
    )
    # Started before (a crash, a second job) when nothing new went in; the rows are there.
    total = queued or (await services.delivery.counts(broadcast_id)).total
    if not total:
        # Nobody in the audience (yet): done at once, or it would wait for a progress
        # report that never comes.
        await finished(services, broadcast_id)
    return total


async def schedule(
    services: Services, broadcast_id: int, send_at: datetime, weekly: bool, actor_id: int
) -> Broadcast:
    async with services.sessions() as session:
        broadcast = await store.get(session=session, broadcast_id=broadcast_id)
        if broadcast is None or broadcast.status != BroadcastStatus.DRAFT:
            raise BroadcastError(N_("Dit bericht is al verstuurd of geannuleerd."))
        broadcast.send_at, broadcast.repeat_weekly = send_at, weekly
        await store.save(session=session, broadcast=broadcast)
        scheduled = await store.set_status(
            session=session,
            broadcast_id=broadcast_id,
            status=BroadcastStatus.SCHEDULED,
            expected={BroadcastStatus.DRAFT},
            actor_id=actor_id,
        )
    assert scheduled is not None
    plan_send(services, scheduled)
    return scheduled


async def cancel(services: Services, broadcast_id: int, actor_id: int) -> Broadcast:
    """Not sent after all: its send job (and any reminder) forgotten with it."""
    cancelled = await _move(services, broadcast_id, BroadcastStatus.CANCELLED, actor_id)
    forget_jobs(services, broadcast_id)
    return cancelled


async def reschedule(
    services: Services, broadcast_id: int, send_at: datetime, version: int, actor_id: int
) -> Broadcast | None:
    """Another moment for a scheduled broadcast; None when someone changed it meanwhile."""
    async with services.sessions() as session:
        moved = await store.reschedule(
            session=session,
            broadcast_id=broadcast_id,
            send_at=send_at,
            version=version,
            actor_id=actor_id,
        )
    if moved is not None:
        plan_send(services, moved)
    return moved


# ---------------------------------------------------------------- jobs: the service plans its own


def _send_job(broadcast_id: int) -> str:
    return f"broadcast:{broadcast_id}"


def _reminder_job(broadcast_id: int) -> str:
    return f"reminder:{broadcast_id}"


def plan_send(services: Services, broadcast: Broadcast) -> None:
    if services.scheduler is None or broadcast.id is None or broadcast.send_at is None:
        return
    services.scheduler.plan(
        _send_job(broadcast.id),
        broadcast.send_at,
        functools.partial(send_due, services, broadcast.id),
    )


def plan_reminder(services: Services, broadcast: Broadcast) -> None:
    """A BuurtTent that goes ahead reminds those who asked, REMIND_BEFORE it opens."""
    if services.scheduler is None or broadcast.id is None:
        return
    starts = starts_at(broadcast, services.settings.tz)
    if (
        starts is None
        or broadcast.called_off_at is not None
        or broadcast.status not in (BroadcastStatus.SENDING, BroadcastStatus.SENT)
        or starts - REMIND_BEFORE <= utcnow()
    ):
        services.scheduler.forget(_reminder_job(broadcast.id))
        return
    services.scheduler.plan(
        _reminder_job(broadcast.id),
        starts - REMIND_BEFORE,
        functools.partial(remind, services, broadcast.id),
    )


def forget_jobs(services: Services, broadcast_id: int) -> None:
    if services.scheduler is not None:
        services.scheduler.forget(_send_job(broadcast_id), _reminder_job(broadcast_id))


async def resume(services: Services, grace: timedelta) -> None:
    """At start: every job planned again from the database, and what was missed handled.

    Missed by less than `grace`: sent now. Later: its author is asked (services.ask_late),
    rather than a stale announcement going out unasked.
    """
    async with services.sessions() as session:
        planned = await store.scheduled(session=session)
        upcoming = await store.recent(session=session, limit=200)
    for broadcast in planned:
        due = broadcast.send_at
        if due is None or broadcast.id is None:
            continue
        late = utcnow() - due
        if late <= timedelta(0):
            plan_send(services, broadcast)
        elif late <= grace:
            log.info("broadcast %s missed by %s; sending now", broadcast.id, late)
            await send_due(services, broadcast.id)
        else:
            log.info("broadcast %s missed by %s; asking its author", broadcast.id, late)
            await services.ask_late(broadcast)
    for broadcast in upcoming:
        plan_reminder(services, broadcast)


async def send_due(services: Services, broadcast_id: int) -> None:
    """The send job: a scheduled broadcast goes out (unless cancelled meanwhile)."""
    try:
        await start_sending(services, broadcast_id, None)
    except BroadcastError:
        log.info("broadcast %s was no longer due (cancelled or sent)", broadcast_id)


async def remind(services: Services, broadcast_id: int) -> None:
    """The reminder job: the day's reminder to everyone who asked, through the engine."""
    try:
        reminder = await reminder_for(services, broadcast_id)
        if reminder is not None:
            await start_sending(services, reminder.id or 0, None)
    except BroadcastError:
        log.info("no reminder for broadcast %s", broadcast_id)


async def progressed(services: Services, broadcast_id: int, counts: Counts) -> None:
    """The delivery engine's word on a broadcast: when nothing is left, it is finished;
    then whoever watches is shown the counts (services.show_progress)."""
    if counts.queued + counts.sending == 0:
        await finished(services, broadcast_id)
    await services.show_progress(broadcast_id, counts)


async def _move(
    services: Services, broadcast_id: int, status: BroadcastStatus, actor_id: int | None
) -> Broadcast:
    """From draft or scheduled on to `status`, once: a second press or the scheduler
    racing a coordinator finds it gone."""
    async with services.sessions() as session:
        moved = await store.set_status(
            session=session,
            broadcast_id=broadcast_id,
            status=status,
            expected={BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED},
            actor_id=actor_id,
        )
    if moved is None:
        raise BroadcastError(N_("Dit bericht is al verstuurd of geannuleerd."))
    return moved


async def next_week(services: Services, done: Broadcast) -> Broadcast | None:
    """A weekly broadcast plans its next occurrence when one is sent: stored and planned."""
    if not done.repeat_weekly or done.send_at is None:
        return None
    later = done.send_at + timedelta(days=7)
    while later <= utcnow():  # sent late (the bot was down): the next week still ahead
        later += timedelta(days=7)
    again = Broadcast(
        kind=done.kind, author_id=done.author_id, fields=done.fields, audience=done.audience,
        photo_file_id=done.photo_file_id, send_at=later, repeat_weekly=True, status=BroadcastStatus.SCHEDULED,
    )  # fmt: skip
    async with services.sessions() as session:
        saved = await store.save(session=session, broadcast=again)
    plan_send(services, saved)
    return saved


async def _sent_buurttent(session: Any, original_id: int) -> Broadcast:
    original = await store.get(session=session, broadcast_id=original_id)
    if (
        original is None
        or original.kind != "buurttent"
        or original.status not in (BroadcastStatus.SENDING, BroadcastStatus.SENT)
    ):
        raise BroadcastError(N_("Alleen een verstuurde BuurtTent kun je afzeggen of verplaatsen."))
    if original.called_off_at is not None:
        raise BroadcastError(CALLED_OFF)
    return original


async def preview_change(
    services: Services, original_id: int, change: dict[str, str], lang: Lang
) -> tuple[str, int]:
    """The notice of a called-off or moved BuurtTent as its readers will get it, and how
    many got the tent; nothing is stored or sent yet."""
    async with services.sessions() as session:
        original = await _sent_buurttent(session, original_id)
        reached = await store.delivered_to(session=session, broadcast_id=original_id)
    return render_text(lang, UPDATE, {**fields_of(original), **change}), len(reached)


async def send_change(
    services: Services, original_id: int, actor_id: int, change: dict[str, str]
) -> int:
    """The previewed change goes out: called off with its reason, or moved."""
    if change.get("what") == "cancelled":
        return await call_off(services, original_id, actor_id, change.get("reason", ""))
    return await move_event(
        services,
        original_id,
        actor_id,
        {key: change[key] for key in ("new_date", "new_start", "new_end")},
    )


async def drop_drafts(services: Services, author_id: int) -> int:
    """/annuleer: the drafts someone previewed but did not send or plan are cancelled."""
    async with services.sessions() as session:
        waiting = await store.drafts_of(session=session, author_id=author_id)
        # Only from draft: one sent or planned by a press a moment earlier stays as it is.
        dropped = [
            await store.set_status(
                session=session,
                broadcast_id=broadcast_id,
                status=BroadcastStatus.CANCELLED,
                expected={BroadcastStatus.DRAFT},
                actor_id=author_id,
            )
            for broadcast_id in waiting
        ]
    return sum(1 for broadcast in dropped if broadcast is not None)


async def call_off(services: Services, original_id: int, actor_id: int, reason: str) -> int:
    """A sent BuurtTent does not go ahead, finally: its reminder is forgotten, everyone who
    got it hears so, and every copy (private chats, groups, channels) loses its buttons.

    Returns how many get the notice. One transaction marks the original and stores the
    notice and the edits; both then go out through the delivery engine, paced.
    """
    async with services.sessions() as session:
        original = await _sent_buurttent(session, original_id)
        fields = json.dumps({**fields_of(original), "what": "cancelled", "reason": reason})
        notice = Broadcast(kind=UPDATE, author_id=actor_id, update_of=original_id, fields=fields, audience=original.audience)  # fmt: skip
        edits = Broadcast(kind=RETRACT, author_id=actor_id, update_of=original_id, fields=fields, audience=original.audience)  # fmt: skip
        original.called_off_at = utcnow()
        await store.record_change(
            session=session, original=original, made=[notice, edits], action="broadcast_called_off"
        )
    forget_jobs(services, original_id)
    total = await start_sending(services, notice.id or 0, actor_id)
    await start_sending(services, edits.id or 0, actor_id)
    return total


async def move_event(
    services: Services, original_id: int, actor_id: int, new: dict[str, str]
) -> int:
    """A sent BuurtTent on another day or time: everyone who got it hears so, the posts in
    groups and channels show the new moment, and the reminder moves with it."""
    async with services.sessions() as session:
        original = await _sent_buurttent(session, original_id)
        old = fields_of(original)
        fields = json.dumps({**old, "what": "moved", **new}, ensure_ascii=False)
        notice = Broadcast(kind=UPDATE, author_id=actor_id, update_of=original_id, fields=fields, audience=original.audience)  # fmt: skip
        edits = Broadcast(kind=RETRACT, author_id=actor_id, update_of=original_id, fields=fields, audience=original.audience)  # fmt: skip
        moved = {**old, "date": new["new_date"], "start": new["new_start"], "end": new["new_end"]}
        original.fields = json.dumps(moved, ensure_ascii=False)
        await store.record_change(
            session=session, original=original, made=[notice, edits], action="broadcast_event_moved"
        )
    plan_reminder(services, original)
    total = await start_sending(services, notice.id or 0, actor_id)
    await start_sending(services, edits.id or 0, actor_id)
    return total


async def reply(services: Services, broadcast_id: int, user_id: int, choice: str) -> bool:
    async with services.sessions() as session:
        broadcast = await store.get(session=session, broadcast_id=broadcast_id)
        if broadcast is not None and broadcast.called_off_at is not None:
            raise BroadcastError(CALLED_OFF)
        if broadcast is None or choice not in dict(CHOICES.get(broadcast.kind, ())):
            raise BroadcastError(STALE)
        return await store.toggle_reply(
            session=session, broadcast_id=broadcast_id, user_id=user_id, choice=choice
        )


async def remind_me(services: Services, broadcast_id: int, user_id: int) -> Broadcast:
    async with services.sessions() as session:
        broadcast = await store.get(session=session, broadcast_id=broadcast_id)
        if broadcast is None or broadcast.kind != "buurttent":
            raise BroadcastError(N_("Deze herinnering ken ik niet."))
        if broadcast.called_off_at is not None:
            raise BroadcastError(CALLED_OFF)
        await store.set_reply(
            session=session, broadcast_id=broadcast_id, user_id=user_id, choice="remind"
        )
    return broadcast


def starts_at(broadcast: Broadcast, tz: Any) -> datetime | None:
    """When a BuurtTent opens, in the city's time zone; for the reminder."""
    fields = fields_of(broadcast)
    if broadcast.kind != "buurttent" or "date" not in fields:
        return None
    return datetime.combine(
        date.fromisoformat(fields["date"]), time.fromisoformat(fields["start"]), tzinfo=tz
    )


def now_in(tz: Any) -> datetime:
    return utcnow().astimezone(tz)


REMIND_PREFIX = "rem-"


async def render_for(
    services: Services,
    bot_username: str,
    broadcast: Broadcast,
    language: str | None,
    recipient: str,
) -> Outgoing:
    """One recipient's message: their language, and buttons that work where they read it.

    In a channel or group, "herinner me" is a link into the private chat: the bot may
    not write first to someone who never started it, so the reminder is asked there.
    """
    lang = services.translator.for_language(language or services.translator.default_language)
    _ = lang.gettext
    fields = fields_of(broadcast)
    buttons = []
    for choice, label in CHOICES.get(broadcast.kind, ()):
        if choice == "remind" and recipient != "user":
            url = f"https://t.me/{bot_username}?start={REMIND_PREFIX}{broadcast.id}"
            buttons.append(InlineKeyboardButton(_(label), url=url))
        else:
            buttons.append(
                InlineKeyboardButton(
                    _(label), callback_data=pack(Button.REPLY, str(broadcast.id), choice)
                )
            )
    return Outgoing(
        text=render_text(lang, broadcast.kind, fields),
        keyboard=InlineKeyboardMarkup([buttons]) if buttons else None,
        photo=broadcast.photo_file_id,
    )


def delivery_renderer(services: Services, bot_username: str) -> Any:
    """The engine's render callback: one outbox row -> its message, broadcasts read once."""
    cache: dict[int, Broadcast] = {}
    # For edits: the original announcement and where each copy of it went.
    copies: dict[int, tuple[Broadcast, dict[int, int]]] = {}

    async def render(delivery: Any) -> Outgoing:
        broadcast = cache.get(delivery.broadcast_id)
        if broadcast is None:
            async with services.sessions() as session:
                broadcast = await store.get(session=session, broadcast_id=delivery.broadcast_id)
            if broadcast is None:
                raise LookupError(f"broadcast {delivery.broadcast_id} is gone")
            cache[delivery.broadcast_id] = broadcast
        if broadcast.kind == RETRACT and broadcast.update_of is not None:
            if broadcast.update_of not in copies:
                async with services.sessions() as session:
                    original = await store.get(session=session, broadcast_id=broadcast.update_of)
                    sent = await store.delivered_to(
                        session=session, broadcast_id=broadcast.update_of
                    )
                if original is None:
                    raise LookupError(f"broadcast {broadcast.update_of} is gone")
                where = {d.chat_id: d.message_id for d in sent if d.message_id is not None}
                copies[broadcast.update_of] = (original, where)
            original, where = copies[broadcast.update_of]
            message_id = where.get(delivery.chat_id)
            if message_id is None:
                raise LookupError(f"no copy of broadcast {original.id} in that chat")
            return await render_edit(
                services, bot_username, original, broadcast, delivery.language,
                delivery.recipient, message_id,
            )  # fmt: skip
        return await render_for(
            services, bot_username, broadcast, delivery.language, delivery.recipient
        )

    return render


async def render_edit(
    services: Services,
    bot_username: str,
    original: Broadcast,
    change: Broadcast,
    language: str | None,
    recipient: str,
    message_id: int,
) -> Outgoing:
    """A copy of an announcement as it should read now that it is called off or moved.

    Called off: a private copy keeps its text and its buttons give way to one that says
    so; a group's or channel's post (read by many, often later) also gets the banner.
    Moved: the post shows the new moment under a banner, with its buttons.
    """
    lang = services.translator.for_language(language or services.translator.default_language)
    _ = lang.gettext
    cancelled = fields_of(change).get("what") == "cancelled"
    if cancelled:
        off = InlineKeyboardButton(
            "❌ " + _("Gaat niet door"), callback_data=pack(Button.REPLY, str(original.id), "off")
        )
        keyboard: InlineKeyboardMarkup | None = InlineKeyboardMarkup([[off]])
        if recipient == "user":
            return Outgoing(text="", keyboard=keyboard, edit_of=message_id, markup_only=True)
        current = await render_for(services, bot_username, original, language, recipient)
        banner = "⚠️ <b>" + _("Gaat niet door") + "</b>"
    else:
        current = await render_for(services, bot_username, original, language, recipient)
        keyboard = current.keyboard
        banner = "⚠️ <b>" + _("Nieuwe datum of tijd") + "</b>"
    text = f"{banner}\n\n{current.text}"
    if original.photo_file_id:
        text = text[:CAPTION_LIMIT]
    return Outgoing(text=text, keyboard=keyboard, photo=original.photo_file_id, edit_of=message_id)


async def finished(services: Services, broadcast_id: int) -> Broadcast | None:
    """All recipients done: the broadcast is sent, a BuurtTent's reminder is planned and a
    weekly one plans its next week. Once: a second report of the same end finds it sent."""
    async with services.sessions() as session:
        done = await store.set_status(
            session=session,
            broadcast_id=broadcast_id,
            status=BroadcastStatus.SENT,
            expected={BroadcastStatus.SENDING},
            actor_id=None,
        )
    if done is not None:
        plan_reminder(services, done)
        await next_week(services, done)
    return done


async def reminder_for(services: Services, broadcast_id: int) -> Broadcast | None:
    """A reminder broadcast to those who asked for one; None if nobody did, or if the
    BuurtTent does not go ahead (a job planned before it was called off finds nothing)."""
    async with services.sessions() as session:
        original = await store.get(session=session, broadcast_id=broadcast_id)
        asked = await store.repliers(session=session, broadcast_id=broadcast_id, choice="remind")
        if (
            original is None
            or not asked
            or original.kind != "buurttent"
            or original.called_off_at is not None
        ):
            return None
        reminder = Broadcast(
            kind="reminder", author_id=original.author_id, fields=original.fields,
            audience=json.dumps({"users": asked}),
        )  # fmt: skip
        return await store.save(session=session, broadcast=reminder)


async def record_result(services: Services, user_id: int, broadcast_id: int, text: str) -> int:
    """A team contact's count of homes that got footprints after a Witte Voetjes action."""
    value = text.strip()
    # isdecimal, not isdigit: "²" is a digit that int() refuses; "٣" (3) is fine.
    if not value.isdecimal() or int(value) > 100_000:
        raise BroadcastError(N_("Typ alleen een getal, bijvoorbeeld 12."))
    async with services.sessions() as session:
        own = await team_store.of_contact(session=session, user_id=user_id)
        broadcast = await store.get(session=session, broadcast_id=broadcast_id)
        if not own or broadcast is None or broadcast.kind != "witte_voetjes":
            raise BroadcastError(N_("Deze actie ken ik niet."))
        await store.record_result(
            session=session,
            broadcast_id=broadcast_id,
            team_id=own[0].id or 0,
            homes=int(value),
            by=user_id,
        )
    return int(value)


# ---------------------------------------------------------------- composing: the conversation


@dataclass
class Composing:
    """A broadcast being composed or changed, kept in the conversation row between
    messages: which question comes next (`step`) and what was said so far."""

    step: Step
    kind: str | None = None
    index: int = 0  # the field of FIELDS[kind] asked now
    fields: dict[str, str] = field(default_factory=dict)
    audience: Audience = field(default_factory=Audience)
    broadcast: int | None = None  # what a step is about: to plan, move, edit or change
    version: int | None = None  # the version seen when a move or an edit began
    weekly: bool = False
    replace: bool = False  # new words for the scheduled `broadcast`, not a new one
    change: dict[str, str] = field(default_factory=dict)  # a tent's notice, previewed

    @property
    def spec(self) -> Spec | None:
        """The field asked now, while filling in fields."""
        specs = FIELDS.get(self.kind or "", ())
        return specs[self.index] if self.step == Step.FIELD and self.index < len(specs) else None

    def dump(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("step")
        return data

    @classmethod
    def load(cls, step: str, data: dict[str, Any]) -> Composing | None:
        """None for a step this version does not know (a row left by an older one)."""
        if step not in Step.__members__.values():
            return None
        known = {key: data[key] for key in cls.__dataclass_fields__ if key in data}
        known["audience"] = Audience(**dict(known.get("audience") or {}))
        return cls(step=Step(step), **known)


async def composing(services: Services, user_id: int) -> Composing | None:
    """Where this person is in a broadcast conversation; None when in none."""
    async with services.sessions() as session:
        state = await conversations.get(session=session, user_id=user_id)
    if state is None or state.flow != FLOW:
        return None
    return Composing.load(state.step, conversations.data_of(state))


async def keep(services: Services, user_id: int, state: Composing) -> None:
    async with services.sessions() as session:
        await conversations.put(
            session=session, user_id=user_id, flow=FLOW, step=state.step, data=state.dump()
        )


async def stop(services: Services, user_id: int) -> None:
    async with services.sessions() as session:
        await conversations.clear(session=session, user_id=user_id)


async def allowed_for(
    services: Services, user_id: int, roles: Roles | None = None
) -> frozenset[str] | None:
    """The wijken this person may send to; None: anywhere (a coordinator)."""
    return await allowed_wijken(services, roles or await roles_of(services, user_id))


async def own_only(services: Services, user_id: int, roles: Roles | None = None) -> int | None:
    """None for a coordinator (every broadcast); a team contact's own id (only theirs)."""
    return None if await allowed_for(services, user_id, roles) is None else user_id


async def may_touch(
    services: Services, user_id: int, broadcast_id: int, roles: Roles | None = None
) -> bool:
    """Coordinators act on every broadcast; a team contact only on their own."""
    if await allowed_for(services, user_id, roles) is None:
        return True
    async with services.sessions() as session:
        broadcast = await store.get(session=session, broadcast_id=broadcast_id)
    return broadcast is not None and broadcast.author_id == user_id


@dataclass(frozen=True)
class AudienceOptions:
    """What the audience keyboard offers besides wijken and parks."""

    teams: list[tuple[int, str]]
    groups: list[tuple[int, str]]


async def audience_options(services: Services) -> AudienceOptions:
    async with services.sessions() as session:
        teams = await team_store.living(session=session)
        groups = await group_store.approved(session=session)
    return AudienceOptions(
        teams=[(t.id or 0, t.name) for t in teams], groups=[(g.id or 0, g.title) for g in groups]
    )


async def scheduled_one(services: Services, broadcast_id: int) -> Broadcast:
    """A broadcast still waiting for its moment, to move or edit; refused otherwise."""
    async with services.sessions() as session:
        broadcast = await store.get(session=session, broadcast_id=broadcast_id)
    if broadcast is None or broadcast.status != BroadcastStatus.SCHEDULED:
        raise BroadcastError(N_("Dit bericht is al verstuurd of geannuleerd."))
    return broadcast


CHANGED_MEANWHILE = N_("Iemand anders heeft dit bericht net gewijzigd. Kijk opnieuw bij /gepland.")


async def save_edit(services: Services, user_id: int, state: Composing, lang: Lang) -> Broadcast:
    """New words for a scheduled broadcast, unless someone changed it meanwhile."""
    async with services.sessions() as session:
        current = await store.get(session=session, broadcast_id=state.broadcast or 0)
        if current is None:
            raise BroadcastError(N_("Dit bericht is al verstuurd of geannuleerd."))
        check_length(lang, current.kind, state.fields, current.photo_file_id is not None)
        saved = await store.replace_fields(
            session=session,
            broadcast_id=current.id or 0,
            fields=json.dumps(state.fields, ensure_ascii=False),
            version=state.version or 0,
            actor_id=user_id,
        )
        await conversations.clear(session=session, user_id=user_id)
    if saved is None:
        raise BroadcastError(CHANGED_MEANWHILE)
    return saved


async def watch_progress(
    services: Services, broadcast_id: int, chat_id: int, message_id: int
) -> None:
    """The message where the author follows the sending: edited as it goes."""
    async with services.sessions() as session:
        broadcast = await store.get(session=session, broadcast_id=broadcast_id)
        if broadcast is not None:
            broadcast.progress_chat_id, broadcast.progress_message_id = chat_id, message_id
            await store.save(session=session, broadcast=broadcast)


async def get(services: Services, broadcast_id: int) -> Broadcast | None:
    async with services.sessions() as session:
        return await store.get(session=session, broadcast_id=broadcast_id)


async def size_of(services: Services, broadcast: Broadcast) -> int:
    """How many recipients a broadcast has now: channels, groups and residents."""
    chats, residents = await recipients(
        services, Audience.loads(broadcast.audience), broadcast.kind
    )
    async with services.sessions() as session:
        counted = await store.count_residents(session=session, residents=residents)
    # A resident's chat id is positive, a group's or channel's negative: no overlap.
    return len(chats) + counted


# ---------------------------------------------------------------- the lists


async def planned_list(services: Services, author_id: int | None) -> list[tuple[Broadcast, int]]:
    """/gepland: what is scheduled, with its number of recipients now."""
    async with services.sessions() as session:
        items = await store.scheduled(session=session, author_id=author_id)
    return [(item, await size_of(services, item)) for item in items]


@dataclass(frozen=True)
class SentRow:
    """One line of /verzonden: a broadcast and what became of it."""

    broadcast: Broadcast
    counts: dict[str, int]  # by DeliveryStatus value
    replies: dict[str, int]
    homes: int | None


async def sent_list(services: Services, author_id: int | None) -> list[SentRow]:
    async with services.sessions() as session:
        items = await store.recent(session=session, author_id=author_id)
        return [
            SentRow(
                item,
                dict(await store.delivery_counts(session=session, broadcast_id=item.id or 0)),
                await store.reply_counts(session=session, broadcast_id=item.id or 0),
                await store.homes_marked(session=session, broadcast_id=item.id or 0),
            )
            for item in items
        ]


async def recent_actions(services: Services, days: int = 30) -> list[Broadcast]:
    """/resultaat: the Witte Voetjes actions of the last `days` days."""
    since = now_in(services.settings.tz) - timedelta(days=days)
    async with services.sessions() as session:
        return await store.recent_of_kind(session=session, kind="witte_voetjes", since=since)


async def held_back(services: Services, broadcast_id: int) -> int:
    """How many copies wait for quiet hours: the progress line says so."""
    async with services.sessions() as session:
        return await store.held_back(session=session, broadcast_id=broadcast_id, now=utcnow())
