"""The delivery engine, end to end through the sandbox over real HTTP, with flood limits on.

Limits are Telegram's, scaled (`Limits().scaled(K)`) with the engine's pacing scaled alike,
so a test of "no 429 at full speed" takes a second instead of minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
import telegram
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import delivery as delivery_module
from bot.app import BotApplication, running
from bot.cli import SANDBOX_TOKEN
from bot.delivery import (
    Counts,
    DeliveryEngine,
    Outgoing,
    Pacing,
    Progress,
    Recipient,
    Render,
    delivery_bot,
)
from bot.services import services_of
from bot.transport import AiohttpRequest
from sandbox.client import SandboxClient
from sandbox.config import Limits
from sandbox.server import SandboxServer
from storage import channels as channel_store
from storage import groups as group_store
from storage import outbox
from storage import users as user_store
from storage.engine import SessionFactory
from storage.models import Broadcast, Delivery, User, utcnow

K = 20  # time runs 20x faster for sandbox limits and engine pacing alike
TEXT = "<b>Witte Voetjes</b> zaterdag in de Binnenstad"
PLAIN = "Witte Voetjes zaterdag in de Binnenstad"
FOUNDER = 900002  # creates the test's groups and channels

Json = dict[str, Any]
MakeEngine = Callable[..., Awaitable[DeliveryEngine]]


async def plain(delivery: Delivery) -> Outgoing:
    return Outgoing(text=TEXT)


@pytest.fixture
async def limits(client: SandboxClient) -> Limits:
    limits = Limits().scaled(K)
    await client.set_limits(**dataclasses.asdict(limits))
    return limits


@pytest.fixture
async def tg(sandbox: SandboxServer) -> AsyncIterator[telegram.Bot]:
    """The engine's own Bot, as post_init builds it."""
    bot = delivery_bot(
        SANDBOX_TOKEN, base_url=sandbox.api_base_url, base_file_url=sandbox.file_base_url
    )
    async with bot:
        yield bot


@pytest.fixture
async def make_engine(
    tg: telegram.Bot, sessions: SessionFactory, limits: Limits
) -> AsyncIterator[MakeEngine]:
    """Start engines (stopped at the end); pacing matches the sandbox's scaled limits."""
    engines: list[DeliveryEngine] = []

    async def make(
        *,
        render: Render = plain,
        pacing: Pacing | None = None,
        on_progress: Progress | None = None,
        bot: telegram.Bot | None = None,
        start: bool = True,
    ) -> DeliveryEngine:
        engine = DeliveryEngine(
            bot=bot or tg,
            sessions=sessions,
            render=render,
            pacing=pacing or Pacing().scaled(K),
            on_progress=on_progress,
        )
        engines.append(engine)
        if start:
            await engine.start()
        return engine

    yield make
    for engine in engines:
        await engine.stop()


async def new_broadcast(sessions: SessionFactory) -> int:
    async with sessions() as session:
        broadcast = Broadcast(kind="witte_voetjes", author_id=FOUNDER)
        session.add(broadcast)
        await session.commit()
        assert broadcast.id is not None
        return broadcast.id


async def residents(client: SandboxClient, count: int) -> list[int]:
    """Users who started the bot long ago, so it may write to them."""
    users = await asyncio.gather(
        *(client.create_user(f"Bewoner {i}", started=True) for i in range(count))
    )
    return [int(user["id"]) for user in users]


def as_users(ids: list[int]) -> list[Recipient]:
    return [Recipient(chat_id=uid, kind="user", language="nl") for uid in ids]


async def received(client: SandboxClient, chat_id: int, text: str = PLAIN) -> list[Json]:
    messages = await client.bot_messages(chat_id)
    return [m for m in messages if m.get("text") == text or m.get("caption") == text]


async def floods(client: SandboxClient, method: str = "sendMessage") -> int:
    return sum(1 for r in await client.requests(method) if r["status"] == 429)


async def rows(sessions: SessionFactory, broadcast_id: int) -> list[Delivery]:
    async with sessions() as session:
        return await outbox.for_broadcast(session=session, broadcast_id=broadcast_id)


async def settle(engine: DeliveryEngine, seconds: float = 20.0) -> None:
    await asyncio.wait_for(engine.idle(), seconds)


async def until(condition: Callable[[], bool | Awaitable[bool]], seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.005)):
        holds = condition()
        if await holds if isinstance(holds, Awaitable) else holds:
            return
        await asyncio.sleep(0.005)
    raise TimeoutError("condition never held")


async def halfway(engine: DeliveryEngine, broadcast_id: int, sent: int) -> None:
    async def reached() -> bool:
        return (await engine.counts(broadcast_id)).sent >= sent

    await until(reached)


async def group_with_bot(client: SandboxClient, sessions: SessionFactory, title: str) -> int:
    chat = await client.create_group(title, creator_id=FOUNDER)
    await client.add_bot(chat["id"], by=FOUNDER)
    async with sessions() as session:
        await group_store.added(session=session, chat_id=chat["id"], title=title)
    return int(chat["id"])


@pytest.fixture
async def founder(client: SandboxClient) -> int:
    user = await client.create_user("Coordinator", user_id=FOUNDER, started=True)
    return int(user["id"])


# ---------------------------------------------------------------- sending at full speed


