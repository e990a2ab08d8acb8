"""Announcements end to end: composed, previewed, sent, scheduled, answered, changed (issue 5)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import pytest
from sqlmodel import col, select

from bot import broadcasts as broadcast_service
from bot.app import BotApplication, build_application, running, shut_down
from bot.cli import SANDBOX_TOKEN
from bot.services import services_of
from bot.settings import Settings
from sandbox.client import SandboxClient
from storage.engine import SessionFactory
from storage.models import Broadcast, Group, Reply, utcnow
from tests.journeys.resident import Json, MakePerson, Resident, buttons, next_message, next_messages

ADMIN_ID = 900001


def day(offset: int) -> str:
    """A day ahead as a coordinator types it; with the year once it falls in the next
    one (a day-month already past this year is refused)."""
    today, then = datetime.now(), datetime.now() + timedelta(days=offset)
    return then.strftime("%d-%m" if then.year == today.year else "%d-%m-%Y")


ANSWERS = {
    "witte_voetjes": lambda: [day(2), "19:30", "de kerk", "-", "-"],
    "buurttent": lambda: [day(3), "10:00", "16:00", "Steenweg 12", "Tips tegen inbraak."],
    "challenge": lambda: [
        "Schoonste straat",
        "1 tot en met 30 juni",
        "Teams ruimen samen op.",
        "Meld je team aan bij de coördinator.",
    ],
    "nieuws": lambda: ["Nieuwe wijkboa", "Vanaf maandag is Sanne de wijkboa van Stiphout."],
}
LABELS = {
    "witte_voetjes": "Witte Voetjes",
    "buurttent": "BuurtTent",
    "challenge": "Buurtsaam Challenge",
    "nieuws": "Nieuws",
}
ICONS = {"witte_voetjes": "👣", "buurttent": "⛺", "challenge": "🏆", "nieuws": "📰"}


async def compose(
    coord: Resident, kind: str, wijken: list[str], *, preview_checks: bool = True
) -> Json:
    """/bericht through to the message with the send buttons; returns that message."""
    choice = await coord.say("/bericht")
    step = await coord.tap(choice, f"{ICONS[kind]} {coord._(LABELS[kind])}")
    for answer in ANSWERS[kind]():
        step = await coord.say(answer)
    for wijk in wijken:
        step = await coord.tap(step, f"⬜ {wijk}")
    step = await coord.tap(step, coord._("Verder"))
    pressed = await coord.client.press(
        coord.id, coord.id, step["message_id"], buttons(step)[coord._("Zonder foto")]
    )
    await coord.client.callback_answer(pressed["callback_query_id"])
    intro, preview, actions = await next_messages(
        coord.client, coord.id, 3, after=step["message_id"]
    )
    coord.last_id = actions["message_id"]
    if preview_checks:
        assert intro["text"] == coord._("Voorbeeld: zo ziet het eruit.")
        assert coord._("Is er nu gevaar? Bel altijd eerst 112.") in preview["text"]
    return actions


async def wait_for(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition never became true"
        await asyncio.sleep(0.05)


async def status_of(sessions: SessionFactory, broadcast_id: int) -> str:
    async with sessions() as session:
        broadcast = await session.get(Broadcast, broadcast_id)
    return broadcast.status if broadcast else "?"


def bid_of(actions: Json) -> int:
    return int(next(iter(buttons(actions).values())).split(":")[-1])


@pytest.mark.parametrize("kind", list(ANSWERS))
@pytest.mark.parametrize("code", ["nl", "en"])
async def test_each_kind_is_composed_previewed_and_sent(
    person: MakePerson, client: SandboxClient, sessions: SessionFactory, kind: str, code: str
) -> None:
    coord = await person("Carla", code, user_id=ADMIN_ID)
    anna = await person("Anna", "nl", wijk="stiphout")
    ewa = await person("Ewa", "pl", wijk="stiphout")
    far = await person("Ver", "nl", wijk="brandevoort")
    group = await client.create_group("Buurtapp Dorp", creator_id=anna.id)
    await client.add_bot(group["id"], by=anna.id)
    intro = await next_message(client, group["id"])  # the bot introduces itself
    async with sessions() as session:  # registered and approved (tests/journeys/test_groups.py)
        stored = (await session.exec(select(Group))).one()
        stored.wijk, stored.status = "stiphout", "approved"
        session.add(stored)
        await session.commit()

    actions = await compose(coord, kind, ["Stiphout"])
    assert (
        coord._("Dit gaat naar {n} ontvangers (kanalen, groepen en bewoners).").format(n=3)
        in actions["text"]
    )
    progress = await coord.tap(actions, coord._("Nu versturen"))
    bid = bid_of(actions)

    async def done() -> bool:
        return await status_of(sessions, bid) == "sent"

    await wait_for(done)
    for reader in (anna, ewa):
        got = await next_message(client, reader.id, after=reader.last_id)
        assert reader._("Is er nu gevaar? Bel altijd eerst 112.") in got["text"]
    polish = (await client.bot_messages(ewa.id))[-1]["text"]
    assert "Bel altijd" not in polish  # the fixed parts in Polish
    in_group = [
        m for m in await client.bot_messages(group["id"]) if m["message_id"] > intro["message_id"]
    ]
    assert len(in_group) == 1  # exactly once
    assert not [
        m
        for m in await client.bot_messages(far.id)
        if "112" in m["text"] and m["message_id"] > far.last_id
    ]
    final = await client.wait_edited(
        coord.id, progress["message_id"], edits=progress["edit_count"] + 1
    )
    assert coord._("Klaar:")[:4] in final["text"] or "3" in final["text"]


async def test_replies_count_once_and_can_be_taken_back(
    person: MakePerson, client: SandboxClient, sessions: SessionFactory
) -> None:
    coord = await person("Carla", user_id=ADMIN_ID)
    anna = await person("Anna", wijk="stiphout")
    actions = await compose(coord, "witte_voetjes", ["Stiphout"])
    await coord.tap(actions, "Nu versturen")
    post = await next_message(client, anna.id, after=anna.last_id)
    answers, labels = [], []
    for edits in (1, 2, 3):
        answers.append(await anna.press_data(post, buttons(post)["Ik doe mee"]))
        # The private copy shows the choice on its button, and takes it off again.
        edited = await client.wait_edited(anna.id, post["message_id"], edits=edits)
        labels.append(list(buttons(edited)))
    assert [a["text"] for a in answers if a] == [
        "Geteld. Dank je!",
        "Niet meer geteld.",
        "Geteld. Dank je!",
    ]
    assert labels == [["✓ Ik doe mee"], ["Ik doe mee"], ["✓ Ik doe mee"]]
    async with sessions() as session:
        replies = (await session.exec(select(Reply))).all()
    assert [(r.user_id, r.choice) for r in replies] == [(anna.id, "join")]
    report = await coord.say("/verzonden")
    assert "Ik doe mee: 1" in report["text"]
    forged = await anna.press_data(
        post, f"r1:rep:{bid_of(actions)}:remind"
    )  # not a Witte Voetjes choice
    assert forged is not None
    assert forged["text"] == "Deze knop werkt niet meer. Tik op /start."


async def buurttent_sent(
    person: MakePerson, client: SandboxClient, sessions: SessionFactory
) -> tuple[Resident, list[Resident], int, dict[int, Json]]:
    """A BuurtTent for tomorrow sent to Anna (nl) and Bram (en): the coordinator, the
    readers, its id and each reader's copy."""
    coord = await person("Carla", user_id=ADMIN_ID)
    readers = [await person("Anna", wijk="stiphout"), await person("Bram", "en", wijk="stiphout")]
    actions = await compose(coord, "buurttent", ["Stiphout"])
    await coord.tap(actions, "Nu versturen")
    bid = bid_of(actions)

    async def sent() -> bool:
        return await status_of(sessions, bid) == "sent"

    await wait_for(sent)
    copies = {r.id: await next_message(client, r.id, after=r.last_id) for r in readers}
    for reader in readers:
        reader.last_id = copies[reader.id]["message_id"]
    return coord, readers, bid, copies


