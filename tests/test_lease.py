"""One sender per database (issue 12): the lease, in process and across real processes.

On SQLite a second bot on the same file refuses to start; on PostgreSQL a second bot
stands by and takes over when the leader dies (`kill -9`), and a broadcast goes out to
everyone with no copy missing and duplicates within the engine's in-flight count.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import BotApplication, build_application, running, shut_down
from bot.cli import SANDBOX_TOKEN
from bot.delivery import Pacing
from bot.lease import (
    LEASE_FENCE,
    LOCK_KEY,
    AdvisoryLease,
    FileLease,
    Leadership,
    LeaseHeld,
    SoleLease,
    lease_for,
)
from bot.services import services_of
from bot.settings import Settings
from sandbox.client import SandboxClient
from sandbox.server import SandboxServer
from storage import lease as lease_store
from storage import migrate
from storage.engine import create_engine, create_session_factory
from tests.conftest import postgres_url
from tests.processes import (
    ADMIN_ID,
    SEND_RATE,
    BotProcess,
    BroadcastRun,
    bot_environment,
    broadcast_through_a_kill,
    populate,
    until,
)

needs_postgres = pytest.mark.skipif(
    postgres_url() is None, reason="needs PostgreSQL: set TEST_DATABASE_URL"
)


async def terminate(url: str, application_name: str) -> int:
    """End the server side of a lease's connection, as a network cut or a DBA would."""
    engine = create_engine(url)
    async with engine.begin() as connection:
        result = await connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = :name"
            ),
            {"name": application_name},
        )
        ended = int(result.scalar_one())
    await engine.dispose()
    return ended


# ---------------------------------------------------------------- the leases themselves


async def test_a_lock_file_beside_the_database_is_held_once(tmp_path: Path) -> None:
    database = tmp_path / "buurtbot.db"
    first, second = FileLease(database), FileLease(database)
    await first.prepare()
    assert first.held
    assert await first.still_held()
    assert await first.try_acquire()
    assert (tmp_path / "buurtbot.db.lock").read_text() == f"{os.getpid()}\n"

    with pytest.raises(LeaseHeld) as refused:
        await second.prepare()
    assert str(refused.value) == (
        f"another buurtbot process (pid {os.getpid()}) already runs on {database}; stop it first"
    )
    assert not second.held

    await first.release()
    await first.release()  # again: nothing left to let go
    assert not first.held
    assert await second.try_acquire()
    await second.release()


async def test_a_lock_file_without_a_pid_still_refuses(tmp_path: Path) -> None:
    database = tmp_path / "buurtbot.db"
    first = FileLease(database)
    await first.prepare()
    (tmp_path / "buurtbot.db.lock").write_text("")  # held, but the pid not (yet) written
    with pytest.raises(LeaseHeld, match=r"\(pid unknown\)"):
        await FileLease(database).prepare()
    await first.release()


async def test_each_database_gets_its_kind_of_lease(tmp_path: Path) -> None:
    assert isinstance(lease_for("sqlite+aiosqlite://", name="x"), SoleLease)
    assert isinstance(lease_for("sqlite+aiosqlite:///:memory:", name="x"), SoleLease)
    file_lease = lease_for(f"sqlite+aiosqlite:///{tmp_path}/b.db", name="x")
    assert isinstance(file_lease, FileLease)
    assert file_lease.path == tmp_path / "b.db.lock"
    advisory = lease_for("postgresql+asyncpg://u@127.0.0.1/db", name="x")
    assert isinstance(advisory, AdvisoryLease)
    assert not advisory.exclusive

    sole = SoleLease()  # nobody else can open an in-memory database
    await sole.prepare()
    assert await sole.try_acquire()
    assert await sole.still_held()
    assert await sole.holder() is None
    await sole.release()


