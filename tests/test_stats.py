"""The figures against known data: periods (a DST week, a week over New Year), counts per
wijk and their change, the CSV, the chart (issue 7)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import residents, stats
from bot.app import build_services
from bot.charts import ChartData, draw, figure
from bot.services import Services
from bot.settings import load_settings
from bot.stats import BAD_PERIOD, TOTAL, Period, StatsError, View, period_of
from storage import stats as store
from storage.engine import SessionFactory, create_session_factory
from storage.models import (
    ActionResult,
    Broadcast,
    BroadcastFigures,
    Delivery,
    Group,
    MembershipEvent,
    Reply,
    Team,
    User,
    utcnow,
)
from storage.residents import record_membership

TODAY = date(2026, 11, 29)


@pytest.fixture
def services(database_url: str, sessions: SessionFactory) -> Services:
    built = build_services(load_settings({"DATABASE_URL": database_url}))
    built._sessions = sessions
    return built


def local(services: Services, *args: int) -> datetime:
    return datetime(*args, tzinfo=services.settings.tz)  # type: ignore[misc]


# --- periods ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "kind", "first", "last"),
    [
        ("", "week", date(2026, 11, 23), date(2026, 11, 29)),
        ("vorige", "week", date(2026, 11, 16), date(2026, 11, 22)),
        ("2026-W47", "week", date(2026, 11, 16), date(2026, 11, 22)),
        ("2026w47", "week", date(2026, 11, 16), date(2026, 11, 22)),
        ("2026-11", "month", date(2026, 11, 1), date(2026, 11, 30)),
        ("2026-2", "month", date(2026, 2, 1), date(2026, 2, 28)),
        ("2026", "year", date(2026, 1, 1), date(2026, 12, 31)),
        ("vorige maand", "month", date(2026, 10, 1), date(2026, 10, 31)),
        ("vorig jaar", "year", date(2025, 1, 1), date(2025, 12, 31)),
        ("2020-W53", "week", date(2020, 12, 28), date(2021, 1, 3)),
    ],
)
def test_periods_people_type(typed: str, kind: str, first: date, last: date) -> None:
    assert stats.parse_period(typed, TODAY) == Period(kind, first, last)


@pytest.mark.parametrize(
    "typed", ["2026-W60", "morgen", "2026-13", "2025-W53", "2026-W00", "2027", "1990", "2026-W"]
)
def test_bad_periods_get_the_example(typed: str) -> None:
    with pytest.raises(StatsError) as raised:
        stats.parse_period(typed, TODAY)
    assert raised.value.key == BAD_PERIOD


def test_a_week_over_new_year_belongs_to_the_iso_year() -> None:
    week = stats.parse_period("2026-W53", date(2027, 1, 10))
    assert (week.first, week.last) == (date(2026, 12, 28), date(2027, 1, 3))
    assert week.key == "2026-W53"
    assert week.next().key == "2027-W01"
    assert period_of("week", date(2027, 1, 2)) == week
    assert stats.period_from_code(week.code, date(2027, 1, 10)) == week


def test_dst_weeks_are_local_midnight_to_midnight(services: Services) -> None:
    tz = services.settings.tz
    autumn = stats.parse_period("2026-W43", TODAY)  # clocks go back on Sunday 25 October
    start, end = autumn.bounds(tz)
    assert end - start == timedelta(hours=169)
    assert end.astimezone(UTC) == datetime(2026, 10, 25, 23, 0, tzinfo=UTC)
    spring = stats.parse_period("2026-W13", TODAY)  # forward on Sunday 29 March
    start, end = spring.bounds(tz)
    assert end - start == timedelta(hours=167)
    assert start.astimezone(UTC) == datetime(2026, 3, 22, 23, 0, tzinfo=UTC)


@pytest.mark.parametrize("code", ["w2026-60", "x2026", "m2026-13", "y2099", "w", "", "w2026-47x"])
def test_forged_period_codes_are_refused(code: str) -> None:
    assert stats.period_from_code(code, TODAY) is None


@pytest.mark.parametrize("typed", ["2026-W47", "2026-11", "2026"])
def test_codes_round_trip(typed: str) -> None:
    period = stats.parse_period(typed, TODAY)
    assert stats.period_from_code(period.code, TODAY) == period


# --- figures ------------------------------------------------------------------------------


async def membership(
    session: AsyncSession, services: Services, at: datetime, wijk: str, kind: str
) -> None:
    """A membership event as the bot records one: the event and its day's counter."""
    await record_membership(session=session, at=at, changes=[(wijk, kind)], tz=services.settings.tz)