async def test_a_buurttent_called_off_reaches_everyone_who_got_it(
    person: MakePerson, client: SandboxClient, sessions: SessionFactory
) -> None:
    coord, (anna, bram), _, _ = await buurttent_sent(person, client, sessions)
    report = await coord.say("/verzonden")
    ask = await coord.tap(report, labelled(report, "Gaat niet door: "))
    assert "Waarom gaat het niet door?" in ask["text"]
    # First a preview of the notice as its readers will get it; nothing goes out yet.
    preview = await coord.say("Slecht weer")
    assert preview["text"].startswith("Voorbeeld: zo lezen de ontvangers het.")
    assert "BuurtTent: Gaat niet door" in preview["text"]
    assert "Slecht weer" in preview["text"]
    confirm = await coord.next_reply()
    assert confirm["text"] == "Dit gaat naar 2 ontvangers. Versturen?"
    await asyncio.sleep(0.3)
    for reader in (anna, bram):
        assert (await client.bot_messages(reader.id))[-1]["message_id"] == reader.last_id
    done = await coord.tap(confirm, "Versturen")
    assert done["text"] == "De wijziging gaat naar 2 ontvangers."
    for reader in (anna, bram):
        update = await next_message(client, reader.id, after=reader.last_id)
        assert reader._("Gaat niet door") in update["text"]
        assert "Slecht weer" in update["text"]


def labelled(message: Json, prefix: str) -> str:
    """The one button whose label starts with `prefix` (labels name the announcement)."""
    (label,) = [label for label in buttons(message) if label.startswith(prefix)]
    return label


async def test_a_buurttent_called_off_is_final_reminder_buttons_and_all(
    bot: BotApplication, person: MakePerson, client: SandboxClient, sessions: SessionFactory
) -> None:
    """Called off with a reminder pending: no reminder, the private copy's buttons say so,
    an old button (a forged one too) is refused, /verzonden shows it without buttons."""
    services = services_of(bot)
    coord, (anna, bram), bid, copies = await buurttent_sent(person, client, sessions)
    answer = await anna.press_data(copies[anna.id], buttons(copies[anna.id])["Herinner me"])
    assert answer is not None
    assert services.scheduler is not None
    assert services.scheduler.has(f"reminder:{bid}")  # the tent is tomorrow: 2 h before

    report = await coord.say("/verzonden")
    await coord.tap(report, labelled(report, "Gaat niet door: "))
    await coord.say("Slecht weer")
    await coord.tap(await coord.next_reply(), "Versturen")
    for reader in (anna, bram):
        notice = await next_message(client, reader.id, after=reader.last_id)
        assert "Slecht weer" in notice["text"]
        # The copy itself: its buttons give way to one that says it does not go ahead.
        # (Anna's copy was edited once already: her tick on "Herinner me".)
        edits = 2 if reader is anna else 1
        edited = await client.wait_edited(reader.id, copies[reader.id]["message_id"], edits=edits)
        assert list(buttons(edited)) == ["❌ " + reader._("Gaat niet door")]
        assert edited["text"] == copies[reader.id]["text"]
    assert not services.scheduler.has(f"reminder:{bid}")
    # Old buttons, pressed or forged, are refused with the reason.
    for data in (buttons(copies[anna.id])["Ik kom"], f"r1:rep:{bid}:remind", f"r1:rep:{bid}:off"):
        refused = await anna.press_data(copies[anna.id], data)
        assert refused is not None
        assert refused["text"] == "Deze BuurtTent gaat niet door."
    # The reminder job, had it run anyway, finds nothing to remind of.
    await broadcast_service.remind(services, bid)
    await asyncio.sleep(0.3)
    after = await client.bot_messages(anna.id)
    assert not any("Herinnering" in (m.get("text") or "") for m in after)
    listing = await coord.say("/verzonden")
    assert "gaat niet door" in listing["text"]
    assert not any(label.startswith("Gaat niet door") for label in buttons(listing))
    # Calling it off twice is refused, not sent again.
    again = await coord.press_data(listing, f"r1:bc:off:{bid}")
    assert again is not None
    ask = await coord.say("Nog steeds slecht weer")
    assert "Deze BuurtTent gaat niet door." in ask["text"]


