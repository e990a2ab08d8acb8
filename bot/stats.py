"""The figures: periods in the city's time, counts per wijk, the change against the period
before, the text a phone shows, the CSV for the yearly report, and the weekly digest."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import get_decimal_symbol
from openpyxl import Workbook
from openpyxl.styles import Font
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import charts, overview
from bot.broadcasts import KINDS
from bot.charts import ChartData
from bot.errors import KeyedError
from bot.i18n import N_, Lang
from bot.notices import Letter, Topic, language_of, queue
from bot.roles import coordinator_ids, wijkboa_scopes
from bot.services import Services
from bot.settings import WEEKDAYS
from storage import residents as resident_store
from storage import stats as store
from storage.models import BroadcastStatus, utcnow

log = logging.getLogger(__name__)

TOTAL = "*"  # the key of the whole city's figures
UNKNOWN = ""  # counted in the total, shown under no wijk (a group without a wijk)
CHART_WEEKS = 12
MAX_YEAR_BACK = 20  # "/stats 1999" is a typo, not a question

Figures = Counter[str]


class StatsError(KeyedError):
    """Input that names no period; `key` is a message id with an example of what works."""


BAD_PERIOD = N_(
    "Die periode ken ik niet. Probeer: /stats, /stats vorige, /stats 2026-W47, "
    "/stats 2026-11 of /stats 2026."
)
# The same answer for /export: the examples must be the command that was typed.
BAD_EXPORT_PERIOD = N_(
    "Die periode ken ik niet. Probeer: /export, /export vorige, /export 2026-W47, "
    "/export 2026-11 of /export 2026."
)


@dataclass(frozen=True)
class Period:
    """An ISO week, a calendar month or a year, as local calendar days (last inclusive)."""

    kind: str  # week | month | year
    first: date
    last: date

    @property
    def key(self) -> str:
        """ "2026-W47", "2026-11" or "2026": what people type, and the digest's record."""
        if self.kind == "week":
            year, week, _ = self.first.isocalendar()
            return f"{year}-W{week:02d}"
        if self.kind == "month":
            return f"{self.first.year}-{self.first.month:02d}"
        return str(self.first.year)

    @property
    def code(self) -> str:
        """The same in the few characters callback data allows ("w2026-47")."""
        return self.kind[0] + self.key.lower().replace("-w", "-")

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """[start, end) in UTC: local midnights, so a DST week is 167 or 169 hours.

        In UTC because Python subtracts two times of one zone by their wall clocks.
        """
        end_day = self.last + timedelta(days=1)
        return (
            datetime.combine(self.first, time(0), tzinfo=tz).astimezone(UTC),
            datetime.combine(end_day, time(0), tzinfo=tz).astimezone(UTC),
        )

    def previous(self) -> Period:
        return period_of(self.kind, self.first - timedelta(days=1))

    def next(self) -> Period:
        return period_of(self.kind, self.last + timedelta(days=1))

    def as_kind(self, kind: str, today: date) -> Period:
        """The week, month or year of today when this period holds it, else of its first day.

        This week began on 30 November: "Maand" on 1 December means December, the
        month the coordinator is in, not the one the week happened to start in.
        """
        return period_of(kind, today if self.first <= today <= self.last else self.first)


def period_of(kind: str, day: date) -> Period:
    if kind == "week":
        first = day - timedelta(days=day.weekday())
        return Period("week", first, first + timedelta(days=6))
    if kind == "month":
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return Period("month", first, following - timedelta(days=1))
    if kind == "year":
        return Period("year", date(day.year, 1, 1), date(day.year, 12, 31))
    raise ValueError(f"no such period kind: {kind!r}")


_WEEK = re.compile(r"(\d{4})-?w(\d{1,2})")
_MONTH = re.compile(r"(\d{4})-(\d{1,2})")
_YEAR = re.compile(r"\d{4}")
_THIS = {"", "deze", "week", "nu", "this", "now"}
_LAST = {"vorige", "vorige week", "last", "previous", "last week"}


