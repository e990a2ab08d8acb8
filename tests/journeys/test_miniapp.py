"""The coordinator's Mini App (issue 17) over real HTTP: the bot's own server, initData
signed by the sandbox as Telegram signs it, the real database, and /stats beside it."""

from __future__ import annotations

import asyncio
import io
import shutil
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from html import unescape
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp
import openpyxl
import pypdf
import pytest
from sqlmodel import select

from bot import stats
from bot.app import BotApplication, running
from bot.cockpit import (
    ASK_COORDINATORS_ONLY,
    COORDINATORS_ONLY,
    DETAILS_COORDINATORS_ONLY,
    NOT_ALLOWED,
)
from bot.roles import Held, Role, Roles, grant, revoke
from bot.services import services_of
from bot.settings import Settings
from bot.stats import period_of
from handlers import commands
from sandbox import webapp
from sandbox.client import SandboxClient
from storage import reports as report_store
from storage import teams as team_store
from storage.models import AuditEntry, Broadcast, Delivery, Group, Reply, Report, utcnow
from tests.journeys.resident import MakePerson
from tests.journeys.test_broadcasts import ADMIN_ID
from tests.journeys.test_stats import download, seed_reports

OTHER_TOKEN = "654321:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The journeys' settings, with the bot's HTTP server on a free port."""
    return settings.with_overrides(listen_port=0)


@pytest.fixture
async def bot(app: BotApplication) -> AsyncIterator[BotApplication]:
    async with running(app, poll_timeout=1):
        yield app


def base(app: BotApplication) -> str:
    web = services_of(app).web
    assert web is not None
    return f"http://127.0.0.1:{web.port}"


async def api(
    app: BotApplication, path: str, init_data: str | None, method: str = "GET"
) -> tuple[int, Any]:
    headers = {} if init_data is None else {"Authorization": f"tma {init_data}"}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, base(app) + path, headers=headers) as response,
    ):
        return response.status, await response.json()


async def signed(client: SandboxClient, user_id: int) -> str:
    """initData as the sandbox (Telegram) hands it to the Mini App of this user."""
    opened = await client.webapp(user_id, url="https://buurtbot.test/app/")
    init_data: str = opened["init_data"]
    assert opened["url"].startswith("https://buurtbot.test/app/#tgWebAppData=")
    return init_data


async def test_a_coordinator_opens_the_app_in_their_language(
    bot: BotApplication, person: MakePerson, client: SandboxClient
) -> None:
    await person("Carla", "ar", user_id=ADMIN_ID)
    status, me = await api(bot, "/app/api/me", await signed(client, ADMIN_ID))
    assert status == 200
    assert me["scope"] == "city"
    assert me["dir"] == "rtl"
    assert me["language"] == "ar"
    assert me["texts"]["title"] != "Overzicht voor de coördinator"  # translated
    assert me["geographic"] is False
    assert len(me["tiles"]) == len(services_of(bot).areas.wijken)
    cells = {(t["row"], t["col"]) for t in me["tiles"]}
    assert len(cells) == len(me["tiles"])  # no two wijken on one tile


async def test_bad_initdata_is_refused_with_401_and_a_short_reason(
    bot: BotApplication, person: MakePerson, client: SandboxClient
) -> None:
    await person("Carla", user_id=ADMIN_ID)
    good = await signed(client, ADMIN_ID)
    fields = dict(parse_qsl(good))
    fields["user"] = fields["user"].replace(str(ADMIN_ID), "900002")
    users = {u["id"]: u for u in await client._call("GET", "/sandbox/users")}
    carla = webapp.UserRecord(id=ADMIN_ID, first_name=users[ADMIN_ID]["first_name"])
    old = webapp.sign(bot.bot.token, carla, auth_date=int(time.time()) - 3601)
    for init_data, reason in (
        (None, "no initData"),
        (urlencode(fields), "bad signature"),
        (webapp.sign(OTHER_TOKEN, carla), "bad signature"),
        (old, "initData expired"),
    ):
        assert await api(bot, "/app/api/figures", init_data) == (
            401,
            {"ok": False, "error": reason},
        )


async def test_a_resident_is_refused_with_403_in_their_language(
    bot: BotApplication, person: MakePerson, client: SandboxClient
) -> None:
    anna = await person("Anna", "en", wijk="stiphout")
    status, body = await api(bot, "/app/api/figures", await signed(client, anna.id))
    assert status == 403
    assert body == {"ok": False, "error": anna.lang.gettext(NOT_ALLOWED)}
    assert body["error"] != NOT_ALLOWED  # English, not the Dutch source