async def test_a_weekly_broadcast_goes_out_two_weeks_running_without_a_restart(
    bot: BotApplication, person: MakePerson, client: SandboxClient, sessions: SessionFactory
) -> None:
    services = services_of(bot)
    assert services.scheduler is not None
    coord = await person("Carla", user_id=ADMIN_ID)
    anna = await person("Anna", wijk="stiphout")
    actions = await compose(coord, "nieuws", ["Stiphout"])
    await coord.tap(actions, "Elke week")
    await coord.say((datetime.now() + timedelta(days=1)).strftime("%d-%m %H:%M"))
    current = bid_of(actions)
    for week in (1, 2):
        assert services.scheduler.has(f"broadcast:{current}")
        # Its week has come: moved to now by the service, as the job would fire then.
        async with sessions() as session:
            due = await session.get(Broadcast, current)
            assert due is not None
            due.send_at = utcnow() + timedelta(seconds=0.5)
            session.add(due)
            await session.commit()
        broadcast_service.plan_send(services, due)
        got = await next_message(client, anna.id, after=anna.last_id)
        anna.last_id = got["message_id"]

        async def next_planned(after: int = current) -> bool:
            async with sessions() as session:
                rows = await session.exec(
                    select(Broadcast).where(
                        Broadcast.status == "scheduled", col(Broadcast.id) > after
                    )
                )
                return rows.first() is not None

        await wait_for(next_planned)
        async with sessions() as session:
            following = (
                await session.exec(select(Broadcast).where(Broadcast.status == "scheduled"))
            ).one()
        assert following.send_at is not None
        assert following.send_at - utcnow() > timedelta(days=6)
        assert services.scheduler.has(f"broadcast:{following.id}"), f"week {week}"
        current = following.id or 0


async def test_bad_input_while_composing(person: MakePerson) -> None:
    coord = await person("Carla", user_id=ADMIN_ID)
    choice = await coord.say("/bericht")
    await coord.tap(choice, "⛺ BuurtTent")
    past = await coord.say((datetime.now() - timedelta(days=3)).strftime("%d-%m-%Y"))
    assert past["text"] == "Die datum is al voorbij."
    await coord.say(day(3))
    unreadable = await coord.say("tien uur")
    assert unreadable["text"] == "Die tijd kan ik niet lezen. Schrijf hem zo: 19:30."
    await coord.say("10:00")
    await coord.say("16:00")
    await coord.say("Steenweg")
    audience = await coord.say("Tips")
    nobody = await coord.press_data(audience, buttons(audience)["Verder"])
    assert nobody is not None
    assert nobody["text"] == "Kies eerst wie het bericht krijgt."
    stopped = await coord.say("/annuleer")
    assert stopped["text"] == "Gestopt. Er is niets bewaard."


async def test_a_buurttent_preview_says_what_it_is_about_once(
    person: MakePerson, client: SandboxClient
) -> None:
    coord = await person("Carla", user_id=ADMIN_ID)
    actions = await compose(coord, "buurttent", ["Stiphout"])
    preview = [m for m in await client.bot_messages(coord.id) if "⛺" in (m.get("text") or "")][-1]
    assert preview["message_id"] < actions["message_id"]
    assert preview["text"].count("Tips tegen inbraak.") == 1
    assert "Kom langs" not in preview["text"]


async def test_a_date_without_a_year_reads_back_with_it_and_a_past_one_is_refused(
    person: MakePerson,
) -> None:
    """24-11 typed on 1 December: asked whether 24-11 next year is meant, not assumed;
    the preview and the confirmation show the year."""
    today = datetime.now().date()
    if today.month == 1 and today.day == 1:
        pytest.skip("on 1 January no day-month of this year has passed yet")
    past = today - timedelta(days=1) if today.day > 1 else today.replace(day=1) - timedelta(days=1)
    coord = await person("Carla", user_id=ADMIN_ID)
    choice = await coord.say("/bericht")
    await coord.tap(choice, "⛺ BuurtTent")
    refused = await coord.say(f"{past.day}-{past.month}")
    assert refused["text"] == (
        f"{past.day}-{past.month} is al geweest; bedoel je {past.day}-{past.month}-{today.year + 1}?"
    )
    ahead = today + timedelta(days=3)
    for answer in (day(3), "10:00", "16:00", "Steenweg 12", "Tips tegen inbraak."):
        step = await coord.say(answer)
    step = await coord.tap(step, "⬜ Stiphout")
    step = await coord.tap(step, "Verder")
    pressed = await coord.client.press(
        coord.id, coord.id, step["message_id"], buttons(step)["Zonder foto"]
    )
    await coord.client.callback_answer(pressed["callback_query_id"])
    _intro, preview, actions = await next_messages(
        coord.client, coord.id, 3, after=step["message_id"]
    )
    assert f"{ahead.day} " in preview["text"]
    assert str(ahead.year) in preview["text"]
    coord.last_id = actions["message_id"]
    await coord.tap(actions, "Inplannen")
    when = (datetime.now() + timedelta(days=1)).replace(hour=19, minute=30)
    planned = await coord.say(
        when.strftime("%d-%m %H:%M") if when.year == today.year else when.strftime("%d-%m-%Y %H:%M")
    )
    assert planned["text"].startswith("Ingepland voor ")
    assert f" {when.year}, 19:30" in planned["text"]


