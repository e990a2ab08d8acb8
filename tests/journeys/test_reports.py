"""Meld een Vermoeden (issue 6): reporting, anonymity, statuses, digest, hotspot, retention."""

from __future__ import annotations

import json
import re
from datetime import datetime, time, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from bot import coordinator_notes
from bot import reports as service
from bot.app import BotApplication, build_application, running
from bot.cli import SANDBOX_TOKEN
from bot.roles import Role, grant
from bot.services import Services, services_of
from bot.settings import Settings
from sandbox.client import SandboxClient
from storage import reports as report_store
from storage.engine import SessionFactory
from storage.models import (
    AuditEntry,
    Broadcast,
    Report,
    ReportDaily,
    ReportDraft,
    ReportFollowUp,
    utcnow,
)
from tests.journeys.resident import (
    Json,
    MakePerson,
    alert_of,
    buttons,
    category,
    entrepreneur,
    file_report,
    next_message,
    next_messages,
    press_new,
    start_report,
)

ADMIN_ID = 900001  # BUURTBOT_ADMINS in tests/conftest.py
REFUSED = "Dat mag je niet. Kijk bij /help wat je wel kunt."
BZOB = (51.4560, 5.7000)  # on the BZOB business park, in Brouwhuis
PARIS = (48.8566, 2.3522)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def parsed_moment(typed: str, services: Services) -> datetime:
    """What the bot makes of a typed "30-11 14:30": the moment in UTC."""
    draft = service.Draft()
    service.parse_moment(services, draft, typed, today_only=False)
    assert draft.occurred_at is not None
    return datetime.fromisoformat(draft.occurred_at)


async def next_starting(client: SandboxClient, chat_id: int, after: int, prefix: str) -> Json:
    """The first bot message after `after` that starts with `prefix` (a note, not an answer)."""
    while True:
        found = await client.wait_bot_message(chat_id, after=after)
        if (found.get("text") or "").startswith(prefix):
            return found
        after = found["message_id"]


async def notices_queued(sessions: SessionFactory) -> int:
    async with sessions() as session:
        return len(list(await session.exec(select(Broadcast).where(Broadcast.kind == "notice"))))


async def report_rows(sessions: SessionFactory) -> list[Report]:
    async with sessions() as session:
        return list(await session.exec(select(Report).order_by(col(Report.id))))


async def daily(sessions: SessionFactory) -> dict[tuple[str, str], int]:
    async with sessions() as session:
        rows = await session.exec(select(ReportDaily))
        found: dict[tuple[str, str], int] = {}
        for row in rows:
            found[(row.area, row.category)] = found.get((row.area, row.category), 0) + row.count
        return found


@pytest.mark.parametrize("code", ["nl", "en"])
async def test_an_entrepreneur_reports_with_location_and_photo(
    bot: BotApplication,
    person: MakePerson,
    client: SandboxClient,
    sessions: SessionFactory,
    code: str,
) -> None:
    admin = await person("Beheer", user_id=ADMIN_ID)
    eva = await entrepreneur(person, admin, "Eva", code)
    _ = eva._
    menu = await client.commands(scope={"type": "chat", "chat_id": eva.id})
    assert {"melding", "mijnmeldingen"} <= {c["command"] for c in menu}

    first = await start_report(eva)
    assert _("Is het nu aan de hand en is er gevaar? Bel 112.") in first["text"]
    where = await eva.tap(first, category(eva, "voertuig", bot))
    assert list(buttons(where))[1] == "BZOB"  # her own park first, after the location button
    (share,) = await press_new(eva, where, "📍 " + _("Mijn locatie delen"))
    assert share["reply_keyboard"]["keyboard"][0][0]["request_location"] is True

    # Outside the city: refused, the draft kept.
    sent = await client.send_location(eva.id, *PARIS)
    outside = await eva.next_reply(after=sent["message_id"])
    assert outside["text"] == _(
        "Die plek ligt buiten {city}. Meldingen gaan alleen over {city}. Kies het terrein of de wijk met de knoppen."
    ).format(city="Helmond")
    sent = await client.send_location(eva.id, *BZOB)
    placed, when = await next_messages(client, eva.id, 2, after=sent["message_id"])
    assert placed["text"] == "📍 BZOB"
    eva.last_id = when["message_id"]
    await eva.tap(when, _("Nu net"))
    photos = await eva.say(
        "Bestelbus zonder kenteken rijdt al een uur rondjes, stopt bij elke loods."
    )
    assert _("Geen foto") in buttons(photos)

    # A file is not a photo: refused kindly, the draft kept.
    sent = await client.send_document(eva.id, b"%PDF-1.4", file_name="x.pdf")
    refused = await eva.next_reply(after=sent["message_id"])
    assert refused["text"] == _(
        "Dat soort bestand kan ik niet gebruiken. Stuur een foto, of gebruik de knoppen."
    )
    sent = await client.send_photo(eva.id, PNG)
    got = await eva.next_reply(after=sent["message_id"])
    assert _("Klaar") in buttons(got)
    anonymous = await eva.tap(got, _("Klaar"))
    summary = await eva.tap(anonymous, "👤 " + _("Met mijn naam"))
    assert "BZOB" in summary["text"]
    assert _("Foto's: {n}").format(n=1) in summary["text"]
    done = await eva.tap(summary, "✅ " + _("Versturen"))
    ref = re.search(r"MV-\d{4}-\d{6}", done["text"])
    assert ref is not None
    assert "/mijnmeldingen" in done["text"]

    (row,) = await report_rows(sessions)
    assert (row.ref, row.area, row.wijk, row.category) == (
        ref.group(0),
        "park:bzob",
        "brouwhuis",
        "voertuig",
    )
    assert (row.reporter_id, row.anonymous, len(row.photos.split())) == (eva.id, False, 1)
    assert (row.latitude, row.longitude) == BZOB
    assert await daily(sessions) == {("park:bzob", "voertuig"): 1}
    assert await service.load_draft(services_of(bot), eva.id) is None  # the draft is gone

    mine = await eva.say("/mijnmeldingen")
    assert ref.group(0) in mine["text"]
    assert _("ontvangen") in mine["text"]


