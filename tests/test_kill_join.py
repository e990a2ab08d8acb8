"""kill -9 while 400 residents join: nothing lost, nobody half joined, duplicates bounded.

The bot runs as a real `python -m bot run` process against the sandbox this test
serves; it is killed with SIGKILL by pid at a seeded moment (after a seeded number of
answers), started again, and left to finish. The duplicate window (bot.inbox): an
update whose handler was running at the kill is handled again, so its answer may come
twice; nothing else may.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import select

from bot.app import MAX_CONCURRENT_UPDATES
from sandbox.client import SandboxClient
from sandbox.server import SandboxServer
from storage.engine import SessionFactory
from storage.models import InboxStatus, MembershipEvent, User
from tests.processes import bot_environment, inbox_rows, join_through_a_kill, newcomers

RESIDENTS = 400
# BUURTBOT_KILL_SEED picks other moments; the default makes a failure reproducible.
SEED = int(os.environ.get("BUURTBOT_KILL_SEED", "12"))
# Generous: the whole run takes a few seconds per backend on a loaded 2-core machine.
FINISH_WITHIN = 50.0


@pytest.fixture
def env(sandbox: SandboxServer, database_url: str) -> dict[str, str]:
    """What `python -m bot run` gets: the test's sandbox and database."""
    return bot_environment(sandbox.api_base_url, database_url, BUURTBOT_LOG_LEVEL="WARNING")


async def test_kill_9_while_400_residents_join(
    client: SandboxClient, sessions: SessionFactory, env: dict[str, str], tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    kill_after = rng.randint(RESIDENTS // 10, RESIDENTS * 9 // 10)

    wijk_of = await newcomers(client, RESIDENTS)
    ids = list(wijk_of)

    run = await join_through_a_kill(
        client, sessions, env, tmp_path, wijk_of, kill_after, FINISH_WITHIN
    )
    # Nothing lost at the kill: each unanswered /start is in the inbox or still with
    # Telegram (never fetched and dropped, as before the inbox).
    assert run.lost_at_kill == []
    assert run.lost == [], f"{len(run.lost)} residents still unanswered"
    assert run.code == 0, run.log

    print(
        f"seed {SEED}: killed after {len(run.answered_at_kill)} answers, {len(run.in_flight)} "
        f"in the inbox unfinished, {len(run.waiting)} still with Telegram; "
        f"{len(run.doubled)} answered twice"
    )
    # Only what was being handled at the kill may be answered again, and only once more.
    assert set(run.doubled) <= run.in_flight
    assert all(n == 2 for n in run.doubled.values())
    assert len(run.doubled) <= MAX_CONCURRENT_UPDATES

    async with sessions() as session:
        users = {user.id: user for user in await session.exec(select(User))}
        joined = dict(
            (
                await session.exec(
                    select(MembershipEvent.wijk, func.count())
                    .where(MembershipEvent.kind == "joined")
                    .group_by(MembershipEvent.wijk)
                )
            ).all()
        )
        left = (
            await session.exec(
                select(func.count())
                .select_from(MembershipEvent)
                .where(MembershipEvent.kind != "joined")
            )
        ).one()
    # Everyone joined exactly once: a user row only with its subscription and its event.
    assert sorted(users) == sorted(ids)
    assert [
        uid for uid, user in users.items() if (user.subscribed, user.wijk) != (True, wijk_of[uid])
    ] == []
    assert joined == dict(Counter(wijk_of.values()))
    assert left == 0
    rows = await inbox_rows(sessions)
    assert {row.status for row in rows} == {InboxStatus.DONE}
    assert all(row.payload is None for row in rows)


async def test_residents_not_answered_in_time_count_as_lost(
    client: SandboxClient, sessions: SessionFactory, env: dict[str, str], tmp_path: Path
) -> None:
    """The bench counts a resident the restarted bot did not answer in time as lost,
    instead of stopping: killed before any answer, stopped as soon as it started again."""
    wijk_of = await newcomers(client, 20)
    run = await join_through_a_kill(client, sessions, env, tmp_path, wijk_of, 0, within=0)
    assert run.lost_at_kill == []
    assert run.lost
    assert set(run.lost) <= set(wijk_of)
    assert not any(run.final[uid] for uid in run.lost)