async def test_residents_in_the_dst_week_count_by_local_time(
    services: Services, sessions: SessionFactory
) -> None:
    autumn = stats.parse_period("2026-W43", TODAY)
    async with sessions() as session:
        for at, wijk, kind in [
            # Sunday 23:30 local, after the clocks went back: still week 43.
            (local(services, 2026, 10, 25, 23, 30), "stiphout", "joined"),
            # Monday 00:30 local: week 44, though it is still Sunday in UTC.
            (local(services, 2026, 10, 26, 0, 30), "stiphout", "joined"),
            # Monday 19 October 00:10 local (Sunday evening UTC): the week's first hour.
            (local(services, 2026, 10, 19, 0, 10), "warande", "joined"),
            (local(services, 2026, 10, 20, 12, 0), "warande", "left"),
            (local(services, 2026, 10, 18, 23, 50), "warande", "left"),
        ]:
            await membership(session, services, at, wijk, kind)
        await session.commit()
    figures = await stats.compute(services, autumn)
    assert figures.of("stiphout")["joined"] == 1
    assert (figures.of("warande")["joined"], figures.of("warande")["left"]) == (1, 1)
    assert (figures.of(None)["joined"], figures.of(None)["left"]) == (2, 1)
    after = await stats.compute(services, autumn.next())
    assert after.of("stiphout")["joined"] == 1


async def test_moving_wijk_is_a_move_for_the_city_and_out_and_in_for_the_wijken(
    services: Services, sessions: SessionFactory
) -> None:
    from bot import residents

    # Five residents join; two of them move (one twice): the city still has five.
    for user_id in range(1, 6):
        await residents.join(services, user_id, "stiphout", None)
    await residents.join(services, 1, "warande", None)
    await residents.join(services, 2, "warande", None)
    await residents.join(services, 2, "dierdonk", None)
    week = period_of("week", stats.today_in(services))
    figures = await stats.compute(services, week)
    city = figures.of(None)
    assert (city["subscribed"], city["joined"], city["left"], city["moved"]) == (5, 5, 0, 3)
    assert (figures.of("stiphout")["joined"], figures.of("stiphout")["left"]) == (5, 2)
    assert (figures.of("warande")["joined"], figures.of("warande")["left"]) == (2, 1)
    assert (figures.of("dierdonk")["joined"], figures.of("dierdonk")["left"]) == (1, 0)
    text = stats.render(
        services, View(services.translator.for_language("nl")), figures, figures, None
    )
    assert "erbij: 5" in text
    assert "weg: 0" in text
    assert "verhuisd: 3" in text


async def test_reports_of_a_week_over_new_year(
    services: Services, sessions: SessionFactory
) -> None:
    async with sessions() as session:
        await store.add_report_counts(
            session=session,
            counts=[
                (date(2026, 12, 27), "wijk:stiphout", "drugs", "stiphout", 5),  # week 52
                (date(2026, 12, 28), "wijk:stiphout", "drugs", "stiphout", 1),
                (date(2026, 12, 31), "park:bzob", "voertuig", None, 2),
                (date(2027, 1, 3), "wijk:stiphout", "persoon", "stiphout", 3),
                (date(2027, 1, 3), "wijk:stiphout", "persoon", "stiphout", 1),  # upserted: 4
                (date(2027, 1, 4), "wijk:stiphout", "persoon", "stiphout", 9),  # week 1
            ],
        )
    week = stats.parse_period("2026-W53", date(2027, 1, 10))
    now = datetime(2027, 1, 10, 12, tzinfo=UTC)
    current = await stats.compute(services, week, now)
    previous = await stats.compute(services, week.previous(), now)
    city = current.of(None)
    assert city["reports"] == 7
    assert (city["cat:drugs"], city["cat:voertuig"], city["cat:persoon"]) == (1, 2, 4)
    assert city["area:park:bzob"] == 2
    assert current.of("stiphout")["reports"] == 5
    assert current.of(stats.UNKNOWN)["reports"] == 2  # a park between wijken: the city only
    assert previous.of(None)["reports"] == 5
    text = stats.render(
        services, View(services.translator.for_language("nl")), current, previous, None
    )
    assert "Meldingen: 7 (+2)" in text
    assert "Drugs: 1 (−4)" in text
    assert "BZOB: 2" in text


