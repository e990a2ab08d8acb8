"""Queries about broadcasts, their audiences and the replies they get."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, cast, func, literal, null, or_, union, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    ActionResult,
    Broadcast,
    BroadcastStatus,
    Channel,
    ChannelStatus,
    Delivery,
    DeliveryStatus,
    Group,
    GroupStatus,
    Reply,
    RoleGrant,
    User,
    utcnow,
)
from storage.roles import audit
from storage.types import UTCDateTime


async def get(*, session: AsyncSession, broadcast_id: int) -> Broadcast | None:
    return await session.get(Broadcast, broadcast_id)


async def record_change(
    *, session: AsyncSession, original: Broadcast, made: list[Broadcast], action: str
) -> None:
    """A sent BuurtTent called off or moved (the caller changed `original`), with the
    broadcasts that tell of it: one commit, audited."""
    original.version += 1
    session.add(original)
    session.add_all(made)
    audit(session, actor_id=made[0].author_id, action=action, subject=f"broadcast:{original.id}")
    await session.commit()
    for broadcast in made:
        await session.refresh(broadcast)


async def save(*, session: AsyncSession, broadcast: Broadcast) -> Broadcast:
    session.add(broadcast)
    await session.commit()
    await session.refresh(broadcast)
    return broadcast


async def set_status(
    *,
    session: AsyncSession,
    broadcast_id: int,
    status: BroadcastStatus,
    expected: set[BroadcastStatus],
    actor_id: int | None,
) -> Broadcast | None:
    """Move a broadcast on, only from one of the `expected` states; None if it was not there.

    The guard is what keeps two coordinators (or a coordinator and the scheduler) from
    sending or cancelling the same broadcast twice.
    """
    broadcast = await session.get(Broadcast, broadcast_id, with_for_update=True)
    if broadcast is None or broadcast.status not in expected:
        return None
    broadcast.status = status
    broadcast.version += 1
    now = utcnow()
    if status == BroadcastStatus.SENDING:
        broadcast.started_at = now
    if status == BroadcastStatus.SENT:
        broadcast.finished_at = now
    session.add(broadcast)
    audit(
        session,
        actor_id=actor_id,
        action=f"broadcast_{status}",
        subject=f"broadcast:{broadcast_id}",
    )
    await session.commit()
    await session.refresh(broadcast)
    return broadcast


async def reschedule(
    *, session: AsyncSession, broadcast_id: int, send_at: datetime, version: int, actor_id: int
) -> Broadcast | None:
    """A new time, only if nobody changed the broadcast since `version` was read."""
    return await _change_scheduled(
        session, broadcast_id, version, actor_id, "broadcast_moved", send_at=send_at
    )


async def replace_fields(
    *, session: AsyncSession, broadcast_id: int, fields: str, version: int, actor_id: int
) -> Broadcast | None:
    """New content for a scheduled broadcast, only if nobody changed it since `version`."""
    return await _change_scheduled(
        session, broadcast_id, version, actor_id, "broadcast_edited", fields=fields
    )


async def _change_scheduled(
    session: AsyncSession,
    broadcast_id: int,
    version: int,
    actor_id: int,
    action: str,
    **changes: object,
) -> Broadcast | None:
    """Optimistic locking: the change lands only on the version the coordinator saw."""
    broadcast = await session.get(Broadcast, broadcast_id, with_for_update=True)
    if (
        broadcast is None
        or broadcast.status != BroadcastStatus.SCHEDULED
        or broadcast.version != version
    ):
        return None
    for name, value in changes.items():
        setattr(broadcast, name, value)
    broadcast.version += 1
    session.add(broadcast)
    audit(session, actor_id=actor_id, action=action, subject=f"broadcast:{broadcast_id}")
    await session.commit()
    await session.refresh(broadcast)
    return broadcast


async def scheduled(*, session: AsyncSession, author_id: int | None = None) -> list[Broadcast]:
    """Everything scheduled, or one author's (a team contact sees only their own)."""
    query = select(Broadcast).where(Broadcast.status == BroadcastStatus.SCHEDULED)
    if author_id is not None:
        query = query.where(Broadcast.author_id == author_id)
    return list(await session.exec(query.order_by(col(Broadcast.send_at))))