async def test_anonymous_for_real_and_both_reporters_hear_the_status(
    bot: BotApplication, person: MakePerson, client: SandboxClient, sessions: SessionFactory
) -> None:
    coordinator = await person("Carla")
    await grant(services_of(bot), coordinator.id, Role.COORDINATOR, None, name="Carla", by=ADMIN_ID)
    eva = await entrepreneur(person, coordinator, "Eva")
    anouk = await entrepreneur(person, coordinator, "Anouk", "en")
    named, _ = await file_report(eva, bot)
    secret_ref, confirmation = await file_report(
        anouk,
        bot,
        what="ondermijning",
        text="Ramen van unit 4 dichtgeplakt met folie, 's nachts veel verkeer.",
        anonymous=True,
    )
    assert anouk._("Status bekijken") in buttons(confirmation)

    # Nothing in the report rows, the follow-ups or the audit names the anonymous one.
    rows = await report_rows(sessions)
    anonymous_row = next(r for r in rows if r.ref == secret_ref)
    assert (anonymous_row.reporter_id, anonymous_row.anonymous) == (None, True)
    async with sessions() as session:
        follow_ups = list(await session.exec(select(ReportFollowUp)))
    dumped = json.dumps(
        [r.model_dump(mode="json") for r in rows] + [f.model_dump() for f in follow_ups]
    )
    assert str(anouk.id) not in dumped
    assert "Anouk" not in dumped
    assert len(follow_ups) == 1

    # The coordinator sees numbers; details only by a button, and the view is audited.
    listing = await coordinator.say("/vermoedens")
    assert named in listing["text"]
    assert secret_ref in listing["text"]
    assert "folie" not in listing["text"]  # no texts in the list
    # When it happened and when it was filed, each with its label.
    line = next(row for row in listing["text"].splitlines() if named in row)
    assert "· Gebeurd: " in line
    assert "· Gemeld: " in line
    assert "· Status: " in line
    details = await coordinator.tap(listing, f"Details {secret_ref}")
    assert "folie" in details["text"]
    assert "Melder: anoniem" in details["text"]
    named_details = await coordinator.tap(await coordinator.say("/vermoedens"), f"Details {named}")
    mentions = [e for e in named_details["entities"] if e["type"] == "text_mention"]
    assert [m["user"]["id"] for m in mentions] == [eva.id]  # a tap on "Eva" opens her chat
    assert "Eva" in named_details["text"]
    async with sessions() as session:
        views = list(
            await session.exec(select(AuditEntry).where(AuditEntry.action == "report_view"))
        )
    assert {(v.actor_id, v.subject) for v in views} == {
        (coordinator.id, f"report:{secret_ref}"),
        (coordinator.id, f"report:{named}"),
    }
    for message in await client.bot_messages(coordinator.id):
        text = json.dumps(message, ensure_ascii=False)
        assert str(anouk.id) not in text
        assert "Anouk" not in text

    # A status with a message reaches the anonymous reporter, in English.
    ask = await coordinator.tap(details, "⬜ doorgestuurd naar politie of partner")
    assert "Zonder bericht" in buttons(ask)
    before = anouk.last_id
    await coordinator.say("Politie is op de hoogte & kijkt mee.")
    told = await next_message(client, anouk.id, after=before)
    assert anouk._("doorgestuurd naar politie of partner") in told["text"]
    assert "Politie is op de hoogte &amp; kijkt mee." not in told["text"]  # escaped, shown plain
    assert "Politie is op de hoogte & kijkt mee." in told["text"]
    assert secret_ref in told["text"]
    # Labelled, and no canned thanks under the coordinator's own words.
    assert anouk._("Status: {status}").format(status="") in told["text"]
    assert anouk._("Dank je wel voor je melding.") not in told["text"]
    # The status button in her own chat still works; a guessed token does not.
    status = await alert_of(anouk, confirmation, anouk._("Status bekijken"))
    assert secret_ref in status
    forged = await anouk.press_data(confirmation, f"r1:mvs:{secret_ref.lower()}:{'0' * 32}")
    assert forged is not None
    assert forged["text"] == anouk._("Die melding bestaat niet (meer).")

    # And the named reporter, without a message.
    again = await coordinator.tap(await coordinator.say("/vermoedens"), f"Details {named}")
    ask = await coordinator.tap(again, "⬜ afgehandeld")
    before = eva.last_id
    await coordinator.tap(ask, "Zonder bericht")
    told = await next_message(client, eva.id, after=before)
    assert named in told["text"]
    assert "Status: afgehandeld" in told["text"]
    assert told["text"].count("Dank") == 1  # thanked once
    closed = next(r for r in await report_rows(sessions) if r.ref == named)
    assert closed.closed_at is not None

    # Eva's export has her named report; Anouk's has nothing of hers.
    exports = {}
    for who in (eva, anouk):
        document = (await who.say("/mijngegevens"))["document"]
        file = await bot.bot.get_file(document["file_id"])
        exports[who.id] = json.loads(bytes(await file.download_as_bytearray()))
    mine = {who.id: who._("Meldingen met je naam") for who in (eva, anouk)}
    assert [r["Nummer"] for r in exports[eva.id][mine[eva.id]]] == [named]
    assert exports[eva.id][mine[eva.id]][0]["Status"] == "afgehandeld"
    assert exports[anouk.id][mine[anouk.id]] == []