async def test_the_day_counters_equal_the_events_they_count(
    services: Services, sessions: SessionFactory
) -> None:
    """Joins, moves, a rejoin, a leave and an erasure through the services: the counters
    /stats reads say what the events say, per wijk and kind."""
    for user_id, wijk in ((1, "stiphout"), (2, "stiphout"), (3, "warande")):
        await residents.join(services, user_id, wijk, None)
    await residents.join(services, 1, "stiphout", None)  # the same wijk again: nothing
    await residents.join(services, 2, "warande", None)  # a move
    await residents.leave(services, 3)
    await residents.join(services, 3, "warande", None)  # back after /stop
    await residents.erase(services, 1)
    today = stats.today_in(services)
    start, end = Period("year", date(today.year, 1, 1), date(today.year, 12, 31)).bounds(
        services.settings.tz
    )
    async with sessions() as session:
        rows = await session.exec(
            select(MembershipEvent.wijk, MembershipEvent.kind, func.count())
            .where(col(MembershipEvent.at) >= start, col(MembershipEvent.at) < end)
            .group_by(MembershipEvent.wijk, MembershipEvent.kind)
        )
        events: dict[str, Counter[str]] = {}
        for wijk, kind, n in rows:
            events.setdefault(wijk, Counter())[kind] += n
        counted = await store.membership_days(session=session, first=today, last=today)
    assert counted == events
    assert counted["stiphout"] == Counter(joined=2, moved_out=1, left=1)
    assert counted["warande"] == Counter(joined=2, moved_in=1, left=1)


async def test_the_migration_counts_the_events_before_it_by_local_day(
    database_url: str,
) -> None:
    """An existing database: 0014 fills membership_daily from the events it holds, each
    under the day in Helmond (not in UTC)."""
    from sqlalchemy import text

    from storage import migrate
    from storage.engine import create_engine

    engine = create_engine(database_url)
    await migrate.upgrade(engine, "0013")
    tz = load_settings({"DATABASE_URL": database_url}).tz
    rows = [
        (datetime(2026, 10, 25, 23, 30, tzinfo=tz), "stiphout", "joined"),  # 22:30 UTC
        (datetime(2026, 10, 26, 0, 30, tzinfo=tz), "stiphout", "joined"),  # Sunday in UTC
        (datetime(2026, 10, 26, 0, 40, tzinfo=tz), "stiphout", "joined"),
        (datetime(2026, 10, 26, 9, 0, tzinfo=tz), "warande", "left"),
    ]
    async with create_session_factory(engine)() as session:
        session.add_all([MembershipEvent(at=at, wijk=wijk, kind=kind) for at, wijk, kind in rows])
        await session.commit()
    await migrate.upgrade(engine)
    async with engine.connect() as connection:
        counted = (
            await connection.execute(
                text("SELECT day, wijk, kind, count FROM membership_daily ORDER BY day, wijk")
            )
        ).all()
    await engine.dispose()
    as_dates = [(date.fromisoformat(str(day)), wijk, kind, n) for day, wijk, kind, n in counted]
    assert as_dates == [
        (date(2026, 10, 25), "stiphout", "joined", 1),
        (date(2026, 10, 26), "stiphout", "joined", 2),
        (date(2026, 10, 26), "warande", "left", 1),
    ]


