"""The scheduler: broadcasts at their time, BuurtTent reminders, and what was missed.

Jobs live in APScheduler's memory store and are rebuilt from the database at every
start, with deterministic ids ("broadcast:12", "reminder:12"), so a restart neither
loses nor doubles a job. The database stays the one truth about what is planned.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot import broadcasts
from bot.broadcasts import BroadcastError
from bot.services import Services
from storage import broadcasts as store
from storage.models import Broadcast, utcnow

log = logging.getLogger(__name__)

AskLate = Callable[[Broadcast], Awaitable[None]]
REMIND_BEFORE = timedelta(hours=2)


class BroadcastScheduler:
    def __init__(self, services: Services, *, grace: timedelta, ask_late: AskLate) -> None:
        self.services = services
        self.grace = grace
        self.ask_late = ask_late
        self._aps = AsyncIOScheduler(timezone=services.settings.tz)

    async def start(self) -> None:
        self._aps.start()
        async with self.services.sessions() as session:
            planned = await store.scheduled(session=session)
            upcoming = await store.recent(session=session, limit=200)
        for broadcast in planned:
            await self._plan_or_catch_up(broadcast)
        for broadcast in upcoming:
            self.plan_reminder(broadcast)

    async def stop(self) -> None:
        if self._aps.running:
            self._aps.shutdown(wait=False)

    async def _plan_or_catch_up(self, broadcast: Broadcast) -> None:
        """Missed while the bot was down: sent now if only a little late, else the author decides."""
        due = broadcast.send_at
        if due is None:
            return
        late = utcnow() - due
        if late <= timedelta(0):
            self.plan(broadcast)
        elif late <= self.grace:
            log.info("broadcast %s missed by %s; sending now", broadcast.id, late)
            await self._send(broadcast.id or 0)
        else:
            log.info("broadcast %s missed by %s; asking its author", broadcast.id, late)
            await self.ask_late(broadcast)

    def plan(self, broadcast: Broadcast) -> None:
        if broadcast.send_at is None or broadcast.id is None:
            return
        self._aps.add_job(
            self._send,
            "date",
            run_date=broadcast.send_at,
            args=[broadcast.id],
            id=f"broadcast:{broadcast.id}",
            replace_existing=True,
            # Missed runs are handled by _plan_or_catch_up at the next start, not silently.
            misfire_grace_time=int(self.grace.total_seconds()),
        )

    def plan_reminder(self, broadcast: Broadcast) -> None:
        starts = broadcasts.starts_at(broadcast, self.services.settings.tz)
        if starts is None or broadcast.id is None or starts - REMIND_BEFORE <= utcnow():
            return
        self._aps.add_job(
            self.remind,
            "date",
            run_date=starts - REMIND_BEFORE,
            args=[broadcast.id],
            id=f"reminder:{broadcast.id}",
            replace_existing=True,
        )

    def forget(self, broadcast_id: int) -> None:
        for job_id in (f"broadcast:{broadcast_id}", f"reminder:{broadcast_id}"):
            if self._aps.get_job(job_id) is not None:
                self._aps.remove_job(job_id)

    def every(self, job_id: str, func: Callable[[], Awaitable[None]], **cron: object) -> None:
        """A recurring job (digests, retention) on a cron trigger in the city's time zone.

        Installed again at every start with the same id, so it is never doubled. A run
        missed while the bot was down is not made up here: the job itself decides what
        a late run means (see the callers).
        """
        self._aps.add_job(
            func,
            "cron",
            id=job_id,
            replace_existing=True,
            coalesce=True,
            misfire_grace_time=int(self.grace.total_seconds()) or None,
            **cron,
        )

    def soon(self, job_id: str, func: Callable[[], Awaitable[None]]) -> None:
        """A one-off job right away, outside the caller: what it raises is logged, and a
        slow or failing run (a catch-up at start) never holds up the caller."""
        self._aps.add_job(func, "date", id=job_id, replace_existing=True)

    def next_run(self, job_id: str) -> datetime | None:
        """When a job runs next (None: no such job), in the city's time zone."""
        job = self._aps.get_job(job_id)
        return job.next_run_time if job is not None else None

    def job_ids(self) -> list[str]:
        return sorted(job.id for job in self._aps.get_jobs())

    async def _send(self, broadcast_id: int) -> None:
        try:
            await broadcasts.start_sending(self.services, broadcast_id, None)
        except BroadcastError:
            log.info("broadcast %s was no longer due (cancelled or sent)", broadcast_id)
            return
        async with self.services.sessions() as session:
            broadcast = await store.get(session=session, broadcast_id=broadcast_id)
        if broadcast is not None:
            self.plan_reminder(broadcast)

    async def remind(self, broadcast_id: int) -> None:
        """The day's reminder to everyone who asked for one, through the delivery engine."""
        try:
            reminder = await broadcasts.reminder_for(self.services, broadcast_id)
            if reminder is not None:
                await broadcasts.start_sending(self.services, reminder.id or 0, None)
        except BroadcastError:
            log.info("no reminder for broadcast %s", broadcast_id)