async def test_a_scheduled_broadcast_survives_a_restart_and_can_be_moved_or_cancelled(
    app: BotApplication,
    settings: Settings,
    person: MakePerson,
    client: SandboxClient,
    sessions: SessionFactory,
) -> None:
    coord = await person("Carla", user_id=ADMIN_ID)
    await person("Anna", wijk="stiphout")
    actions = await compose(coord, "nieuws", ["Stiphout"])
    ask = await coord.tap(actions, "Inplannen")
    assert "Wanneer?" in ask["text"]
    when = (datetime.now() + timedelta(days=1)).strftime("%d-%m %H:%M")
    planned = await coord.say(when)
    assert planned["text"].startswith("Ingepland voor ")
    bid = bid_of(actions)
    assert f"broadcast:{bid}" in services_of(app).scheduler.job_ids()  # type: ignore[union-attr]

    listing = await coord.say("/gepland")
    assert "Nieuws" in listing["text"]
    # Another coordinator moved it meanwhile: the first one's move is refused, not lost.
    moving = await coord.tap(listing, "Verzet 1")
    async with sessions() as session:
        broadcast = await session.get(Broadcast, bid)
        assert broadcast is not None
        broadcast.version += 1
        session.add(broadcast)
        await session.commit()
    refused = await coord.say((datetime.now() + timedelta(days=2)).strftime("%d-%m %H:%M"))
    assert (
        refused["text"]
        == "Iemand anders heeft dit bericht net gewijzigd. Kijk opnieuw bij /gepland."
    )
    assert moving

    # A restart: the job is rebuilt from the database, once. The first bot stops first:
    # one sender per database.
    await shut_down(app)
    second = build_application(settings, token=SANDBOX_TOKEN)
    async with running(second, poll_timeout=1):
        assert services_of(second).scheduler.job_ids().count(f"broadcast:{bid}") == 1  # type: ignore[union-attr]

        listing = await coord.say("/gepland")
        gone = await coord.tap(listing, "Annuleer 1")
    assert gone["text"] == "Dit bericht wordt niet verstuurd."
    assert await status_of(sessions, bid) == "cancelled"


async def test_missed_while_down_a_little_is_sent_a_lot_is_asked(
    settings: Settings,
    person: MakePerson,
    client: SandboxClient,
    sessions: SessionFactory,
    app: BotApplication,
) -> None:
    coord = await person("Carla", user_id=ADMIN_ID)
    anna = await person("Anna", wijk="stiphout")
    async with sessions() as session:
        little = Broadcast(kind="nieuws", author_id=ADMIN_ID, status="scheduled", fields='{"title": "Kort", "text": "Even laat"}',
                           audience='{"wijken": ["stiphout"]}', send_at=utcnow() - timedelta(minutes=10))  # fmt: skip
        lot = Broadcast(kind="nieuws", author_id=ADMIN_ID, status="scheduled", fields='{"title": "Oud", "text": "Te laat"}',
                        audience='{"wijken": ["stiphout"]}', send_at=utcnow() - timedelta(hours=5))  # fmt: skip
        session.add_all([little, lot])
        await session.commit()
        little_id, lot_id = little.id, lot.id
    await shut_down(app)  # the bot goes down; one sender per database
    restarted = build_application(settings, token=SANDBOX_TOKEN)
    async with running(restarted, poll_timeout=1):
        got = await next_message(client, anna.id, after=anna.last_id)
        assert "Even laat" in got["text"]
        question = await next_message(client, ADMIN_ID, after=coord.last_id)
        assert "Nu nog versturen?" in question["text"]
        coord.last_id = question["message_id"]
        await coord.tap(question, "Niet meer versturen")
    assert await status_of(sessions, lot_id) == "cancelled"
    assert little_id is not None


async def test_a_channel_post_counts_presses_and_links_reminders_privately(
    person: MakePerson, client: SandboxClient, sessions: SessionFactory
) -> None:
    coord = await person("Carla", user_id=ADMIN_ID)
    channel = await client.create_channel(
        "Stiphout Veilig", creator_id=ADMIN_ID, username="stiphout_veilig"
    )
    await client.add_bot(channel["id"], by=ADMIN_ID, admin=True)
    question = await next_message(client, ADMIN_ID, after=coord.last_id)
    coord.last_id = question["message_id"]
    await coord.tap(question, "Stiphout")  # linked as in tests/journeys/test_channels.py
    follower = await client.create_user("Volger", language_code="nl")
    await client.follow(channel["id"], follower["id"])
    actions = await compose(coord, "buurttent", ["Stiphout"])
    await coord.tap(actions, "Nu versturen")
    post = await next_message(client, channel["id"])
    assert "Steenweg 12" in post["text"]
    pressed = await client.press(
        follower["id"], channel["id"], post["message_id"], buttons(post)["Ik kom"]
    )
    answer = await client.callback_answer(pressed["callback_query_id"])
    assert answer is not None
    assert answer["text"] == "Geteld. Dank je!"
    remind = buttons(post)["Herinner me"]
    assert remind == f"https://t.me/buurtbot_sandbox_bot?start=rem-{bid_of(actions)}"
    reader = Resident(client, follower, coord.lang.translator.for_language("nl"))
    confirmed = await reader.say(f"/start rem-{bid_of(actions)}")
    assert confirmed["text"] == "Goed! Op de dag zelf krijg je hier een herinnering."
    async with sessions() as session:
        choices = sorted(r.choice for r in (await session.exec(select(Reply))).all())
    assert choices == ["come", "remind"]


