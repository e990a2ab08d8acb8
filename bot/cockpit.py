"""What the coordinator's Mini App shows (issue 17), as plain data for its JSON API.

Who may see what is decided here, on every call, from the roles held now: coordinators
and administrators see the whole city; a wijkboa sees only their own wijk, with small
counts hidden and no change against the period before, exactly as in their chat digest.
The figures are bot.stats' own (`compare`), so the app and `/stats` cannot disagree.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot import overview, reports, stats
from bot.errors import KeyedError
from bot.i18n import N_, Lang
from bot.notices import language_of
from bot.residents import KIND_LABELS
from bot.roles import Role, roles_of
from bot.services import Services
from bot.stats import Figures, Period, StatsError
from storage import broadcasts as broadcast_store
from storage import groups as group_store
from storage import reports as report_store
from storage import teams as team_store
from storage.models import BroadcastStatus, TeamStatus, utcnow

Json = dict[str, Any]

# Teams and groups the list shows: those that exist for the city (not refused or gone).
LISTED = overview.LIVING  # as /overzicht lists them; groups share these values
# The calendar looks this far back, and shows at most this many announcements.
CALENDAR_DAYS = 92
CALENDAR_LIMIT = 200
# Delivery statuses (storage.models.Delivery) as the calendar counts them.
FAILED = ("failed", "blocked", "gone")
WAITING = ("queued", "sending")
# A reply's choice as /stats names it.
CHOICE_LABELS = {
    "join": N_("doen mee"),
    "come": N_("komen"),
    "remind": N_("herinnering"),
    "team": N_("teams doen mee"),
}
TREND_PERIODS = {"week": 12, "month": 12, "year": 5}
# The figures of a trend: residents, reports and announcements per period.
TREND_KEYS = ("subscribed", "reports", "broadcasts")


class CockpitError(KeyedError):
    """Someone asked for what their role does not show; `key` is a message id."""


NOT_ALLOWED = N_("Dit overzicht is alleen voor de coördinator en de wijkboa.")
COORDINATORS_ONLY = N_("Het jaarrapport is alleen voor de coördinator.")
DETAILS_COORDINATORS_ONLY = N_("De details van een melding zijn alleen voor de coördinator.")
ASK_COORDINATORS_ONLY = N_("Alleen de coördinator vraagt of een team of groep nog actief is.")
# The newest reports a status lists; older ones stay in the chat's /vermoedens and exports.
REPORTS_LIMIT = 50


@dataclass(frozen=True)
class Reader:
    """Who reads, in which language, and how much of the city."""

    user_id: int
    lang: Lang
    # None: the whole city; else the wijk slugs of a wijkboa.
    wijken: tuple[str, ...] | None
    hide_below: int | None

    @property
    def city(self) -> bool:
        return self.wijken is None

    def shown(self, value: int) -> int | None:
        """A count as this reader may see it: None where a small count is hidden."""
        if self.hide_below is not None and 0 < value < self.hide_below:
            return None
        return value


async def reader(services: Services, user_id: int) -> Reader:
    """The reader `user_id` is now, or CockpitError when they may not open the app."""
    roles = await roles_of(services, user_id)
    lang = await language_of(services, user_id)
    if roles.has(Role.COORDINATOR):
        return Reader(user_id, lang, None, None)
    prefix = "wijk:"
    wijken = tuple(
        scope.removeprefix(prefix)
        for scope in roles.scopes(Role.WIJKBOA)
        if scope.startswith(prefix) and services.areas.wijk(scope.removeprefix(prefix))
    )
    if not wijken:
        raise CockpitError(NOT_ALLOWED)
    return Reader(user_id, lang, wijken, services.settings.small_count)


def _places(services: Services, who: Reader) -> list[tuple[str, str]]:
    """(key, name): the city then every wijk for a coordinator, a wijkboa's own wijken."""
    if who.wijken is None:
        return [(stats.TOTAL, services.areas.city)] + [
            (w.slug, w.name) for w in services.areas.wijken
        ]
    found = (services.areas.wijk(slug) for slug in who.wijken)
    return [(w.slug, w.name) for w in found if w is not None]


def figure_labels(services: Services, lang: Lang) -> list[tuple[str, str]]:
    """(key, label) of every figure, in the order of /export's columns."""
    labels = [(key, lang.gettext(header)) for header, key in stats.COLUMNS]
    labels += [(f"cat:{c.slug}", c.label(lang.code)) for c in services.categories.items]
    return labels


def _figures(who: Reader, keys: list[str], counts: Figures) -> dict[str, int | None]:
    return {key: who.shown(counts[key]) for key in keys}


def _period(lang: Lang, period: Period, today: Any) -> Json:
    following = period.next()
    return {
        "kind": period.kind,
        "key": period.key,
        "code": period.code,
        "title": stats.period_title(lang, period),
        "previous": period.previous().code,
        "next": following.code if following.first <= today else None,
    }