async def test_every_resident_gets_exactly_one_message_and_no_429(
    client: SandboxClient, sessions: SessionFactory, make_engine: MakeEngine
) -> None:
    ids = await residents(client, 150)
    engine = await make_engine()
    broadcast_id = await new_broadcast(sessions)
    started = time.monotonic()

    assert await engine.enqueue(broadcast_id, as_users(ids)) == 150
    await settle(engine)

    elapsed = time.monotonic() - started
    for uid in ids:
        assert len(await received(client, uid)) == 1, uid
    assert await floods(client) == 0
    assert engine.flood_waits == 0
    assert await engine.counts(broadcast_id) == Counts(sent=150)
    assert (await engine.counts(broadcast_id)).total == 150
    # Never faster than the pacing allows (its small burst aside).
    pacing = Pacing().scaled(K)
    assert elapsed >= (150 - pacing.global_burst) / pacing.global_rate
    for row in await rows(sessions, broadcast_id):
        assert row.status == "sent"
        assert row.attempts == 1
        assert row.message_id is not None
        assert row.sent_at is not None


async def test_a_group_gets_it_and_its_limit_per_minute_holds(
    client: SandboxClient, sessions: SessionFactory, make_engine: MakeEngine, founder: int
) -> None:
    # 25 announcements to one group: 20 fit in its "minute", the rest wait for the next.
    group_id = await group_with_bot(client, sessions, "Buurtpreventie Brandevoort")
    engine = await make_engine()
    for _ in range(25):
        await engine.enqueue(await new_broadcast(sessions), [Recipient(group_id, "group")])
    await settle(engine)

    assert len(await received(client, group_id)) == 25
    assert await floods(client) == 0
    sends = sorted(r["time"] for r in await client.requests("sendMessage") if r["status"] == 200)
    window = Pacing().scaled(K).group_window
    assert sends[-1] - sends[0] >= window * 0.95  # the 21st waited
    for i in range(len(sends) - 20):
        assert sends[i + 20] - sends[i] >= window * 0.95


async def test_the_same_chat_is_never_sent_to_faster_than_its_interval(
    client: SandboxClient, sessions: SessionFactory, make_engine: MakeEngine
) -> None:
    # Five broadcasts queued at once for one resident: without pacing per chat they would
    # leave within milliseconds and use up Telegram's short burst for the chat.
    (uid,) = await residents(client, 1)
    engine = await make_engine()
    for _ in range(5):
        await engine.enqueue(await new_broadcast(sessions), as_users([uid]))
    await settle(engine)

    assert len(await received(client, uid)) == 5
    assert await floods(client) == 0
    sends = sorted(r["time"] for r in await client.requests("sendMessage") if r["status"] == 200)
    interval = Pacing().scaled(K).per_chat_interval
    # As the sandbox saw them: the engine's spacing less a little network jitter.
    assert min(b - a for a, b in itertools.pairwise(sends)) >= interval * 0.7


# ---------------------------------------------------------------- what Telegram refuses


async def test_a_resident_who_blocked_the_bot_is_marked_blocked_and_inactive(
    client: SandboxClient, sessions: SessionFactory, make_engine: MakeEngine
) -> None:
    blocker, other = await residents(client, 2)
    async with sessions() as session:
        await user_store.touch_user(session=session, user_id=blocker)
        await session.commit()
    await client.block(blocker)
    engine = await make_engine()
    broadcast_id = await new_broadcast(sessions)

    await engine.enqueue(broadcast_id, as_users([blocker, other]))
    await settle(engine)

    by_chat = {row.chat_id: row for row in await rows(sessions, broadcast_id)}
    assert by_chat[blocker].status == "blocked"
    assert "blocked" in (by_chat[blocker].error or "")
    assert by_chat[other].status == "sent"
    async with sessions() as session:
        user = await session.get(User, blocker)
    assert user is not None
    assert not user.active
    assert user.blocked_at is not None


async def test_a_group_that_removed_the_bot_and_a_channel_without_it_turn_inactive(
    client: SandboxClient, sessions: SessionFactory, make_engine: MakeEngine, founder: int
) -> None:
    group_id = await group_with_bot(client, sessions, "Buurtapp Stiphout")
    await client.remove_bot(group_id, by=FOUNDER)
    channel = await client.create_channel("Wijk Stiphout", creator_id=FOUNDER)
    await client.add_bot(channel["id"], by=FOUNDER, admin=True)
    async with sessions() as session:
        await channel_store.added(
            session=session, chat_id=channel["id"], title="Wijk Stiphout", url=None
        )
    await client.remove_bot(channel["id"], by=FOUNDER)
    engine = await make_engine()
    broadcast_id = await new_broadcast(sessions)

    await engine.enqueue(
        broadcast_id, [Recipient(group_id, "group"), Recipient(channel["id"], "channel")]
    )
    await settle(engine)

    assert {row.status for row in await rows(sessions, broadcast_id)} == {"blocked"}
    async with sessions() as session:
        group = await group_store.get_by_chat(session=session, chat_id=group_id)
        gone_channel = await channel_store.get_by_chat(session=session, chat_id=channel["id"])
    assert group is not None
    assert group.status == "inactive"
    assert gone_channel is not None
    assert gone_channel.status == "inactive"


