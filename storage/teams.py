"""Queries about buurtpreventieteams."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Team, TeamStatus, utcnow
from storage.roles import audit

# A team that ended: gone from lists, its name free again.
ENDED = (TeamStatus.DISSOLVED, TeamStatus.REJECTED)


async def get(*, session: AsyncSession, team_id: int) -> Team | None:
    return await session.get(Team, team_id)


async def of_contact(*, session: AsyncSession, user_id: int) -> list[Team]:
    """The teams this person is the contact of that still exist."""
    result = await session.exec(
        select(Team)
        .where(Team.contact_user_id == user_id, col(Team.status).not_in(ENDED))
        .order_by(col(Team.id))
    )
    return list(result)


async def name_taken(
    *, session: AsyncSession, wijk: str, name: str, but: int | None = None
) -> bool:
    """Another living team of this wijk already has this name.

    Compared in Python: SQLite's lower() folds only ASCII, and names are not ASCII.
    """
    query = select(Team.name).where(Team.wijk == wijk, col(Team.status).not_in(ENDED))
    if but is not None:
        query = query.where(Team.id != but)
    wanted = name.casefold().strip()
    return any(taken.casefold().strip() == wanted for taken in await session.exec(query))


async def create(
    *,
    session: AsyncSession,
    name: str,
    wijk: str,
    area: str,
    contact_info: str,
    contact_user_id: int,
) -> Team:
    team = Team(
        name=name, wijk=wijk, area=area, contact_info=contact_info, contact_user_id=contact_user_id
    )
    session.add(team)
    await session.flush()
    audit(session, actor_id=contact_user_id, action="team_registered", subject=f"team:{team.id}")
    await session.commit()
    return team


async def update(*, session: AsyncSession, team: Team, actor_id: int, **changes: str) -> Team:
    for field, value in changes.items():
        setattr(team, field, value)
    team.last_activity_at = utcnow()
    session.add(team)
    audit(
        session,
        actor_id=actor_id,
        action="team_edited",
        subject=f"team:{team.id}",
        detail=", ".join(changes),
    )
    await session.commit()
    return team


async def set_status(
    *, session: AsyncSession, team: Team, status: TeamStatus, actor_id: int, decision: bool = False
) -> Team:
    team.status = status
    team.last_activity_at = utcnow()
    if decision:
        team.decided_at, team.decided_by = utcnow(), actor_id
    session.add(team)
    audit(session, actor_id=actor_id, action=f"team_{status}", subject=f"team:{team.id}")
    await session.commit()
    return team


async def by_wijk_and_status(*, session: AsyncSession) -> dict[str, dict[str, int]]:
    rows = await session.exec(
        select(Team.wijk, Team.status, func.count()).group_by(Team.wijk, Team.status)
    )
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for wijk, status, count in rows:
        counts[wijk][status] = int(count)
    return dict(counts)


async def pending(*, session: AsyncSession) -> list[Team]:
    return list(
        await session.exec(
            select(Team).where(Team.status == TeamStatus.PENDING).order_by(col(Team.id))
        )
    )


async def approved_in(*, session: AsyncSession, wijk: str) -> list[Team]:
    result = await session.exec(
        select(Team)
        .where(Team.wijk == wijk, Team.status == TeamStatus.APPROVED)
        .order_by(col(Team.name))
    )
    return list(result)


async def dormant(*, session: AsyncSession, before: datetime) -> list[Team]:
    result = await session.exec(
        select(Team)
        .where(Team.status == TeamStatus.APPROVED, col(Team.last_activity_at) < before)
        .order_by(col(Team.last_activity_at))
    )
    return list(result)


async def living(
    *, session: AsyncSession, statuses: tuple[TeamStatus, ...] = (TeamStatus.APPROVED,)
) -> list[Team]:
    """Teams in these states across all wijken, in one query (pickers list them all)."""
    result = await session.exec(
        select(Team).where(col(Team.status).in_(statuses)).order_by(col(Team.wijk), col(Team.name))
    )
    return list(result)
