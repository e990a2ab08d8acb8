"""The durable inbox over the real sandbox: stored before the offset moves, done rows
keep no text, replays are skipped, unfinished updates come first at start in order per
chat, and an update that keeps failing becomes a dead letter administrators can count."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from telegram import Update

from bot.app import BotApplication, running
from bot.cli import SANDBOX_TOKEN
from bot.inbox import Inbox, InboxBot, InboxUnavailable
from bot.keys import Keyring
from bot.services import services_of
from sandbox.client import SandboxClient
from sandbox.server import SandboxServer
from storage import inbox as inbox_store
from storage.engine import SessionFactory
from storage.models import InboxStatus, InboxUpdate, MembershipEvent, User, utcnow

ROOT = Path(__file__).resolve().parent.parent


async def rows(sessions: SessionFactory) -> list[InboxUpdate]:
    async with sessions() as session:
        return list(await session.exec(select(InboxUpdate).order_by(InboxUpdate.update_id)))  # type: ignore[arg-type]


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    """Wait for what the bot does after its answer (marking the update done)."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition never became true"
        await asyncio.sleep(0.02)


@pytest.fixture
async def fetcher(
    sandbox: SandboxServer, sessions: SessionFactory, app: BotApplication
) -> AsyncIterator[tuple[InboxBot, Inbox]]:
    """A bot that only fetches into the inbox: what a bot killed right after a getUpdates
    left behind (stored, neither handled nor confirmed). Under the key of the bot that
    starts after it, as a restarted bot with its key file would have it."""
    inbox = Inbox(sessions, services_of(app).keyring, max_attempts=3)
    bot = InboxBot(lambda: inbox, token=SANDBOX_TOKEN, base_url=sandbox.api_base_url)
    async with bot:
        yield bot, inbox


async def test_updates_are_stored_before_the_offset_confirms_them(
    fetcher: tuple[InboxBot, Inbox], client: SandboxClient, sessions: SessionFactory
) -> None:
    bot, inbox = fetcher
    user = await client.create_user("Anna", language_code="nl")
    await client.send(user["id"], "/start wijk-stiphout")
    fetched = await bot.get_updates(timeout=0)
    assert len(fetched) == 1
    # Telegram still holds it (not confirmed) and the database has it already.
    assert [u["update_id"] for u in await client.pending_updates()] == [fetched[0].update_id]
    [row] = await rows(sessions)
    assert (row.update_id, row.status) == (fetched[0].update_id, InboxStatus.PENDING)
    assert row.payload is not None
    # Sealed: neither the text nor the sender can be read from the row.
    assert "/start wijk-stiphout" not in row.payload
    assert str(user["id"]) not in row.payload
    opened = inbox.keyring.open("inbox", row.payload, bound_to=str(row.update_id))
    assert b"/start wijk-stiphout" in opened
    # The next getUpdates confirms it: only now may Telegram forget it.
    await bot.get_updates(offset=fetched[0].update_id + 1, timeout=0)
    assert await client.pending_updates() == []
    assert (await inbox.counts()).pending == 1


async def test_updates_that_cannot_be_stored_stay_with_telegram(
    fetcher: tuple[InboxBot, Inbox], client: SandboxClient, engine: AsyncEngine
) -> None:
    bot, _ = fetcher
    user = await client.create_user("Anna", language_code="nl")
    await client.send(user["id"], "/help")
    async with engine.begin() as connection:
        await connection.execute(text("DROP TABLE inbox"))
    with pytest.raises(InboxUnavailable, match="not stored"):
        await bot.get_updates(timeout=0)
    assert len(await client.pending_updates()) == 1


async def test_a_second_fetch_of_a_stored_update_is_a_replay(
    fetcher: tuple[InboxBot, Inbox], client: SandboxClient
) -> None:
    bot, inbox = fetcher
    user = await client.create_user("Anna", language_code="nl")
    await client.send(user["id"], "/help")
    first = await bot.get_updates(timeout=0)
    again = await bot.get_updates(timeout=0)  # no offset: Telegram sends it once more
    assert [u.update_id for u in again] == [u.update_id for u in first]
    assert inbox.is_replay(first[0].update_id)
    assert not inbox.is_replay(first[0].update_id)  # told once, to the one who asks


async def test_dropped_presses_are_marked_done_together_and_at_close(
    fetcher: tuple[InboxBot, Inbox], client: SandboxClient, sessions: SessionFactory
) -> None:
    bot, inbox = fetcher
    user = await client.create_user("Anna", language_code="nl")
    for _ in range(3):
        await client.send(user["id"], "/help")
    fetched = await bot.get_updates(timeout=0)
    first, *rest = [u.update_id for u in fetched]
    inbox.done_soon(first)

    async def first_done() -> bool:
        return {r.update_id: r.status for r in await rows(sessions)}[first] == InboxStatus.DONE

    await eventually(first_done)  # by the timer, without another call
    for update_id in rest:
        inbox.done_soon(update_id)
    await inbox.close()  # at shutdown: written now
    assert {r.status for r in await rows(sessions)} == {InboxStatus.DONE}
    assert all(r.payload is None for r in await rows(sessions))