async def test_a_database_that_does_not_answer_is_no_lease(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed
    lease = AdvisoryLease(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/none", name="t")
    with caplog.at_level(logging.WARNING, logger="bot.lease"):
        assert not await lease.try_acquire()
        assert not await lease.try_acquire()
    assert not lease.held
    assert await lease.holder() is None
    warned = [r for r in caplog.records if "the database does not answer" in r.getMessage()]
    assert len(warned) == 1  # once per outage, not once per try
    await lease.release()


@pytest.fixture
async def two_leases(pg_url: str) -> AsyncIterator[tuple[AdvisoryLease, AdvisoryLease]]:
    """Two processes' leases on one database, let go at the end whatever happened."""
    first = AdvisoryLease(pg_url, name="buurtbot first")
    second = AdvisoryLease(pg_url, name="buurtbot second")
    try:
        yield first, second
    finally:
        await first.release()
        await second.release()


@needs_postgres
async def test_a_lease_on_another_database_of_the_server_is_not_this_ones(pg_url: str) -> None:
    """Advisory locks are per database, pg_locks is per server: a bot of another city (or
    another test run) on the same server must neither be named as leader nor stop this one."""
    url = make_url(pg_url)
    other_name = f"{url.database}_other_city"
    admin = create_async_engine(pg_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        exists = await connection.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": other_name}
        )
        if not exists:
            await connection.execute(text(f'CREATE DATABASE "{other_name}"'))
    await admin.dispose()
    other_url = url.set(database=other_name).render_as_string(hide_password=False)
    other = create_engine(other_url)
    await migrate.upgrade(other)  # the lease keeps its fence in bot_state
    await other.dispose()
    elsewhere = AdvisoryLease(other_url, name="buurtbot other city")
    here = AdvisoryLease(pg_url, name="buurtbot here")
    try:
        assert await elsewhere.try_acquire()
        assert await here.holder() is None
        assert await here.try_acquire()
        assert await here.holder() == "buurtbot here"
        assert await elsewhere.holder() == "buurtbot other city"
    finally:
        await elsewhere.release()
        await here.release()


@needs_postgres
async def test_one_advisory_lease_per_database_and_a_dropped_connection_lets_go(
    two_leases: tuple[AdvisoryLease, AdvisoryLease], pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = two_leases
    assert await first.try_acquire()
    assert await first.try_acquire()  # held already: yes
    assert not await second.try_acquire()
    assert await second.holder() == "buurtbot first"
    assert await first.still_held()

    assert await terminate(pg_url, "buurtbot first") == 1
    with caplog.at_level(logging.INFO, logger="bot.lease"):
        assert not await first.still_held()  # the leader notices and lets go
        assert await second.try_acquire()
        assert not await first.try_acquire()  # reconnects: the database answers again
    assert "the database does not answer" in caplog.text
    assert "the database answers again" in caplog.text
    assert await first.holder() == "buurtbot second"

    await second.release()
    assert await first.try_acquire()
    # Its connection cut before it lets go: the unlock fails, the lease is let go anyway.
    await terminate(pg_url, "buurtbot first")
    await first.release()
    assert not first.held
    assert await second.try_acquire()


@needs_postgres
async def test_a_lost_lease_fences_its_old_holder_and_the_new_one_waits_out_the_fence(
    two_leases: tuple[AdvisoryLease, AdvisoryLease], pg_url: str
) -> None:
    first, second = two_leases
    assert await first.try_acquire()
    assert first.inherited == 0  # nobody led before: nothing to wait for
    assert first.fresh()
    assert await first.confirm()
    assert not second.fresh()
    assert not await second.confirm()

    await terminate(pg_url, "buurtbot first")
    # Cut off, the old holder does not know yet: its fence still says yes...
    assert first.fresh()
    assert await second.try_acquire()
    # ...so the new one waits for what is left of it before it leads.
    assert 0 < second.inherited <= LEASE_FENCE
    # The old holder's next check (due at the latest when its fence runs out) says no.
    assert not await first.still_held()
    assert not first.fresh()
    assert not await first.confirm()

    # Let go normally, a lease leaves no fence: the next holder leads at once.
    await second.release()
    assert await first.try_acquire()
    assert first.inherited == 0


@needs_postgres
async def test_the_server_ends_a_quiet_lease_connection_so_a_stuck_leader_lets_go(
    pg_url: str,
) -> None:
    """A leader whose checks stop (SIGSTOP, a blocked loop) loses the lock once its
    connection was quiet for the idle limit (LEASE_IDLE; a fraction of a second here)."""
    engine = lease_store.lease_engine(pg_url, name="buurtbot stuck", timeout=5, idle=0.2)
    other = AdvisoryLease(pg_url, name="buurtbot other")
    try:
        async with engine.connect() as connection:
            session = AsyncSession(bind=connection)
            assert await lease_store.try_lock(session=session, key=LOCK_KEY)
            assert not await other.try_acquire()
            await asyncio.sleep(1.0)  # stuck, as a stopped process is

            async def let_go() -> bool:
                return await other.try_acquire()

            await until(let_go, 10, "the server ends the quiet connection")
            await session.close()
            with pytest.raises(DBAPIError):
                await connection.execute(text("SELECT 1"))
    finally:
        await other.release()
        await engine.dispose()


@needs_postgres
async def test_leadership_steps_down_when_the_lease_goes_and_a_standby_takes_over(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    events: list[str] = []

    def record(event: str) -> Callable[[], Awaitable[None]]:
        async def happened() -> None:
            events.append(event)

        return happened

    leader = Leadership(
        AdvisoryLease(pg_url, name="buurtbot leader"),
        on_lead=record("leader leads"),
        on_follow=record("leader follows"),
        retry=0.1,
        check=0.1,
    )
    standby = Leadership(
        AdvisoryLease(pg_url, name="buurtbot standby"),
        on_lead=record("standby leads"),
        on_follow=record("standby follows"),
        retry=0.1,
        check=0.1,
    )
    with caplog.at_level(logging.INFO, logger="bot.lease"):
        await leader.start()
        await standby.start()
        assert leader.leading
        assert not standby.leading
        assert "standby: buurtbot leader sends and schedules" in caplog.text

        await terminate(pg_url, "buurtbot leader")

        async def taken_over() -> bool:
            return standby.leading and not leader.leading

        await until(taken_over, 10, "the standby takes over")
        assert "lost the sender lease; stepping down to standby" in caplog.text
    await leader.stop()
    await standby.stop()
    await leader.lease.release()
    await standby.lease.release()
    assert events == ["leader leads", "leader follows", "standby leads", "standby follows"]


@needs_postgres
async def test_a_takeover_that_fails_is_undone_and_tried_again(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    first = AdvisoryLease(pg_url, name="buurtbot first")
    assert await first.try_acquire()
    tries: list[str] = []

    async def lead() -> None:
        tries.append("lead")
        if len(tries) == 1:
            raise OSError("Telegram does not answer")

    async def follow() -> None:
        tries.append("follow")

    standby = Leadership(
        AdvisoryLease(pg_url, name="buurtbot second"),
        on_lead=lead,
        on_follow=follow,
        retry=0.1,
        check=0.1,
    )
    await standby.start()
    assert not standby.leading
    with caplog.at_level(logging.ERROR, logger="bot.lease"):
        await first.release()

        async def leads() -> bool:
            return standby.leading and tries == ["lead", "follow", "lead"]

        await until(leads, 10, "the second try leads")
    assert "taking over as sender failed; trying again shortly" in caplog.text
    await standby.stop()
    await standby.lease.release()


# ---------------------------------------------------------------- two bots, one process


async def test_a_second_bot_on_the_same_database_never_sends_beside_the_first(
    bot: BotApplication, settings: Settings, client: SandboxClient
) -> None:
    """SQLite: refused before it touches Telegram. PostgreSQL: a standby that neither
    polls nor sends nor schedules, until the first stops; then it serves."""
    services = services_of(bot)
    assert services.leading
    assert services.role == "sender"
    second = build_application(settings, token=SANDBOX_TOKEN)
    if settings.database_url.startswith("sqlite"):
        asked = len(await client.requests())
        with pytest.raises(LeaseHeld):
            async with running(second, poll_timeout=1):
                pass
        assert len(await client.requests()) == asked  # not even getMe
        return
    async with running(second, poll_timeout=1):
        standby = services_of(second)
        assert not standby.leading
        assert standby.role == "standby"
        assert standby.scheduler is None
        assert second.updater is not None
        assert not second.updater.running  # Telegram allows one poller
        assert standby.delivery is not None  # it may queue; only the leader's engine sends
        assert standby.delivery.worker is None
        await asyncio.sleep(1.5)  # a poll timeout and then some: still nobody else polls
        assert not [r for r in await client.requests("getUpdates") if r["status"] == 409]

        await shut_down(bot)
        assert not services.leading

        async def serves() -> bool:
            return second.updater is not None and second.updater.running

        await until(serves, 15, "the standby takes over")
        assert standby.leading
        assert standby.scheduler is not None
        user = await client.create_user("Anna", language_code="nl")
        await client.send(user["id"], "/start")
        reply = await client.wait_bot_message(user["id"], timeout=15)
        assert "112" in reply["text"]


# ---------------------------------------------------------------- real processes


def bot_env(sandbox: SandboxServer, database_url: str, **extra: str) -> dict[str, str]:
    return bot_environment(
        sandbox.api_base_url, database_url, BUURTBOT_ADMINS=str(ADMIN_ID), **extra
    )


async def test_a_second_process_on_the_same_sqlite_file_refuses_to_start(
    sandbox: SandboxServer, client: SandboxClient, tmp_path: Path
) -> None:
    database = tmp_path / "buurtbot.db"
    env = bot_env(sandbox, f"sqlite+aiosqlite:///{database}")
    first = await BotProcess.start(env, tmp_path, "--migrate")
    try:
        await first.wait_for("now sends and schedules", 60)
        await first.wait_for("ready", 30)  # polling
        asked = len(await client.requests("getMe"))
        second = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", "--migrate",
            cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(second.communicate(), 60)
        assert second.returncode == 3
        assert err.decode().splitlines() == [
            f"buurtbot: another buurtbot process (pid {first.pid}) already runs on "
            f"{database}; stop it first"
        ]
        assert out == b""
        assert len(await client.requests("getMe")) == asked  # it never reached Telegram
        assert first.process.returncode is None  # and the first runs on
        # Nobody else polled. (At its stop PTB ends its own long poll with one more
        # getUpdates, which the sandbox logs as a 409 of the poll it ends.)
        assert not [r for r in await client.requests("getUpdates") if r["status"] == 409]
    finally:
        code = await first.stop()
    assert code == 0, "\n".join(first.lines[-30:])


RESIDENTS = 2000


def once_each(run: BroadcastRun) -> None:
    assert run.code == 0, "\n".join(run.lines[-30:])
    assert run.missing == 0
    # The documented window: what was on its way to Telegram when the sender died.
    assert run.duplicates <= Pacing().concurrency, run.duplicates
    assert run.took_back_the_killed_claims, "\n".join(run.lines)
    assert not any("crash" in line for line in run.lines)


async def test_two_processes_on_postgresql_send_a_broadcast_once_through_a_kill(
    pg_url: str, sandbox: SandboxServer, client: SandboxClient, tmp_path: Path
) -> None:
    engine = create_engine(pg_url)
    sessions = create_session_factory(engine)
    try:
        residents = await populate(client, sessions, RESIDENTS)
        env = bot_env(sandbox, pg_url, BUURTBOT_SEND_RATE=str(SEND_RATE))
        run = await broadcast_through_a_kill(
            client, sessions, env, tmp_path, residents, 0.25, standby=True
        )
    finally:
        await engine.dispose()
    assert run.out_at_kill < RESIDENTS * 0.65  # still well under way: the kill landed mid-broadcast
    # The standby never polled while the leader lived: no second poller.
    assert run.conflicts_before_kill == 0
    assert run.takeover < 15  # LEASE_RETRY is 2 s; generous on a loaded machine
    once_each(run)


async def test_on_sqlite_the_next_start_sends_what_a_killed_bot_had_claimed(
    sandbox: SandboxServer, client: SandboxClient, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'buurtbot.db'}"
    engine = create_engine(url)
    await migrate.upgrade(engine)
    sessions = create_session_factory(engine)
    try:
        residents = await populate(client, sessions, RESIDENTS // 4)
        env = bot_env(sandbox, url, BUURTBOT_SEND_RATE=str(SEND_RATE))
        # The lock went with the process: the next start runs, and as the only process
        # on the file it takes the dead one's claims back at once, without waiting.
        run = await broadcast_through_a_kill(
            client, sessions, env, tmp_path, residents, 0.25, standby=False
        )
    finally:
        await engine.dispose()
    assert run.out_at_kill < len(residents) * 0.65
    once_each(run)