async def figures(services: Services, who: Reader, period: Period) -> Json:
    """One period's figures per place, and those of the period before (not for a wijkboa)."""
    current, previous = await stats.compare(services, period)
    keys = [key for key, _label in figure_labels(services, who.lang)]
    places = []
    for key, name in _places(services, who):
        place: Json = {"key": key, "name": name}
        place["figures"] = _figures(who, keys, current.of(None if key == stats.TOTAL else key))
        if who.city:  # a change between hidden counts would give them away
            place["before"] = _figures(who, keys, previous.of(None if key == stats.TOTAL else key))
        places.append(place)
    return {
        "period": _period(who.lang, period, stats.today_in(services)),
        "labels": dict(figure_labels(services, who.lang)),
        "states_then": current.states_then,
        "hidden_below": who.hide_below,
        "places": places,
    }


async def trend(services: Services, who: Reader, kind: str) -> Json:
    """The last few weeks, months or years of residents, reports and announcements."""
    if kind not in TREND_PERIODS:
        raise StatsError(stats.BAD_PERIOD)
    periods = [stats.period_of(kind, stats.today_in(services))]
    while len(periods) < TREND_PERIODS[kind]:
        periods.insert(0, periods[0].previous())
    # One grouped query per figure over every period (bot.stats.trend), not a compute each.
    computed = await stats.trend(services, periods)
    places = _places(services, who)
    return {
        "kind": kind,
        "periods": [{"key": p.key, "title": stats.period_title(who.lang, p)} for p in periods],
        "keys": list(TREND_KEYS),
        "labels": dict(figure_labels(services, who.lang)),
        "hidden_below": who.hide_below,
        "places": [
            {
                "key": key,
                "name": name,
                "series": {
                    figure: [who.shown(s.get(key, Counter())[figure]) for s in computed]
                    for figure in TREND_KEYS
                },
            }
            for key, name in places
        ],
    }


def _when(lang: Lang, moment: datetime | None) -> str | None:
    return None if moment is None else lang.datetime(moment, "d MMM y HH:mm")


async def teams_and_groups(services: Services, who: Reader) -> Json:
    """Every team and group with its status, last sign of life and whether it sleeps."""
    before = overview.dormant_before(services)
    async with services.sessions() as session:
        teams = await team_store.living(session=session, statuses=LISTED)
        groups = await group_store.living(session=session, statuses=LISTED)
    names = {w.slug: w.name for w in services.areas.wijken}
    allowed = None if who.wijken is None else set(who.wijken)
    rows: list[Json] = []
    for kind, item_id, name, wijk, status, last in [
        ("team", t.id, t.name, t.wijk, t.status, t.last_activity_at) for t in teams
    ] + [("group", g.id, g.title, g.wijk, g.status, g.last_activity_at) for g in groups]:
        if allowed is not None and wijk not in allowed:
            continue
        rows.append(
            {
                "kind": kind,
                "id": item_id,
                "name": name,
                "wijk": wijk,
                "wijk_name": names.get(wijk or ""),
                "status": status,
                # The same rule as /overzicht: approved and silent since the cut-off.
                "dormant": status == TeamStatus.APPROVED and last < before,
                # The chat's "still active?" button is the coordinator's, so is the app's.
                "may_ask": who.city and status == TeamStatus.APPROVED and last < before,
                "last_sign": last.isoformat(),
                "last_sign_text": _when(who.lang, last),
            }
        )
    return {"dormant_days": services.settings.dormant_days, "items": rows}


def _audience_wijken(audience: str) -> list[str] | None:
    """The wijken an announcement went to; None for the whole city."""
    try:
        parsed = json.loads(audience)
    except ValueError:
        return []
    if not isinstance(parsed, dict) or parsed.get("all"):
        return None
    return [w for w in parsed.get("wijken", []) if isinstance(w, str)]


def broadcast_state(status: str, called_off: bool) -> str:
    """planned | sending | sent | called_off: the calendar's four colours."""
    if status == BroadcastStatus.CANCELLED or called_off:
        return "called_off"
    return "planned" if status == BroadcastStatus.SCHEDULED else status