async def test_a_migrated_group_gets_it_at_its_new_id_and_the_group_follows(
    client: SandboxClient, sessions: SessionFactory, make_engine: MakeEngine, founder: int
) -> None:
    old_id = await group_with_bot(client, sessions, "Buurtpreventie Mierlo-Hout")
    new_id = int((await client.migrate(old_id))["id"])
    engine = await make_engine()
    broadcast_id = await new_broadcast(sessions)

    await engine.enqueue(broadcast_id, [Recipient(old_id, "group")])
    await settle(engine)

    (row,) = await rows(sessions, broadcast_id)
    assert row.status == "sent"
    assert row.chat_id == new_id
    assert row.attempts == 1  # being told to go elsewhere is not a failed send
    assert len(await received(client, new_id)) == 1
    async with sessions() as session:
        group = await group_store.get_by_chat(session=session, chat_id=new_id)
    assert group is not None
    assert group.status == "new"


async def test_a_migrated_group_already_queued_under_its_new_id_gets_it_once(
    client: SandboxClient, sessions: SessionFactory, make_engine: MakeEngine, founder: int
) -> None:
    old_id = await group_with_bot(client, sessions, "Buurtpreventie Dierdonk")
    new_id = int((await client.migrate(old_id))["id"])
    engine = await make_engine()
    broadcast_id = await new_broadcast(sessions)

    await engine.enqueue(broadcast_id, [Recipient(old_id, "group"), Recipient(new_id, "group")])
    await settle(engine)

    by_chat = {row.chat_id: row for row in await rows(sessions, broadcast_id)}
    assert by_chat[old_id].status == "gone"
    assert "migrated" in (by_chat[old_id].error or "")
    assert by_chat[new_id].status == "sent"
    assert len(await received(client, new_id)) == 1


async def test_an_unknown_chat_is_gone_and_retired(
    client: SandboxClient, sessions: SessionFactory, make_engine: MakeEngine
) -> None:
    missing = -4_000_999_999
    async with sessions() as session:
        await group_store.added(session=session, chat_id=missing, title="Opgeheven groep")
    engine = await make_engine()
    broadcast_id = await new_broadcast(sessions)

    await engine.enqueue(broadcast_id, [Recipient(missing, "group")])
    await settle(engine)

    (row,) = await rows(sessions, broadcast_id)
    assert row.status == "gone"
    assert "chat not found" in (row.error or "").lower()
    async with sessions() as session:
        group = await group_store.get_by_chat(session=session, chat_id=missing)
    assert group is not None
    assert group.status == "inactive"


async def test_a_message_telegram_rejects_fails_with_its_reason_and_others_go_on(
    client: SandboxClient, sessions: SessionFactory, make_engine: MakeEngine
) -> None:
    broken, fine = await residents(client, 2)

    async def render(delivery: Delivery) -> Outgoing:
        return Outgoing(text="<b>niet gesloten" if delivery.chat_id == broken else TEXT)

    engine = await make_engine(render=render)
    broadcast_id = await new_broadcast(sessions)
    await engine.enqueue(broadcast_id, as_users([broken, fine]))
    await settle(engine)

    by_chat = {row.chat_id: row for row in await rows(sessions, broadcast_id)}
    assert by_chat[broken].status == "failed"
    assert "can't parse entities" in (by_chat[broken].error or "").lower()
    assert by_chat[broken].attempts == 1
    assert by_chat[fine].status == "sent"


async def test_a_render_that_raises_fails_its_row_only(
    client: SandboxClient, sessions: SessionFactory, make_engine: MakeEngine
) -> None:
    broken, fine = await residents(client, 2)

    async def render(delivery: Delivery) -> Outgoing:
        if delivery.chat_id == broken:
            raise KeyError("date")
        return Outgoing(text=TEXT)

    engine = await make_engine(render=render)
    broadcast_id = await new_broadcast(sessions)
    await engine.enqueue(broadcast_id, as_users([broken, fine]))
    await settle(engine)

    by_chat = {row.chat_id: row for row in await rows(sessions, broadcast_id)}
    assert by_chat[broken].status == "failed"
    assert by_chat[broken].error == "render: KeyError('date')"
    assert by_chat[broken].attempts == 0
    assert by_chat[fine].status == "sent"


async def test_an_unexpected_telegram_error_fails_the_row(
    client: SandboxClient, sessions: SessionFactory, make_engine: MakeEngine
) -> None:
    (uid,) = await residents(client, 1)
    await client.add_fault("sendMessage", chat_id=uid, error_code=409, description="Conflict")
    engine = await make_engine()
    broadcast_id = await new_broadcast(sessions)
    await engine.enqueue(broadcast_id, as_users([uid]))
    await settle(engine)

    (row,) = await rows(sessions, broadcast_id)
    assert row.status == "failed"
    assert row.error == "Conflict: Conflict"


# ---------------------------------------------------------------- flood answers and timeouts