async def test_a_team_contact_records_the_homes_that_got_footprints(
    bot: BotApplication, person: MakePerson, client: SandboxClient, sessions: SessionFactory
) -> None:
    from bot.roles import Role, grant
    from storage.models import Team

    coord = await person("Carla", user_id=ADMIN_ID)
    tom = await person("Tom", wijk="stiphout")
    async with sessions() as session:
        team = Team(name="De Uilen", wijk="stiphout", status="approved", contact_user_id=tom.id)
        session.add(team)
        await session.commit()
        team_id = team.id
    await grant(
        services_of(bot), tom.id, Role.TEAM_CONTACT, f"team:{team_id}", name="Tom", by=ADMIN_ID
    )
    actions = await compose(coord, "witte_voetjes", ["Stiphout"])
    await coord.tap(actions, "Nu versturen")
    bid = bid_of(actions)

    async def sent() -> bool:
        return await status_of(sessions, bid) == "sent"

    await wait_for(sent)
    which = await tom.say("/resultaat")
    ask = await tom.tap(which, next(iter(buttons(which))))
    assert ask["text"] == "Hoeveel woningen kregen witte voetjes? Typ een getal."
    wrong = await tom.say("twaalf")
    assert wrong["text"] == "Typ alleen een getal, bijvoorbeeld 12."
    # A digit to str.isdigit that int() refuses: one more "just a number", not a crash.
    assert (await tom.say("²"))["text"] == "Typ alleen een getal, bijvoorbeeld 12."
    done = await tom.say("12")
    assert done["text"] == "Genoteerd: 12 woningen met witte voetjes. Dank je!"
    report = await coord.say("/verzonden")
    assert "woningen met voetjes: 12" in report["text"]
    refused = await coord.say("/resultaat")  # a coordinator is no team contact
    assert refused["text"] == "Dat mag je niet. Kijk bij /help wat je wel kunt."


async def test_a_weekly_broadcast_plans_its_next_week_and_reminders_reach_who_asked(
    app: BotApplication,
    settings: Settings,
    person: MakePerson,
    client: SandboxClient,
    sessions: SessionFactory,
) -> None:
    coord = await person("Carla", user_id=ADMIN_ID)
    anna = await person("Anna", wijk="stiphout")
    actions = await compose(coord, "buurttent", ["Stiphout"])
    await coord.tap(actions, "Elke week")
    await coord.say((datetime.now() + timedelta(days=1)).strftime("%d-%m %H:%M"))
    bid = bid_of(actions)
    async with sessions() as session:
        broadcast = await session.get(Broadcast, bid)
        assert broadcast is not None
        assert broadcast.repeat_weekly
        first_at = broadcast.send_at
        broadcast.send_at = utcnow() - timedelta(minutes=1)  # as if its time came while down
        session.add(broadcast)
        await session.commit()
    await shut_down(app)
    restarted = build_application(settings, token=SANDBOX_TOKEN)
    async with running(restarted, poll_timeout=1):
        post = await next_message(client, anna.id, after=anna.last_id)
        anna.last_id = post["message_id"]

        async def planned_again() -> bool:
            async with sessions() as session:
                rows = (
                    await session.exec(select(Broadcast).where(Broadcast.status == "scheduled"))
                ).all()
            return len(rows) == 1

        await wait_for(planned_again)
        answer = await anna.press_data(post, buttons(post)["Herinner me"])
        assert answer is not None
        # A reminder is promised in words of its own, and the button says it was chosen.
        assert answer["text"] == "Goed! Op de dag zelf krijg je hier een herinnering."
        edited = await client.wait_edited(anna.id, post["message_id"], edits=1)
        assert list(buttons(edited)) == ["Ik kom", "✓ Herinner me"]
        await broadcast_service.remind(services_of(restarted), bid)
        reminder = await next_message(client, anna.id, after=anna.last_id)
        assert "Herinnering: vandaag staat de BuurtTent" in reminder["text"]
    async with sessions() as session:
        again = (await session.exec(select(Broadcast).where(Broadcast.status == "scheduled"))).one()
    assert again.send_at is not None
    assert first_at is not None
    assert again.repeat_weekly
    assert again.send_at - (utcnow() - timedelta(minutes=1)) > timedelta(days=6)


async def test_an_audience_with_nobody_in_it_sends_nothing(
    person: MakePerson, sessions: SessionFactory
) -> None:
    coord = await person("Carla", user_id=ADMIN_ID)
    actions = await compose(coord, "nieuws", ["Warande"])
    assert "Dit gaat naar 0 ontvangers" in actions["text"]
    nothing = await coord.tap(actions, "Nu versturen")
    assert nothing["text"] == "Bij deze keuze hoort nog niemand. Er is niets verstuurd."
    assert await status_of(sessions, bid_of(actions)) == "sent"


