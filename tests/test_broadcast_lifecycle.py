"""The broadcast lifecycle as a state machine, without Telegram: whatever a coordinator
does in whatever order (compose, schedule, move, edit, cancel, send, finish, call off,
move the tent, restart), the jobs the scheduler holds match what the database says.

The database is real (SQLite); the delivery engine is real but not started, so "send"
queues the outbox and "finish" plays the engine's final report.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Coroutine
from datetime import date, timedelta
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlmodel import SQLModel, select

from bot import broadcasts as service
from bot.app import build_services
from bot.broadcasts import Audience, BroadcastError, Composing, Step
from bot.delivery import Counts, DeliveryEngine
from bot.settings import load_settings
from scheduler.runner import JobRunner
from storage.engine import create_engine, create_session_factory
from storage.models import Broadcast, BroadcastStatus, Delivery, User, utcnow

T = TypeVar("T")
AUTHOR = 900001
GRACE = timedelta(minutes=60)


def _fields(kind: str, days_ahead: int) -> dict[str, str]:
    day = (date.today() + timedelta(days=days_ahead)).isoformat()
    if kind == "buurttent":
        return {"date": day, "start": "10:00", "end": "16:00", "place": "Markt", "about": "Tips"}
    return {"title": "Nieuws", "text": "Iets nieuws."}


class Lifecycle(RuleBasedStateMachine):
    # Every broadcast ever composed; each step may meet one in any state, as people do.
    made = Bundle("made")
    taken: ClassVar[list[int]] = []  # steps that went through, per run: not vacuous

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.folder = tempfile.TemporaryDirectory()
        url = f"sqlite+aiosqlite:///{Path(self.folder.name) / 'lifecycle.db'}"
        # The author administers the bot: may send anywhere (roles are tested elsewhere).
        env = {"DATABASE_URL": url, "BUURTBOT_ADMINS": str(AUTHOR)}
        self.services = build_services(load_settings(env))
        self.steps_taken = 0
        self.services.engine = create_engine(url)
        self.services._sessions = create_session_factory(self.services.engine)
        self.run(self._tables())
        self.run(self._resident())
        self.services.delivery = DeliveryEngine(
            bot=None,  # type: ignore[arg-type]  # never started: rows are only queued
            sessions=self.services.sessions,
            render=self.services.render_delivery,
        )
        self.restart()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(work)

    async def _tables(self) -> None:
        # The models' tables at once: migrations are checked elsewhere, and this runs often.
        assert self.services.engine is not None
        async with self.services.engine.begin() as connection:
            await connection.run_sync(SQLModel.metadata.create_all)

    async def _resident(self) -> None:
        async with self.services.sessions() as session:
            session.add(User(id=100001, wijk="stiphout", subscribed=True, language="nl"))
            await session.commit()

    def teardown(self) -> None:
        Lifecycle.taken.append(self.steps_taken)
        assert self.services.engine is not None
        if self.services.scheduler is not None:
            self.run(self.services.scheduler.stop())
        self.run(self.services.engine.dispose())
        self.loop.close()
        self.folder.cleanup()

    # ---------------------------------------------------------------- what people do

    @rule(target=made, kind=st.sampled_from(["buurttent", "nieuws"]), ahead=st.integers(1, 20))
    def compose(self, kind: str, ahead: int) -> int:
        fields = _fields(kind, ahead)
        audience = Audience(wijken=["stiphout"])
        created = self.run(service.create(self.services, AUTHOR, kind, fields, audience, None))
        return created.id or 0

    @rule(bid=made, days=st.integers(1, 10), weekly=st.booleans())
    def schedule(self, bid: int, days: int, weekly: bool) -> None:
        at = utcnow() + timedelta(days=days)
        self.attempt(service.schedule(self.services, bid, at, weekly, AUTHOR))

    @rule(bid=made, days=st.integers(1, 10))
    def move(self, bid: int, days: int) -> None:
        version = self.get(bid).version
        at = utcnow() + timedelta(days=days)
        self.attempt(service.reschedule(self.services, bid, at, version, AUTHOR))

    @rule(bid=made, ahead=st.integers(1, 20))
    def edit(self, bid: int, ahead: int) -> None:
        """New words (a BuurtTent: another day) for a scheduled one, as /gepland does."""
        current = self.get(bid)
        state = Composing(
            step=Step.FIELD,
            kind=current.kind,
            fields=_fields(current.kind, ahead),
            broadcast=bid,
            version=current.version,
            replace=True,
        )
        lang = self.services.translator.for_language("nl")
        self.attempt(service.save_edit(self.services, AUTHOR, state, lang))

    @rule(bid=made)
    def cancel(self, bid: int) -> None:
        self.attempt(service.cancel(self.services, bid, AUTHOR))

    @rule(bid=made)
    def send(self, bid: int) -> None:
        self.attempt(service.start_sending(self.services, bid, AUTHOR))

    @rule(bid=made)
    def finish(self, bid: int) -> None:
        """The engine's last report on whatever is being sent: every row done."""
        for broadcast in self.all():
            if (broadcast.status == BroadcastStatus.SENDING and broadcast.id in (bid, None)) or (
                broadcast.status == BroadcastStatus.SENDING and broadcast.update_of == bid
            ):
                self.run(self._all_delivered(broadcast.id or 0))
                self.run(service.progressed(self.services, broadcast.id or 0, Counts()))

    def attempt(self, work: Coroutine[Any, Any, object]) -> None:
        """A step that does not fit the broadcast's state is refused, and changes nothing."""
        before = self.states()
        try:
            self.run(work)
        except BroadcastError:
            assert self.states() == before
        else:
            self.steps_taken += 1

    def states(self) -> list[tuple[Any, ...]]:
        return [(b.id, b.status, b.called_off_at, b.send_at, b.fields) for b in self.all()]

    async def _all_delivered(self, bid: int) -> None:
        async with self.services.sessions() as session:
            for row in await session.exec(select(Delivery).where(Delivery.broadcast_id == bid)):
                row.status, row.message_id = "sent", 1
                session.add(row)
            await session.commit()

    @rule(bid=made, reason=st.sampled_from(["", "Slecht weer"]))
    def call_off(self, bid: int, reason: str) -> None:
        self.attempt(service.call_off(self.services, bid, AUTHOR, reason))

    @rule(bid=made, ahead=st.integers(1, 20))
    def move_event(self, bid: int, ahead: int) -> None:
        day = (date.today() + timedelta(days=ahead)).isoformat()
        new = {"new_date": day, "new_start": "11:00", "new_end": "15:00"}
        self.attempt(service.move_event(self.services, bid, AUTHOR, new))

    @rule()
    def restart(self) -> None:
        if self.services.scheduler is not None:
            self.run(self.services.scheduler.stop())
        self.services.scheduler = JobRunner(timezone=self.services.settings.tz, grace=GRACE)
        self.run(self._start(self.services.scheduler))
        self.run(service.resume(self.services, GRACE))

    @staticmethod
    async def _start(runner: JobRunner) -> None:
        runner.start()  # on the running loop, as in the bot

    # ---------------------------------------------------------------- what must hold

    def all(self) -> list[Broadcast]:
        async def read() -> list[Broadcast]:
            async with self.services.sessions() as session:
                return list(await session.exec(select(Broadcast)))

        return self.run(read())

    def get(self, bid: int) -> Broadcast:
        found = next(b for b in self.all() if b.id == bid)
        return found

    @invariant()
    def jobs_match_the_database(self) -> None:
        runner = self.services.scheduler
        assert runner is not None
        rows = self.all()
        for broadcast in rows:
            send_job = runner.has(f"broadcast:{broadcast.id}")
            reminder = runner.has(f"reminder:{broadcast.id}")
            # Every scheduled broadcast has exactly one job, and nothing else has one.
            assert send_job == (broadcast.status == BroadcastStatus.SCHEDULED), broadcast
            if broadcast.status == BroadcastStatus.CANCELLED or broadcast.called_off_at:
                assert not reminder, broadcast
            # A reminder only for a BuurtTent that went out and still goes ahead.
            if reminder:
                assert broadcast.kind == "buurttent"
                assert broadcast.status in (BroadcastStatus.SENDING, BroadcastStatus.SENT)
                assert broadcast.called_off_at is None
                starts = service.starts_at(broadcast, self.services.settings.tz)
                assert starts is not None
                assert runner.next_run(f"reminder:{broadcast.id}") == starts - service.REMIND_BEFORE
        # A weekly broadcast that went out has its next week planned.
        for broadcast in rows:
            if broadcast.repeat_weekly and broadcast.status == BroadcastStatus.SENT:
                later = [
                    b
                    for b in rows
                    if b.repeat_weekly
                    and (b.id or 0) > (broadcast.id or 0)
                    and json.loads(b.fields) == json.loads(broadcast.fields)
                    and b.kind == broadcast.kind
                ]
                assert later, broadcast
                assert any(
                    b.status != BroadcastStatus.SCHEDULED or runner.has(f"broadcast:{b.id}")
                    for b in later
                )
        # A sent BuurtTent that goes ahead and lies more than REMIND_BEFORE ahead: planned.
        for broadcast in rows:
            starts = service.starts_at(broadcast, self.services.settings.tz)
            if (
                starts is not None
                and broadcast.status == BroadcastStatus.SENT
                and broadcast.called_off_at is None
                and starts - service.REMIND_BEFORE > utcnow()
            ):
                assert runner.has(f"reminder:{broadcast.id}"), broadcast


def test_the_lifecycle_keeps_jobs_and_database_in_step() -> None:
    Lifecycle.taken.clear()
    run_state_machine_as_test(
        Lifecycle,
        settings=settings(
            max_examples=80,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
            # The same sequences every run: CI's verdict never depends on chance, and the
            # step count below is a fact about them. A failure prints its sequence.
            derandomize=True,
            database=None,
        ),
    )
    # Not vacuous: many steps went through (schedules, sends, call-offs), some runs long.
    assert sum(Lifecycle.taken) >= 100, Lifecycle.taken
    assert max(Lifecycle.taken) >= 8, Lifecycle.taken