async def test_a_429_is_waited_out_and_nothing_is_lost(
    client: SandboxClient, sessions: SessionFactory, make_engine: MakeEngine, limits: Limits
) -> None:
    ids = await residents(client, 120)
    engine = await make_engine()
    broadcast_id = await new_broadcast(sessions)
    await engine.enqueue(broadcast_id, as_users(ids))
    # Telegram tightens its limits mid-broadcast: far below the engine's pace.
    await halfway(engine, broadcast_id, 20)
    await client.set_limits(global_rate=1.0, global_burst=1)
    await until(lambda: engine.flood_waits > 0)
    await client.set_limits(**dataclasses.asdict(limits))
    await settle(engine)

    assert await floods(client) >= 1
    assert await engine.counts(broadcast_id) == Counts(sent=120)
    for uid in ids:
        assert len(await received(client, uid)) == 1, uid


@pytest.fixture
async def impatient_bot(sandbox: SandboxServer) -> AsyncIterator[telegram.Bot]:
    """An engine Bot that gives up on an answer after 0.3 s."""
    bot = telegram.Bot(
        SANDBOX_TOKEN,
        base_url=sandbox.api_base_url,
        request=AiohttpRequest(read_timeout=0.3),
        get_updates_request=AiohttpRequest(connection_pool_size=1),
    )
    async with bot:
        yield bot


async def test_a_timeout_before_telegram_sent_it_is_retried_and_delivered_once(
    client: SandboxClient,
    sessions: SessionFactory,
    make_engine: MakeEngine,
    impatient_bot: telegram.Bot,
) -> None:
    (uid,) = await residents(client, 1)
    await client.add_fault("sendMessage", chat_id=uid, delay=1.0, error_code=504)
    engine = await make_engine(bot=impatient_bot)
    broadcast_id = await new_broadcast(sessions)
    await engine.enqueue(broadcast_id, as_users([uid]))
    await settle(engine)

    (row,) = await rows(sessions, broadcast_id)
    assert row.status == "sent"
    assert row.attempts == 2
    assert len(await received(client, uid)) == 1


async def test_a_timeout_after_telegram_sent_it_is_retried_too_at_least_once(
    client: SandboxClient,
    sessions: SessionFactory,
    make_engine: MakeEngine,
    impatient_bot: telegram.Bot,
) -> None:
    # The documented choice: a timeout may hide a delivery; sending again risks a
    # duplicate, never a resident who misses the warning.
    (uid,) = await residents(client, 1)
    await client.add_fault("sendMessage", chat_id=uid, delay=0.6)
    engine = await make_engine(bot=impatient_bot)
    broadcast_id = await new_broadcast(sessions)
    await engine.enqueue(broadcast_id, as_users([uid]))
    await settle(engine)
    await asyncio.sleep(0.4)  # the late first send lands

    (row,) = await rows(sessions, broadcast_id)
    assert row.status == "sent"
    assert row.attempts == 2
    assert len(await received(client, uid)) == 2


async def test_network_errors_are_retried_up_to_max_attempts_then_failed(
    client: SandboxClient, sessions: SessionFactory, make_engine: MakeEngine
) -> None:
    flaky, broken = await residents(client, 2)
    await client.add_fault("sendMessage", chat_id=flaky, error_code=502, times=2)
    await client.add_fault("sendMessage", chat_id=broken, error_code=500, times=3)
    engine = await make_engine()
    broadcast_id = await new_broadcast(sessions)
    await engine.enqueue(broadcast_id, as_users([flaky, broken]))
    await settle(engine)

    by_chat = {row.chat_id: row for row in await rows(sessions, broadcast_id)}
    assert by_chat[flaky].status == "sent"
    assert by_chat[flaky].attempts == 3
    assert by_chat[broken].status == "failed"
    assert by_chat[broken].attempts == Pacing().max_attempts
    assert (by_chat[broken].error or "").startswith("NetworkError")
    assert len(await received(client, flaky)) == 1
    assert await received(client, broken) == []


# ---------------------------------------------------------------- stop, crash, restart


SLOW = Pacing(global_rate=150.0, per_chat_interval=0.05, group_window=3.0, retry_backoff=0.05)


async def assert_exactly_once(
    client: SandboxClient, engine: DeliveryEngine, broadcast_id: int, ids: list[int]
) -> None:
    assert await engine.counts(broadcast_id) == Counts(sent=len(ids))
    for uid in ids:
        assert len(await received(client, uid)) == 1, uid


async def test_stopped_halfway_and_restarted_no_duplicate_no_gap(
    client: SandboxClient, sessions: SessionFactory, make_engine: MakeEngine
) -> None:
    ids = await residents(client, 150)
    engine = await make_engine(pacing=SLOW)
    broadcast_id = await new_broadcast(sessions)
    await engine.enqueue(broadcast_id, as_users(ids))
    await halfway(engine, broadcast_id, 50)
    # Requests under way when the stop comes: they must finish and be recorded.
    await client.add_fault("sendMessage", delay=0.2, times=4)

    await engine.stop()

    stopped = await engine.counts(broadcast_id)
    assert stopped.sending == 0
    assert 50 <= stopped.sent < 150
    assert stopped.sent + stopped.queued == 150
    again = await make_engine(pacing=SLOW)
    await settle(again)
    await assert_exactly_once(client, again, broadcast_id, ids)