def parse_period(text: str, today: date) -> Period:
    """What follows /stats or /export: nothing, "vorige", 2026-W47, 2026-11 or 2026."""
    value = " ".join(text.lower().split())
    this_week = period_of("week", today)
    if value in _THIS:
        return this_week
    if value in _LAST:
        return this_week.previous()
    if value in {"vorige maand", "last month"}:
        return period_of("month", today).previous()
    if value in {"vorig jaar", "last year"}:
        return period_of("year", today).previous()
    try:
        if match := _WEEK.fullmatch(value):
            found = period_of("week", date.fromisocalendar(int(match[1]), int(match[2]), 1))
        elif match := _MONTH.fullmatch(value):
            found = period_of("month", date(int(match[1]), int(match[2]), 1))
        elif _YEAR.fullmatch(value):
            found = period_of("year", date(int(value), 1, 1))
        else:
            raise StatsError(BAD_PERIOD)
    except ValueError:  # week 60, month 13: the shape was right, the calendar says no
        raise StatsError(BAD_PERIOD) from None
    if found.first > today or found.first.year < today.year - MAX_YEAR_BACK:
        raise StatsError(BAD_PERIOD)
    return found


def period_from_code(code: str, today: date) -> Period | None:
    """A button's period; None if the data was not made by this bot (or is in the future)."""
    kinds = {"w": "week", "m": "month", "y": "year"}
    kind = kinds.get(code[:1])
    if kind is None:
        return None
    body = code[1:]
    if not re.fullmatch(r"\d{4}(-\d{1,2})?", body):
        return None
    if kind == "week":
        body = body.replace("-", "-w", 1)
    try:
        found = parse_period(body, today)
    except StatsError:
        return None
    return found if found.kind == kind else None