async def test_subscribed_in_a_past_week_is_derived_from_events(
    services: Services, sessions: SessionFactory
) -> None:
    now = utcnow()
    async with sessions() as session:
        session.add_all([User(id=i, wijk="brouwhuis", subscribed=True) for i in range(1, 6)])
        session.add(User(id=9, wijk="brouwhuis", subscribed=False))
        # Since last week: three joined and one left (who is not subscribed now).
        for kind, days in (("joined", 1), ("joined", 2), ("joined", 3), ("left", 2)):
            await membership(session, services, now - timedelta(days=days), "brouwhuis", kind)
        await session.commit()
    today = stats.today_in(services)
    this_week = period_of("week", today)
    two_weeks_ago = this_week.previous().previous()
    assert (await stats.compute(services, this_week)).of("brouwhuis")["subscribed"] == 5
    past = await stats.compute(services, two_weeks_ago)
    assert past.of("brouwhuis")["subscribed"] == 5 - 3 + 1


async def test_teams_and_groups_active_pending_dormant(
    services: Services, sessions: SessionFactory
) -> None:
    old = utcnow() - timedelta(days=services.settings.dormant_days + 1)
    async with sessions() as session:
        session.add_all(
            [
                Team(name="A", wijk="dierdonk", status="approved"),
                Team(name="B", wijk="dierdonk", status="approved", last_activity_at=old),
                Team(name="C", wijk="dierdonk", status="pending"),
                Team(name="D", wijk="dierdonk", status="rejected"),
                Group(chat_id=-1, title="G1", wijk="dierdonk", status="approved"),
                Group(chat_id=-2, title="G2", wijk="dierdonk", status="approved", last_activity_at=old),
                Group(chat_id=-3, title="G3", wijk=None, status="new"),
            ]
        )  # fmt: skip
        await session.commit()
    figures = (await stats.compute(services, period_of("week", TODAY))).of("dierdonk")
    assert {k: v for k, v in figures.items() if k.startswith(("teams", "groups"))} == {
        "teams_active": 1,
        "teams_dormant": 1,
        "teams_pending": 1,
        "groups_active": 1,
        "groups_dormant": 1,
    }


async def _broadcast(
    sessions: SessionFactory, kind: str, started: datetime, status: str = "sent"
) -> int:
    async with sessions() as session:
        broadcast = Broadcast(kind=kind, author_id=1, status=status, started_at=started)
        session.add(broadcast)
        await session.commit()
        assert broadcast.id is not None
        return broadcast.id


async def test_broadcasts_replies_and_homes_per_wijk(
    services: Services, sessions: SessionFactory
) -> None:
    week = stats.parse_period("2026-W47", TODAY)
    start, _end = week.bounds(services.settings.tz)
    walk = await _broadcast(sessions, "witte_voetjes", start + timedelta(days=1))
    tent = await _broadcast(sessions, "buurttent", start + timedelta(days=2))
    running = await _broadcast(sessions, "nieuws", start + timedelta(days=3), status="sending")
    await _broadcast(sessions, "reminder", start + timedelta(days=3))  # not an announcement
    await _broadcast(sessions, "nieuws", start - timedelta(minutes=1))  # the week before
    async with sessions() as session:
        session.add_all(
            [
                User(id=11, wijk="stiphout", subscribed=True),
                User(id=12, wijk="stiphout", subscribed=True),
                User(id=13, wijk="warande", subscribed=True),
                Group(chat_id=-50, title="G", wijk="warande", status="approved"),
                Team(id=7, name="T", wijk="stiphout", status="approved"),
            ]
        )
        await session.commit()
        session.add_all(
            [
                Delivery(broadcast_id=walk, chat_id=11, recipient="user", status="sent"),
                Delivery(broadcast_id=walk, chat_id=12, recipient="user", status="blocked"),
                Delivery(broadcast_id=walk, chat_id=-50, recipient="group", status="sent"),
                Delivery(broadcast_id=tent, chat_id=13, recipient="user", status="sent"),
                Delivery(broadcast_id=tent, chat_id=99, recipient="user", status="gone"),
                Delivery(broadcast_id=running, chat_id=11, recipient="user", status="sent"),
                Delivery(broadcast_id=running, chat_id=12, recipient="user", status="queued"),
                Reply(broadcast_id=walk, user_id=11, choice="join"),
                Reply(broadcast_id=walk, user_id=12, choice="join"),
                Reply(broadcast_id=tent, user_id=13, choice="come"),
                Reply(broadcast_id=tent, user_id=13, choice="remind"),
                ActionResult(broadcast_id=walk, team_id=7, homes=23, recorded_by=11),
            ]
        )
        await session.commit()
    first = await stats.compute(services, week)
    city, stiphout, warande = first.of(None), first.of("stiphout"), first.of("warande")
    assert (city["broadcasts"], city["delivered"], city["failed"]) == (3, 4, 2)
    assert (stiphout["broadcasts"], stiphout["delivered"], stiphout["failed"]) == (2, 2, 1)
    assert (warande["broadcasts"], warande["delivered"]) == (2, 2)
    assert (stiphout["join"], stiphout["homes"]) == (2, 23)
    assert (warande["come"], warande["remind"]) == (1, 1)
    async with sessions() as session:
        kept = {(r.broadcast_id, r.wijk) for r in await session.exec(select(BroadcastFigures))}
    # Finished broadcasts are kept; the one still under way is counted live next time too.
    assert kept == {(walk, "stiphout"), (walk, "warande"), (tent, "warande"), (tent, "")}
    async with sessions() as session:
        for delivery in await session.exec(select(Delivery)):
            delivery.status = "failed"  # would change the figures if they were counted again
            session.add(delivery)
        await session.commit()
    again = (await stats.compute(services, week)).of(None)
    assert (again["delivered"], again["failed"]) == (3, 4)  # walk and tent kept; running live


