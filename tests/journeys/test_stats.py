"""Figures end to end: /stats with its buttons, the chart, /export, the weekly digest (issue 7)."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

from openpyxl import load_workbook
from sqlmodel import select

from bot import stats
from bot.app import BotApplication, build_application, running, shut_down
from bot.callbacks import pack
from bot.cli import SANDBOX_TOKEN
from bot.roles import Role, grant
from bot.services import services_of
from bot.settings import WEEKDAYS, Settings
from bot.stats import BAD_EXPORT_PERIOD, BAD_PERIOD, period_of
from sandbox.client import SandboxClient
from storage import stats as store
from storage.engine import SessionFactory
from storage.models import DigestRun, utcnow
from tests.journeys.resident import Json, MakePerson, Resident, buttons, next_message, next_messages
from tests.journeys.test_broadcasts import ADMIN_ID, wait_for


async def seed_reports(bot: BotApplication, this_week: int, last_week: int) -> None:
    """Counts as issue 6 keeps them: drugs in Stiphout this week and the week before."""
    services = services_of(bot)
    monday = period_of("week", stats.today_in(services)).first
    async with services.sessions() as session:
        await store.add_report_counts(
            session=session,
            counts=[
                (monday, "wijk:stiphout", "drugs", "stiphout", this_week),
                (monday - timedelta(days=3), "wijk:stiphout", "drugs", "stiphout", last_week),
            ],
        )


async def press(who: Resident, message: Json, label: str) -> Json:
    """Press a button that answers with a new message (a photo, a file), not an edit."""
    pressed = await who.client.press(who.id, who.id, message["message_id"], buttons(message)[label])
    await who.client.callback_answer(pressed["callback_query_id"])
    got = await next_message(who.client, who.id, after=who.last_id, timeout=15)
    who.last_id = got["message_id"]
    return got


async def download(bot: BotApplication, file_id: str) -> bytes:
    """The way any client gets a file: getFile, then the file URL."""
    file = await bot.bot.get_file(file_id)
    return bytes(await file.download_as_bytearray())


async def test_a_coordinator_reads_the_figures_and_switches_by_buttons(
    bot: BotApplication, person: MakePerson
) -> None:
    coord = await person("Carla", user_id=ADMIN_ID)
    await person("Anna", wijk="stiphout")
    await person("Bram", "en", wijk="warande")
    await seed_reports(bot, this_week=3, last_week=1)
    shown = await coord.say("/stats")
    week = period_of("week", stats.today_in(services_of(bot)))
    assert shown["text"].startswith(f"📊 Week {week.first.isocalendar()[1]} (")
    assert "Helmond" in shown["text"]
    assert "Bewoners: 2 (+2) · erbij: 2 (+2) · weg: 0 (=)" in shown["text"]
    assert "Meldingen: 3 (+2)" in shown["text"]
    assert "Drugs: 3 (+2)" in shown["text"]
    stiphout = await coord.tap(shown, "Stiphout")
    assert "\nStiphout\n" in stiphout["text"]
    assert "Bewoners: 1 (+1)" in stiphout["text"]
    assert "• Stiphout" in buttons(stiphout)
    before = await coord.tap(stiphout, "◀")
    assert f"Week {week.previous().first.isocalendar()[1]} (" in before["text"]
    assert "Meldingen: 1 (+1)" in before["text"]
    assert "▶" in buttons(before)
    month = await coord.tap(before, "Maand")
    assert "• Maand" in buttons(month)
    assert "\nStiphout\n" in month["text"]
    year = await coord.tap(month, "Jaar")
    assert str(week.last.year) in year["text"].split("\n")[0]


async def test_bad_periods_and_forged_buttons_get_a_short_answer(
    bot: BotApplication, person: MakePerson
) -> None:
    coord = await person("Carla", user_id=ADMIN_ID)
    anna = await person("Anna", wijk="stiphout")
    for typed in ("/stats 2026-W60", "/stats morgen"):
        answer = await coord.say(typed)
        assert answer["text"] == BAD_PERIOD
        assert "/stats 2026-W47" in answer["text"]
    # /export gets examples of /export, not of /stats.
    for typed in ("/export 13-2026", "/export december"):
        answer = await coord.say(typed)
        assert answer["text"] == BAD_EXPORT_PERIOD
        assert "/export 2026-W47" in answer["text"]
        assert "/stats" not in answer["text"]
    shown = await coord.say("/stats vorige")
    for forged in (pack("st", "w2026-60", "all"), pack("st", "w2026-47", "mars"), "r1:st:w2026"):
        answer = await coord.press_data(shown, forged)
        assert answer is not None
        assert answer["text"] == "Deze knop werkt niet meer. Tik op /start."
    # Not a coordinator: the command and every figures button are refused on the server.
    refused = await anna.say("/stats")
    assert refused["text"] == "Dat mag je niet. Kijk bij /help wat je wel kunt."
    assert (await anna.say("/export"))["text"] == refused["text"]
    for action in ("st", "stg", "stx", "sxl"):
        answer = await anna.press_data(refused, pack(action, "y2026", "all"))
        assert answer is not None
        assert answer["text"] == refused["text"]


async def test_the_chart_and_the_export_arrive_as_files(
    bot: BotApplication, person: MakePerson, client: SandboxClient
) -> None:
    coord = await person("Carla", "en", user_id=ADMIN_ID)
    anna = await person("Anna", wijk="stiphout")
    await seed_reports(bot, this_week=4, last_week=0)
    shown = await coord.say("/stats")
    chart = await press(coord, shown, "📈 Chart")
    png = await download(bot, chart["photo"][-1]["file_id"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert chart["caption"].startswith("Chart. Reports per week, last 12 weeks:")
    assert "Drugs 4" in chart["caption"]
    assert "Stiphout 1" in chart["caption"]

    exported = await coord.say("/export")
    week = period_of("week", stats.today_in(services_of(bot)))
    assert exported["document"]["file_name"] == f"buurtbot-{week.key}.csv"
    text = (await download(bot, exported["document"]["file_id"])).decode("utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert header[:3] == ["period", "wijk", "residents subscribed"]
    stiphout = dict(zip(header, next(r for r in rows if r[1] == "Stiphout"), strict=True))
    assert (stiphout["residents subscribed"], stiphout["reports: Drugs"]) == ("1", "4")
    assert str(anna.id) not in text
    assert "Anna" not in text
    assert "Carla" not in text

    by_button = await press(coord, shown, "📄 CSV")
    assert by_button["document"]["file_name"] == f"buurtbot-{week.key}.csv"

    # The workbook, by button and by command, with the figures typed as numbers.
    for workbook in (await press(coord, shown, "📊 Excel"), await coord.say("/export excel")):
        assert workbook["document"]["file_name"] == f"buurtbot-{week.key}.xlsx"
        sheet = load_workbook(
            io.BytesIO(await download(bot, workbook["document"]["file_id"]))
        ).active
        assert sheet is not None
        header = [cell.value for cell in sheet[1]]
        assert header[:3] == ["period", "wijk", "residents subscribed"]
        row = next(r for r in sheet.iter_rows(min_row=2, values_only=True) if r[1] == "Stiphout")
        assert row[header.index("reports: Drugs")] == 4
        assert sheet.freeze_panes == "C2"


async def test_a_forged_figures_button_on_the_chart_answers_with_a_new_message(
    bot: BotApplication, person: MakePerson, client: SandboxClient
) -> None:
    coord = await person("Carla", user_id=ADMIN_ID)
    shown = await coord.say("/stats")
    chart = await press(coord, shown, "📈 Grafiek")
    # The chart has no buttons; a forged client presses one of the figures' on it anyway.
    before = len(await client.requests())
    answer = await coord.press_data(chart, buttons(shown)["Maand"])
    assert answer == {"text": "", "show_alert": False}
    figures = await coord.next_reply()
    assert figures["text"].startswith("📊 ")
    assert "• Maand" in buttons(figures)
    refused = [r for r in (await client.requests())[before:] if r["status"] != 200]
    assert not refused
    # The chart itself is left as it was.
    photo = next(
        m for m in await client.bot_messages(coord.id) if m["message_id"] == chart["message_id"]
    )
    assert photo.get("edit_count", 0) == 0


async def _people_for_the_digest(
    bot: BotApplication, person: MakePerson, client: SandboxClient
) -> tuple[Resident, Resident, Resident]:
    coord = await person("Carla", user_id=ADMIN_ID)
    boa = await person("Bas", "en")
    gone = await person("Gerard")
    services = services_of(bot)
    await grant(services, boa.id, Role.WIJKBOA, "wijk:stiphout", name="Bas", by=ADMIN_ID)
    await grant(services, gone.id, Role.COORDINATOR, None, name="Gerard", by=ADMIN_ID)
    await client.block(gone.id)  # a coordinator who blocked the bot: the others still get it
    await person("Anna", wijk="stiphout")
    monday = period_of("week", stats.today_in(services)).first
    async with services.sessions() as session:
        await store.add_report_counts(
            session=session,
            counts=[
                (monday - timedelta(days=2), "wijk:stiphout", "drugs", "stiphout", 2),
                (monday - timedelta(days=2), "wijk:stiphout", "overlast", "stiphout", 5),
            ],
        )
    return coord, boa, gone


def digest_settings(settings: Settings, at: datetime) -> Settings:
    return settings.with_overrides(
        weekly_digest_day=WEEKDAYS[at.weekday()],
        weekly_digest_time=at.time().replace(microsecond=0),
    )


async def caught_up(app: BotApplication) -> None:
    """Until the start's catch-up job has run (it runs beside the bot, not before it)."""
    scheduler = services_of(app).scheduler
    assert scheduler is not None

    async def done() -> bool:
        return "stats:catch-up" not in scheduler.job_ids()

    await wait_for(done)