def today_in(services: Services, now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(services.settings.tz).date()


@dataclass
class Stats:
    """One period's figures: per wijk slug, plus TOTAL, plus UNKNOWN."""

    period: Period
    by_wijk: dict[str, Figures]
    # Teams and groups as they stood at the period's end (a recorded day), not as they
    # stand now: only then is a change against the period before meaningful.
    states_then: bool = True

    def of(self, wijk: str | None) -> Figures:
        return self.by_wijk.get(TOTAL if wijk is None else wijk, Counter())


async def compute(services: Services, period: Period, now: datetime | None = None) -> Stats:
    """Every figure of one period, from a fixed handful of grouped queries."""
    now = now or utcnow()
    start, end = period.bounds(services.settings.tz)
    by_wijk: dict[str, Figures] = defaultdict(Counter)
    async with services.sessions() as session:
        joins = await store.membership_days(session=session, first=period.first, last=period.last)
        for wijk, counts in joins.items():
            # In a wijk, someone moving in came and someone moving out went.
            by_wijk[wijk].update(
                joined=counts["joined"] + counts["moved_in"],
                left=counts["left"] + counts["moved_out"],
                moved_in=counts["moved_in"],
                moved_out=counts["moved_out"],
            )
        subscribed = Counter(await resident_store.subscribed_by_wijk(session=session))
        if end < now:
            # Back from today to the period's end: undo every join and leave since then.
            later = await store.membership_days(
                session=session,
                first=period.last + timedelta(days=1),
                last=now.astimezone(services.settings.tz).date(),
            )
            for wijk, counts in later.items():
                came = counts["joined"] + counts["moved_in"]
                subscribed[wijk] += counts["left"] + counts["moved_out"] - came
        for wijk, count in subscribed.items():
            by_wijk[wijk]["subscribed"] = max(count, 0)
        states = None
        if end < now:
            states = await store.states_on(session=session, day=period.last + timedelta(days=1))
        states_then = states is not None or end >= now
        if states is None:
            states = await _states_now(services, session)
        for wijk, counts in states.items():
            by_wijk[wijk].update(counts)
        window = {"start": start, "end": end, "kinds": KINDS}
        sent = await store.broadcasts_started(session=session, **window)
        for wijk, counts in (await _broadcast_outcome(session, sent, window)).items():
            by_wijk[wijk].update(counts)
        for wijk, counts in (await store.replies_by_wijk(session=session, **window)).items():
            by_wijk[wijk].update(counts)
        for wijk, homes in (await store.homes_by_wijk(session=session, **window)).items():
            by_wijk[wijk]["homes"] += homes
        for wijk, area, category, count in await store.reports(
            session=session, first=period.first, last=period.last
        ):
            by_wijk[wijk].update(
                {"reports": count, f"cat:{category}": count, f"area:{area}": count}
            )
    total: Figures = Counter()
    for counts in by_wijk.values():
        total.update(counts)
    # For the city a move is neither a join nor a leave: the same person stays.
    total["joined"] -= total["moved_in"]
    total["left"] -= total["moved_out"]
    total["moved"] = total["moved_in"]
    # A broadcast to three wijken is one broadcast for the city.
    total["broadcasts"] = len(sent)
    by_wijk[TOTAL] = total
    return Stats(period, dict(by_wijk), states_then)


async def _states_now(services: Services, session: AsyncSession) -> store.WijkCounts:
    return await store.states(session=session, dormant_before=overview.dormant_before(services))


async def record_states(services: Services, now: datetime | None = None) -> None:
    """Keep today's teams and groups per wijk and state (run daily, and at every start)."""
    async with services.sessions() as session:
        counts = await _states_now(services, session)
        await store.save_states(session=session, day=today_in(services, now), counts=counts)


def _finished(
    live: dict[int, store.WijkCounts], status: dict[int, str]
) -> dict[int, store.WijkCounts]:
    """The live outcomes of broadcasts that are sent with no copy waiting: final, to keep."""
    return {
        bid: counts
        for bid, counts in live.items()
        if status[bid] == BroadcastStatus.SENT and not any(c["waiting"] for c in counts.values())
    }


async def _broadcast_outcome(
    session: AsyncSession, sent: list[tuple[int, str]], window: dict[str, Any]
) -> store.WijkCounts:
    """Per wijk: broadcasts that reached it, messages delivered and failed.

    Finished broadcasts are counted once from their deliveries and kept, so a year's
    figures read a few thousand kept rows, not a year of deliveries.
    """
    kept, per_wijk = await store.kept_broadcasts(session=session, **window)
    status = dict(sent)
    missing = [bid for bid in status if bid not in kept]
    live = await store.deliveries_by_wijk(session=session, ids=missing)
    await store.remember_broadcasts(session=session, figures=_finished(live, status))
    for counts in live.values():
        for wijk, outcome in counts.items():
            per_wijk[wijk].update(
                broadcasts=1, delivered=outcome["delivered"], failed=outcome["failed"]
            )
    return per_wijk


async def trend(
    services: Services, periods: list[Period], now: datetime | None = None
) -> list[dict[str, Counter[str]]]:
    """Residents (at each period's end), reports and announcements of consecutive periods,
    per wijk and TOTAL: the numbers `compute` gives each period, from one grouped query per
    figure over all of them instead of a `compute` per period."""
    now = now or utcnow()
    tz = services.settings.tz
    days = [p.first for p in periods] + [periods[-1].last + timedelta(days=1)]
    edges = [p.bounds(tz)[0] for p in periods] + [periods[-1].bounds(tz)[1]]
    figures: list[dict[str, Counter[str]]] = [defaultdict(Counter) for _ in periods]
    async with services.sessions() as session:
        subscribed = Counter(await resident_store.subscribed_by_wijk(session=session))
        events = await store.membership_per_period(
            session=session, edges=days, today=now.astimezone(tz).date()
        )
        reports = await store.reports_per_period(session=session, edges=days)
        sent = await store.broadcasts_per_period(session=session, edges=edges, kinds=KINDS)
        kept, reached = await store.kept_per_period(session=session, edges=edges, kinds=KINDS)
        status = {bid: state for bid, state, _index in sent}
        live = await store.deliveries_by_wijk(
            session=session, ids=[bid for bid in status if bid not in kept]
        )
        # As `compute` does: a finished broadcast is kept, so its deliveries are read once.
        await store.remember_broadcasts(session=session, figures=_finished(live, status))
    # Back from now, period by period: undo every join and leave after each period's end.
    for index in reversed(range(len(periods))):
        for wijk, counts in events.get(index + 1, {}).items():
            came = counts["joined"] + counts["moved_in"]
            subscribed[wijk] += counts["left"] + counts["moved_out"] - came
        for wijk, count in subscribed.items():
            figures[index][wijk]["subscribed"] = max(count, 0)
    for bid, _state, index in sent:
        for wijk in live.get(bid, {}):
            reached[index][wijk] += 1
    for index, place in enumerate(figures):
        for wijk, count in reports.get(index, {}).items():
            place[wijk]["reports"] = count
        for wijk, count in reached.get(index, {}).items():
            place[wijk]["broadcasts"] = count
        total: Counter[str] = Counter()
        for counts in place.values():
            total.update(counts)
        total["broadcasts"] = sum(1 for _bid, _state, at in sent if at == index)
        place[TOTAL] = total
    return figures


async def compare(services: Services, period: Period) -> tuple[Stats, Stats]:
    """The period's figures and those of the period before it."""
    return await compute(services, period), await compute(services, period.previous())


# --- what a phone shows --------------------------------------------------------------------


def period_title(lang: Lang, period: Period) -> str:
    _ = lang.gettext
    if period.kind == "week":
        return _("Week {week} ({first} – {last})").format(
            week=period.first.isocalendar()[1],
            first=lang.date(period.first, "d MMM"),
            last=lang.date(period.last, "d MMM y"),
        )
    if period.kind == "month":
        return lang.date(period.first, "LLLL y")
    return str(period.first.year)


@dataclass(frozen=True)
class View:
    """How figures are shown to one reader: a wijkboa sees small counts as "<3"."""

    lang: Lang
    hide_below: int | None = None

    def n(self, value: int) -> str:
        # Escaped: "<3" is a tag to Telegram's HTML parser.
        return escape(self.lang.count(value, hide_below=self.hide_below))

    def change(self, now: int, before: int) -> str:
        # A change between small counts would give away what "<3" hides.
        if self.hide_below is not None:
            return ""
        diff = now - before
        if diff == 0:
            return " (=)"
        sign = "+" if diff > 0 else "−"
        return f" ({sign}{self.lang.number(abs(diff))})"

    def figure(self, label: str, key: str, now: Figures, before: Figures) -> str:
        return f"{label}: {self.n(now[key])}{self.change(now[key], before[key])}"


def render(
    services: Services, view: View, current: Stats, previous: Stats, wijk: str | None
) -> str:
    """The figures of one period (the city or one wijk) in a dozen short lines of HTML."""
    _ = view.lang.gettext
    now, before = current.of(wijk), previous.of(wijk)
    areas = services.areas
    place = areas.wijk(wijk).name if wijk and areas.wijk(wijk) else areas.city
    lines = [
        f"<b>📊 {escape(period_title(view.lang, current.period))}</b>",
        f"<b>{escape(place)}</b>",
        "",
        "👥 "
        + " · ".join(
            (
                view.figure(_("Bewoners"), "subscribed", now, before),
                view.figure(_("erbij"), "joined", now, before),
                view.figure(_("weg"), "left", now, before),
                *([view.figure(_("verhuisd"), "moved", now, before)] if wijk is None else []),
            )
        ),
    ]
    # Without a record of how they stood then, teams and groups are shown as they stand
    # now, said so, and without a change.
    then = current.states_then
    compared = then and previous.states_then
    for icon, label, prefix in (
        ("🛡", _("Teams") if then else _("Teams nu"), "teams"),
        ("💬", _("Groepen") if then else _("Groepen nu"), "groups"),
    ):
        parts = []
        for state, text in (
            ("active", _("{n} actief")),
            ("pending", _("{n} wacht")),
            ("dormant", _("{n} slapend")),
        ):
            key = f"{prefix}_{state}"
            change = view.change(now[key], before[key]) if compared else ""
            parts.append(text.format(n=view.n(now[key])) + change)
        lines.append(f"{icon} {label}: " + " · ".join(parts))
    lines.append(
        "📣 "
        + " · ".join(
            (
                view.figure(_("Berichten"), "broadcasts", now, before),
                view.figure(_("bezorgd"), "delivered", now, before),
                view.figure(_("mislukt"), "failed", now, before),
            )
        )
    )
    replies = (
        ("👣 Witte Voetjes", ((_("doen mee"), "join"), (_("huizen met voetjes"), "homes"))),
        ("⛺ BuurtTent", ((_("komen"), "come"), (_("herinnering"), "remind"))),
        ("🏆 Challenge", ((_("teams doen mee"), "team"),)),
    )
    for title, parts in replies:
        if any(now[key] or before[key] for _label, key in parts):
            lines.append(
                f"{title} · "
                + " · ".join(view.figure(label, key, now, before) for label, key in parts)
            )
    lines.append("🚨 " + view.figure(_("Meldingen"), "reports", now, before))
    for category in services.categories.items:
        key = f"cat:{category.slug}"
        if now[key] or before[key]:
            label = category.label(view.lang.code)
            lines.append(f"   {category.icon} " + view.figure(escape(label), key, now, before))
    busiest = sorted(
        ((count, key) for key, count in now.items() if key.startswith("area:") and count),
        reverse=True,
    )[:5]
    if busiest:
        lines.append(
            "   📍 "
            + " · ".join(
                f"{escape(areas.area_name(key.removeprefix('area:')))}: {view.n(count)}"
                for count, key in busiest
            )
        )
    return "\n".join(lines)


# --- the file for the yearly report ---------------------------------------------------------

# (header msgid, figure key) in the order of the columns; categories and parks follow.
COLUMNS: tuple[tuple[str, str], ...] = (
    (N_("bewoners ingeschreven"), "subscribed"),
    (N_("bewoners erbij"), "joined"),
    (N_("bewoners weg"), "left"),
    (N_("teams actief"), "teams_active"),
    (N_("teams wacht"), "teams_pending"),
    (N_("teams slapend"), "teams_dormant"),
    (N_("groepen actief"), "groups_active"),
    (N_("groepen wacht"), "groups_pending"),
    (N_("groepen slapend"), "groups_dormant"),
    (N_("berichten verstuurd"), "broadcasts"),
    (N_("bezorgd"), "delivered"),
    (N_("mislukt"), "failed"),
    (N_("Witte Voetjes: doen mee"), "join"),
    (N_("Witte Voetjes: huizen met voetjes"), "homes"),
    (N_("BuurtTent: komen"), "come"),
    (N_("BuurtTent: herinnering"), "remind"),
    (N_("Challenge: teams"), "team"),
    (N_("meldingen"), "reports"),
)


def _table(services: Services, lang: Lang, stats: Stats) -> tuple[list[str], list[list[Any]]]:
    """The export's header and rows, one per wijk and one for the city: counts only."""
    _ = lang.gettext
    columns = [(_(header), key) for header, key in COLUMNS]
    columns += [
        (_("meldingen: {what}").format(what=c.label(lang.code)), f"cat:{c.slug}")
        for c in services.categories.items
    ]
    columns += [
        (_("meldingen: {what}").format(what=park.name), f"area:park:{park.slug}")
        for park in services.areas.business_parks
    ]
    header = [_("periode"), _("wijk"), *cbs_header(services, lang)]
    header += [title for title, _key in columns]
    places = [(w.name, stats.of(w.slug)) for w in services.areas.wijken]
    places.append((_("Totaal"), stats.of(None)))
    codes = cbs_codes(services)
    rows = [
        [stats.period.key, name, *code, *(figures[key] for _t, key in columns)]
        for (name, figures), code in zip(places, codes, strict=True)
    ]
    return header, rows


CBS_CODE = N_("CBS-code")


def cbs_header(services: Services, lang: Lang) -> list[str]:
    """The CBS code's column, when the areas file has the codes (bot.cbs); else none."""
    return [lang.gettext(CBS_CODE)] if any(w.code for w in services.areas.wijken) else []


def cbs_codes(services: Services) -> list[list[str]]:
    """Per wijk, then the city: [WK_CODE], [GM_CODE], so the city can join its rows with
    CBS's statistics; empty lists when the areas file has no codes."""
    areas = services.areas
    if not any(w.code for w in areas.wijken):
        return [[] for _place in range(len(areas.wijken) + 1)]
    return [[w.code or ""] for w in areas.wijken] + [[areas.code or ""]]


def csv_delimiter(lang: Lang) -> str:
    """ ";" where the decimal separator is a comma: Excel there splits columns on ";".

    With "," a Dutch Excel opens the whole file as one column.
    """
    return ";" if get_decimal_symbol(lang.locale) == "," else ","


def export_csv(services: Services, lang: Lang, stats: Stats) -> bytes:
    """One row per wijk and one for the city, in the reader's spreadsheet dialect."""
    header, rows = _table(services, lang, stats)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=csv_delimiter(lang), lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    # With a byte order mark, Excel opens it as UTF-8 (Polish and Turkish letters intact).
    return buffer.getvalue().encode("utf-8-sig")


def export_xlsx(services: Services, lang: Lang, stats: Stats) -> bytes:
    """The same table as a workbook: numbers typed as numbers, the header row frozen."""
    header, rows = _table(services, lang, stats)
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None  # a new workbook always has its one sheet
    sheet.title = stats.period.key
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    # The header and the wijk's name stay in view while scrolling either way.
    sheet.freeze_panes = "C2"
    for letter, width in (("A", 10), ("B", 16)):
        sheet.column_dimensions[letter].width = width
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def export_name(stats: Stats, suffix: str = "csv") -> str:
    return f"buurtbot-{stats.period.key}.{suffix}"


# --- the chart ------------------------------------------------------------------------------


async def chart_data(
    services: Services, lang: Lang, stats: Stats, wijk: str | None
) -> tuple[ChartData, str]:
    """What the chart shows (12 weeks of reports by category, residents per wijk) and the
    same as text, for the caption."""
    _ = lang.gettext
    today = today_in(services)
    last_week = period_of("week", min(stats.period.last, today))
    weeks = [last_week]
    while len(weeks) < CHART_WEEKS:
        weeks.insert(0, weeks[0].previous())
    async with services.sessions() as session:
        days = await store.reports_per_day(
            session=session, first=weeks[0].first, last=weeks[-1].last, wijk=wijk
        )
    index = {week.first: i for i, week in enumerate(weeks)}
    per_category: dict[str, list[int]] = {}
    for day, category, count in days:
        row = per_category.setdefault(category, [0] * len(weeks))
        row[index[day - timedelta(days=day.weekday())]] += count
    # Latin script for the picture: matplotlib cannot shape Arabic; the caption carries it.
    picture = lang if lang.code != "ar" else services.translator.for_language("en")
    known = [c.slug for c in services.categories.items]
    series = tuple(
        (services.categories.label(slug, picture.code), tuple(per_category[slug]))
        for slug in sorted(per_category, key=lambda s: (known.index(s) if s in known else 99, s))
    )
    residents = tuple((w.name, stats.of(w.slug)["subscribed"]) for w in services.areas.wijken)
    place = services.areas.wijk(wijk).name if wijk and services.areas.wijk(wijk) else None
    data = ChartData(
        weeks=tuple(f"W{w.first.isocalendar()[1]:02d}" for w in weeks),
        series=series,
        residents=residents,
        reports_title=picture.gettext("Meldingen per week") + (f" – {place}" if place else ""),
        residents_title=picture.gettext("Bewoners per wijk"),
    )
    totals = [sum(values[i] for _label, values in series) for i in range(len(weeks))]
    caption = [
        _("Grafiek. Meldingen per week, laatste {n} weken:").format(n=CHART_WEEKS),
        ", ".join(f"{w} {lang.number(t)}" for w, t in zip(data.weeks, totals, strict=True)),
    ]
    if per_category:
        ranked = sorted(
            ((sum(values), slug) for slug, values in per_category.items()), reverse=True
        )
        caption.append(
            _("Per soort:")
            + " "
            + ", ".join(
                f"{services.categories.label(slug, lang.code)} {lang.number(n)}"
                for n, slug in ranked
            )
        )
    caption.append(
        _("Bewoners per wijk:")
        + " "
        + ", ".join(f"{name} {lang.number(n)}" for name, n in residents)
    )
    return data, _fit("\n".join(caption), 1024)


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def chart_png(data: ChartData) -> bytes:
    """Drawn in a worker thread: a chart takes tens of milliseconds the event loop keeps."""
    return await asyncio.to_thread(charts.draw, data)


# --- the Monday digest ----------------------------------------------------------------------


def digest_due(services: Services, now: datetime) -> tuple[Period, datetime]:
    """The week the digest of `now`'s week reports on, and when that digest is due."""
    settings = services.settings
    today = today_in(services, now)
    this_week = period_of("week", today)
    weekday = WEEKDAYS.index(settings.weekly_digest_day)
    due_day = this_week.first + timedelta(days=weekday)
    due = datetime.combine(due_day, settings.weekly_digest_time, tzinfo=settings.tz)
    return this_week.previous(), due


async def weekly_digest(services: Services, now: datetime | None = None) -> bool:
    """Last week's figures to every coordinator (with the chart) and wijkboa (own wijk).

    Claimed in the database first, so a run and a catch-up after a restart never both
    send; False when this week's digest had already gone.
    """
    now = now or utcnow()
    period, _due = digest_due(services, now)
    async with services.sessions() as session:
        if not await store.claim_digest(session=session, period=period.key, at=now):
            return False
    current, previous = await compare(services, period)
    charts_by_language: dict[str, tuple[bytes, str]] = {}  # drawn once per language
    texts: list[tuple[int, Lang, Letter]] = []
    charts: list[tuple[int, Lang, Letter]] = []
    for user_id in await coordinator_ids(services):
        lang = await language_of(services, user_id)
        texts.append((user_id, lang, Letter(render(services, View(lang), current, previous, None))))
        if lang.code not in charts_by_language:
            data, caption = await chart_data(services, lang, current, None)
            charts_by_language[lang.code] = (await chart_png(data), caption)
        png, caption = charts_by_language[lang.code]
        charts.append((user_id, lang, Letter(escape(caption), photo=png)))
    for user_id, wijk in await wijkboa_scopes(services):
        if services.areas.wijk(wijk) is None:
            continue
        lang = await language_of(services, user_id)
        # No chart: its bars would show exactly the small counts the text hides.
        view = View(lang, hide_below=services.settings.small_count)
        texts.append((user_id, lang, Letter(render(services, view, current, previous, wijk))))
    # Two notices (one message each per chat): the figures, then the chart under them.
    # The delivery engine sends both, paced; one who blocked the bot is recorded there.
    await queue(services, Topic.WEEKLY, texts)
    await queue(services, Topic.WEEKLY, charts)
    log.info("weekly digest of %s queued", period.key)
    return True


async def catch_up_digest(services: Services, now: datetime | None = None) -> bool:
    """At start: this week's digest, if it was due while the bot was down.

    Only for a bot that has sent digests before, so a fresh install does not greet its
    coordinators with figures of a week it never saw.
    """
    now = now or utcnow()
    period, due = digest_due(services, now)
    if now < due:
        return False
    async with services.sessions() as session:
        if not await store.any_digest_before(session=session, period=period.key):
            return False
    return await weekly_digest(services, now)
