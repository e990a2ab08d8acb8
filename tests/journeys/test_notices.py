"""One way out (issue 13): status updates, hotspot alerts and digests are notices in the
outbox, sent by the delivery engine; a reporter's status leaves no chat beside the report."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import notices, stats
from bot import reports as service
from bot.app import BotApplication
from bot.notices import Topic
from bot.roles import Role, grant
from bot.services import services_of
from bot.stats import period_of
from sandbox.client import SandboxClient
from storage import notices as notice_store
from storage import stats as stats_store
from storage.engine import SessionFactory
from storage.models import Broadcast, Delivery, User
from tests.journeys.resident import (
    MakePerson,
    entrepreneur,
    file_report,
    next_message,
    next_messages,
)
from tests.journeys.test_broadcasts import wait_for
from tests.journeys.test_reports import ADMIN_ID


async def rows_of(sessions: SessionFactory, topic: Topic) -> list[Delivery]:
    async with sessions() as session:
        return await notice_store.of_topic(session=session, topic=topic)


async def settled(sessions: SessionFactory, topic: Topic, count: int) -> list[Delivery]:
    """The topic's rows once `count` of them are settled and their messages erased."""

    async def done() -> bool:
        rows = await rows_of(sessions, topic)
        return len(rows) >= count and all(
            row.status not in ("queued", "sending") and row.content is None for row in rows
        )

    await wait_for(done)
    return await rows_of(sessions, topic)


async def test_a_hotspot_alert_goes_out_through_the_outbox(
    bot: BotApplication, person: MakePerson, client: SandboxClient, sessions: SessionFactory
) -> None:
    services = services_of(bot)
    coordinator = await person("Carla", user_id=ADMIN_ID)
    boa = await person("Boa")
    await grant(services, boa.id, Role.WIJKBOA, "wijk:brouwhuis", name="Boa", by=ADMIN_ID)
    eva = await entrepreneur(person, coordinator, "Eva")
    for _ in range(3):  # the third in 24 hours is a hotspot
        await file_report(eva, bot, what="drugs")
    rows = await settled(sessions, Topic.HOTSPOT, 2)
    assert {(row.chat_id, row.status) for row in rows} == {
        (coordinator.id, "sent"),
        (boa.id, "sent"),
    }
    assert all(row.message_id is not None for row in rows)
    async with sessions() as session:
        notice = await session.get(Broadcast, rows[0].broadcast_id)
    assert notice is not None
    # Finished by the engine like a broadcast, never listed as one.
    assert (notice.kind, notice.status) == ("notice", "sent")
    mine = await coordinator.say("/verzonden")
    assert "notice" not in mine["text"]


async def test_a_named_reporter_hears_of_the_status_through_the_outbox(
    bot: BotApplication, person: MakePerson, client: SandboxClient, sessions: SessionFactory
) -> None:
    services = services_of(bot)
    coordinator = await person("Carla", user_id=ADMIN_ID)
    eva = await entrepreneur(person, coordinator, "Eva")
    ref, _ = await file_report(eva, bot)
    before = eva.last_id
    changed = await service.set_status(services, ref, "in_behandeling", "We kijken.", ADMIN_ID)
    assert await service.send_status(services, changed) is True
    told = await next_message(client, eva.id, after=before)
    assert ref in told["text"]
    assert "We kijken." in told["text"]
    (row,) = await settled(sessions, Topic.STATUS, 1)
    # Sent and counted; then neither the message nor the chat stays in the outbox.
    assert (row.status, row.chat_id, row.content) == ("sent", notice_store.NOBODY, None)


async def test_an_anonymous_reporters_status_leaves_nothing_linkable(
    bot: BotApplication, person: MakePerson, client: SandboxClient, sessions: SessionFactory
) -> None:
    services = services_of(bot)
    coordinator = await person("Carla", user_id=ADMIN_ID)
    piet = await entrepreneur(person, coordinator, "Piet")
    ref, _ = await file_report(piet, bot, anonymous=True)
    before = piet.last_id
    changed = await service.set_status(services, ref, "afgehandeld", None, ADMIN_ID)
    assert changed.reporter_id is None
    assert await service.send_status(services, changed) is True
    told = await next_message(client, piet.id, after=before)
    assert ref in told["text"]
    await settled(sessions, Topic.STATUS, 1)
    async with sessions() as session:
        deliveries = list(await session.exec(select(Delivery)))
        broadcasts = list(await session.exec(select(Broadcast)))
    assert piet.id not in {row.chat_id for row in deliveries}
    assert not [row for row in deliveries if row.content and ref in row.content]
    assert not [row for row in broadcasts if ref in row.fields]