async def _digest_runs(sessions: SessionFactory) -> list[str]:
    async with sessions() as session:
        return [run.period for run in await session.exec(select(DigestRun))]


async def test_the_digest_arrives_at_its_time_after_a_restart(
    bot: BotApplication,
    settings: Settings,
    person: MakePerson,
    client: SandboxClient,
    sessions: SessionFactory,
) -> None:
    coord, boa, _gone = await _people_for_the_digest(bot, person, client)
    due = datetime.now(settings.tz).replace(microsecond=0) + timedelta(seconds=3)
    await shut_down(bot)  # one sender per database: the restarted bot alone schedules
    restarted = build_application(digest_settings(settings, due), token=SANDBOX_TOKEN)
    async with running(restarted, poll_timeout=1):
        jobs = services_of(restarted).scheduler.job_ids()  # type: ignore[union-attr]
        assert {"stats:weekly", "stats:states"} <= set(jobs)
        assert await _digest_runs(sessions) == []  # not before its time
        text, photo = await next_messages(client, coord.id, 2, after=coord.last_id, timeout=15)
        told = await next_message(client, boa.id, after=boa.last_id, timeout=15)
        chart = await download(restarted, photo["photo"][-1]["file_id"])
    assert text["date"] >= int(due.timestamp())
    last_week = period_of("week", due.date()).previous()
    assert f"Week {last_week.first.isocalendar()[1]} (" in text["text"]
    assert "Meldingen: 7 (+7)" in text["text"]
    assert photo["caption"].startswith("Grafiek. Meldingen per week")
    assert chart.startswith(b"\x89PNG")
    # The wijkboa: only Stiphout, in English, the small count hidden, no chart.
    assert "\nStiphout\n" in told["text"]
    assert "Drugs: <3" in told["text"]
    assert "Nuisance: 5" in told["text"]
    assert "photo" not in told
    assert await _digest_runs(sessions) == [last_week.key]