async def test_a_role_taken_away_ends_access_at_the_next_call(
    bot: BotApplication, person: MakePerson, client: SandboxClient
) -> None:
    boa = await person("Bas")
    held = await grant(
        services_of(bot), boa.id, Role.WIJKBOA, "wijk:stiphout", name="Bas", by=ADMIN_ID
    )
    init_data = await signed(client, boa.id)
    assert (await api(bot, "/app/api/teams", init_data))[0] == 200
    admin = Roles(frozenset({Held(Role.ADMIN)}))
    assert held.id is not None
    await revoke(services_of(bot), admin, ADMIN_ID, held.id)
    assert (await api(bot, "/app/api/teams", init_data))[0] == 403


async def test_the_apps_figures_are_those_of_stats_for_the_same_period(
    bot: BotApplication, person: MakePerson, client: SandboxClient
) -> None:
    coord = await person("Carla", user_id=ADMIN_ID)
    await person("Anna", wijk="stiphout")
    await person("Bram", "en", wijk="warande")
    await seed_reports(bot, this_week=3, last_week=1)
    init_data = await signed(client, ADMIN_ID)
    shown = await coord.say("/stats")
    status, body = await api(bot, "/app/api/figures", init_data)
    assert status == 200
    city = body["places"][0]
    assert city["key"] == stats.TOTAL
    # The chat's line and the app's numbers, for this week and the whole city.
    now, before = city["figures"], city["before"]
    assert (
        f"Bewoners: {now['subscribed']} (+{now['subscribed'] - before['subscribed']})"
        in (shown["text"])
    )
    assert f"Meldingen: {now['reports']} (+{now['reports'] - before['reports']})" in shown["text"]
    assert (now["subscribed"], now["reports"], before["reports"]) == (2, 3, 1)
    # And every figure of every place, for a month, against the service /stats calls.
    services = services_of(bot)
    # The month of this week's Monday: the seeded reports lie in it whatever today is.
    month = period_of("month", period_of("week", stats.today_in(services)).first)
    status, body = await api(bot, f"/app/api/figures?period={month.code}", init_data)
    assert status == 200
    assert body["period"]["key"] == month.key
    current, previous = await stats.compare(services, month)
    for place in body["places"]:
        wijk = None if place["key"] == stats.TOTAL else place["key"]
        for key, value in place["figures"].items():
            assert value == current.of(wijk)[key], (place["key"], key)
            assert place["before"][key] == previous.of(wijk)[key], (place["key"], key)
    stiphout = next(p for p in body["places"] if p["key"] == "stiphout")
    assert stiphout["figures"]["cat:drugs"] == current.of("stiphout")["cat:drugs"] > 0


async def test_a_wijkboa_sees_only_their_wijk_with_small_counts_hidden(
    bot: BotApplication, person: MakePerson, client: SandboxClient
) -> None:
    boa = await person("Bas")
    await grant(services_of(bot), boa.id, Role.WIJKBOA, "wijk:stiphout", name="Bas", by=ADMIN_ID)
    await person("Anna", wijk="stiphout")
    await seed_reports(bot, this_week=2, last_week=5)
    init_data = await signed(client, boa.id)
    status, body = await api(bot, "/app/api/figures", init_data)
    assert status == 200
    assert [p["key"] for p in body["places"]] == ["stiphout"]
    assert "before" not in body["places"][0]  # no change: it would give away a hidden count
    assert body["hidden_below"] == 3
    figures = body["places"][0]["figures"]
    assert figures["reports"] is None  # 2 reports: hidden, as "<3" in chat
    assert figures["subscribed"] is None  # 1 resident
    assert figures["broadcasts"] == 0  # nothing is nothing, not hidden
    status, trend = await api(bot, "/app/api/trend?kind=week", init_data)
    assert status == 200
    assert [p["key"] for p in trend["places"]] == ["stiphout"]
    assert trend["places"][0]["series"]["reports"][-2:] == [5, None]
    status, me = await api(bot, "/app/api/me", init_data)
    assert [t["key"] for t in me["tiles"]] == ["stiphout"]