async def test_worker_cancelled_mid_send_and_restarted_no_duplicate_no_gap(
    client: SandboxClient, sessions: SessionFactory, make_engine: MakeEngine
) -> None:
    ids = await residents(client, 150)
    engine = await make_engine(pacing=SLOW)
    broadcast_id = await new_broadcast(sessions)
    await engine.enqueue(broadcast_id, as_users(ids))
    await halfway(engine, broadcast_id, 50)
    await client.add_fault("sendMessage", delay=0.2, times=4)
    await asyncio.sleep(0.02)  # those four are on their way

    worker = engine.worker
    assert worker is not None
    worker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await worker

    stopped = await engine.counts(broadcast_id)
    assert stopped.sending == 0
    assert stopped.sent + stopped.queued == 150
    again = await make_engine(pacing=SLOW)
    await settle(again)
    await assert_exactly_once(client, again, broadcast_id, ids)


async def claim_for(
    sessions: SessionFactory, claimer: str, count: int, *, expires_in: float
) -> list[int]:
    """Rows claimed by another engine, whose claim holds `expires_in` seconds from now."""
    async with sessions() as session:
        claimed = await outbox.claim(
            session=session,
            limit=count,
            claimer=claimer,
            expires_at=utcnow() + timedelta(seconds=expires_in),
        )
    assert len(claimed) == count
    return [row.id for row in claimed if row.id is not None]


async def claimers(sessions: SessionFactory, broadcast_id: int) -> dict[str | None, int]:
    found: dict[str | None, int] = {}
    for row in await rows(sessions, broadcast_id):
        if row.status == "sending":
            found[row.claimed_by] = found.get(row.claimed_by, 0) + 1
    return found