async def test_a_handled_update_keeps_no_text(
    bot: BotApplication, client: SandboxClient, sessions: SessionFactory
) -> None:
    user = await client.create_user("Anna", language_code="nl")
    sent = await client.send(user["id"], "/help")
    await client.wait_bot_message(user["id"], after=sent["message_id"])

    async def done() -> bool:
        found = await rows(sessions)
        return bool(found) and all(row.status == InboxStatus.DONE for row in found)

    await eventually(done)
    [row] = await rows(sessions)
    assert (row.payload, row.error, row.attempts) == (None, None, 1)
    assert row.finished_at is not None


async def test_unfinished_updates_come_first_at_start_in_order_per_chat_and_once(
    fetcher: tuple[InboxBot, Inbox],
    app: BotApplication,
    client: SandboxClient,
    sessions: SessionFactory,
) -> None:
    """Fetched and stored by a bot that died before handling or confirming them: the next
    start handles them in order, then skips them when Telegram sends them again."""
    bot, _ = fetcher
    anna = await client.create_user("Anna", language_code="nl")
    bram = await client.create_user("Bram", language_code="nl")
    for who, texts in (
        (anna, ["/start wijk-stiphout", "/stop", "/start wijk-warande"]),
        (bram, ["/start wijk-warande", "/stop"]),
    ):
        for line in texts:
            await client.send(who["id"], line)
    stored = await bot.get_updates(timeout=0)
    assert len(stored) == 5
    await client.send(anna["id"], "/help")  # new, after the crash: must come after the rest
    async with running(app, poll_timeout=1):
        answers = await client.wait_bot_messages(anna["id"], 4, timeout=15)
        await client.wait_bot_messages(bram["id"], 2, timeout=15)

        async def settled() -> bool:
            return (
                not await client.pending_updates()
                and (await services_of(app).inbox.counts()).pending == 0  # type: ignore[union-attr]
            )

        await eventually(settled)
        # Telegram sent the five again (they were never confirmed): none answered twice.
        assert len(await client.bot_messages(anna["id"])) == 4
        assert len(await client.bot_messages(bram["id"])) == 2
    assert "Stiphout" in answers[0]["text"]
    assert "Je krijgt geen berichten meer" in answers[1]["text"]
    assert "Warande" in answers[2]["text"]
    assert "/start" in answers[3]["text"]
    assert "/stop" in answers[3]["text"]
    async with sessions() as session:
        anna_row = await session.get(User, anna["id"])
        bram_row = await session.get(User, bram["id"])
        events = [
            (e.wijk, e.kind)
            for e in await session.exec(select(MembershipEvent).order_by(col(MembershipEvent.id)))
        ]
    assert anna_row is not None
    assert (anna_row.subscribed, anna_row.wijk) == (True, "warande")
    assert bram_row is not None
    assert not bram_row.subscribed
    assert sorted(events) == sorted(
        [
            ("stiphout", "joined"),
            ("stiphout", "left"),
            ("warande", "joined"),
            ("warande", "joined"),
            ("warande", "left"),
        ]
    )
    assert all(
        row.status == InboxStatus.DONE and row.payload is None for row in await rows(sessions)
    )


async def test_an_update_running_at_every_crash_becomes_a_dead_letter(
    fetcher: tuple[InboxBot, Inbox],
    app: BotApplication,
    client: SandboxClient,
    sessions: SessionFactory,
) -> None:
    """It was being handled each time the bot died: at start it is not tried again."""
    bot, _ = fetcher
    user = await client.create_user("Anna", language_code="nl")
    await client.send(user["id"], "/help")
    [fetched] = await bot.get_updates(timeout=0)
    async with sessions() as session:
        await session.exec(
            update(InboxUpdate)  # type: ignore[call-overload]
            .where(col(InboxUpdate.update_id) == fetched.update_id)
            .values(attempts=3)
        )
        await session.commit()
    async with running(app, poll_timeout=1):
        await eventually(lambda: _no_pending(client))
        counts = await services_of(app).inbox.counts()  # type: ignore[union-attr]
    assert (counts.pending, counts.dead) == (0, 1)
    [row] = await rows(sessions)
    assert (row.status, row.payload, row.error) == (InboxStatus.DEAD, None, "Interrupted")
    assert await client.bot_messages(user["id"]) == []