async def test_forged_coordinator_buttons_are_refused(
    bot: BotApplication, person: MakePerson, sessions: SessionFactory
) -> None:
    coordinator = await person("Carla", user_id=ADMIN_ID)
    eva = await entrepreneur(person, coordinator, "Eva")
    ref, confirmation = await file_report(eva, bot)
    code = ref.lower()
    for data in (
        f"r1:mvd:{code}",
        f"r1:mvt:{code}:afgehandeld:go",
        f"r1:mvf:{code}",
        "r1:mvr:on",
    ):
        answer = await eva.press_data(confirmation, data)
        assert answer is not None, data
        assert answer["text"] == REFUSED, data
    refused = await eva.say("/vermoedens")
    assert refused["text"] == REFUSED
    (row,) = await report_rows(sessions)
    assert row.status == "received"
    assert await service.residents_may_report(services_of(bot)) is False
    async with sessions() as session:
        views = list(
            await session.exec(select(AuditEntry).where(AuditEntry.action == "report_view"))
        )
    assert views == []
    # Stale or mangled data from the coordinator gets the stale answer, nothing breaks.
    listing = await coordinator.say("/vermoedens")
    for data in (f"r1:mvt:{code}:gestolen:go", "r1:mvd:mv-2026-999999", "r1:mvr:maybe"):
        answer = await coordinator.press_data(listing, data)
        assert answer is not None, data
        assert answer["text"] in (
            "Deze knop werkt niet meer. Tik op /start.",
            "Die melding bestaat niet (meer).",
        ), data