async def test_bad_periods_are_a_short_sentence_not_a_crash(
    bot: BotApplication, person: MakePerson, client: SandboxClient
) -> None:
    await person("Carla", user_id=ADMIN_ID)
    init_data = await signed(client, ADMIN_ID)
    for path in (
        "/app/api/figures?period=w2999-1",
        "/app/api/figures?kind=eon",
        "/app/api/figures?period=zz",
        "/app/api/trend?kind=decade",
    ):
        status, body = await api(bot, path, init_data)
        assert (status, body) == (400, {"ok": False, "error": stats.BAD_PERIOD}), path


async def test_teams_and_groups_with_status_last_sign_and_dormant(
    bot: BotApplication, person: MakePerson, client: SandboxClient
) -> None:
    await person("Carla", user_id=ADMIN_ID)
    services = services_of(bot)
    async with services.sessions() as session:
        awake, asleep = [
            await team_store.create(
                session=session,
                name=name,
                wijk=wijk,
                area="",
                contact_info="",
                contact_user_id=ADMIN_ID,
            )
            for name, wijk in (("Wakkere Buren", "stiphout"), ("Oude Ploeg", "warande"))
        ]
        for team in (awake, asleep):
            team.status = "approved"
        asleep.last_activity_at = utcnow() - timedelta(days=services.settings.dormant_days + 1)
        session.add(
            Group(chat_id=-1001, title="Straatapp Kerkstraat", wijk="stiphout", status="pending")
        )
        session.add(Group(chat_id=-1002, title="Weg", wijk="stiphout", status="left"))
        await session.commit()
    status, body = await api(bot, "/app/api/teams", await signed(client, ADMIN_ID))
    assert status == 200
    rows = {item["name"]: item for item in body["items"]}
    assert set(rows) == {"Wakkere Buren", "Oude Ploeg", "Straatapp Kerkstraat"}
    assert (rows["Oude Ploeg"]["dormant"], rows["Wakkere Buren"]["dormant"]) == (True, False)
    assert rows["Straatapp Kerkstraat"]["kind"] == "group"
    assert rows["Straatapp Kerkstraat"]["status"] == "pending"
    assert rows["Wakkere Buren"]["wijk_name"] == "Stiphout"
    assert rows["Wakkere Buren"]["last_sign_text"]
    # A wijkboa of Stiphout sees Stiphout's only.
    boa = await person("Bas")
    await grant(services, boa.id, Role.WIJKBOA, "wijk:stiphout", name="Bas", by=ADMIN_ID)
    status, body = await api(bot, "/app/api/teams", await signed(client, boa.id))
    assert {item["name"] for item in body["items"]} == {"Wakkere Buren", "Straatapp Kerkstraat"}


async def test_broadcasts_planned_sent_and_called_off_with_their_counts(
    bot: BotApplication, person: MakePerson, client: SandboxClient
) -> None:
    await person("Carla", user_id=ADMIN_ID)
    services = services_of(bot)
    now = utcnow()
    async with services.sessions() as session:
        session.add_all(
            [
                Broadcast(
                    kind="buurttent",
                    status="scheduled",
                    author_id=ADMIN_ID,
                    audience='{"wijken": ["stiphout"]}',
                    send_at=now + timedelta(days=2),
                ),
                Broadcast(
                    kind="nieuws",
                    status="cancelled",
                    author_id=ADMIN_ID,
                    audience='{"all": true}',
                    send_at=now - timedelta(days=1),
                ),
                Broadcast(kind="witte_voetjes", status="draft", author_id=ADMIN_ID),
                Broadcast(kind="notice", status="sent", author_id=ADMIN_ID, started_at=now),
            ]
        )
        await session.commit()
    status, body = await api(bot, "/app/api/broadcasts", await signed(client, ADMIN_ID))
    assert status == 200
    states = [(item["kind"], item["state"]) for item in body["items"]]
    assert states == [("buurttent", "planned"), ("nieuws", "called_off")]
    tent = body["items"][0]
    assert tent["kind_name"] == "BuurtTent"
    assert tent["wijken"] == ["Stiphout"]
    assert (tent["delivered"], tent["failed"], tent["waiting"]) == (0, 0, 0)
    assert body["items"][1]["wijken"] is None
    assert tent["replies"] == []
    # A calendar: each item under its day in the city's time, in the reader's words.
    tz = services.settings.tz
    assert tent["day"] == (now + timedelta(days=2)).astimezone(tz).date().isoformat()
    assert body["items"][1]["day"] == (now - timedelta(days=1)).astimezone(tz).date().isoformat()
    weekdays = ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag")
    assert tent["day_text"].split()[0] in weekdays
    assert tent["day_text"].endswith(tent["day"][:4])


