"""One sender per database: the lease held by the process that runs the delivery engine
and the scheduler.

* SQLite: an exclusive `flock` on `<database file>.lock`, taken before the bot touches
  Telegram and held for the process's life. SQLite serves one machine, so a second
  process on the same file has nothing to do: it refuses to start (`LeaseHeld`). The
  kernel drops the lock when the process dies, `kill -9` included.
* PostgreSQL: a session-level advisory lock on a connection of its own. Any number of
  processes may run; the one holding the lock leads (sends, schedules and, in long-polling
  mode, fetches updates: two pollers would only get 409 Conflict), the others stand by
  and try again every `LEASE_RETRY` seconds. A killed leader's connection drops, the
  server lets go of its lock at once, and a standby takes over at its next try. An
  advisory lock rather than a lease row with an expiry: it needs no clock, no renewal
  writes and no waiting for an expiry after a crash; the claims in the outbox carry the
  expiry that matters for the rows themselves (bot.delivery). The leader checks every
  `LEASE_CHECK` seconds that its connection still holds the lock, and steps down when
  it does not (or cannot tell), so a leader cut off from the database stops sending.
  Needs a direct connection or a session-mode pooler (PgBouncer in transaction mode
  breaks session-level locks).

The fence (PostgreSQL). A leader learns that it lost the lock only at its next check, and
a stuck one (stopped, its loop blocked) not at all until it runs again; meanwhile a new
leader may already work. So the lock comes with a fence: each check that finds the lock
held also writes, on the lock's own connection (which runs statements only while it holds
the lock), "until now + LEASE_FENCE" on the server's clock; and the process counts its
own LEASE_FENCE seconds from the moment it sent that check. Past them it starts nothing
before a fresh check says yes (`confirm`). A new leader reads the last fence as it takes
the lock and waits until it has passed before it leads. So no update is started by the
old leader after the new one began (given clocks that run at the same rate; the fence
is long against any drift over a few seconds). A stuck leader loses the lock itself:
its connection goes quiet, and the server ends it after LEASE_IDLE seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol, TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.tasks import cancelled
from storage import lease as lease_store

log = logging.getLogger(__name__)

# A standby tries to take the lease this often (seconds): a dead leader is replaced within it.
LEASE_RETRY = 2.0
# The leader checks this often that it still holds the lease.
LEASE_CHECK = 2.0
# A lease query that takes longer counts as failed: a leader that cannot tell steps down.
LEASE_TIMEOUT = 5.0
# How long a check that found the lock held lets the leader start work (see the fence):
# twice LEASE_CHECK, so a healthy leader's checks renew it before it runs out. A new
# leader waits at most this long after taking over.
LEASE_FENCE = 2 * LEASE_CHECK
# The server ends a lease connection quiet this long: a stuck leader's lock goes with it.
# Well past LEASE_CHECK, so a busy but working leader keeps it.
LEASE_IDLE = 4 * LEASE_CHECK

T = TypeVar("T")
# The advisory lock's key: the same for every buurtbot process, so one sender per database
# (advisory locks are per database); positive and under 2**62 so its halves read plainly.
LOCK_KEY = int.from_bytes(hashlib.sha256(b"buurtbot: the sender").digest()[:8], "big") >> 2


class LeaseHeld(Exception):
    """Another process holds the database's lock file: this one must not start."""

    def __init__(self, database: str, pid: int | None) -> None:
        self.database = database
        self.pid = pid
        who = f"pid {pid}" if pid is not None else "pid unknown"
        super().__init__(
            f"another buurtbot process ({who}) already runs on {database}; stop it first"
        )


class Lease(Protocol):
    """What Leadership needs of a lease."""

    # Holding it proves that no other process works on the database at all (the lock
    # file); the delivery engine then takes back every claim but its own at once.
    exclusive: bool

    # Seconds the last holder's fence still ran when this process took the lease: it
    # leads only after them (0 when nobody else could have held it).
    inherited: float

    @property
    def held(self) -> bool: ...

    def fresh(self) -> bool:
        """Whether the fence of the last check still covers starting work now."""

    async def confirm(self) -> bool:
        """Whether work may start now: at once while `fresh`, else after a check."""

    async def prepare(self) -> None:
        """Before the bot touches Telegram: refuse (LeaseHeld) if it may not run at all."""

    async def try_acquire(self) -> bool: ...

    async def still_held(self) -> bool: ...

    async def holder(self) -> str | None:
        """Who holds it, when that can be known (for the standby's log line)."""

    async def release(self) -> None: ...


