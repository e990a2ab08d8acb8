"""A general job runner: plan a job for a moment, forget it, or run one every day or week.

It knows no domain: the services hand it the job functions (a broadcast's send, a
BuurtTent's reminder, the digests) with deterministic ids ("broadcast:12",
"reminder:12"), so planning again replaces and a restart, which plans everything again
from the database, neither loses nor doubles a job. Jobs live in APScheduler's memory
store; the database stays the one truth about what is planned.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, tzinfo

from apscheduler.events import EVENT_JOB_MISSED
from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[object]]


class JobRunner:
    def __init__(
        self,
        *,
        timezone: tzinfo,
        grace: timedelta,
        on_misfire: Callable[[str], None] | None = None,
    ) -> None:
        self.grace = grace
        self._aps = AsyncIOScheduler(timezone=timezone)
        if on_misfire is not None:
            # APScheduler only logs a run missed by more than the grace; the caller
            # counts it too (the metrics), by job id.
            self._aps.add_listener(lambda event: on_misfire(event.job_id), EVENT_JOB_MISSED)

    def start(self) -> None:
        self._aps.start()

    async def stop(self) -> None:
        if self._aps.running:
            self._aps.shutdown(wait=False)

    def plan(self, job_id: str, at: datetime, job: Job) -> None:
        """Run `job` once at `at`; planning the same id again moves it."""
        self._aps.add_job(
            job,
            "date",
            run_date=at,
            id=job_id,
            replace_existing=True,
            # A run missed while down is the caller's to handle at the next start.
            misfire_grace_time=int(self.grace.total_seconds()) or None,
        )

    def forget(self, *job_ids: str) -> None:
        for job_id in job_ids:
            if self._aps.get_job(job_id) is not None:
                self._aps.remove_job(job_id)

    def every(self, job_id: str, job: Job, **cron: object) -> None:
        """A recurring job (digests, retention) on a cron trigger in the city's time zone.

        Installed again at every start with the same id, so it is never doubled. A run
        missed while the bot was down is not made up here: the job itself decides what
        a late run means (see the callers).
        """
        self._aps.add_job(
            job,
            "cron",
            id=job_id,
            replace_existing=True,
            coalesce=True,
            misfire_grace_time=int(self.grace.total_seconds()) or None,
            **cron,
        )

    def soon(self, job_id: str, job: Job) -> None:
        """A one-off job right away, outside the caller: what it raises is logged, and a
        slow or failing run (a catch-up at start) never holds up the caller."""
        self._aps.add_job(job, "date", id=job_id, replace_existing=True)

    def next_run(self, job_id: str) -> datetime | None:
        """When a job runs next (None: no such job), in the city's time zone."""
        job = self._aps.get_job(job_id)
        return job.next_run_time if job is not None else None

    def has(self, job_id: str) -> bool:
        return self._aps.get_job(job_id) is not None

    def job_ids(self) -> list[str]:
        return sorted(job.id for job in self._aps.get_jobs())