async def test_counting_a_broadcast_twice_at_once_keeps_one_row(
    services: Services, sessions: SessionFactory
) -> None:
    bid = await _broadcast(sessions, "nieuws", utcnow())
    counts = {bid: {"stiphout": Counter(delivered=3, failed=1)}}
    async with sessions() as session:
        await store.remember_broadcasts(session=session, figures=counts)
    async with sessions() as session:
        await store.remember_broadcasts(session=session, figures=counts)  # the other request
        rows = list(await session.exec(select(BroadcastFigures)))
    assert [(r.delivered, r.failed) for r in rows] == [(3, 1)]


def test_a_wijkboa_sees_small_counts_hidden_and_no_changes(services: Services) -> None:
    week = period_of("week", TODAY)
    now = {"stiphout": Counter(reports=2, **{"cat:drugs": 2}, subscribed=40, joined=1)}
    before = {"stiphout": Counter(reports=7, **{"cat:drugs": 7}, subscribed=39)}
    current, previous = stats.Stats(week, now), stats.Stats(week.previous(), before)
    lang = services.translator.for_language("nl")
    hidden = stats.render(services, View(lang, hide_below=3), current, previous, "stiphout")
    assert "Meldingen: &lt;3\n" in hidden  # HTML: "<3" would be read as a tag
    assert "Drugs: &lt;3" in hidden
    assert "Bewoners: 40 · erbij: &lt;3" in hidden
    assert "(" not in hidden.split("\n", 3)[3]  # no change shown anywhere below the title
    shown = stats.render(services, View(lang), current, previous, "stiphout")
    assert "Meldingen: 2 (−5)" in shown
    assert "Bewoners: 40 (+1)" in shown


# --- export and chart ---------------------------------------------------------------------


async def test_the_csv_parses_in_the_readers_language_and_names_nobody(
    services: Services, sessions: SessionFactory
) -> None:
    async with sessions() as session:
        session.add(User(id=7_123_456_789, wijk="stiphout", subscribed=True))
        await membership(session, services, utcnow(), "stiphout", "joined")
        session.add(Team(name="Team Jansen", wijk="stiphout", contact_info="06-12345678"))
        await session.commit()
        await store.add_report_counts(
            session=session,
            counts=[(stats.today_in(services), "park:bzob", "drugs", "brandevoort", 4)],
        )
    period = period_of("week", stats.today_in(services))
    english = services.translator.for_language("en")
    data = stats.export_csv(services, english, await stats.compute(services, period))
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    header, *body = rows
    assert header[:3] == ["period", "wijk", english.gettext("bewoners ingeschreven")]
    assert header[2] != "bewoners ingeschreven"
    assert "reports: Drugs" in header
    assert "reports: BZOB" in header
    assert [row[1] for row in body] == [w.name for w in services.areas.wijken] + ["Total"]
    assert all(len(row) == len(header) for row in body)
    stiphout = dict(zip(header, body[[r[1] for r in body].index("Stiphout")], strict=True))
    assert (stiphout["period"], stiphout[header[2]], stiphout[header[3]]) == (period.key, "1", "1")
    total = dict(zip(header, body[-1], strict=True))
    assert (total["reports: Drugs"], total["reports: BZOB"]) == ("4", "4")
    for personal in ("7123456789", "Jansen", "06-12345678"):
        assert personal not in text