async def test_a_sent_broadcast_shows_its_copies_and_replies(
    bot: BotApplication, person: MakePerson, client: SandboxClient
) -> None:
    await person("Carla", "en", user_id=ADMIN_ID)
    services = services_of(bot)
    async with services.sessions() as session:
        sent = Broadcast(kind="witte_voetjes", status="sent", author_id=ADMIN_ID,
                         audience='{"all": true}', started_at=utcnow())  # fmt: skip
        session.add(sent)
        await session.flush()
        assert sent.id is not None
        for chat_id, status in ((1, "sent"), (2, "sent"), (3, "blocked"), (4, "queued")):
            session.add(Delivery(broadcast_id=sent.id, chat_id=chat_id, recipient="user",
                                 status=status))  # fmt: skip
        for user_id in (1, 2):
            session.add(Reply(broadcast_id=sent.id, user_id=user_id, choice="join"))
        await session.commit()
    status, body = await api(bot, "/app/api/broadcasts", await signed(client, ADMIN_ID))
    (item,) = body["items"]
    assert (item["state"], item["delivered"], item["failed"], item["waiting"]) == ("sent", 2, 1, 1)
    assert item["replies"] == [{"choice": "join", "label": "taking part", "count": 2}]


async def test_the_page_and_its_files_are_served(bot: BotApplication) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(base(bot) + "/app/") as page:
            assert page.status == 200
            html = await page.text()
        assert "telegram.org" not in html  # nothing fetched from the internet
        for name in ("app.js", "app.css"):
            assert f"static/{name}" in html
            async with http.get(base(bot) + f"/app/static/{name}") as file:
                assert file.status == 200
                assert len(await file.read()) > 100


APP_URL = "https://buurtbot.test/app/"


def web_apps(message: dict[str, Any]) -> dict[str, str]:
    """Label -> URL of every web_app button on a message."""
    markup = message.get("reply_markup") or {}
    return {
        button["text"]: button["web_app"]["url"]
        for row in markup.get("inline_keyboard", [])
        for button in row
        if "web_app" in button
    }


class TestOpening:
    """With the Mini App's public URL configured, as behind a proxy."""

    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.with_overrides(miniapp_url=APP_URL)

    async def test_from_the_menu_button_and_from_stats(
        self, bot: BotApplication, person: MakePerson, client: SandboxClient
    ) -> None:
        await opens_from_menu_and_stats(bot, person, client)

    async def test_a_wijkboa_gets_the_button_and_loses_it_with_the_role(
        self, bot: BotApplication, person: MakePerson
    ) -> None:
        await wijkboa_button_follows_the_role(bot, person)


async def opens_from_menu_and_stats(
    bot: BotApplication, person: MakePerson, client: SandboxClient
) -> None:
    coord = await person("Carla", user_id=ADMIN_ID)
    anna = await person("Anna", wijk="stiphout")
    button = await bot.bot.get_chat_menu_button(ADMIN_ID)
    assert button.to_dict() == {
        "type": "web_app",
        "text": "📊 Overzicht",
        "web_app": {"url": APP_URL},
    }
    # A resident keeps Telegram's own menu of commands.
    assert (await bot.bot.get_chat_menu_button(anna.id)).type == "commands"
    shown = await coord.say("/stats")
    assert web_apps(shown) == {"📊 Open het overzicht": APP_URL}
    overview = await coord.say("/overzicht")
    assert web_apps(overview) == {"📊 Open het overzicht": APP_URL}
    # The sandbox opens the menu button's app as Telegram would, signed for this bot.
    opened = await client.webapp(ADMIN_ID)
    assert opened["url"].startswith(APP_URL + "#tgWebAppData=")
    status, me = await api(bot, "/app/api/me", opened["init_data"])
    assert (status, me["scope"]) == (200, "city")
    # Without a web_app menu button the sandbox has nothing to open.
    with pytest.raises(Exception, match="no web_app menu button"):
        await client.webapp(anna.id)