async def test_a_digest_missed_while_down_is_sent_at_start_once(
    bot: BotApplication,
    settings: Settings,
    person: MakePerson,
    client: SandboxClient,
    sessions: SessionFactory,
) -> None:
    coord, boa, _gone = await _people_for_the_digest(bot, person, client)
    now = datetime.now(settings.tz)
    due = now - timedelta(minutes=1) if now.hour or now.minute > 1 else now
    last_week = period_of("week", due.date()).previous()
    async with sessions() as session:  # the digests ran every week until the bot went down
        session.add(DigestRun(period=last_week.previous().key, at=utcnow()))
        await session.commit()
    late = digest_settings(settings, due)
    await shut_down(bot)
    first = build_application(late, token=SANDBOX_TOKEN)
    async with running(first, poll_timeout=1):
        got = await next_messages(client, coord.id, 2, after=coord.last_id, timeout=15)
        told = await next_message(client, boa.id, after=boa.last_id, timeout=15)
    assert f"Week {last_week.first.isocalendar()[1]} (" in got[0]["text"]
    assert "photo" in got[1]
    again = build_application(late, token=SANDBOX_TOKEN)
    async with running(again, poll_timeout=1):
        await caught_up(again)
    assert len(await client.bot_messages(coord.id)) == len(
        [m for m in await client.bot_messages(coord.id) if m["message_id"] <= got[1]["message_id"]]
    )
    assert sorted(await _digest_runs(sessions)) == [last_week.previous().key, last_week.key]
    assert "\nStiphout\n" in told["text"]
    assert [m["message_id"] for m in await client.bot_messages(boa.id)][-1] == told["message_id"]


async def test_a_fresh_install_sends_no_digest_for_a_week_it_never_saw(
    bot: BotApplication,
    settings: Settings,
    person: MakePerson,
    client: SandboxClient,
    sessions: SessionFactory,
) -> None:
    coord = await person("Carla", user_id=ADMIN_ID)
    late = digest_settings(settings, datetime.now(settings.tz) - timedelta(minutes=1))
    await shut_down(bot)
    first = build_application(late, token=SANDBOX_TOKEN)
    async with running(first, poll_timeout=1):
        await caught_up(first)
    assert await _digest_runs(sessions) == []
    assert not [m for m in await client.bot_messages(coord.id) if m["message_id"] > coord.last_id]
