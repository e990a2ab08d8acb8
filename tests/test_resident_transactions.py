"""One use case, one transaction: joining, moving, leaving and erasing commit once,
so a failure halfway (here: a table gone from under the query) leaves nothing behind."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, func, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot import residents
from bot.app import build_services
from bot.services import Services
from bot.settings import Settings
from storage import conversations, roles
from storage.engine import SessionFactory
from storage.models import Conversation, MembershipEvent, RoleGrant, User


@pytest.fixture
def services(settings: Settings, sessions: SessionFactory) -> Services:
    services = build_services(settings)
    services._sessions = sessions
    return services


@contextmanager
def counting_commits(engine: AsyncEngine) -> Iterator[list[int]]:
    """Counts the COMMITs the database receives (not the session calls that flush nothing)."""
    commits: list[int] = []

    def on_commit(_connection: Any) -> None:
        commits.append(1)

    event.listen(engine.sync_engine, "commit", on_commit)
    try:
        yield commits
    finally:
        event.remove(engine.sync_engine, "commit", on_commit)


async def events(sessions: SessionFactory) -> list[tuple[str, str]]:
    async with sessions() as session:
        rows = await session.exec(select(MembershipEvent).order_by(MembershipEvent.id))  # type: ignore[arg-type]
        return [(row.wijk, row.kind) for row in rows]


async def test_a_first_join_is_user_subscription_and_event_in_one_commit(
    services: Services, sessions: SessionFactory, engine: AsyncEngine
) -> None:
    with counting_commits(engine) as commits:
        joined = await residents.join(
            services, 300001, "brandevoort", None, telegram_language="pl-PL"
        )
    assert len(commits) == 1
    assert joined.changed
    stored = await residents.get(services, 300001)
    assert stored is not None
    assert (stored.subscribed, stored.wijk, stored.language) == (True, "brandevoort", "pl")
    assert await events(sessions) == [("brandevoort", "joined")]


async def test_moving_and_leaving_commit_once_each(
    services: Services, sessions: SessionFactory, engine: AsyncEngine
) -> None:
    await residents.join(services, 300002, "brandevoort", None)
    with counting_commits(engine) as commits:
        moved = await residents.join(services, 300002, "stiphout", None)
    assert len(commits) == 1
    assert moved.previous == "brandevoort"
    with counting_commits(engine) as commits:
        left = await residents.leave(services, 300002)
    assert len(commits) == 1
    assert left is not None
    assert left.wijk == "stiphout"
    assert await residents.leave(services, 300002) is None  # not subscribed any more
    assert await events(sessions) == [
        ("brandevoort", "joined"),
        ("brandevoort", "moved_out"),  # a move, not a leave and a join
        ("stiphout", "moved_in"),
        ("stiphout", "left"),
    ]


async def test_a_join_that_fails_halfway_leaves_no_user_behind(
    services: Services, sessions: SessionFactory, engine: AsyncEngine
) -> None:
    """The membership event cannot be written: the user row is not kept either."""
    async with engine.begin() as connection:
        await connection.execute(text("DROP TABLE membership_events"))
    with pytest.raises(Exception, match="membership_events"):
        await residents.join(services, 300003, "brandevoort", None)
    assert await residents.get(services, 300003) is None


async def seed_erasable(services: Services, sessions: SessionFactory, user_id: int) -> None:
    await residents.join(services, user_id, "stiphout", None)
    async with sessions() as session:
        await roles.grant(
            session=session, user_id=user_id, role="coordinator", scope=None, name="Anna", by=None
        )
        await session.commit()
        await conversations.put(
            session=session, user_id=user_id, flow="team", step="name", data={"x": 1}
        )


async def test_erasure_is_one_commit_over_every_table(
    services: Services, sessions: SessionFactory, engine: AsyncEngine
) -> None:
    await seed_erasable(services, sessions, 300004)
    with counting_commits(engine) as commits:
        assert await residents.erase(services, 300004)
    assert len(commits) == 1
    async with sessions() as session:
        assert await session.get(User, 300004) is None
        assert await session.get(Conversation, 300004) is None
        grant = (await session.exec(select(RoleGrant))).one()
    assert (grant.user_id, grant.name, grant.revoked_at is not None) == (300004, "", True)
    assert await events(sessions) == [("stiphout", "joined"), ("stiphout", "left")]
    assert not await residents.erase(services, 300004)  # nothing left to erase


async def test_an_erasure_that_fails_halfway_erases_nothing(
    services: Services, sessions: SessionFactory, engine: AsyncEngine
) -> None:
    """Its last step cannot run: the user, their roles and their figures stay as they were."""
    await seed_erasable(services, sessions, 300005)
    async with engine.begin() as connection:
        await connection.execute(text("DROP TABLE conversations"))
    with pytest.raises(Exception, match="conversations"):
        await residents.erase(services, 300005)
    async with sessions() as session:
        assert await session.get(User, 300005) is not None
        grant = (await session.exec(select(RoleGrant))).one()
        left = (
            await session.exec(
                select(func.count())
                .select_from(MembershipEvent)
                .where(MembershipEvent.kind == "left")
            )
        ).one()
    assert (grant.name, grant.revoked_at) == ("Anna", None)
    assert left == 0