async def wijkboa_button_follows_the_role(bot: BotApplication, person: MakePerson) -> None:
    boa = await person("Bas", "tr")
    services = services_of(bot)
    held = await grant(services, boa.id, Role.WIJKBOA, "wijk:stiphout", name="Bas", by=ADMIN_ID)
    await commands.refresh_chat(bot.bot, services, boa.id)
    button = await bot.bot.get_chat_menu_button(boa.id)
    assert (button.type, button.text) == ("web_app", boa.lang.gettext("📊 Overzicht"))
    assert held.id is not None
    await revoke(services, Roles(frozenset({Held(Role.ADMIN)})), ADMIN_ID, held.id)
    await commands.refresh_chat(bot.bot, services, boa.id)
    assert (await bot.bot.get_chat_menu_button(boa.id)).type == "commands"


async def test_without_a_public_url_no_button_points_nowhere(
    bot: BotApplication, person: MakePerson
) -> None:
    coord = await person("Carla", user_id=ADMIN_ID)
    assert services_of(bot).settings.miniapp_url is None
    assert web_apps(await coord.say("/stats")) == {}
    assert (await bot.bot.get_chat_menu_button(ADMIN_ID)).type == "commands"


# --- the page in a real browser ---------------------------------------------------------
# A smoke test of the page's JavaScript: headless Chromium loads it from the bot's own
# server with initData signed by the sandbox, and the DOM it built is read back. No
# clicks yet (the Playwright run issue 17 asks for); skipped where no Chromium is installed.

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine")


async def rendered(url: str) -> str:
    """The page's DOM once its scripts ran (virtual time lets the fetches finish)."""
    assert CHROMIUM is not None
    process = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--window-size=390,844",
        "--virtual-time-budget=10000",
        "--dump-dom",
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        out, _err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return unescape(out.decode())


@needs_chromium
async def test_the_page_shows_figures_map_and_lists_in_arabic_right_to_left(
    bot: BotApplication,
    person: MakePerson,
    client: SandboxClient,
) -> None:
    await person("Carla", "ar", user_id=ADMIN_ID)
    await person("Anna", wijk="stiphout")
    await seed_reports(bot, this_week=3, last_week=1)
    opened = await client.webapp(ADMIN_ID, url=base(bot) + "/app/")
    dom = await rendered(opened["url"])
    assert '<html lang="ar" dir="rtl">' in dom
    assert "نظرة عامة للمنسق" in dom  # the title, from the Arabic catalog
    assert "Stiphout" in dom  # a tile of the map
    assert 'class="n"' in dom  # the figures table was filled
    assert "Dat lukte niet" not in dom


@needs_chromium
async def test_the_page_says_so_when_initdata_is_missing(
    bot: BotApplication,
) -> None:
    dom = await rendered(base(bot) + "/app/")
    assert "Dat lukte niet." in dom
    assert "no initData" in dom


async def test_the_yearly_report_is_a_workbook_of_the_years_figures(
    bot: BotApplication, person: MakePerson, client: SandboxClient
) -> None:
    await person("Carla", user_id=ADMIN_ID)
    await person("Anna", wijk="stiphout")
    await seed_reports(bot, this_week=3, last_week=1)
    services = services_of(bot)
    year = period_of("year", stats.today_in(services))
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            base(bot) + f"/app/api/yearly.xlsx?year={year.key}",
            headers={"Authorization": f"tma {await signed(client, ADMIN_ID)}"},
        ) as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Disposition"] == (
            f'attachment; filename="jaarrapport-{year.key}.xlsx"'
        )
        body = await response.read()
    book = openpyxl.load_workbook(io.BytesIO(body))
    assert book.sheetnames == ["Wijken", "Maanden", "Meldingen per soort"]
    figures = await stats.compute(services, year)
    wijken = list(book["Wijken"].iter_rows(values_only=True))
    header = wijken[0]
    total = dict(zip(header, wijken[-1], strict=True))
    assert total["wijk"] == "Totaal"
    assert total["meldingen"] == figures.of(None)["reports"] > 0
    assert isinstance(total["meldingen"], int)  # a typed number, not text
    stiphout = dict(zip(header, next(r for r in wijken if r[0] == "Stiphout"), strict=True))
    assert stiphout["bewoners ingeschreven"] == figures.of("stiphout")["subscribed"] == 1
    months = list(book["Maanden"].iter_rows(values_only=True))[1:]
    assert sum(row[-1] for row in months) == figures.of(None)["reports"]
    assert len(book["Maanden"]._charts) == 1
    kinds = list(book["Meldingen per soort"].iter_rows(values_only=True))
    drugs = kinds[0].index(services.categories.label("drugs", "nl"))
    assert kinds[-1][drugs] == figures.of(None)["cat:drugs"]