async def test_kinds_switched_off_and_quiet_hours_are_respected(
    person: MakePerson, client: SandboxClient, sessions: SessionFactory
) -> None:
    from storage.models import Delivery, User

    coord = await person("Carla", user_id=ADMIN_ID)
    wants = await person("Wil", wijk="stiphout")
    no_news = await person("Geen", wijk="stiphout")
    sleeping = await person("Slaap", wijk="stiphout")
    async with sessions() as session:
        for user_id, kinds, quiet in (
            (no_news.id, "witte_voetjes,buurttent,challenge", None),
            (sleeping.id, "witte_voetjes,buurttent,challenge,nieuws", (0, 24 * 60 - 1)),
        ):
            user = await session.get(User, user_id)
            assert user is not None
            user.kinds = kinds
            user.quiet_start, user.quiet_end = quiet if quiet else (None, None)
            session.add(user)
        await session.commit()
    actions = await compose(coord, "nieuws", ["Stiphout"])
    assert "Dit gaat naar 2 ontvangers" in actions["text"]  # not the one without news
    await coord.tap(actions, "Nu versturen")
    got = await next_message(client, wants.id, after=wants.last_id)
    assert "Nieuwe wijkboa" in got["text"]
    async with sessions() as session:
        held = (await session.exec(select(Delivery).where(Delivery.chat_id == sleeping.id))).one()
        nothing = (await session.exec(select(Delivery).where(Delivery.chat_id == no_news.id))).all()
    assert held.status == "queued"
    assert held.not_before is not None
    assert held.not_before > utcnow()
    assert nothing == []
    assert not [
        m for m in await client.bot_messages(sleeping.id) if m["message_id"] > sleeping.last_id
    ]


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
    b"\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x9a\xa0\xa1"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


async def test_a_photo_goes_with_the_announcement_and_a_moved_buurttent_is_told(
    person: MakePerson, client: SandboxClient, sessions: SessionFactory
) -> None:
    coord = await person("Carla", user_id=ADMIN_ID)
    anna = await person("Anna", wijk="stiphout")
    choice = await coord.say("/bericht")
    step = await coord.tap(choice, "⛺ BuurtTent")
    for answer in ANSWERS["buurttent"]():
        step = await coord.say(answer)
    step = await coord.tap(step, "⬜ Stiphout")
    ask = await coord.tap(step, "Verder")
    assert "Stuur hem nu" in ask["text"]
    # Over Telegram's 10 MB: refused with the reason, and the draft waits for another photo.
    too_big = await client.send_photo(coord.id, PNG, file_size=10 * 1024 * 1024 + 1)
    refused = await next_message(client, coord.id, after=too_big["message_id"])
    assert refused["text"] == coord._("Die foto is te groot (hoogstens 10 MB). Stuur een kleinere.")
    async with sessions() as session:
        assert (await session.exec(select(Broadcast))).all() == []
    sent_photo = await client.send_photo(coord.id, PNG)
    _intro, preview, actions = await next_messages(
        client, coord.id, 3, after=sent_photo["message_id"]
    )
    assert preview["photo"]
    assert "Steenweg 12" in preview["caption"]
    coord.last_id = actions["message_id"]
    await coord.tap(actions, "Nu versturen")
    got = await next_message(client, anna.id, after=anna.last_id)
    assert got["photo"]
    assert "Tips tegen inbraak." in got["caption"]
    anna.last_id = got["message_id"]
    bid = bid_of(actions)

    async def sent() -> bool:
        return await status_of(sessions, bid) == "sent"

    await wait_for(sent)
    report = await coord.say("/verzonden")
    ask = await coord.tap(report, labelled(report, "Verplaatst: "))
    assert "Wanneer dan?" in ask["text"]
    bad = await coord.say("volgende week")
    assert bad["text"] == "Schrijf het zo: 24-11 10:00-16:00."
    preview = await coord.say(f"{day(5)} 11:00-15:00")
    assert "Nieuwe datum of tijd" in preview["text"]
    await coord.tap(await coord.next_reply(), "Versturen")
    update = await next_message(client, anna.id, after=anna.last_id)
    assert "Nieuwe datum of tijd" in update["text"]
    assert "11:00" in update["text"]


async def test_a_scheduled_broadcast_gets_new_words_unless_someone_was_first(
    person: MakePerson, sessions: SessionFactory
) -> None:
    import json

    coord = await person("Carla", user_id=ADMIN_ID)
    actions = await compose(coord, "nieuws", ["Stiphout"])
    await coord.tap(actions, "Inplannen")
    await coord.say((datetime.now() + timedelta(days=1)).strftime("%d-%m %H:%M"))
    bid = bid_of(actions)
    listing = await coord.say("/gepland")
    first = await coord.tap(listing, "Wijzig 1")
    assert "Wat is de kop van het bericht?" in first["text"]
    await coord.say("Andere kop")
    saved = await coord.say("Andere tekst.")
    assert saved["text"].startswith("Gewijzigd. Het gaat nog steeds weg op ")
    async with sessions() as session:
        broadcast = await session.get(Broadcast, bid)
    assert broadcast is not None
    assert json.loads(broadcast.fields) == {"title": "Andere kop", "text": "Andere tekst."}
    assert broadcast.status == "scheduled"

    listing = await coord.say("/gepland")
    await coord.tap(listing, "Wijzig 1")
    await coord.say("Derde kop")
    async with sessions() as session:  # a second coordinator saves first
        other = await session.get(Broadcast, bid)
        assert other is not None
        other.version += 1
        session.add(other)
        await session.commit()
    late = await coord.say("Derde tekst.")
    assert (
        late["text"] == "Iemand anders heeft dit bericht net gewijzigd. Kijk opnieuw bij /gepland."
    )
    async with sessions() as session:
        kept = await session.get(Broadcast, bid)
    assert kept is not None
    assert json.loads(kept.fields)["title"] == "Andere kop"