async def seed_park_drugs(services: Services, sessions: SessionFactory) -> None:
    async with sessions() as session:
        await store.add_report_counts(
            session=session,
            counts=[(stats.today_in(services), "park:bzob", "drugs", "brandevoort", 4)],
        )


async def test_the_dutch_csv_opens_in_columns_and_the_workbook_types_its_numbers(
    services: Services, sessions: SessionFactory
) -> None:
    await seed_park_drugs(services, sessions)
    current = await stats.compute(services, period_of("week", stats.today_in(services)))
    # Dutch, Polish and Turkish write 1,5: their Excel splits columns on ";".
    for code, delimiter in (("nl", ";"), ("pl", ";"), ("tr", ";"), ("en", ","), ("ar", ",")):
        lang = services.translator.for_language(code)
        data = stats.export_csv(services, lang, current)
        assert data.startswith(b"\xef\xbb\xbf")
        header, *body = csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=delimiter)
        assert len(header) > 3
        assert all(len(row) == len(header) for row in body)
    dutch = services.translator.for_language("nl")
    sheet = load_workbook(io.BytesIO(stats.export_xlsx(services, dutch, current))).active
    assert sheet is not None
    header = [cell.value for cell in sheet[1]]
    assert header[:3] == ["periode", "wijk", "bewoners ingeschreven"]
    assert sheet.freeze_panes == "C2"
    assert sheet["A1"].font.bold
    total = [cell.value for cell in sheet[sheet.max_row]]
    assert total[1] == "Totaal"
    assert total[header.index("meldingen: Drugs")] == 4  # a number, not the text "4"


def test_month_and_year_buttons_open_the_period_of_today() -> None:
    # 1 December 2026 is a Tuesday: this week began on Monday 30 November.
    week = period_of("week", date(2026, 12, 1))
    assert week.first == date(2026, 11, 30)
    assert week.as_kind("month", date(2026, 12, 1)) == period_of("month", date(2026, 12, 1))
    assert week.as_kind("year", date(2026, 12, 1)).first == date(2026, 1, 1)
    # A week in the past: the month it began in.
    before = period_of("week", date(2026, 11, 30)).previous()
    assert before.as_kind("month", date(2026, 12, 1)).first == date(2026, 11, 1)


def test_the_chart_is_a_png_with_one_series_per_category() -> None:
    data = ChartData(
        weeks=tuple(f"W{n}" for n in range(1, 13)),
        series=(("Drugs", (1,) * 12), ("Overlast", (0, 2) * 6), ("Anders", (3,) + (0,) * 11)),
        residents=(("Stiphout", 40), ("Warande", 12)),
        reports_title="Meldingen per week",
        residents_title="Bewoners per wijk",
    )
    drawn = figure(data)
    reports, residents = drawn.axes
    assert len(reports.containers) == 3
    legend = [t.get_text() for t in reports.get_legend().get_texts()]
    assert legend == ["Drugs", "Overlast", "Anders"]
    assert len(residents.patches) == 2
    png = draw(data)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (800, 800)