class FileLease:
    """SQLite: an exclusive lock on a file beside the database, for the process's life."""

    exclusive = True
    inherited = 0.0

    def __init__(self, database: Path) -> None:
        self.database = database
        self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    async def prepare(self) -> None:
        if self._fd is None:
            self._fd = self._lock()  # a few system calls that never wait

    def _lock(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise LeaseHeld(os.path.normpath(self.database), pid) from None
        # Who holds it, for the refusal a second process prints. The file itself is never
        # deleted: a process could then lock a new file while another holds the old one.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return fd

    async def try_acquire(self) -> bool:
        await self.prepare()
        return True

    async def still_held(self) -> bool:
        return self.held  # the kernel keeps it until the process ends

    def fresh(self) -> bool:
        return self.held  # nobody else can hold it meanwhile: no fence needed

    async def confirm(self) -> bool:
        return self.held

    async def holder(self) -> str | None:
        return None

    async def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class SoleLease:
    """An in-memory SQLite database: nobody else can reach it, so this process leads."""

    exclusive = True
    held = True
    inherited = 0.0

    def fresh(self) -> bool:
        return True

    async def confirm(self) -> bool:
        return True

    async def prepare(self) -> None:
        return None

    async def try_acquire(self) -> bool:
        return True

    async def still_held(self) -> bool:
        return True

    async def holder(self) -> str | None:
        return None

    async def release(self) -> None:
        return None


class AdvisoryLease:
    """PostgreSQL: a session-level advisory lock on one connection of its own."""

    exclusive = False

    def __init__(self, database_url: str, *, name: str) -> None:
        self.database_url = database_url
        self.name = name  # shown as application_name, so a standby can say who leads
        self._engine: AsyncEngine | None = None
        self._connection: AsyncConnection | None = None
        self._session: AsyncSession | None = None
        self._held = False
        self._failing = False
        self.inherited = 0.0
        # When the last check that found the lock held was sent (time.monotonic).
        self._confirmed_at: float | None = None
        # One query at a time on the one connection: the lease loop and `confirm` share it.
        self._querying = asyncio.Lock()

    @property
    def held(self) -> bool:
        return self._held

    def fresh(self) -> bool:
        at = self._confirmed_at
        return self._held and at is not None and time.monotonic() - at < LEASE_FENCE

    async def confirm(self) -> bool:
        if self.fresh():
            return True
        async with self._querying:
            if self.fresh():  # another waiter's check just renewed it
                return True
        await self.still_held()
        return self.fresh()

    async def prepare(self) -> None:
        return None  # any number of processes may run; they take turns in try_acquire

    async def _open(self) -> AsyncSession:
        if self._session is None:
            if self._engine is None:
                self._engine = lease_store.lease_engine(
                    self.database_url, name=self.name, timeout=LEASE_TIMEOUT, idle=LEASE_IDLE
                )
            self._connection = await self._engine.connect()
            self._session = AsyncSession(bind=self._connection)
        return self._session

    async def _run(self, query: Callable[[AsyncSession], Awaitable[T]], failed: T) -> T:
        """One lease query, bounded; on any database trouble the connection is dropped
        (with it any lock it held) and the answer is `failed`."""
        async with self._querying:
            try:
                session = await asyncio.wait_for(self._open(), LEASE_TIMEOUT)
                answer = await asyncio.wait_for(query(session), LEASE_TIMEOUT)
            except (SQLAlchemyError, OSError, TimeoutError) as error:
                if not self._failing:
                    log.warning("sender lease: the database does not answer (%s)", _short(error))
                self._failing = True
                await self._drop()
                return failed
        if self._failing:
            log.info("sender lease: the database answers again")
        self._failing = False
        return answer

    async def try_acquire(self) -> bool:
        if not self._held:
            sent = time.monotonic()
            inherited = await self._run(self._take, None)
            self._held = inherited is not None
            if inherited is not None:
                self.inherited = inherited
                self._confirmed_at = sent
        return self._held

    async def _take(self, session: AsyncSession) -> float | None:
        """The lock if free, and then how long the last holder's fence still runs; our
        own fence is written at once, so a successor that follows us quickly waits too."""
        if not await lease_store.try_lock(session=session, key=LOCK_KEY):
            return None
        left = await lease_store.fence_left(session=session)
        await lease_store.renew(session=session, key=LOCK_KEY, fence=LEASE_FENCE)
        return left

    async def still_held(self) -> bool:
        if self._held:
            sent = time.monotonic()
            self._held = await self._run(
                lambda session: lease_store.renew(session=session, key=LOCK_KEY, fence=LEASE_FENCE),
                False,
            )
            if self._held:
                self._confirmed_at = sent
        if not self._held:
            self._confirmed_at = None
        return self._held

    async def holder(self) -> str | None:
        try:
            async with self._querying:
                session = await asyncio.wait_for(self._open(), LEASE_TIMEOUT)
                return await asyncio.wait_for(
                    lease_store.holder(session=session, key=LOCK_KEY), LEASE_TIMEOUT
                )
        except (SQLAlchemyError, OSError, TimeoutError):
            return None  # only for a log line; try_acquire reports the trouble

    async def release(self) -> None:
        if self._held and self._session is not None:
            with contextlib.suppress(SQLAlchemyError, OSError, TimeoutError):
                await asyncio.wait_for(lease_store.end_fence(session=self._session), LEASE_TIMEOUT)
                await asyncio.wait_for(
                    lease_store.unlock(session=self._session, key=LOCK_KEY), LEASE_TIMEOUT
                )
        self._held = False
        self._confirmed_at = None
        await self._drop()
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def _drop(self) -> None:
        session, self._session = self._session, None
        connection, self._connection = self._connection, None
        if session is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(session.close(), LEASE_TIMEOUT)
        if connection is not None:
            # Invalidate, not close: a broken connection's rollback could hang.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.invalidate(), LEASE_TIMEOUT)
        self._held = False
        self._confirmed_at = None


def lease_for(database_url: str, *, name: str) -> Lease:
    """The lease that fits the database: a lock file for SQLite, an advisory lock for
    PostgreSQL."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            return SoleLease()
        return FileLease(Path(url.database).expanduser())
    return AdvisoryLease(database_url, name=name)


OnChange = Callable[[], Awaitable[None]]


class Leadership:
    """Runs the leader's work while this process holds the lease.

    `on_lead` starts what only the leader does (sending, scheduling, long polling);
    `on_follow` stops it again. A standby keeps trying to take the lease; a leader that
    loses it steps down and becomes a standby. The state is logged once per change.
    """

    def __init__(
        self,
        lease: Lease,
        *,
        on_lead: OnChange,
        on_follow: OnChange,
        retry: float = LEASE_RETRY,
        check: float = LEASE_CHECK,
    ) -> None:
        self.lease = lease
        self.on_lead = on_lead
        self.on_follow = on_follow
        self.retry = retry
        self.check = check
        self.leading = False
        self._announced: bool | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """The first try at once (what it starts fails the start if it fails), then a task
        that keeps at it."""
        await self._attempt()
        self._task = asyncio.create_task(self._loop(), name="lease")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancelled(task)
        if self.leading:
            self.leading = False
            await self.on_follow()

    async def _attempt(self) -> None:
        if not await self.lease.try_acquire():
            if self._announced is not False:
                who = await self.lease.holder() or "another buurtbot process"
                log.info(
                    "standby: %s sends and schedules; this process takes over when it stops",
                    who,
                )
                self._announced = False
            return
        if self.lease.inherited > 0:
            # The last leader may still be finishing what it started: see the fence.
            log.info("took the sender lease; waiting %.1f s for the last leader's fence",
                     self.lease.inherited)  # fmt: skip
            await asyncio.sleep(self.lease.inherited)
            if not await self.lease.still_held():
                return
        self.leading = True
        log.info("this process now sends and schedules (it holds the sender lease)")
        self._announced = True
        await self.on_lead()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.check if self.leading else self.retry)
            try:
                if not self.leading:
                    await self._attempt()
                elif not await self.lease.still_held():
                    log.warning("lost the sender lease; stepping down to standby")
                    self.leading = False
                    self._announced = None
                    await self.on_follow()
            except Exception:
                # A takeover that failed half way (Telegram or the database away): undo it
                # and let go of the lease, so this or another process tries again.
                log.exception("taking over as sender failed; trying again shortly")
                if self.leading:
                    self.leading = False
                    self._announced = None
                    with contextlib.suppress(Exception):
                        await self.on_follow()
                if not self.lease.exclusive:
                    await self.lease.release()


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip())
    except (OSError, ValueError, UnicodeDecodeError):
        return None  # written a moment after the lock was taken, or by hand


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