async def test_a_team_contact_the_coordinator_allows_sends_to_their_own_wijk_only(
    bot: BotApplication, person: MakePerson, client: SandboxClient, sessions: SessionFactory
) -> None:
    from bot import broadcasts as service
    from bot.broadcasts import BroadcastError
    from bot.roles import Role, grant
    from storage.models import Team

    coord = await person("Carla", user_id=ADMIN_ID)
    tom = await person("Tom", wijk="stiphout")
    anna = await person("Anna", wijk="stiphout")
    far = await person("Ver", wijk="brandevoort")
    async with sessions() as session:
        team = Team(name="De Uilen", wijk="stiphout", status="approved", contact_user_id=tom.id)
        session.add(team)
        await session.commit()
        team_id = team.id
    await grant(
        services_of(bot), tom.id, Role.TEAM_CONTACT, f"team:{team_id}", name="Tom", by=ADMIN_ID
    )
    refused = await tom.say("/bericht")  # not allowed until the coordinator says so
    assert refused["text"] == "Dat mag je niet. Kijk bij /help wat je wel kunt."

    listing = await coord.say("/rollen")
    for garbled in ("r1:snd:abc", "r1:rev:-1"):  # not an id: an old or forged button
        answer = await coord.press_data(listing, garbled)
        assert answer is not None
        assert answer["text"] == "Deze knop werkt niet meer. Tik op /start."
    listing = await coord.tap(listing, "Mag berichten sturen 1")
    assert "Tom: mag berichten sturen aan de eigen wijk (team De Uilen)" in listing["text"]
    assert "Mag berichten sturen 1" not in buttons(listing)  # allowed once, not twice
    told = await tom.next_reply()
    assert told["text"].startswith("Je mag nu berichten sturen aan de wijk van je team.")

    choice = await tom.say("/bericht")
    step = await tom.tap(choice, "📰 Nieuws")
    for answer in ANSWERS["nieuws"]():
        step = await tom.say(answer)
    assert set(buttons(step)) == {"⬜ Stiphout", "Verder"}  # nothing beyond the own wijk
    # Forged presses for another wijk, everyone, a park or a group are refused.
    for forged in ("r1:bc:aw:brandevoort", "r1:bc:all:-", "r1:bc:ap:bzob", "r1:bc:ag:1"):
        answer = await tom.press_data(step, forged)
        assert answer is not None
        assert answer["text"] == "Dat mag je niet. Kijk bij /help wat je wel kunt."
    step = await tom.tap(step, "⬜ Stiphout")
    step = await tom.tap(step, "Verder")
    pressed = await client.press(tom.id, tom.id, step["message_id"], buttons(step)["Zonder foto"])
    await client.callback_answer(pressed["callback_query_id"])
    _intro, _preview, actions = await next_messages(client, tom.id, 3, after=step["message_id"])
    tom.last_id = actions["message_id"]

    # A coordinator's draft is not the team contact's to send, whatever the button says.
    theirs = await compose(coord, "nieuws", ["Brandevoort"], preview_checks=False)
    answer = await tom.press_data(actions, f"r1:bc:send:{bid_of(theirs)}")
    assert answer is not None
    assert answer["text"] == "Dat mag je niet. Kijk bij /help wat je wel kunt."
    assert await status_of(sessions, bid_of(theirs)) == "draft"

    await tom.tap(actions, "Nu versturen")
    got = await next_message(client, anna.id, after=anna.last_id)
    assert "Vanaf maandag is Sanne de wijkboa van Stiphout." in got["text"]
    bid = bid_of(actions)

    async def sent() -> bool:
        return await status_of(sessions, bid) == "sent"

    await wait_for(sent)
    assert [m for m in await client.bot_messages(far.id) if m["message_id"] > far.last_id] == []
    own = await tom.say("/verzonden")  # only their own broadcasts: one, of two lines
    assert [line[:3] for line in own["text"].splitlines()] == ["Ver", "1. ", "   "]

    # The permission ends with a tap; a broadcast they planned no longer goes out.
    planned = await compose(tom, "nieuws", ["Stiphout"], preview_checks=False)
    planned_id = bid_of(planned)
    listing = await coord.say("/rollen")
    number = next(
        line.split(".")[0] for line in listing["text"].splitlines() if "mag berichten" in line
    )
    await coord.tap(listing, f"Intrekken {number}")
    with pytest.raises(BroadcastError):
        await service.start_sending(services_of(bot), planned_id, None)
    assert await status_of(sessions, planned_id) == "cancelled"
    again = await tom.say("/bericht")
    assert again["text"] == "Dat mag je niet. Kijk bij /help wat je wel kunt."


async def test_optional_answers_and_a_reason_are_left_out_with_a_button(
    person: MakePerson, client: SandboxClient, sessions: SessionFactory
) -> None:
    """No "Stuur -": a button next to an optional question, and "Zonder reden"."""
    coord = await person("Carla", user_id=ADMIN_ID)
    anna = await person("Anna", wijk="stiphout")
    choice = await coord.say("/bericht")
    step = await coord.tap(choice, "👣 Witte Voetjes")
    for answer in (day(2), "19:30", "de kerk"):
        step = await coord.say(answer)
    assert "Welk team loopt mee?" in step["text"]
    assert "Stuur -" not in step["text"]
    step = await coord.tap(step, "Niets toevoegen")  # no team
    assert "Nog iets voor de bewoners?" in step["text"]
    step = await coord.tap(step, "Niets toevoegen")  # no note
    assert "Wie krijgt het bericht?" in step["text"]
    # Pressed again, an old "Niets toevoegen" finds no optional question waiting.
    stale = await coord.press_data(step, "r1:bc:skip:-")
    assert stale is not None
    assert stale["text"] == "Deze knop werkt niet meer. Tik op /start."
    step = await coord.tap(step, "⬜ Stiphout")
    step = await coord.tap(step, "Verder")
    pressed = await client.press(
        coord.id, coord.id, step["message_id"], buttons(step)["Zonder foto"]
    )
    await client.callback_answer(pressed["callback_query_id"])
    _intro, preview, _actions = await next_messages(client, coord.id, 3, after=step["message_id"])
    assert "Met het team" not in preview["text"]

    tent = await compose(coord, "buurttent", ["Stiphout"])
    await coord.tap(tent, "Nu versturen")
    bid = bid_of(tent)

    async def sent() -> bool:
        return await status_of(sessions, bid) == "sent"

    await wait_for(sent)
    anna.last_id = (await next_message(client, anna.id, after=anna.last_id))["message_id"]
    report = await coord.say("/verzonden")
    ask = await coord.tap(report, labelled(report, "Gaat niet door: "))
    preview = await coord.tap(ask, "Zonder reden")
    assert preview["text"].startswith("Voorbeeld: zo lezen de ontvangers het.")
    await coord.tap(await coord.next_reply(), "Versturen")
    notice = await next_message(client, anna.id, after=anna.last_id)
    assert "gaat niet door" in notice["text"]