async def drafts_of(*, session: AsyncSession, author_id: int) -> list[int]:
    """The ids of one author's drafts: composed and previewed, not yet sent or scheduled."""
    query = select(Broadcast.id).where(
        Broadcast.status == BroadcastStatus.DRAFT, Broadcast.author_id == author_id
    )
    return [broadcast_id for broadcast_id in await session.exec(query) if broadcast_id is not None]


async def recent(
    *, session: AsyncSession, limit: int = 10, author_id: int | None = None
) -> list[Broadcast]:
    # The edits of a called-off or moved tent's copies are no announcement of their own, nor
    # is a notice (bot.notices: a status update, a digest) the bot sends by itself.
    query = select(Broadcast).where(
        col(Broadcast.status).in_([BroadcastStatus.SENDING, BroadcastStatus.SENT]),
        col(Broadcast.kind).not_in(["retract", "notice"]),
    )
    if author_id is not None:
        query = query.where(Broadcast.author_id == author_id)
    return list(await session.exec(query.order_by(col(Broadcast.id).desc()).limit(limit)))


@dataclass(frozen=True)
class Residents:
    """A broadcast's private recipients, as the database picks them: a city-wide audience
    is never held as a list in Python (bench/growth.py: 0.4 kB a recipient before)."""

    # Wijken with a channel: their residents who follow it get the post there instead.
    skip_followers: Sequence[str] = ()
    everyone_in: Sequence[str] = ()  # wijken without a channel
    kind: str | None = None  # only those who want this kind of announcement
    parks: Sequence[str] = ()  # entrepreneurs of these business parks, subscribed or not
    # (quiet_start, quiet_end, until): residents inside those quiet hours wait until then.
    held: Sequence[tuple[int, int, datetime]] = ()


def _subscribers_where(wijken: Sequence[str], skip_followers: bool, kind: str | None) -> Any:
    clauses = [
        col(User.wijk).in_(wijken), col(User.subscribed).is_(True), col(User.active).is_(True)
    ]  # fmt: skip
    if skip_followers:
        clauses.append(col(User.follows_channel).is_(False))
    if kind is not None:
        # kinds is a short comma-separated list of fixed words; no word contains another.
        clauses.append(col(User.kinds).contains(kind))
    return and_(*clauses)


def resident_selects(residents: Residents) -> list[Any]:
    """SELECTs of (chat_id, language, not_before) that together give `residents` (an
    entrepreneur who also subscribes may come twice: the outbox keeps one row a chat)."""
    held = [
        (and_(col(User.quiet_start) == start, col(User.quiet_end) == end), literal(until, UTCDateTime()))
        for start, end, until in residents.held
    ]  # fmt: skip
    # Typed: PostgreSQL takes a bare NULL in a SELECT for text.
    never = cast(null(), UTCDateTime())
    not_before = case(*held, else_=never) if held else never
    selects = [
        select(col(User.id).label("chat_id"), User.language, not_before.label("not_before")).where(
            _subscribers_where(wijken, skip, residents.kind)
        )
        for wijken, skip in ((residents.skip_followers, True), (residents.everyone_in, False))
        if wijken
    ]
    if residents.parks:
        selects.append(
            select(
                col(RoleGrant.user_id).label("chat_id"),
                User.language,
                never.label("not_before"),
            )
            .join(User, col(User.id) == col(RoleGrant.user_id), isouter=True)
            .where(
                RoleGrant.role == "entrepreneur",
                col(RoleGrant.scope).in_([f"park:{park}" for park in residents.parks]),
                col(RoleGrant.revoked_at).is_(None),
            )
        )
    return selects


async def count_residents(*, session: AsyncSession, residents: Residents) -> int:
    """How many chats `residents` are, each counted once."""
    selects = [
        query.with_only_columns(query.selected_columns[0]) for query in resident_selects(residents)
    ]
    if not selects:
        return 0
    chats = union(*selects).subquery()
    return int((await session.exec(select(func.count()).select_from(chats))).one())