async def test_hotspot_alert_and_daily_digest_show_the_right_counts(
    bot: BotApplication, person: MakePerson, client: SandboxClient, sessions: SessionFactory
) -> None:
    services = services_of(bot)
    coordinator = await person("Carla", user_id=ADMIN_ID)
    boa = await person("Boa")
    await grant(services, boa.id, Role.WIJKBOA, "wijk:brouwhuis", name="Boa", by=ADMIN_ID)
    other_boa = await person("Stip")
    await grant(services, other_boa.id, Role.WIJKBOA, "wijk:stiphout", name="Stip", by=ADMIN_ID)
    eva = await entrepreneur(person, coordinator, "Eva")
    piet = await entrepreneur(person, coordinator, "Piet")

    await file_report(eva, bot, what="drugs")
    await file_report(piet, bot, what="drugs", anonymous=True)
    before_boa, before_coordinator = boa.last_id, coordinator.last_id
    await file_report(eva, bot, what="drugs")  # the third in 24 hours: a hotspot
    alert = await next_message(client, coordinator.id, after=before_coordinator)
    assert "Opvallend veel meldingen" in alert["text"]
    assert "3 meldingen van “Drugs” in BZOB in de afgelopen 24 uur." in alert["text"]
    boa_alert = await next_message(client, boa.id, after=before_boa)
    assert "3 meldingen" in boa_alert["text"]
    await file_report(piet, bot, what="drugs")  # a fourth: no second alert
    coordinator_alerts = [
        m for m in await client.bot_messages(coordinator.id) if "Opvallend" in m.get("text", "")
    ]
    assert len(coordinator_alerts) == 1
    assert not [
        m for m in await client.bot_messages(other_boa.id) if "Opvallend" in m.get("text", "")
    ]

    # History: last week 2 voertuig in BZOB and 1 in Stiphout; the week before 5 in BZOB.
    today = utcnow().astimezone(services.settings.tz).date()
    async with sessions() as session:
        for days_ago, area, wijk, times in (
            (2, "park:bzob", "brouwhuis", 2),
            (3, "wijk:stiphout", "stiphout", 1),
            (9, "park:bzob", "brouwhuis", 5),
        ):
            for _ in range(times):
                when = utcnow() - timedelta(days=days_ago)
                await report_store.add(
                    session=session,
                    report=Report(
                        ref="",
                        created_at=when,
                        occurred_at=when,
                        category="voertuig",
                        area=area,
                        wijk=wijk,
                        description="x",
                    ),
                    day=today - timedelta(days=days_ago),
                )
    marks = {
        who.id: (await client.bot_messages(who.id))[-1]["message_id"]
        for who in (coordinator, boa, other_boa)
    }
    sent = await service.send_digest(services)
    assert sent == 3
    digest = await next_message(client, coordinator.id, after=marks[coordinator.id])
    assert "Verdacht voertuig: 2 (−3)" in digest["text"]  # BZOB, coordinators see all
    assert "Verdacht voertuig: 1 (+1)" in digest["text"]  # Stiphout
    assert "Drugs" not in digest["text"]  # today's reports are in tomorrow's digest
    boa_digest = await next_message(client, boa.id, after=marks[boa.id])
    assert "Verdacht voertuig: <3" in boa_digest["text"]
    assert "Stiphout" not in boa_digest["text"]
    stip_digest = await next_message(client, other_boa.id, after=marks[other_boa.id])
    assert "Verdacht voertuig: <3" in stip_digest["text"]
    assert "BZOB" not in stip_digest["text"]


async def test_retention_erases_reports_and_follow_ups_and_keeps_the_counts(
    bot: BotApplication, person: MakePerson, sessions: SessionFactory
) -> None:
    services = services_of(bot)
    coordinator = await person("Carla", user_id=ADMIN_ID)
    eva = await entrepreneur(person, coordinator, "Eva")
    old, _ = await file_report(eva, bot, anonymous=True)
    kept, _ = await file_report(eva, bot, what="overlast")
    await service.set_status(services, old, "afgehandeld", None, coordinator.id)
    await service.set_status(services, kept, "afgehandeld", None, coordinator.id)
    async with sessions() as session:
        for report in await report_rows(sessions):
            days = 91 if report.ref == old else 89
            report.closed_at = utcnow() - timedelta(days=days)
            session.add(report)
        await session.commit()
    # A draft left alone for two days is dropped too.
    await service.save_draft(services, 424242, service.Draft(category="overlast"))
    async with sessions() as session:
        for left in await session.exec(select(ReportDraft)):
            left.updated_at = utcnow() - timedelta(days=2)
            session.add(left)
        await session.commit()
    privacy = await eva.say("/privacy")
    assert "90 dagen" in privacy["text"]

    assert await service.retention(services) == 1
    assert [r.ref for r in await report_rows(sessions)] == [kept]
    async with sessions() as session:
        assert list(await session.exec(select(ReportFollowUp))) == []
        assert list(await session.exec(select(ReportDraft))) == []
    assert await daily(sessions) == {("park:bzob", "voertuig"): 1, ("park:bzob", "overlast"): 1}
    assert services.scheduler is not None
    assert {"reports:digest", "reports:retention"} <= set(services.scheduler.job_ids())