async def test_the_yearly_report_is_for_coordinators_only(
    bot: BotApplication, person: MakePerson, client: SandboxClient
) -> None:
    boa = await person("Bas")
    await grant(services_of(bot), boa.id, Role.WIJKBOA, "wijk:stiphout", name="Bas", by=ADMIN_ID)
    status, body = await api(bot, "/app/api/yearly.xlsx", await signed(client, boa.id))
    assert (status, body) == (403, {"ok": False, "error": COORDINATORS_ONLY})
    await person("Carla", user_id=ADMIN_ID)
    status, body = await api(bot, "/app/api/yearly.xlsx?year=1990", await signed(client, ADMIN_ID))
    assert (status, body) == (400, {"ok": False, "error": stats.BAD_PERIOD})


async def test_export_of_a_year_sends_the_yearly_workbook_after_the_csv(
    bot: BotApplication, person: MakePerson
) -> None:
    coord = await person("Carla", "en", user_id=ADMIN_ID)
    await seed_reports(bot, this_week=3, last_week=1)
    year = period_of("year", stats.today_in(services_of(bot)))
    csv_file = await coord.say(f"/export {year.key}")
    assert csv_file["document"]["file_name"] == f"buurtbot-{year.key}.csv"
    workbook = await coord.next_reply()
    assert workbook["document"]["file_name"] == f"jaarrapport-{year.key}.xlsx"
    body = await download(bot, workbook["document"]["file_id"])
    book = openpyxl.load_workbook(io.BytesIO(body))
    assert book.sheetnames == ["Districts", "Months", "Reports by type"]  # Carla's English
    total = list(book["Districts"].iter_rows(values_only=True))[-1]
    assert total[0] == "Total"
    # A week's export stays one file: the message after it answers the next command.
    assert (await coord.say("/export"))["document"]["file_name"].endswith(".csv")
    assert (await coord.say("/stats"))["text"].startswith("📊 Week ")


async def file_of(app: BotApplication, path: str, init_data: str) -> tuple[int, str, bytes]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(base(app) + path, headers={"Authorization": f"tma {init_data}"}) as response,
    ):
        return response.status, response.headers["Content-Type"], await response.read()


async def add_report(app: BotApplication, wijk: str, status: str, text: str) -> str:
    """A report as the chat files it (counted in report_daily too); its number."""
    async with services_of(app).sessions() as session:
        report = await report_store.add(
            session=session,
            report=Report(
                ref="",
                category="drugs",
                area=f"wijk:{wijk}",
                wijk=wijk,
                status=status,
                description=text,
                street="Geheime Straat 1",
                anonymous=True,
            ),
            day=utcnow().date(),
        )
    return report.ref


async def views(app: BotApplication) -> set[tuple[int | None, str | None]]:
    async with services_of(app).sessions() as session:
        rows = await session.exec(select(AuditEntry).where(AuditEntry.action == "report_view"))
        return {(row.actor_id, row.subject) for row in rows}


async def test_reports_by_status_without_texts_and_details_audited_as_in_chat(
    bot: BotApplication, person: MakePerson, client: SandboxClient
) -> None:
    await person("Carla", user_id=ADMIN_ID)
    open_ref = await add_report(bot, "stiphout", "received", "folie bij de deur")
    done = await add_report(bot, "warande", "afgehandeld", "oud nieuws")
    init_data = await signed(client, ADMIN_ID)
    status, body = await api(bot, "/app/api/reports", init_data)
    assert status == 200
    counts = {s["status"]: s["count"] for s in body["statuses"]}
    assert counts == {"received": 1, "in_behandeling": 0, "doorgezet": 0, "afgehandeld": 1}
    assert [item["ref"] for item in body["items"]] == [open_ref]
    listing = str(body)
    assert "folie" not in listing
    assert "Geheime" not in listing
    assert await views(bot) == set()  # a list is not a view
    _status, closed = await api(bot, "/app/api/reports?status=afgehandeld", init_data)
    assert [item["ref"] for item in closed["items"]] == [done]
    # Opened on purpose: the text, and a row in the audit log as the chat's button writes.
    status, details = await api(bot, f"/app/api/reports/{open_ref}", init_data, "POST")
    assert status == 200
    assert "Beschrijving: folie bij de deur" in details["lines"]
    assert "Melder: anoniem" in details["lines"]
    assert await views(bot) == {(ADMIN_ID, f"report:{open_ref}")}
    # Details are no GET (a prefetch would write the log) and a bad number is a sentence.
    assert (await file_of(bot, f"/app/api/reports/{open_ref}", init_data))[0] == 405
    status, body = await api(bot, "/app/api/reports/MV-2026-999999", init_data, "POST")
    assert (status, body["error"]) == (400, "Die melding bestaat niet (meer).")
    assert (await api(bot, "/app/api/reports?status=weg", init_data))[0] == 400