async def test_chart_data_buckets_twelve_weeks_by_category(
    services: Services, sessions: SessionFactory
) -> None:
    today = stats.today_in(services)
    this_monday = period_of("week", today).first
    async with sessions() as session:
        await store.add_report_counts(
            session=session,
            counts=[
                (this_monday, "wijk:stiphout", "drugs", "stiphout", 2),
                (this_monday - timedelta(days=1), "wijk:stiphout", "drugs", "stiphout", 1),
                (this_monday - timedelta(weeks=11), "wijk:warande", "overlast", "warande", 4),
                (this_monday - timedelta(weeks=12), "wijk:warande", "persoon", "warande", 9),
            ],
        )
    period = period_of("week", today)
    lang = services.translator.for_language("nl")
    data, caption = await stats.chart_data(
        services, lang, await stats.compute(services, period), None
    )
    assert len(data.weeks) == 12
    assert dict(data.series) == {"Drugs": (0,) * 10 + (1, 2), "Overlast": (4,) + (0,) * 11}
    assert len(figure(data).axes[0].containers) == 2
    assert "Drugs 3, Overlast 4" in caption or "Overlast 4, Drugs 3" in caption
    assert len(caption) <= 1024
    only_stiphout, _caption = await stats.chart_data(
        services, lang, await stats.compute(services, period), "stiphout"
    )
    assert [label for label, _values in only_stiphout.series] == ["Drugs"]
    arabic, arabic_caption = await stats.chart_data(
        services,
        services.translator.for_language("ar"),
        await stats.compute(services, period),
        None,
    )
    assert arabic.reports_title == "Reports per week"  # Latin script in the picture
    assert "مخدرات" in arabic_caption  # the caption in the reader's own language
    assert TOTAL not in dict(arabic.residents)


@pytest.mark.parametrize(
    ("code", "typed", "title"),
    [
        ("nl", "2026-W47", "Week 47 (16 nov – 22 nov 2026)"),
        ("en", "2026-W47", "Week 47 (16 Nov – 22 Nov 2026)"),
        ("pl", "2026-W47", "Tydzień 47 (16 lis – 22 lis 2026)"),
        ("nl", "2026-11", "november 2026"),
        ("en", "2026-11", "November 2026"),
        ("tr", "2026", "2026"),
    ],
)
def test_period_titles_in_the_readers_language(
    services: Services, code: str, typed: str, title: str
) -> None:
    lang = services.translator.for_language(code)
    assert stats.period_title(lang, stats.parse_period(typed, TODAY)) == title


async def test_teams_and_groups_of_a_past_week_as_they_stood_then(
    services: Services, sessions: SessionFactory
) -> None:
    async with sessions() as session:
        session.add(Team(name="A", wijk="dierdonk", status="approved"))
        await session.commit()
    this_week = period_of("week", stats.today_in(services))
    last_week, before_last = this_week.previous(), this_week.previous().previous()
    lang = services.translator.for_language("nl")

    async def shown() -> str:
        past, earlier = (
            await stats.compute(services, last_week),
            await stats.compute(services, before_last),
        )
        return stats.render(services, View(lang), past, earlier, "dierdonk")

    # Nothing recorded then: how it stands now, said so, without a change.
    assert not (await stats.compute(services, last_week)).states_then
    assert "Teams nu: 1 actief · 0 wacht · 0 slapend\n" in await shown()
    # Recorded at the start of this Monday (the end of last week) and of last Monday.
    monday = datetime.combine(this_week.first, datetime.min.time(), tzinfo=services.settings.tz)
    await stats.record_states(services, now=monday)
    async with sessions() as session:
        await store.save_states(
            session=session,
            day=last_week.first,
            counts={"dierdonk": Counter(teams_active=3, teams_pending=1)},
        )
        session.add(Team(name="B", wijk="dierdonk", status="pending"))
        await session.commit()
    await stats.record_states(services, now=monday)  # the day's first record stays
    assert "Teams: 1 actief (−2) · 0 wacht (−1) · 0 slapend (=)\n" in await shown()
    assert "Groepen: 0 actief (=)" in await shown()
    # This week: as it stands now (two teams), against the record of its start.
    current, previous = await stats.compare(services, this_week)
    now_text = stats.render(services, View(lang), current, previous, "dierdonk")
    assert "Teams: 1 actief (=) · 1 wacht (+1)" in now_text


async def test_a_day_without_teams_or_groups_is_recorded_as_known(
    services: Services, sessions: SessionFactory
) -> None:
    this_week = period_of("week", stats.today_in(services))
    monday = datetime.combine(this_week.first, datetime.min.time(), tzinfo=services.settings.tz)
    await stats.record_states(services, now=monday)
    assert (await stats.compute(services, this_week.previous())).states_then