async def test_bad_input_rate_limit_and_drafts(
    bot: BotApplication, person: MakePerson, client: SandboxClient, sessions: SessionFactory
) -> None:
    services = services_of(bot)
    coordinator = await person("Carla", user_id=ADMIN_ID)
    eva = await entrepreneur(person, coordinator, "Eva")

    step = await start_report(eva)
    step = await eva.tap(step, category(eva, "persoon", bot))
    # A typed street, then the area by button.
    ask_area = await eva.say("Churchilllaan")
    assert "Churchilllaan" in ask_area["text"]
    when = await eva.tap(ask_area, "Binnenstad")
    other = await eva.tap(when, "Een ander moment")
    wrong = await eva.say("gisteren ergens")
    example = re.fullmatch(r"Dat moment kan ik niet lezen\. Schrijf het zo: (.+)\.", wrong["text"])
    assert example, wrong["text"]
    assert (utcnow() - parsed_moment(example[1], services)).days in (0, 1)  # yesterday
    # Refused, the ways on stay: the other answers and stopping.
    assert {"Nu net", "Eerder vandaag", "Een ander moment", "Stoppen"} <= set(buttons(wrong))
    future = (utcnow() + timedelta(days=2)).astimezone(services.settings.tz)
    later = await eva.say(future.strftime("%d-%m %H:%M"))
    assert later["text"] in (
        "Dat moment is nog niet geweest. Meld alleen wat al gebeurd is.",
        "Dat is meer dan 30 dagen geleden. Meld alleen wat kort geleden was.",
    )
    del other
    earlier = (utcnow() - timedelta(days=1)).astimezone(services.settings.tz)
    describe = await eva.say(earlier.strftime("%d-%m %H:%M"))
    assert "Beschrijf kort wat je zag." in describe["text"]
    empty = await eva.say("...")
    assert empty["text"] == "Schrijf in een paar woorden wat je zag."
    too_long = await eva.say("a" * 801)
    assert too_long["text"] == "Dat is te lang. Houd het kort: hoogstens 800 tekens."

    # She leaves halfway and comes back: the draft resumes where it was.
    await eva.say("/help")
    back = await eva.say("/melding")
    assert "Je was nog bezig met een melding." in back["text"]
    resumed = await eva.tap(back, "Verder waar ik was")
    assert "Beschrijf kort wat je zag." in resumed["text"]
    photos = await eva.say("Iemand voelt aan alle deurklinken van de winkels.")
    anonymous = await eva.tap(photos, "Geen foto")
    summary = await eva.tap(anonymous, "👤 Met mijn naam")
    assert "Binnenstad, Churchilllaan" in summary["text"]
    assert earlier.strftime("%H:%M") in summary["text"]
    await eva.tap(summary, "✅ Versturen")
    (row,) = await report_rows(sessions)
    assert (row.street, row.area) == ("Churchilllaan", "wijk:binnenstad")

    # Or starts over: the old draft is dropped cleanly.
    step = await start_report(eva)
    await eva.tap(step, category(eva, "overlast", bot))
    back = await eva.say("/melding")
    fresh = await eva.tap(back, "Opnieuw beginnen")
    assert "Wat heb je gezien?" in fresh["text"]
    stopped = await eva.tap(fresh, "Stoppen")
    assert stopped["text"] == "Gestopt. Er is niets bewaard."
    assert await service.load_draft(services_of(bot), eva.id) is None

    # The rate limit: a polite refusal, at the start and at sending.
    services.settings = services.settings.with_overrides(reports_per_hour=2)
    await file_report(eva, bot)
    refused = await eva.say("/melding")
    assert refused["text"].startswith(
        "Je hebt het afgelopen uur al 2 meldingen gedaan. Dank je wel!"
    )
    assert len(await report_rows(sessions)) == 2