async def quiet_hours_in_use(
    *, session: AsyncSession, wijken: Sequence[str]
) -> list[tuple[int, int]]:
    """The distinct (start, end) quiet hours of these wijken's subscribers: a handful of
    presets, so who is held back until when is decided once per pair, not per resident."""
    rows = await session.exec(
        select(User.quiet_start, User.quiet_end)
        .where(
            col(User.wijk).in_(wijken),
            col(User.subscribed).is_(True),
            col(User.quiet_start).is_not(None),
            col(User.quiet_end).is_not(None),
        )
        .distinct()
    )
    return [(int(start), int(end)) for start, end in rows]


async def approved_groups(
    *, session: AsyncSession, wijken: list[str] | None = None, teams: list[int] | None = None,
    groups: list[int] | None = None,
) -> list[int]:  # fmt: skip
    """Chat ids of approved groups in these wijken, of these teams, or with these ids."""
    query = select(Group.chat_id).where(Group.status == GroupStatus.APPROVED)
    clauses = []
    if wijken:
        clauses.append(col(Group.wijk).in_(wijken))
    if teams:
        clauses.append(col(Group.team_id).in_(teams))
    if groups:
        clauses.append(col(Group.id).in_(groups))
    if not clauses:
        return []
    return [int(chat_id) for chat_id in await session.exec(query.where(or_(*clauses)))]


async def active_channels(*, session: AsyncSession, wijken: list[str]) -> list[int]:
    query = select(Channel.chat_id).where(
        Channel.status == ChannelStatus.ACTIVE, col(Channel.wijk).in_(wijken)
    )
    return [int(chat_id) for chat_id in await session.exec(query)]


async def toggle_reply(
    *, session: AsyncSession, broadcast_id: int, user_id: int, choice: str
) -> bool:
    """Switch one person's reply on or off; True if it is on now. One count per person."""
    existing = (
        await session.exec(
            select(Reply).where(
                Reply.broadcast_id == broadcast_id, Reply.user_id == user_id, Reply.choice == choice
            )
        )
    ).first()
    if existing is not None:
        await session.delete(existing)
        await session.commit()
        return False
    session.add(Reply(broadcast_id=broadcast_id, user_id=user_id, choice=choice))
    await session.commit()
    return True


async def set_reply(*, session: AsyncSession, broadcast_id: int, user_id: int, choice: str) -> None:
    """Make sure a reply is on (a reminder asked for through the private chat)."""
    exists = (
        await session.exec(
            select(Reply).where(
                Reply.broadcast_id == broadcast_id, Reply.user_id == user_id, Reply.choice == choice
            )
        )
    ).first()
    if exists is None:
        session.add(Reply(broadcast_id=broadcast_id, user_id=user_id, choice=choice))
        await session.commit()


async def reply_counts(*, session: AsyncSession, broadcast_id: int) -> dict[str, int]:
    rows = await session.exec(
        select(Reply.choice, func.count())
        .where(Reply.broadcast_id == broadcast_id)
        .group_by(Reply.choice)
    )
    return {choice: int(count) for choice, count in rows}


async def repliers(*, session: AsyncSession, broadcast_id: int, choice: str) -> list[int]:
    rows = await session.exec(
        select(Reply.user_id).where(Reply.broadcast_id == broadcast_id, Reply.choice == choice)
    )
    return [int(uid) for uid in rows]


async def delivered_to(*, session: AsyncSession, broadcast_id: int) -> list[Delivery]:
    """Everyone who got a broadcast: the audience of an update about it."""
    rows = await session.exec(
        select(Delivery).where(
            Delivery.broadcast_id == broadcast_id, Delivery.status == DeliveryStatus.SENT
        )
    )
    return list(rows)


async def delivery_counts(*, session: AsyncSession, broadcast_id: int) -> Counter[str]:
    rows = await session.exec(
        select(Delivery.status, func.count())
        .where(Delivery.broadcast_id == broadcast_id)
        .group_by(Delivery.status)
    )
    return Counter({status: int(count) for status, count in rows})


async def held_back(*, session: AsyncSession, broadcast_id: int, now: datetime) -> int:
    """Copies of a broadcast waiting for their recipient's quiet hours to end."""
    query = select(func.count()).where(
        Delivery.broadcast_id == broadcast_id,
        Delivery.status == DeliveryStatus.QUEUED,
        col(Delivery.not_before) > now,
    )
    return int((await session.exec(query)).one())