async def test_a_previewed_change_not_sent_changes_nothing(
    person: MakePerson, client: SandboxClient, sessions: SessionFactory
) -> None:
    """ "Niet versturen" under a notice: the tent stays as it was, nobody is told; the
    /verzonden buttons name the tent by its own day."""
    from babel.dates import format_date

    coord = await person("Carla", user_id=ADMIN_ID)
    anna = await person("Anna", wijk="stiphout")
    actions = await compose(coord, "buurttent", ["Stiphout"])
    await coord.tap(actions, "Nu versturen")
    bid = bid_of(actions)

    async def sent() -> bool:
        return await status_of(sessions, bid) == "sent"

    await wait_for(sent)
    anna.last_id = (await next_message(client, anna.id, after=anna.last_id))["message_id"]
    report = await coord.say("/verzonden")
    tent_day = format_date(datetime.now() + timedelta(days=3), "d MMM", locale="nl")
    assert f"Gaat niet door: {tent_day}" in buttons(report)
    assert f"Verplaatst: {tent_day}" in buttons(report)
    await coord.tap(report, f"Verplaatst: {tent_day}")
    await coord.say(f"{day(5)} 11:00-15:00")
    kept = await coord.tap(await coord.next_reply(), "Niet versturen")
    assert kept["text"] == "Er is niets verstuurd. De BuurtTent blijft zoals hij was."
    async with sessions() as session:
        tent = await session.get(Broadcast, bid)
        updates = (await session.exec(select(Broadcast).where(Broadcast.update_of == bid))).all()
    assert tent is not None
    assert '"start": "10:00"' in tent.fields
    assert updates == []
    await asyncio.sleep(0.3)
    assert (await client.bot_messages(anna.id))[-1]["message_id"] == anna.last_id
    after = await coord.say("Slecht weer")  # the conversation is over
    assert "Voorbeeld" not in after["text"]


async def test_cancel_drops_a_draft_that_waits(
    person: MakePerson, sessions: SessionFactory
) -> None:
    """/annuleer after the preview: the draft is dropped and the answer says so."""
    coord = await person("Carla", user_id=ADMIN_ID)
    actions = await compose(coord, "nieuws", ["Stiphout"])
    stopped = await coord.say("/annuleer")
    assert stopped["text"] == "Gestopt. Het bericht wordt niet verstuurd."
    assert await status_of(sessions, bid_of(actions)) == "cancelled"
    late = await coord.press_data(actions, buttons(actions)["Nu versturen"])
    assert late is not None
    assert late["text"] == "Dit bericht is al verstuurd of geannuleerd."
    again = await coord.say("/annuleer")
    assert again["text"] == "Er was niets om te annuleren."


async def test_the_progress_line_says_how_many_wait_for_quiet_hours(
    person: MakePerson, client: SandboxClient, sessions: SessionFactory
) -> None:
    from storage.models import User

    coord = await person("Carla", user_id=ADMIN_ID)
    await person("Wakker", wijk="stiphout")
    sleeping = await person("Slaap", wijk="stiphout")
    async with sessions() as session:
        user = await session.get(User, sleeping.id)
        assert user is not None
        user.quiet_start, user.quiet_end = 0, 24 * 60 - 1
        session.add(user)
        await session.commit()
    actions = await compose(coord, "nieuws", ["Stiphout"])
    progress = await coord.tap(actions, "Nu versturen")
    line = await client.wait_edited(
        coord.id, progress["message_id"], edits=progress["edit_count"] + 1
    )
    assert line["text"] == "1 van 2 verzonden, 1 wacht op stille uren."


async def test_the_last_progress_state_comes_even_when_the_edit_is_refused(
    person: MakePerson, client: SandboxClient, sessions: SessionFactory
) -> None:
    """An edit that keeps failing does not swallow the end: it comes as a new message."""
    coord = await person("Carla", user_id=ADMIN_ID)
    anna = await person("Anna", wijk="stiphout")
    actions = await compose(coord, "nieuws", ["Stiphout"])
    # Anna's copy takes a second, so the end comes after the edits start failing.
    await client.add_fault("sendMessage", chat_id=anna.id, delay=1.0)
    progress = await coord.tap(actions, "Nu versturen")
    await client.add_fault(
        "editMessageText",
        chat_id=coord.id,
        times=20,
        error_code=400,
        description="Bad Request: message to edit not found",
    )
    final = await next_message(client, coord.id, after=progress["message_id"])
    assert final["text"] == "Klaar: 1 van 1 bezorgd. Mislukt: 0. Geblokkeerd of verdwenen: 0."
    await client.clear_faults()
