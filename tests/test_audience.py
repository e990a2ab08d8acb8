"""Who a broadcast reaches, as the database picks it: the same people the Python list
picked before (channels, groups, subscribers who want the kind and do not follow the
wijk's channel, park entrepreneurs once), each resident in quiet hours held back until
they end, and the count a coordinator is shown equal to what is queued."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import telegram
from sqlmodel import select

from bot import broadcasts
from bot.app import build_services
from bot.delivery import DeliveryEngine, Outgoing
from bot.delivery import Recipient as Outbound
from bot.services import Services
from bot.settings import load_settings
from storage import broadcasts as store
from storage.engine import SessionFactory
from storage.models import (
    Broadcast,
    Channel,
    ChannelStatus,
    Delivery,
    Group,
    GroupStatus,
    RoleGrant,
    User,
    utcnow,
)


@pytest.fixture
def services(database_url: str, sessions: SessionFactory) -> Services:
    built = build_services(load_settings({"DATABASE_URL": database_url}))
    built._sessions = sessions
    return built


async def never(_: Delivery) -> Outgoing:  # the engine is not started: nothing is sent
    raise AssertionError("not sending")


def resident(uid: int, wijk: str, **fields: object) -> User:
    return User(**{"id": uid, "wijk": wijk, "subscribed": True, "language": "nl", **fields})


async def test_the_database_picks_the_same_people_and_holds_quiet_hours(
    services: Services, sessions: SessionFactory
) -> None:
    now = broadcasts.now_in(services.settings.tz)
    minute = now.hour * 60 + now.minute
    # Quiet hours around this minute (held), and some that have just ended (not held).
    quiet_now = ((minute - 30) % 1440, (minute + 30) % 1440)
    quiet_past = ((minute - 120) % 1440, (minute - 60) % 1440)
    async with sessions() as session:
        session.add(
            Channel(chat_id=-1001, title="Stiphout", wijk="stiphout", status=ChannelStatus.ACTIVE)
        )
        session.add(
            Group(chat_id=-2001, title="Buurtapp", wijk="warande", status=GroupStatus.APPROVED)
        )
        session.add(Group(chat_id=-2002, title="Nieuw", wijk="warande", status=GroupStatus.NEW))
        session.add_all([
            resident(1, "stiphout"),  # no channel follower: here
            resident(2, "stiphout", follows_channel=True),  # gets the channel's post
            resident(3, "warande", kinds="witte_voetjes"),  # does not want news
            resident(4, "warande", quiet_start=quiet_now[0], quiet_end=quiet_now[1]),
            resident(5, "warande", quiet_start=quiet_past[0], quiet_end=quiet_past[1]),
            resident(6, "warande", active=False),  # blocked the bot
            User(id=7, wijk="warande", subscribed=False),  # left
            resident(8, "brouwhuis", language="en"),  # also a BZOB entrepreneur
        ])  # fmt: skip
        session.add(RoleGrant(user_id=8, role="entrepreneur", scope="park:bzob"))
        session.add(RoleGrant(user_id=9, role="entrepreneur", scope="park:bzob"))  # no row
        session.add(
            RoleGrant(user_id=10, role="entrepreneur", scope="park:bzob", revoked_at=utcnow())
        )
        await session.commit()

    audience = broadcasts.Audience(wijken=["stiphout", "warande", "brouwhuis"], parks=["bzob"])
    broadcast = await _broadcast(sessions, audience)
    assert broadcast.id is not None
    chats, residents = await broadcasts.recipients(services, audience, "nieuws")
    engine = DeliveryEngine(bot=telegram.Bot("1:test"), sessions=sessions, render=never)
    outbound = [Outbound(r.chat_id, r.kind, r.language, r.not_before) for r in chats]
    chosen = store.resident_selects(residents)
    queued = await engine.enqueue(broadcast.id, outbound, chosen=chosen)
    async with sessions() as session:
        rows = {d.chat_id: d for d in await session.exec(select(Delivery))}
        counted = await store.count_residents(session=session, residents=residents)

    assert sorted(rows) == [-2001, -1001, 1, 4, 5, 8, 9]
    assert queued == len(rows) == len(chats) + counted
    assert (rows[-1001].recipient, rows[-2001].recipient, rows[1].recipient) == (
        "channel",
        "group",
        "user",
    )
    # Channels and groups first: the claim, in id order, posts there before the residents.
    assert max(rows[c].id or 0 for c in (-1001, -2001)) < min(rows[u].id or 0 for u in (1, 4))
    assert (rows[8].language, rows[9].language) == ("en", None)
    assert rows[1].not_before is None
    assert rows[5].not_before is None
    held = broadcasts.quiet_until(now, *quiet_now)
    assert held is not None
    assert rows[4].not_before == held
    assert timedelta(0) < held - datetime.now(held.tzinfo) <= timedelta(minutes=31)
    # The same audience again: nothing new, and the preview's count is unchanged.
    assert (
        await engine.enqueue(broadcast.id, outbound, chosen=store.resident_selects(residents)) == 0
    )
    assert await broadcasts.size_of(services, broadcast) == queued


async def _broadcast(sessions: SessionFactory, audience: broadcasts.Audience) -> Broadcast:
    async with sessions() as session:
        broadcast = Broadcast(
            kind="nieuws", status="draft", author_id=1, fields="{}", audience=audience.dumps()
        )
        session.add(broadcast)
        await session.commit()
        await session.refresh(broadcast)
        return broadcast
