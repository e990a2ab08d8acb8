"""Queries about neighbourhood chat groups: membership of the bot, registration, decisions."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Group, GroupStatus, RoleGrant, utcnow
from storage.roles import audit

# Statuses in which a group holds its name in its wijk (see `name_taken`).
CLAIMING = (GroupStatus.PENDING, GroupStatus.APPROVED)
TITLE_MAX = 128


async def get_by_id(*, session: AsyncSession, group_id: int) -> Group | None:
    return await session.get(Group, group_id)


async def get_by_chat(*, session: AsyncSession, chat_id: int) -> Group | None:
    return (await session.exec(select(Group).where(Group.chat_id == chat_id))).first()


async def added(*, session: AsyncSession, chat_id: int, title: str) -> Group:
    """The bot joined a group (again): it starts over as "new".

    A group that comes back after the bot was removed registers again: its admins may
    have changed meanwhile, and the coordinator should see it once more.
    """
    group = await get_by_chat(session=session, chat_id=chat_id)
    if group is None:
        group = Group(chat_id=chat_id, title=title[:TITLE_MAX])
    group.title, group.status, group.last_activity_at = title[:TITLE_MAX], GroupStatus.NEW, utcnow()
    session.add(group)
    await session.commit()
    await session.refresh(group)
    return group


async def deactivate(*, session: AsyncSession, chat_id: int) -> Group | None:
    """The bot left or was removed: the row stays for the coordinator's overview."""
    group = await get_by_chat(session=session, chat_id=chat_id)
    if group is None:
        return None
    group.status = GroupStatus.INACTIVE
    session.add(group)
    await session.commit()
    return group


async def set_title(*, session: AsyncSession, chat_id: int, title: str) -> bool:
    group = await get_by_chat(session=session, chat_id=chat_id)
    if group is None:
        return False
    group.title = title[:TITLE_MAX]
    session.add(group)
    await session.commit()
    return True


async def migrate(*, session: AsyncSession, old_chat_id: int, new_chat_id: int) -> bool:
    """A group became a supergroup: the row, and the roles scoped to it, follow the new id.

    Telegram sends the news in both chats, possibly at once; whichever comes second
    finds nothing left under the old id and changes nothing.
    """
    group = await get_by_chat(session=session, chat_id=old_chat_id)
    if group is None or await get_by_chat(session=session, chat_id=new_chat_id) is not None:
        return False
    group.chat_id = new_chat_id
    session.add(group)
    await session.exec(
        update(RoleGrant)  # type: ignore[call-overload]
        .where(col(RoleGrant.scope) == f"group:{old_chat_id}")
        .values(scope=f"group:{new_chat_id}")
    )
    await session.commit()
    return True


async def name_taken(*, session: AsyncSession, group: Group, wijk: str) -> bool:
    """Another group in the wijk, registered or waiting, already goes by this name.

    Compared in Python: SQLite's lower() only folds ASCII, and titles are not ASCII.
    """
    result = await session.exec(
        select(Group.title).where(
            Group.wijk == wijk, col(Group.status).in_(CLAIMING), Group.id != group.id
        )
    )
    wanted = group.title.casefold().strip()
    return any(title.casefold().strip() == wanted for title in result)


async def register(
    *, session: AsyncSession, group: Group, wijk: str, team_id: int | None, by: int
) -> Group:
    group.wijk, group.team_id, group.registered_by = wijk, team_id, by
    group.status, group.last_activity_at = GroupStatus.PENDING, utcnow()
    group.decided_at = group.decided_by = None
    session.add(group)
    audit(session, actor_id=by, action="group_registered", subject=f"group:{group.chat_id}")
    await session.commit()
    await session.refresh(group)
    return group


async def decide(*, session: AsyncSession, group_id: int, approve: bool, by: int) -> Group | None:
    """Approve or reject a pending group; None if it is not (or no longer) pending."""
    group = await session.get(Group, group_id, with_for_update=True)
    if group is None or group.status != GroupStatus.PENDING:
        return None
    group.status = GroupStatus.APPROVED if approve else GroupStatus.REJECTED
    group.decided_at, group.decided_by = utcnow(), by
    session.add(group)
    audit(
        session,
        actor_id=by,
        action="group_approved" if approve else "group_rejected",
        subject=f"group:{group.chat_id}",
    )
    await session.commit()
    await session.refresh(group)
    return group


async def set_status(
    *, session: AsyncSession, group: Group, status: GroupStatus, actor_id: int
) -> Group:
    """A contact's answer to "still active?": approved again (with activity now) or paused."""
    group.status, group.last_activity_at = status, utcnow()
    session.add(group)
    audit(session, actor_id=actor_id, action=f"group_{status}", subject=f"group:{group.chat_id}")
    await session.commit()
    return group


async def touch(*, session: AsyncSession, group_id: int) -> None:
    group = await session.get(Group, group_id)
    if group is None:
        return
    group.last_activity_at = utcnow()
    session.add(group)
    await session.commit()


async def counts_by_wijk(*, session: AsyncSession) -> dict[str, dict[str, int]]:
    """Per wijk, how many groups have each status; groups not yet registered count under ""."""
    result = await session.exec(
        select(Group.wijk, Group.status, func.count()).group_by(Group.wijk, Group.status)
    )
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for wijk, status, count in result:
        counts[wijk or ""][status] = int(count)
    return dict(counts)


async def pending(*, session: AsyncSession) -> list[Group]:
    result = await session.exec(
        select(Group)
        .where(Group.status == GroupStatus.PENDING)
        .order_by(col(Group.last_activity_at))
    )
    return list(result)


async def dormant(*, session: AsyncSession, before: datetime) -> list[Group]:
    """Approved groups nobody has heard of since `before`."""
    result = await session.exec(
        select(Group)
        .where(Group.status == GroupStatus.APPROVED, col(Group.last_activity_at) < before)
        .order_by(col(Group.last_activity_at))
    )
    return list(result)


async def approved(*, session: AsyncSession) -> list[Group]:
    result = await session.exec(
        select(Group).where(Group.status == GroupStatus.APPROVED).order_by(col(Group.title))
    )
    return list(result)


async def living(*, session: AsyncSession, statuses: tuple[str, ...]) -> list[Group]:
    """Groups in these states across all wijken, in one query (the Mini App lists them)."""
    result = await session.exec(
        select(Group)
        .where(col(Group.status).in_(statuses))
        .order_by(col(Group.wijk), col(Group.title))
    )
    return list(result)