async def test_a_reporter_who_blocked_the_bot_is_recorded_like_for_broadcasts(
    bot: BotApplication, person: MakePerson, client: SandboxClient, sessions: SessionFactory
) -> None:
    services = services_of(bot)
    coordinator = await person("Carla", user_id=ADMIN_ID)
    eva = await entrepreneur(person, coordinator, "Eva")
    ref, _ = await file_report(eva, bot)
    await client.block(eva.id)
    changed = await service.set_status(services, ref, "in_behandeling", None, ADMIN_ID)
    assert await service.send_status(services, changed) is False
    (row,) = await settled(sessions, Topic.STATUS, 1)
    assert row.status == "blocked"
    async with sessions() as session:
        user = await session.get(User, eva.id)
    assert user is not None
    assert user.blocked_at is not None


async def test_the_digests_go_out_through_the_outbox(
    bot: BotApplication, person: MakePerson, client: SandboxClient, sessions: SessionFactory
) -> None:
    services = services_of(bot)
    coordinator = await person("Carla", user_id=ADMIN_ID)
    boa = await person("Bas", "en")
    await grant(services, boa.id, Role.WIJKBOA, "wijk:stiphout", name="Bas", by=ADMIN_ID)
    gone = await person("Gerard")
    await grant(services, gone.id, Role.COORDINATOR, None, name="Gerard", by=ADMIN_ID)
    await client.block(gone.id)
    monday = period_of("week", stats.today_in(services)).first
    async with sessions() as session:
        await stats_store.add_report_counts(
            session=session,
            counts=[(monday - timedelta(days=2), "wijk:stiphout", "drugs", "stiphout", 2)],
        )
    marks = {who.id: who.last_id for who in (coordinator, boa)}
    assert await stats.weekly_digest(services)  # last week's figures
    rows = await settled(sessions, Topic.WEEKLY, 5)
    # Figures to both coordinators and the wijkboa, the chart to the coordinators only.
    assert sorted((row.chat_id, row.status) for row in rows) == sorted(
        [
            (coordinator.id, "sent"),
            (coordinator.id, "sent"),
            (boa.id, "sent"),
            (gone.id, "blocked"),
            (gone.id, "blocked"),
        ]
    )
    got = await next_messages(client, coordinator.id, 2, after=marks[coordinator.id])
    assert any("photo" in message for message in got)
    text = await next_message(client, boa.id, after=marks[boa.id])
    assert "photo" not in text


async def test_a_notice_in_a_process_without_an_engine_waits_for_the_leader(
    bot: BotApplication, person: MakePerson, sessions: SessionFactory
) -> None:
    services = services_of(bot)
    coordinator = await person("Carla", user_id=ADMIN_ID)
    engine, services.delivery = services.delivery, None
    try:
        notice = await notices.queue(
            services, Topic.NEWS, [(coordinator.id, coordinator.lang, notices.Letter("Hallo"))]
        )
        assert notice is not None
        # Nobody sends here: no outcome, and the row stays queued for the leader.
        assert await notices.outcome(services, notice, within=0.2) is None
        (row,) = await rows_of(sessions, Topic.NEWS)
        assert row.status == "queued"
        assert await notices.queue(services, Topic.NEWS, []) is None
    finally:
        services.delivery = engine


async def test_news_with_buttons_arrives_and_a_crash_leaves_no_message_behind(
    bot: BotApplication, person: MakePerson, client: SandboxClient, sessions: SessionFactory
) -> None:
    services = services_of(bot)
    coordinator = await person("Carla", user_id=ADMIN_ID)
    before = coordinator.last_id
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Bekijken", callback_data="r1:x")]])
    told = await notices.tell(
        services,
        Topic.NEWS,
        [coordinator.id, coordinator.id],
        lambda lang: ("<b>Nieuw</b>", keyboard),
    )
    assert told == 1  # one copy each
    got = await next_message(client, coordinator.id, after=before)
    assert got["text"] == "Nieuw"
    assert got["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "r1:x"
    await settled(sessions, Topic.NEWS, 1)
    # Settled before a crash, so no progress report erased it: the start's sweep does.
    async with sessions() as session:
        left = Broadcast(kind="notice", status="sent", author_id=0, fields='{"topic": "status"}')
        session.add(left)
        await session.flush()
        assert left.id is not None
        row = Delivery(
            broadcast_id=left.id, chat_id=coordinator.id, recipient="user", status="sent",
            content='{"text": "MV-2026-000001"}',
        )  # fmt: skip
        session.add(row)
        await session.commit()
        await session.refresh(row)
    assert await notices.scrub(services) == 1
    async with sessions() as session:
        swept = await session.get(Delivery, row.id)
    assert swept is not None
    assert (swept.content, swept.chat_id) == (None, notice_store.NOBODY)