async def test_a_wijkboa_sees_report_counts_of_their_wijk_and_no_details(
    bot: BotApplication, person: MakePerson, client: SandboxClient
) -> None:
    boa = await person("Bas")
    await grant(services_of(bot), boa.id, Role.WIJKBOA, "wijk:stiphout", name="Bas", by=ADMIN_ID)
    refs = [await add_report(bot, "stiphout", "received", "x") for _ in range(4)]
    await add_report(bot, "stiphout", "in_behandeling", "y")
    await add_report(bot, "warande", "doorgezet", "z")
    init_data = await signed(client, boa.id)
    status, body = await api(bot, "/app/api/reports", init_data)
    assert status == 200
    counts = {s["status"]: s["count"] for s in body["statuses"]}
    # Warande's not at all; one in behandeling hidden as in chat; none is none.
    assert counts == {"received": 4, "in_behandeling": None, "doorgezet": 0, "afgehandeld": 0}
    assert (body["items"], body["details"]) == ([], False)
    status, refused = await api(bot, f"/app/api/reports/{refs[0]}", init_data, "POST")
    assert (status, refused["error"]) == (403, DETAILS_COORDINATORS_ONLY)
    assert await views(bot) == set()


async def test_still_active_asks_the_contact_as_the_chats_button_does(
    bot: BotApplication, person: MakePerson, client: SandboxClient
) -> None:
    await person("Carla", user_id=ADMIN_ID)
    contact = await person("Dirk", "en", wijk="warande")
    services = services_of(bot)
    async with services.sessions() as session:
        asleep = await team_store.create(
            session=session, name="Oude Ploeg", wijk="warande", area="", contact_info="",
            contact_user_id=contact.id,
        )  # fmt: skip
        asleep.status = "approved"
        asleep.last_activity_at = utcnow() - timedelta(days=services.settings.dormant_days + 1)
        await session.commit()
    init_data = await signed(client, ADMIN_ID)
    _status, teams = await api(bot, "/app/api/teams", init_data)
    (row,) = teams["items"]
    assert (row["dormant"], row["may_ask"]) == (True, True)
    status, body = await api(bot, f"/app/api/teams/team/{asleep.id}/ask", init_data, "POST")
    assert (status, body) == (200, {"ok": True, "sent": True})
    asked = await client.wait_bot_message(contact.id, after=contact.last_id, timeout=15)
    assert "Oude Ploeg" in asked["text"]
    # The contact's own language, and the chat's two buttons: the same service sent it.
    labels = [b["text"] for r in asked["reply_markup"]["inline_keyboard"] for b in r]
    assert labels == [
        contact.lang.gettext("Ja, we zijn actief"),
        contact.lang.gettext("Nee, we stoppen"),
    ]
    # An awake team, a made-up one or a wijkboa: refused, each with its reason.
    for path in (
        "/app/api/teams/team/999/ask",
        "/app/api/teams/boat/1/ask",
        "/app/api/teams/team/abc/ask",
    ):
        status, body = await api(bot, path, init_data, "POST")
        assert (status, body["error"]) == (400, "Er is niemand om te vragen."), path
    boa = await person("Bas")
    await grant(services, boa.id, Role.WIJKBOA, "wijk:warande", name="Bas", by=ADMIN_ID)
    boa_data = await signed(client, boa.id)
    _status, teams = await api(bot, "/app/api/teams", boa_data)
    assert teams["items"][0]["may_ask"] is False
    status, body = await api(bot, f"/app/api/teams/team/{asleep.id}/ask", boa_data, "POST")
    assert (status, body["error"]) == (403, ASK_COORDINATORS_ONLY)