async def broadcasts(services: Services, who: Reader, now: datetime | None = None) -> Json:
    """Announcements of the last months and those planned, with their counts and replies."""
    since = (now or utcnow()) - timedelta(days=CALENDAR_DAYS)
    async with services.sessions() as session:
        found = await broadcast_store.calendar(session=session, since=since, limit=CALENDAR_LIMIT)
        ids = [b.id for b in found if b.id is not None]
        deliveries = await broadcast_store.delivery_counts_of(session=session, ids=ids)
        replies = await broadcast_store.reply_counts_of(session=session, ids=ids)
    names = {w.slug: w.name for w in services.areas.wijken}
    rows: list[Json] = []
    for item in found:
        assert item.id is not None
        wijken = _audience_wijken(item.audience)
        if who.wijken is not None and wijken is not None and not set(wijken) & set(who.wijken):
            continue
        when = item.send_at or item.started_at or item.created_at
        copies = deliveries.get(item.id, {})
        rows.append(
            {
                "id": item.id,
                "kind": item.kind,
                "kind_name": who.lang.gettext(KIND_LABELS.get(item.kind, item.kind)),
                "state": broadcast_state(item.status, item.called_off_at is not None),
                "when": when.isoformat(),
                "when_text": _when(who.lang, when),
                # The calendar's day, in the city's time: the page puts a day's items
                # under one heading (newest first, the planned ones on top).
                "day": (day := when.astimezone(services.settings.tz).date()).isoformat(),
                "day_text": who.lang.date(day, "EEEE d MMMM y"),
                "wijken": None if wijken is None else [names.get(w, w) for w in wijken],
                "delivered": who.shown(copies.get("sent", 0)),
                "failed": who.shown(sum(copies.get(s, 0) for s in FAILED)),
                "waiting": who.shown(sum(copies.get(s, 0) for s in WAITING)),
                "replies": [
                    {
                        "choice": choice,
                        "label": who.lang.gettext(CHOICE_LABELS.get(choice, choice)),
                        "count": who.shown(count),
                    }
                    for choice, count in sorted(replies.get(item.id, {}).items())
                ],
            }
        )
    return {"hidden_below": who.hide_below, "items": rows}


async def ask_still_active(services: Services, who: Reader, kind: str, item_id: int) -> bool:
    """The "still active?" button of /overzicht, from the app: the same service."""
    if not who.city:
        raise CockpitError(ASK_COORDINATORS_ONLY)
    if kind not in ("team", "group"):
        raise overview.OverviewError(overview.NOBODY_TO_ASK)
    return await overview.ask_still_active(services, kind[0], item_id)


async def report_list(services: Services, who: Reader, status: str | None) -> Json:
    """Reports by status, never their texts: counts for everyone who may open the app, and
    for a coordinator the newest of one status by number, category, area and dates."""
    chosen = status or reports.ReportStatus.RECEIVED
    if chosen not in reports.STATUSES:
        raise reports.ReportError(N_("Die status ken ik niet."))
    async with services.sessions() as session:
        counts = await report_store.status_counts(
            session=session,
            wijken=None if who.wijken is None else list(who.wijken),
            open_statuses=[s for s in reports.STATUSES if s != reports.CLOSED],
            closed=reports.CLOSED,
        )
        lines = (
            await report_store.lines_by_status(session=session, status=chosen, limit=REPORTS_LIMIT)
            if who.city
            else []  # a wijkboa sees counts in chat, never a report: so here
        )
    lang = who.lang
    return {
        "status": chosen,
        "hidden_below": who.hide_below,
        "statuses": [
            {
                "status": value,
                "label": reports.status_label(lang, value),
                "count": who.shown(counts.get(value, 0)),
            }
            for value in reports.STATUSES
        ],
        "items": [
            {
                "ref": line.ref,
                "category": services.categories.label(line.category, lang.code),
                "area": services.areas.area_name(line.area),
                "status": reports.status_label(lang, line.status),
                "filed": _when(lang, line.created_at),
                "happened": _when(lang, line.occurred_at),
            }
            for line in lines
        ],
        "details": who.city,
    }


async def report_details(services: Services, who: Reader, ref: str) -> Json:
    """One report opened on purpose: audited exactly as the chat's Details button."""
    if not who.city:
        raise CockpitError(DETAILS_COORDINATORS_ONLY)
    found = await reports.view(services, ref.upper(), who.user_id)
    lang = who.lang
    _ = lang.gettext
    if found.anonymous:
        reporter = _("Melder: anoniem")
    elif found.reporter_id is None:
        reporter = _("Melder: heeft zijn of haar gegevens gewist")
    else:
        name = await reports.reporter_name(services, found.reporter_id)
        reporter = _("Melder: {name}").format(name=name or _("melder"))
    place = services.areas.area_name(found.area)
    if found.street:
        place += f", {found.street}"
    return {
        "ref": found.ref,
        # Plain text for the page, which sets it as text: never markup.
        "lines": [
            _("Wat: {what}").format(what=services.categories.label(found.category, lang.code)),
            _("Waar: {where}").format(where=place),
            _("Wanneer: {when}").format(when=lang.datetime(found.occurred_at, "short")),
            _("Beschrijving: {text}").format(text=found.description),
            _("Foto's: {n}").format(n=len(found.photos.split())),
            _("Status: {status}").format(status=reports.status_label(lang, found.status)),
            *(
                [_("Bericht aan de melder: {note}").format(note=found.status_note)]
                if found.status_note
                else []
            ),
            reporter,
        ],
    }