async def forget_replies(*, session: AsyncSession, user_id: int) -> None:
    """On /verwijder: the replies stay counted but no longer say whose they were.

    Each gets its own negative id in place of the person's, so the one-per-person rule
    still holds and nobody can be traced.
    """
    await session.exec(  # type: ignore[call-overload]
        update(Reply).where(col(Reply.user_id) == user_id).values(user_id=-col(Reply.id))
    )
    await session.commit()


async def languages_of(
    *, session: AsyncSession, user_ids: list[int]
) -> list[tuple[int, str | None]]:
    """Active users among these ids, with their language (for reminders)."""
    if not user_ids:
        return []
    rows = await session.exec(
        select(User.id, User.language).where(col(User.id).in_(user_ids), col(User.active).is_(True))
    )
    return [(int(uid), language) for uid, language in rows]


async def recent_of_kind(*, session: AsyncSession, kind: str, since: datetime) -> list[Broadcast]:
    result = await session.exec(
        select(Broadcast)
        .where(
            Broadcast.kind == kind,
            Broadcast.status == BroadcastStatus.SENT,
            col(Broadcast.started_at) >= since,
        )
        .order_by(col(Broadcast.started_at).desc())
    )
    return list(result)


async def record_result(
    *, session: AsyncSession, broadcast_id: int, team_id: int, homes: int, by: int
) -> None:
    """A team's count for one action; telling it again corrects it."""
    existing = (
        await session.exec(
            select(ActionResult).where(
                ActionResult.broadcast_id == broadcast_id, ActionResult.team_id == team_id
            )
        )
    ).first()
    result = existing or ActionResult(
        broadcast_id=broadcast_id, team_id=team_id, homes=homes, recorded_by=by
    )
    result.homes, result.recorded_by, result.at = homes, by, utcnow()
    session.add(result)
    audit(
        session,
        actor_id=by,
        action="action_result",
        subject=f"broadcast:{broadcast_id}",
        detail=str(homes),
    )
    await session.commit()


async def homes_marked(*, session: AsyncSession, broadcast_id: int) -> int | None:
    total = (
        await session.exec(
            select(func.sum(ActionResult.homes)).where(ActionResult.broadcast_id == broadcast_id)
        )
    ).one()
    return int(total) if total is not None else None


# What the coordinator's calendar shows: planned, under way, sent and called off.
CALENDAR_STATUSES = ("scheduled", "sending", "sent", "cancelled")


async def calendar(*, session: AsyncSession, since: datetime, limit: int) -> list[Broadcast]:
    """Announcements planned, sent or called off since `since`, newest first."""
    when = func.coalesce(Broadcast.send_at, Broadcast.started_at, Broadcast.created_at)
    query = (
        select(Broadcast)
        .where(
            col(Broadcast.status).in_(CALENDAR_STATUSES),
            col(Broadcast.kind).not_in(["retract", "notice"]),
            when >= since,
        )
        .order_by(when.desc(), col(Broadcast.id).desc())
        .limit(limit)
    )
    return list(await session.exec(query))


async def delivery_counts_of(*, session: AsyncSession, ids: list[int]) -> dict[int, Counter[str]]:
    """Per broadcast, its copies by delivery status: one grouped query for a whole list."""
    return await _counted(session, Delivery.broadcast_id, Delivery.status, ids)


async def reply_counts_of(*, session: AsyncSession, ids: list[int]) -> dict[int, Counter[str]]:
    """Per broadcast, its replies by choice, in one grouped query."""
    return await _counted(session, Reply.broadcast_id, Reply.choice, ids)


async def _counted(
    session: AsyncSession, owner: Any, by: Any, ids: list[int]
) -> dict[int, Counter[str]]:
    if not ids:
        return {}
    rows = await session.exec(
        select(owner, by, func.count()).where(col(owner).in_(ids)).group_by(owner, by)
    )
    found: dict[int, Counter[str]] = {}
    for broadcast_id, value, count in rows:
        found.setdefault(int(broadcast_id), Counter())[value] = int(count)
    return found