async def test_the_yearly_pdf_opens_and_holds_the_figures(
    bot: BotApplication, person: MakePerson, client: SandboxClient
) -> None:
    await person("Carla", user_id=ADMIN_ID)
    await person("Anna", wijk="stiphout")
    await seed_reports(bot, this_week=7, last_week=0)
    services = services_of(bot)
    year = stats.period_of("year", period_of("week", stats.today_in(services)).first)
    status, kind, body = await file_of(
        bot, f"/app/api/yearly.pdf?year={year.key}", await signed(client, ADMIN_ID)
    )
    assert (status, kind) == (200, "application/pdf")
    document = pypdf.PdfReader(io.BytesIO(body))
    text = "\n".join(page.extract_text() for page in document.pages)
    assert f"Jaarrapport {year.key}" in text
    assert services.areas.city in text
    assert document.metadata is not None
    assert document.metadata.title == f"Jaarrapport {year.key} – {services.areas.city}"
    figures = await stats.compute(services, year)
    stiphout = next(line for line in text.splitlines() if line.startswith("Stiphout"))
    assert stiphout.split()[-1] == str(figures.of("stiphout")["reports"]) == "7"
    assert "Meldingen per maand" in text
    assert "Anna" not in text  # counts only
    # A wijkboa gets no yearly report: it holds every wijk.
    boa = await person("Bas")
    await grant(services, boa.id, Role.WIJKBOA, "wijk:stiphout", name="Bas", by=ADMIN_ID)
    refused = await api(bot, "/app/api/yearly.pdf", await signed(client, boa.id))
    assert refused == (403, {"ok": False, "error": COORDINATORS_ONLY})


async def test_export_pdf_in_the_chat_sends_the_yearly_pdf(
    bot: BotApplication, person: MakePerson
) -> None:
    coord = await person("Carla", user_id=ADMIN_ID)
    year = stats.today_in(services_of(bot)).year
    sent = await coord.say(f"/export {year} pdf")
    assert sent["document"]["file_name"] == f"jaarrapport-{year}.pdf"
    document = pypdf.PdfReader(io.BytesIO(await download(bot, sent["document"]["file_id"])))
    assert f"Jaarrapport {year}" in document.pages[0].extract_text()
    week = await coord.say("/export vorige pdf")
    assert "kies een jaar" in week["text"]


async def test_the_accessibility_statement_in_the_readers_language(bot: BotApplication) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(base(bot) + "/app/toegankelijkheid?lang=ar") as page:
            assert page.status == 200
            html = await page.text()
        assert '<html lang="ar" dir="rtl">' in html
        assert "WCAG 2.1" in html
        async with http.get(base(bot) + "/app/toegankelijkheid") as page:
            html = await page.text()
        assert '<html lang="nl" dir="ltr">' in html
        assert "Toegankelijkheidsverklaring" in html
        async with http.get(base(bot) + "/app/static/statement.js") as script:
            assert script.status == 200


async def test_the_trend_is_what_stats_computes_for_each_period(
    bot: BotApplication, person: MakePerson, client: SandboxClient
) -> None:
    await person("Carla", user_id=ADMIN_ID)
    await person("Anna", wijk="stiphout")
    bram = await person("Bram", wijk="warande")
    await seed_reports(bot, this_week=3, last_week=2)
    services = services_of(bot)
    async with services.sessions() as session:
        sent = Broadcast(kind="witte_voetjes", status="sent", author_id=ADMIN_ID,
                         audience='{"all": true}', started_at=utcnow() - timedelta(days=8))  # fmt: skip
        session.add(sent)
        await session.flush()
        assert sent.id is not None
        session.add(Delivery(broadcast_id=sent.id, chat_id=bram.id, recipient="user",
                             status="sent"))  # fmt: skip
        await session.commit()
    # Bram leaves: the weeks before still count him, this one does not.
    await bram.say("/stop")
    init_data = await signed(client, ADMIN_ID)
    for kind in ("week", "month", "year"):
        status, body = await api(bot, f"/app/api/trend?kind={kind}", init_data)
        assert status == 200
        periods = [stats.period_of(kind, stats.today_in(services))]
        while len(periods) < len(body["periods"]):
            periods.insert(0, periods[0].previous())
        assert [p["key"] for p in body["periods"]] == [p.key for p in periods]
        computed = [await stats.compute(services, p) for p in periods]
        for place in body["places"]:
            wijk = None if place["key"] == stats.TOTAL else place["key"]
            for figure, series in place["series"].items():
                assert series == [c.of(wijk)[figure] for c in computed], (kind, wijk, figure)
    _status, weeks = await api(bot, "/app/api/trend?kind=week", init_data)
    city = weeks["places"][0]["series"]
    assert sum(city["reports"]) == 5
    assert sum(city["broadcasts"]) == 1
    assert city["subscribed"][-1] == 1  # Anna; Bram left