async def test_rows_of_a_gone_claimer_are_taken_back_and_of_a_live_one_not(
    client: SandboxClient,
    sessions: SessionFactory,
    make_engine: MakeEngine,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(delivery_module, "CLAIM_RENEW", 0.05)
    ids = await residents(client, 10)
    broadcast_id = await new_broadcast(sessions)
    engine = await make_engine(start=False)
    await engine.enqueue(broadcast_id, as_users(ids))
    await claim_for(sessions, "host-a:101:dead", 4, expires_in=-1)  # an engine that died
    alive = await claim_for(sessions, "host-b:202:live", 3, expires_in=3600)

    with caplog.at_level(logging.INFO, logger="bot.delivery"):
        await engine.start()
        await settle(engine)
        await asyncio.sleep(0.2)  # a few rounds of the claim keeper: still not taken

    assert (
        "taking back 4 deliveries claimed by host-a:101:dead, which is gone (its claim expired)"
        in caplog.text
    )
    assert "leaving 3 deliveries to host-b:202:live until its claim expires" in caplog.text
    assert "crash" not in caplog.text
    assert await claimers(sessions, broadcast_id) == {"host-b:202:live": 3}
    assert await engine.counts(broadcast_id) == Counts(sent=7, sending=3)

    # The live one stops renewing (killed): once its claim expires its rows come back.
    async with sessions() as session:
        for row_id in alive:
            row = await session.get(Delivery, row_id)
            assert row is not None
            row.claim_expires_at = utcnow() - timedelta(seconds=1)
            session.add(row)
        await session.commit()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bot.delivery"):
        await until(partial_counts(engine, broadcast_id, Counts(sent=10)))
    assert (
        "taking back 3 deliveries claimed by host-b:202:live, which is gone (its claim expired)"
        in caplog.text
    )
    await assert_exactly_once(client, engine, broadcast_id, ids)


def partial_counts(
    engine: DeliveryEngine, broadcast_id: int, expected: Counts
) -> Callable[[], Awaitable[bool]]:
    async def reached() -> bool:
        return await engine.counts(broadcast_id) == expected

    return reached


async def test_the_sole_engine_takes_back_every_claim_at_once(
    client: SandboxClient,
    sessions: SessionFactory,
    make_engine: MakeEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ids = await residents(client, 6)
    broadcast_id = await new_broadcast(sessions)
    engine = await make_engine(start=False)
    await engine.enqueue(broadcast_id, as_users(ids))
    await claim_for(sessions, "host-a:101:killed", 2, expires_in=3600)
    async with sessions() as session:  # claimed by a bot from before claims had names
        legacy = (await outbox.for_broadcast(session=session, broadcast_id=broadcast_id))[-1]
        legacy.status = "sending"
        session.add(legacy)
        await session.commit()

    with caplog.at_level(logging.WARNING, logger="bot.delivery"):
        await engine.start(sole=True)  # the caller holds the database's lock file
        await settle(engine)

    assert (
        "taking back 2 deliveries claimed by host-a:101:killed, which is gone "
        "(this process holds the database)" in caplog.text
    )
    assert 'taking back 1 deliveries left "sending" by a version' in caplog.text
    await assert_exactly_once(client, engine, broadcast_id, ids)


async def test_claims_are_renewed_and_a_claim_that_cannot_be_is_not_sent_on(
    client: SandboxClient,
    sessions: SessionFactory,
    make_engine: MakeEngine,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(delivery_module, "CLAIM_RENEW", 0.05)
    ids = await residents(client, 6)
    broadcast_id = await new_broadcast(sessions)
    # Two a second: the last rows of the window wait a few seconds for their turn.
    engine = await make_engine(pacing=Pacing(global_rate=2.0, global_burst=1))
    await engine.enqueue(broadcast_id, as_users(ids))
    await until(partial_counts(engine, broadcast_id, Counts(sent=1, sending=5)))
    first = {row.id: row.claim_expires_at for row in await rows(sessions, broadcast_id)}
    await asyncio.sleep(0.3)
    later = {row.id: row.claim_expires_at for row in await rows(sessions, broadcast_id)}
    renewed = [i for i, at in later.items() if at and (before := first[i]) and at > before]
    assert len(renewed) >= 4  # the rows still waiting

    async def refused(**kwargs: Any) -> int:
        raise OSError("database is locked")

    real_renew = outbox.renew
    monkeypatch.setattr(outbox, "renew", refused)
    # Renewals fail from now on: claims known to hold less than SEND_MARGIN are not sent.
    monkeypatch.setattr(delivery_module, "SEND_MARGIN", delivery_module.CLAIM_TTL - 0.5)
    with caplog.at_level(logging.WARNING, logger="bot.delivery"):
        await until(lambda: "its claim could not be renewed; not sending it" in caplog.text)
    assert "renewing delivery claims failed" in caplog.text
    monkeypatch.setattr(outbox, "renew", real_renew)
    monkeypatch.setattr(delivery_module, "SEND_MARGIN", 5.0)
    await settle(engine, 30)
    await assert_exactly_once(client, engine, broadcast_id, ids)


async def test_a_result_that_cannot_be_written_leaves_the_row_for_the_next_start(
    client: SandboxClient,
    sessions: SessionFactory,
    make_engine: MakeEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (uid,) = await residents(client, 1)
    real_record = outbox.record

    async def failing(**kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(outbox, "record", failing)
    engine = await make_engine()
    broadcast_id = await new_broadcast(sessions)
    await engine.enqueue(broadcast_id, as_users([uid]))
    await settle(engine)

    assert (await engine.counts(broadcast_id)).sending == 1
    monkeypatch.setattr(outbox, "record", real_record)
    await engine.stop()
    await engine.start()
    await settle(engine)
    # The at-least-once window: the message that could not be recorded went out again.
    assert await engine.counts(broadcast_id) == Counts(sent=1)
    assert len(await received(client, uid)) == 2


async def test_a_result_that_cannot_be_written_is_sent_again_once_its_claim_expires(
    client: SandboxClient,
    sessions: SessionFactory,
    make_engine: MakeEngine,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    (uid,) = await residents(client, 1)
    real_record = outbox.record
    failures = 0

    async def fails_once(**kwargs: Any) -> None:
        nonlocal failures
        failures += 1
        if failures == 1:
            raise OSError("disk full")
        await real_record(**kwargs)

    monkeypatch.setattr(outbox, "record", fails_once)
    monkeypatch.setattr(delivery_module, "CLAIM_TTL", 0.5)
    monkeypatch.setattr(delivery_module, "CLAIM_RENEW", 0.05)
    monkeypatch.setattr(delivery_module, "SEND_MARGIN", 0.0)
    engine = await make_engine()
    broadcast_id = await new_broadcast(sessions)
    with caplog.at_level(logging.WARNING, logger="bot.delivery"):
        await engine.enqueue(broadcast_id, as_users([uid]))
        await until(partial_counts(engine, broadcast_id, Counts(sent=1)))
    # No restart needed: the claim keeper took the row back when its claim expired.
    assert "taking back 1 deliveries this engine claimed and could not finish" in caplog.text
    assert len(await received(client, uid)) == 2  # the at-least-once window


async def test_a_claim_the_database_refuses_is_tried_again(
    client: SandboxClient,
    sessions: SessionFactory,
    make_engine: MakeEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (uid,) = await residents(client, 1)
    real_claim = outbox.claim
    calls = 0

    async def flaky(**kwargs: Any) -> list[Delivery]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError("database is locked")
        return await real_claim(**kwargs)

    monkeypatch.setattr(outbox, "claim", flaky)
    monkeypatch.setattr(delivery_module, "CLAIM_RETRY", 0.01)
    engine = await make_engine()
    broadcast_id = await new_broadcast(sessions)
    await engine.enqueue(broadcast_id, as_users([uid]))
    await settle(engine)

    assert calls >= 3
    assert await engine.counts(broadcast_id) == Counts(sent=1)


# ---------------------------------------------------------------- what the engine reports


async def test_progress_rises_and_is_reported_once_at_the_end(
    client: SandboxClient, sessions: SessionFactory, make_engine: MakeEngine
) -> None:
    ids = await residents(client, 100)
    reports: list[tuple[int, Counts]] = []

    async def on_progress(broadcast_id: int, counts: Counts) -> None:
        reports.append((broadcast_id, counts))
        if len(reports) == 1:
            raise RuntimeError("the coordinator deleted the progress message")

    pacing = dataclasses.replace(SLOW, progress_interval=0.1)
    engine = await make_engine(pacing=pacing, on_progress=on_progress)
    broadcast_id = await new_broadcast(sessions)
    await engine.enqueue(broadcast_id, as_users(ids))
    await settle(engine)
    await asyncio.sleep(0.3)  # ticks after the end report nothing more

    assert {bid for bid, _ in reports} == {broadcast_id}
    sent = [counts.sent for _, counts in reports]
    assert len(sent) >= 3
    assert sent == sorted(sent)
    assert sent[0] < 100
    finals = [counts for _, counts in reports if counts.pending == 0]
    assert finals == [Counts(sent=100)]
    assert reports[-1][1] == Counts(sent=100)


async def test_a_photo_goes_with_its_caption_and_buttons(
    client: SandboxClient, sessions: SessionFactory, make_engine: MakeEngine
) -> None:
    coordinator, resident = await residents(client, 2)
    png = bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
    )
    uploaded = await client.send_photo(coordinator, png, caption="Witte Voetjes")
    file_id = uploaded["photo"][-1]["file_id"]
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Ik doe mee", callback_data="x")]])

    async def render(delivery: Delivery) -> Outgoing:
        return Outgoing(text=TEXT, photo=file_id, keyboard=keyboard)

    engine = await make_engine(render=render)
    broadcast_id = await new_broadcast(sessions)
    await engine.enqueue(broadcast_id, as_users([resident]))
    await settle(engine)

    (message,) = await received(client, resident)
    assert message["photo"][-1]["file_id"] == file_id
    assert message["caption"] == PLAIN
    assert message["caption_entities"][0]["type"] == "bold"
    assert message["reply_markup"]["inline_keyboard"][0][0]["text"] == "Ik doe mee"
    assert await floods(client, "sendPhoto") == 0


async def test_enqueue_is_idempotent(
    client: SandboxClient, sessions: SessionFactory, make_engine: MakeEngine
) -> None:
    ids = await residents(client, 6)
    engine = await make_engine()
    broadcast_id = await new_broadcast(sessions)

    assert await engine.enqueue(broadcast_id, as_users(ids[:4])) == 4
    assert await engine.enqueue(broadcast_id, as_users(ids[:4])) == 0
    assert await engine.enqueue(broadcast_id, as_users(ids)) == 2
    await settle(engine)

    assert await engine.counts(broadcast_id) == Counts(sent=6)
    for uid in ids:
        assert len(await received(client, uid)) == 1
    assert await engine.enqueue(broadcast_id, as_users(ids)) == 0
    await settle(engine)
    for uid in ids:
        assert len(await received(client, uid)) == 1


async def test_enqueue_of_a_city_sized_audience_counts_only_new_rows(
    sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks of many parameter sets each (sent in several batches): every recipient queued
    once, with its own kind, language and hold, and a repeat adds none."""
    monkeypatch.setattr(outbox, "ENQUEUE_CHUNK", 1_000)  # 4,500 recipients: five chunks
    broadcast_id = await new_broadcast(sessions)
    held = utcnow().replace(microsecond=0) + timedelta(hours=3)
    audience = [(10_000 + n, "user", "pl" if n % 2 else None, held if n % 3 == 0 else None)
                for n in range(4_500)]  # fmt: skip

    async with sessions() as session:
        assert await outbox.enqueue(session=session, broadcast_id=broadcast_id, recipients=audience[:3_000]) == 3_000  # fmt: skip
    async with sessions() as session:
        assert await outbox.enqueue(session=session, broadcast_id=broadcast_id, recipients=audience) == 1_500  # fmt: skip
    async with sessions() as session:
        assert await outbox.enqueue(session=session, broadcast_id=broadcast_id, recipients=audience) == 0  # fmt: skip
        assert await outbox.enqueue(session=session, broadcast_id=broadcast_id, recipients=[]) == 0  # fmt: skip
        rows = await outbox.for_broadcast(session=session, broadcast_id=broadcast_id)

    assert [(r.chat_id, r.recipient, r.language, r.not_before, r.status) for r in rows] == [
        (chat_id, kind, language, not_before, "queued")
        for chat_id, kind, language, not_before in audience
    ]


async def test_a_claim_takes_the_first_due_rows_after_a_long_history(
    sessions: SessionFactory,
) -> None:
    """Rows sent long ago and rows held back come before in id order; the claim passes them
    and takes the first queued, due rows, in order."""
    old, new = await new_broadcast(sessions), await new_broadcast(sessions)
    later = utcnow() + timedelta(hours=8)
    async with sessions() as session:
        await outbox.enqueue(session=session, broadcast_id=old, recipients=[(n, "user", None, None) for n in range(1, 301)])  # fmt: skip
        sent = await outbox.for_broadcast(session=session, broadcast_id=old)
        await outbox.record(session=session, results=[
            {"id": d.id, "status": "sent", "attempts": 1, "chat_id": d.chat_id, "message_id": 1,
             "error": None, "sent_at": utcnow()} for d in sent])  # fmt: skip
        audience = [(n, "user", None, later if n % 2 else None) for n in range(1, 101)]
        await outbox.enqueue(session=session, broadcast_id=new, recipients=audience)
    async with sessions() as session:
        first = await outbox.claim(session=session, limit=10, claimer="a", expires_at=later)
    async with sessions() as session:
        second = await outbox.claim(session=session, limit=10, claimer="b", expires_at=later)

    assert [d.chat_id for d in first] == list(range(2, 21, 2))
    assert [d.chat_id for d in second] == list(range(22, 41, 2))
    assert {d.broadcast_id for d in first + second} == {new}
    assert {d.status for d in first + second} == {"sending"}


async def test_the_claim_reads_the_queue_off_its_index_without_sorting(
    engine: AsyncEngine,
) -> None:
    """The plan, not the time: with (status, id) the database starts at the first queued
    row in order. Without it SQLite scanned every row ever sent and PostgreSQL sorted the
    whole queue, a cost that grew with the outbox (bench/growth.py)."""
    query = str(
        outbox.claimable(32).compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
    )
    async with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            # An empty table is cheapest to scan whole; the plan for a city's outbox is asked.
            await connection.execute(text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(row[0] for row in await connection.execute(text(f"EXPLAIN {query}")))
        else:
            rows = await connection.execute(text(f"EXPLAIN QUERY PLAN {query}"))
            plan = " ".join(str(row[-1]) for row in rows)
    assert "ix_deliveries_status_id" in plan
    assert "Sort" not in plan
    assert "TEMP B-TREE" not in plan


async def test_an_engine_with_nothing_to_do_is_idle_and_stops_cleanly(
    make_engine: MakeEngine,
) -> None:
    engine = await make_engine()
    await settle(engine, 2.0)
    await engine.start()  # already running: nothing happens
    await engine.stop()
    await engine.stop()


def test_pacing_scales_like_the_sandbox_limits() -> None:
    pacing, limits = Pacing().scaled(10), Limits().scaled(10)
    assert pacing.global_rate == pytest.approx(0.96 * limits.global_rate)
    assert pacing.per_chat_interval == pytest.approx(1 / limits.per_chat_rate)
    assert pacing.group_window == pytest.approx(limits.group_window)
    assert pacing.group_per_minute == limits.group_per_minute
    with pytest.raises(ValueError, match="positive"):
        Pacing().scaled(0)


# ---------------------------------------------------------------- beside the interactive bot


async def test_a_resident_is_answered_at_once_during_a_big_broadcast(
    bot: BotApplication, client: SandboxClient, sessions: SessionFactory
) -> None:
    # Telegram's limits 5x faster: the engine runs at 144 messages/s for four seconds.
    scale = 5
    await client.set_limits(**dataclasses.asdict(Limits().scaled(scale)))
    ids = await residents(client, 600)
    (asker,) = await residents(client, 1)
    services = services_of(bot)
    engine = services.delivery
    assert engine is not None
    # The engine post_init started, on its own Bot, with its pacing scaled like the limits.
    await engine.stop()
    engine.pacing = Pacing().scaled(scale)
    services.render_delivery = plain
    await engine.start()
    broadcast_id = await new_broadcast(sessions)
    await engine.enqueue(broadcast_id, as_users(ids))
    await halfway(engine, broadcast_id, 50)

    # Not a time limit (the machine may be busy): the promise is that an answer never
    # queues behind the broadcast, so each one comes while copies are still pending.
    pending_at_answer = []
    for _ in range(5):
        sent = await client.send(asker, "/help")
        await client.wait_bot_message(asker, after=sent["message_id"])
        pending_at_answer.append((await engine.counts(broadcast_id)).pending)
        await asyncio.sleep(0.1)
    await settle(engine)

    assert all(pending > 0 for pending in pending_at_answer), pending_at_answer
    assert await floods(client) == 0
    assert await engine.counts(broadcast_id) == Counts(sent=600)


async def test_post_init_starts_the_engine_and_post_shutdown_stops_it(
    app: BotApplication, client: SandboxClient, sessions: SessionFactory
) -> None:
    services = services_of(app)
    (uid,) = await residents(client, 1)
    broadcast_id = await new_broadcast(sessions)
    seen: list[Counts] = []

    async def render(delivery: Delivery) -> Outgoing:
        return Outgoing(text=TEXT)

    async def on_progress(broadcast_id: int, counts: Counts) -> None:
        seen.append(counts)

    assert services.delivery is None
    with pytest.raises(RuntimeError, match="no broadcast renderer"):
        await services.render_delivery(Delivery(broadcast_id=1, chat_id=1, recipient="user"))
    async with running(app, poll_timeout=1):
        engine = services.delivery
        assert engine is not None
        assert engine.worker is not None
        assert engine.bot is not app.bot
        await services.on_progress(broadcast_id, Counts())  # the default listens to nothing
        services.render_delivery = render
        services.on_progress = on_progress
        await engine.enqueue(broadcast_id, as_users([uid]))
        await settle(engine)
        await asyncio.sleep(0.1)
    assert services.delivery is None
    assert engine.worker is None
    assert len(await received(client, uid)) == 1
    assert seen[-1] == Counts(sent=1)


async def test_rows_held_back_for_quiet_hours_are_claimed_only_when_due(
    sessions: SessionFactory,
) -> None:
    from datetime import timedelta

    from storage import outbox
    from storage.models import Broadcast, utcnow

    async with sessions() as session:
        broadcast = Broadcast(kind="nieuws", author_id=1, status="sending")
        session.add(broadcast)
        await session.commit()
        bid = broadcast.id or 0
        await outbox.enqueue(
            session=session,
            broadcast_id=bid,
            recipients=[
                (101, "user", "nl", None),
                (102, "user", "nl", utcnow() + timedelta(hours=8)),
                (103, "user", "nl", utcnow() - timedelta(minutes=1)),
            ],
        )
    async with sessions() as session:
        claimed = await outbox.claim(session=session, limit=10, claimer="test", expires_at=utcnow())
    assert sorted(row.chat_id for row in claimed) == [101, 103]