async def _no_pending(client: SandboxClient) -> bool:
    return not await client.pending_updates()


async def test_a_failing_handler_is_tried_again_then_dead_lettered_and_counted(
    bot: BotApplication, client: SandboxClient, sessions: SessionFactory, database_url: str
) -> None:
    """Telegram refuses the answer three times: three tries, one apology, one dead letter,
    visible to administrators in /overzicht and to the operator on the command line."""
    user = await client.create_user("Anna", language_code="nl")
    await client.add_fault("sendMessage", chat_id=user["id"], times=3, error_code=500)
    await client.send(user["id"], "/help")
    [apology] = await client.wait_bot_messages(user["id"], 1, timeout=15)
    assert apology["text"] == "Sorry, er ging iets mis. Probeer het zo nog eens."

    async def dead() -> bool:
        return any(row.status == InboxStatus.DEAD for row in await rows(sessions))

    await eventually(dead)
    [row] = await rows(sessions)
    assert (row.payload, row.error, row.attempts) == (None, "NetworkError", 3)
    tries = [
        r
        for r in await client.requests("sendMessage")
        if r["params"].get("chat_id") in (user["id"], str(user["id"]))
    ]
    assert len(tries) == 4  # three tries of /help, then the apology

    admin = await client.create_user("Beheerder", language_code="nl", user_id=900001)
    sent = await client.send(admin["id"], "/overzicht")
    overview = await client.wait_bot_message(admin["id"], after=sent["message_id"], timeout=15)
    assert "Berichten die de bot niet kon verwerken (30 dagen): 1" in overview["text"]

    result = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "inbox",
        cwd=ROOT, env={**os.environ, "DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(result.communicate(), timeout=60)
    assert result.returncode == 0, err.decode()
    assert out.decode().splitlines() == ["pending 0", "dead 1"]


async def test_a_coordinator_who_is_no_administrator_sees_no_dead_letters(
    bot: BotApplication, client: SandboxClient, sessions: SessionFactory
) -> None:
    from storage import roles

    coordinator = await client.create_user("Coördinator", language_code="nl")
    async with sessions() as session:
        await roles.grant(
            session=session,
            user_id=coordinator["id"],
            role="coordinator",
            scope=None,
            name="C",
            by=None,
        )
        await session.commit()
    sent = await client.send(coordinator["id"], "/overzicht")
    overview = await client.wait_bot_message(coordinator["id"], after=sent["message_id"])
    assert "Overzicht" in overview["text"]
    assert "niet kon verwerken" not in overview["text"]


async def test_finished_rows_are_forgotten_after_their_time(sessions: SessionFactory) -> None:
    inbox = Inbox(sessions, Keyring.generate(), max_attempts=3)
    now = utcnow()
    async with sessions() as session:
        for update_id, status, age in (
            (1, InboxStatus.DONE, timedelta(days=2)),  # a replay cannot come any more
            (2, InboxStatus.DONE, timedelta(hours=1)),  # it still can: kept
            (3, InboxStatus.DEAD, timedelta(days=40)),
            (4, InboxStatus.DEAD, timedelta(days=2)),  # administrators still see it
            (5, InboxStatus.PENDING, timedelta(days=40)),  # never forgotten unhandled
        ):
            session.add(
                InboxUpdate(
                    update_id=update_id,
                    status=status,
                    payload="{}" if status == InboxStatus.PENDING else None,
                    received_at=now - age,
                    finished_at=None if status == InboxStatus.PENDING else now - age,
                )
            )
        await session.commit()
    await inbox.prune()
    assert [row.update_id for row in await rows(sessions)] == [2, 4, 5]
    counts = await inbox.counts()
    assert (counts.pending, counts.dead) == (1, 1)


async def test_a_failure_is_written_on_pending_rows_only(sessions: SessionFactory) -> None:
    """A replica whose try failed after another replica finished the update must not write
    its error onto the done row (nor onto a dead letter's)."""
    async with sessions() as session:
        for update_id, status in (
            (1, InboxStatus.PENDING),
            (2, InboxStatus.DONE),
            (3, InboxStatus.DEAD),
        ):
            session.add(InboxUpdate(update_id=update_id, status=status, payload=None, error=None))
        await session.commit()
        for update_id in (1, 2, 3):
            await inbox_store.record_failure(session=session, update_id=update_id, error="TimedOut")
        await session.commit()
    assert [(row.update_id, row.error) for row in await rows(sessions)] == [
        (1, "TimedOut"), (2, None), (3, None),
    ]  # fmt: skip


async def test_a_try_that_never_ran_is_given_back(sessions: SessionFactory) -> None:
    """A leader that lost the lease leaves what it had taken: the try it counted is given
    back, so failovers alone never make an update a dead letter."""
    inbox = Inbox(sessions, Keyring.generate(), max_attempts=3)
    update = Update.de_json({"update_id": 7, "message": {"message_id": 1, "date": 1,
                             "chat": {"id": 5, "type": "private"}, "text": "/help"}}, None)  # fmt: skip
    assert await inbox.store([update]) == [update]  # taken for handling: one try counted
    assert [row.attempts for row in await rows(sessions)] == [1]
    await inbox.give_back(7)
    await inbox.give_back(7)  # never below none
    assert [(row.attempts, row.status) for row in await rows(sessions)] == [
        (0, InboxStatus.PENDING)
    ]
    await inbox.begin_replay(7, 0)
    await inbox.done(7)
    await inbox.give_back(7)  # a finished row keeps its count
    assert [(row.attempts, row.status) for row in await rows(sessions)] == [(1, InboxStatus.DONE)]


async def test_an_update_that_was_never_stored_still_gets_its_apology(
    bot: BotApplication, client: SandboxClient, sandbox: SandboxServer, sessions: SessionFactory
) -> None:
    """Handed to the application directly (not fetched through the inbox): a failure has
    no row to be tried again from, so the user hears at once that it went wrong."""
    plain = InboxBot(lambda: None, token=SANDBOX_TOKEN, base_url=sandbox.api_base_url)
    user = await client.create_user("Anna", language_code="nl")
    await bot.updater.stop()  # type: ignore[union-attr]  # the test fetches instead
    await client.send(user["id"], "/help")
    async with plain:  # open while handling: the update answers through the bot it came by
        [fetched] = await plain.get_updates(timeout=0)
        await client.add_fault("sendMessage", chat_id=user["id"], times=1, error_code=500)
        await bot.process_update(fetched)
    [apology] = await client.wait_bot_messages(user["id"], 1)
    assert apology["text"] == "Sorry, er ging iets mis. Probeer het zo nog eens."
    assert await rows(sessions) == []


async def test_updates_finished_together_are_marked_done_in_a_few_writes(
    fetcher: tuple[InboxBot, Inbox], client: SandboxClient, sessions: SessionFactory
) -> None:
    bot, inbox = fetcher
    users = [await client.create_user(f"Bewoner {n}") for n in range(40)]
    for user in users:
        await client.send(user["id"], "/help")
    fetched = await bot.get_updates(timeout=0)
    assert len(fetched) == 40
    # Forty handlers finishing at once: each returns once its own mark is written.
    await asyncio.gather(*(inbox.done(u.update_id) for u in fetched))
    stored = await rows(sessions)
    assert {row.status for row in stored} == {InboxStatus.DONE}
    assert all(row.payload is None for row in stored)
    assert 1 <= inbox.mark_writes <= 3  # one write, and one more for those that came in meanwhile


async def test_a_mark_that_cannot_be_written_fails_its_update(
    fetcher: tuple[InboxBot, Inbox], client: SandboxClient, engine: AsyncEngine
) -> None:
    bot, inbox = fetcher
    user = await client.create_user("Anna", language_code="nl")
    await client.send(user["id"], "/help")
    [update] = await bot.get_updates(timeout=0)
    async with engine.begin() as connection:
        await connection.execute(text("DROP TABLE inbox"))
    with pytest.raises(Exception, match="inbox"):
        await inbox.done(update.update_id)


async def test_the_leader_reads_only_the_ids_of_what_it_stored_itself(
    fetcher: tuple[InboxBot, Inbox], sessions: SessionFactory
) -> None:
    """Webhook mode: a push to the leader is kept in memory with its try counted; the
    dispatcher's look takes it by id, in update_id order beside another replica's rows."""
    bot, inbox = fetcher
    person = {"id": 4242, "is_bot": False, "first_name": "Anna"}
    first, second, third = (
        Update.de_json(
            {
                "update_id": update_id,
                "message": {
                    "message_id": update_id,
                    "date": 1_700_000_000,
                    "chat": {"id": 4242, "type": "private"},
                    "from": person,
                    "text": "hallo",
                },
            },
            bot,
        )
        for update_id in (71, 72, 73)
    )
    # The first went to another replica (stored, no try yet); the others to the leader.
    await inbox.store([first], handling=False)
    await inbox.store([second, third], handling=False, tried=True)
    own = {second.update_id: second, third.update_id: third}
    taken = await inbox.take(bot, skip=(), limit=10, own=own)
    assert [(update.update_id, tries) for update, tries in taken] == [(71, 1), (72, 1), (73, 1)]
    assert taken[1][0] is second  # not read and opened again
    assert [row.attempts for row in await rows(sessions)] == [1, 1, 1]  # none counted twice
    # In hand now: a later look skips them.
    assert await inbox.take(bot, skip={71, 72, 73}, limit=10) == []