async def test_residents_report_only_when_the_coordinator_allows_it(
    bot: BotApplication, person: MakePerson, client: SandboxClient, sessions: SessionFactory
) -> None:
    coordinator = await person("Carla", user_id=ADMIN_ID)
    bram = await person("Bram", wijk="stiphout")
    refused = await bram.say("/melding")
    assert "vraag de coördinator van je terrein om een uitnodigingslink" in refused["text"].lower()
    assert "/melding –" not in (await bram.say("/help"))["text"]
    menu = await client.commands(scope={"type": "all_private_chats"})
    assert "melding" not in [c["command"] for c in menu]
    stranger = await person("Sam")  # never chose a wijk
    listing = await coordinator.say("/vermoedens")
    switched = await coordinator.tap(listing, "⬜ Bewoners mogen ook melden")
    assert "✅ Bewoners mogen ook melden" in buttons(switched)
    # From now on residents find it in /help and in the command menu.
    assert "/melding – Een vermoeden melden" in (await bram.say("/help"))["text"]
    menu = await client.commands(scope={"type": "all_private_chats"})
    assert "melding" in [c["command"] for c in menu]
    async with sessions() as session:
        settings = list(
            await session.exec(select(AuditEntry).where(AuditEntry.action == "setting"))
        )
    assert [(a.actor_id, a.detail) for a in settings] == [(ADMIN_ID, "1")]
    ref, _ = await file_report(bram, bot, where="Stiphout", what="overlast")
    assert ref.startswith("MV-")
    not_yet = await stranger.say("/melding")
    assert (
        not_yet["text"]
        == "Melden kan voor bewoners die zich hebben aangemeld. Tik eerst op /start."
    )
    # Bram erases his data: his report stays for the case, without him.
    ask = await bram.say("/verwijder")
    await bram.tap(ask, "Ja, wis alles")
    (row,) = await report_rows(sessions)
    assert row.reporter_id is None
    details = await coordinator.tap(await coordinator.say("/vermoedens"), f"Details {ref}")
    assert "Melder: heeft zijn of haar gegevens gewist" in details["text"]


async def test_photos_places_and_sending_refused_at_the_wrong_moment(
    bot: BotApplication, person: MakePerson, client: SandboxClient, sessions: SessionFactory
) -> None:
    services = services_of(bot)
    coordinator = await person("Carla", user_id=ADMIN_ID)
    eva = await entrepreneur(person, coordinator, "Eva")
    step = await start_report(eva)
    # A photo or a location before their question: the draft is kept, the way shown.
    sent = await client.send_photo(eva.id, PNG)
    early = await eva.next_reply(after=sent["message_id"])
    assert early["text"] == "Een foto kan pas bij die stap. Gebruik de knoppen."
    where = await eva.tap(step, category(eva, "inbraak", bot))
    forged = await eva.press_data(where, "r1:mva:park:atlantis")
    assert forged is not None
    assert forged["text"] == "Die plek ken ik niet. Kies met de knoppen."
    when = await eva.tap(where, "Hoogeind")
    sent = await client.send_location(eva.id, *BZOB)
    late = await eva.next_reply(after=sent["message_id"])
    assert late["text"] == "Een locatie hoort bij de vraag waar het was. Gebruik de knoppen."
    today = await eva.tap(when, "Eerder vandaag")
    # The example is a time already past, so copying it is never refused.
    clock = re.search(r"bijvoorbeeld (\d\d:\d\d)", today["text"])
    assert clock, today["text"]
    now = utcnow().astimezone(services.settings.tz)
    assert clock[1] <= now.strftime("%H:%M")
    assert "Nu net" in buttons(today)
    wrong = await eva.say("25:99")
    assert re.fullmatch(r"Die tijd kan ik niet lezen\. Schrijf hem zo: \d\d:\d\d\.", wrong["text"])
    assert "Nu net" in buttons(wrong)
    await eva.say("00:00")
    photos = await eva.say("Deur van de loods open gebroken, alarm ging af.")
    for number in range(1, 4):
        sent = await client.send_photo(eva.id, PNG)
        photos = await eva.next_reply(after=sent["message_id"])
        assert f"({number} van 3)" in photos["text"]
    sent = await client.send_photo(eva.id, PNG)
    full = await eva.next_reply(after=sent["message_id"])
    assert full["text"] == "Er zijn al 3 foto's. Tik op Klaar."
    anonymous = await eva.tap(photos, "Klaar")
    warned = await eva.tap(anonymous, "🕶 Anoniem")
    summary = await eva.tap(warned, "Toch onder Hoogeind")

    # The hour's quota runs out while she was busy: refused at sending, draft kept.
    services.settings = services.settings.with_overrides(reports_per_hour=1)
    await file_report(coordinator, bot)
    services.report_quota.record(eva.id)
    refused = await alert_of(eva, summary, "✅ Versturen")
    assert refused.startswith("Je hebt het afgelopen uur al 1 meldingen gedaan.")
    assert await service.load_draft(services_of(bot), eva.id) is not None
    services.settings = services.settings.with_overrides(reports_per_hour=5)
    done = await eva.tap(summary, "✅ Versturen")
    ref = re.search(r"MV-\d{4}-\d{6}", done["text"])
    assert ref is not None

    # The coordinator looks at the photos; the view is audited.
    listing = await coordinator.say("/vermoedens")
    details = await coordinator.tap(listing, f"Details {ref.group(0)}")
    shown = await press_new(coordinator, details, "📷 Foto's bekijken", count=3)
    assert all(message["caption"] == ref.group(0) for message in shown)
    forged = await coordinator.press_data(details, "r1:mvf:mv-2026-999999")
    assert forged is not None
    assert forged["text"] == "Die melding bestaat niet (meer)."

    # She blocked the bot: the status is set, the coordinator hears it did not arrive.
    await client.block(eva.id)
    ask = await coordinator.tap(details, "⬜ in behandeling")
    result = await coordinator.tap(ask, "Zonder bericht")
    assert "De melder kon geen bericht krijgen." in result["text"]
    # A status for a report that is gone (erased meanwhile) changes nothing.
    gone = await coordinator.say("/vermoedens")
    await coordinator.press_data(gone, "r1:mvt:mv-2026-999999:afgehandeld:go")
    edited = await client.wait_edited(coordinator.id, gone["message_id"])
    assert edited["text"] == "Die melding bestaat niet (meer)."


async def test_the_digest_and_retention_run_at_their_set_times(
    settings: Settings, engine: AsyncEngine
) -> None:
    """BUURTBOT_REPORT_DIGEST_TIME sets the digest's moment; retention runs at night."""
    moved = settings.with_overrides(report_digest_time=time(7, 15))
    app = build_application(moved, token=SANDBOX_TOKEN)
    async with running(app, poll_timeout=1):
        scheduler = services_of(app).scheduler
        assert scheduler is not None
        digest = scheduler.next_run("reports:digest")
        retention = scheduler.next_run("reports:retention")
    assert digest is not None
    assert retention is not None
    local = digest.astimezone(moved.tz)
    assert (local.hour, local.minute) == (7, 15)
    assert 0 < (digest - utcnow()).total_seconds() <= 24 * 3600
    assert (retention.astimezone(moved.tz).hour, retention.astimezone(moved.tz).minute) == (3, 30)


async def test_the_welcome_button_shows_the_112_card_first_then_the_question(
    person: MakePerson,
) -> None:
    coordinator = await person("Carla", user_id=ADMIN_ID)
    eva = await entrepreneur(person, coordinator, "Eva", "en")
    welcome = (await eva.client.bot_messages(eva.id))[-1]
    card, question = await press_new(eva, welcome, eva._("Meld een vermoeden"), count=2)
    assert card["contact"]["phone_number"] == "112"
    assert question["text"].startswith(
        "🚨 " + eva._("Is het nu aan de hand en is er gevaar? Bel 112.")
    )
    assert eva._("Wat heb je gezien?") in question["text"]


async def test_a_hotspot_an_anonymous_report_makes_is_told_at_the_next_full_hour(
    bot: BotApplication, person: MakePerson, client: SandboxClient, sessions: SessionFactory
) -> None:
    """The alert would show the minute of the report that crossed the threshold; for an
    anonymous one it waits, as its note does, and comes once at the hour."""
    services = services_of(bot)
    assert services.scheduler is not None
    services.scheduler.forget("notes:anonymous")  # the hourly job, run here by hand
    coordinator = await person("Carla", user_id=ADMIN_ID)
    eva = await entrepreneur(person, coordinator, "Eva")
    await file_report(eva, bot, what="drugs")
    await file_report(eva, bot, what="drugs")
    queued = await notices_queued(sessions)
    await file_report(eva, bot, what="drugs", anonymous=True)  # the third in 24 hours

    assert await notices_queued(sessions) == queued
    assert not [
        m for m in await client.bot_messages(coordinator.id) if "Opvallend" in m.get("text", "")
    ]
    filed = (await report_rows(sessions))[-1]
    assert await coordinator_notes.release(services, filed.created_at + timedelta(minutes=59)) == 0
    assert await coordinator_notes.release(services, filed.created_at + timedelta(hours=1)) == 1
    assert await coordinator_notes.release(services, filed.created_at + timedelta(hours=1)) == 0
    assert await notices_queued(sessions) == queued + 2  # the note and the alert, once
    alert = await next_starting(client, coordinator.id, coordinator.last_id, "⚠️")
    assert "3 meldingen van “Drugs” in BZOB in de afgelopen 24 uur." in alert["text"]


async def test_coordinators_get_a_short_note_of_a_report_and_an_invite_and_can_stop_it(
    bot: BotApplication, person: MakePerson, client: SandboxClient, sessions: SessionFactory
) -> None:
    services = services_of(bot)
    coordinator = await person("Carla", user_id=ADMIN_ID)
    before = coordinator.last_id
    anouk = await entrepreneur(person, coordinator, "Anouk", "en")
    # The invite used: which role for which park, nothing else.
    used = await next_starting(client, coordinator.id, before, "🔑")
    assert used["text"] == "🔑 Een uitnodiging is gebruikt: ondernemer (BZOB). Zie /rollen."
    coordinator.last_id = used["message_id"]

    # An anonymous report: number, category and area; not its text, nor who sent it,
    # nor when: the note waits for the next full hour (the hourly job, run here by hand).
    assert services.scheduler is not None
    services.scheduler.forget("notes:anonymous")
    queued = await notices_queued(sessions)
    ref, _ = await file_report(
        anouk,
        bot,
        what="ondermijning",
        text="Ramen van unit 4 dichtgeplakt met folie.",
        anonymous=True,
    )
    assert await notices_queued(sessions) == queued
    filed = (await report_rows(sessions))[-1]
    assert await coordinator_notes.release(services, filed.created_at + timedelta(minutes=59)) == 0
    assert await notices_queued(sessions) == queued
    assert await coordinator_notes.release(services, filed.created_at + timedelta(hours=1)) == 1
    # Once only: a second run (a restart in the same hour) finds nothing left to send.
    assert await coordinator_notes.release(services, filed.created_at + timedelta(hours=1)) == 0
    assert await notices_queued(sessions) == queued + 1
    note = await next_starting(client, coordinator.id, coordinator.last_id, "📥")
    assert not re.search(r"\d:\d\d", note["text"]), note["text"]  # no time in the text
    assert note["text"].startswith(f"📥 Nieuwe melding {ref}: ")
    assert "Ondermijning" in note["text"]
    assert note["text"].endswith(" in BZOB.")
    dumped = json.dumps(note, ensure_ascii=False)
    for secret in ("folie", "Anouk", str(anouk.id)):
        assert secret not in dumped
    # Its Details button opens the report as /vermoedens does, and the view is audited.
    details = await coordinator.tap(note, f"Details {ref}")
    assert "folie" in details["text"]
    async with sessions() as session:
        views = list(
            await session.exec(select(AuditEntry).where(AuditEntry.action == "report_view"))
        )
    assert [(v.actor_id, v.subject) for v in views] == [(coordinator.id, f"report:{ref}")]

    # Switched off under a note (stored, audited): the next report brings none.
    off = await coordinator.press_data(note, buttons(note)["🔕 Geen berichtjes meer"])
    assert off is not None
    assert off["text"] == "Berichtjes staan uit. Weer aanzetten kan in /vermoedens."
    listing = await coordinator.say("/vermoedens")
    assert "⬜ Berichtje bij een nieuwe melding of uitnodiging" in buttons(listing)
    queued = await notices_queued(sessions)
    await file_report(anouk, bot)  # the note is queued (or not) before the confirmation
    assert await notices_queued(sessions) == queued
    # And on again from /vermoedens.
    on = await coordinator.tap(listing, "⬜ Berichtje bij een nieuwe melding of uitnodiging")
    assert "✅ Berichtje bij een nieuwe melding of uitnodiging" in buttons(on)
    async with sessions() as session:
        switched = list(
            await session.exec(select(AuditEntry).where(AuditEntry.action == "setting"))
        )
    assert [e.detail for e in switched if "coordinator_notes" in (e.subject or "")] == ["1", "0"]
    # A report with a name may say when it came: its note goes out at once.
    named, _ = await file_report(anouk, bot)
    note = await next_starting(client, coordinator.id, coordinator.last_id, "📥")
    assert note["text"].startswith(f"📥 Nieuwe melding {named}: ")
