"""Queries about residents: their subscription, preferences, export and erasure.

None of these commits: a use case (joining: user, subscription and membership event;
erasure: every table that knows the person) is one transaction, committed by the
service in bot.residents, so a crash leaves all of it or nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import dialect
from storage.models import MembershipDaily, MembershipEvent, User, utcnow


def membership_daily_rows(events: Iterable[dict[str, Any]], tz: tzinfo) -> list[dict[str, Any]]:
    """The membership_daily rows that count `events` ({at, wijk, kind}), each under the
    city's local day; sorted, so two moves in opposite directions lock their counter rows
    in one order (PostgreSQL would otherwise be free to deadlock them)."""
    counts = Counter((e["at"].astimezone(tz).date(), e["wijk"], e["kind"]) for e in events)
    return [
        {"day": day, "wijk": wijk, "kind": kind, "count": n}
        for (day, wijk, kind), n in sorted(counts.items())
    ]


async def record_membership(
    *, session: AsyncSession, at: datetime, changes: Sequence[tuple[str, str]], tz: tzinfo
) -> None:
    """Record (wijk, kind) membership events at `at`, and count them in membership_daily
    under the city's local day, in the caller's transaction."""
    events = [{"at": at, "wijk": wijk, "kind": kind} for wijk, kind in changes]
    session.add_all([MembershipEvent(**event) for event in events])
    statement = dialect.insert(session, MembershipDaily)
    statement = statement.on_conflict_do_update(
        index_elements=["day", "wijk", "kind"],
        set_={"count": col(MembershipDaily.count) + statement.excluded.count},
    )
    rows = membership_daily_rows(events, tz)
    await session.exec(statement, params=rows)  # type: ignore[call-overload]


async def get_or_create(
    *, session: AsyncSession, user_id: int, language: str | None = None
) -> User:
    """The user's row; a new one starts in `language` (what their Telegram app uses)."""
    user = await session.get(User, user_id)
    if user is None:
        now = utcnow()
        user = User(id=user_id, created_at=now, last_seen_at=now, language=language)
        session.add(user)
    return user


async def subscribe(
    *,
    session: AsyncSession,
    user_id: int,
    wijk: str,
    buurt: str | None,
    tz: tzinfo,
    language: str | None = None,
) -> tuple[str | None, bool, bool]:
    """Subscribe to `wijk`; returns (the wijk they followed before, whether anything changed,
    whether they follow the wijk's channel).

    Joining the same wijk twice records nothing new, so figures count people, not taps.
    """
    user = await get_or_create(session=session, user_id=user_id, language=language)
    previous = user.wijk if user.subscribed else None
    changed = not user.subscribed or user.wijk != wijk or user.buurt != buurt
    now = utcnow()
    if previous != wijk:
        # A move is one person moving, not one leaving and another joining: the city's
        # figures count it as a move, each wijk as one out and one in.
        moved = previous is not None
        changes = [(previous, "moved_out")] if previous is not None else []
        changes.append((wijk, "moved_in" if moved else "joined"))
        await record_membership(session=session, at=now, changes=changes, tz=tz)
        user.joined_at = now
    if user.wijk != wijk:
        # Following the old wijk's channel says nothing about the new wijk's.
        user.follows_channel = False
    user.wijk, user.buurt, user.subscribed = wijk, buurt, True
    user.active, user.blocked_at, user.last_seen_at = True, None, now
    session.add(user)
    return previous, changed, user.follows_channel


async def unsubscribe(*, session: AsyncSession, user_id: int, tz: tzinfo) -> bool:
    """Stop all messages; the wijk and preferences stay so /start can rejoin. False if not subscribed."""
    user = await session.get(User, user_id)
    if user is None or not user.subscribed:
        return False
    if user.wijk is not None:
        await record_membership(session=session, at=utcnow(), changes=[(user.wijk, "left")], tz=tz)
    user.subscribed = False
    session.add(user)
    return True


async def set_follows_channel(*, session: AsyncSession, user_id: int, follows: bool) -> None:
    user = await get_or_create(session=session, user_id=user_id)
    user.follows_channel = follows
    session.add(user)


# Settings change an existing row only: a settings button pressed after /verwijder must
# not bring a row (and with it the person) back. False when there is no row.


async def set_kinds(*, session: AsyncSession, user_id: int, kinds: list[str]) -> bool:
    user = await session.get(User, user_id)
    if user is None:
        return False
    user.kinds = ",".join(kinds)
    session.add(user)
    return True


async def set_quiet_hours(
    *, session: AsyncSession, user_id: int, start: int | None, end: int | None
) -> bool:
    user = await session.get(User, user_id)
    if user is None:
        return False
    user.quiet_start, user.quiet_end = start, end
    session.add(user)
    return True


async def erase(*, session: AsyncSession, user_id: int, tz: tzinfo) -> bool:
    """Delete the user's row; the anonymous membership events keep the figures right."""
    user = await session.get(User, user_id)
    if user is None:
        return False
    if user.subscribed and user.wijk is not None:
        await record_membership(session=session, at=utcnow(), changes=[(user.wijk, "left")], tz=tz)
    await session.exec(delete(User).where(User.id == user_id))  # type: ignore[call-overload,arg-type]
    return True


async def count_subscribed(*, session: AsyncSession, wijk: str | None = None) -> int:
    query = select(func.count()).select_from(User).where(User.subscribed.is_(True))  # type: ignore[attr-defined]
    if wijk is not None:
        query = query.where(User.wijk == wijk)
    return int((await session.exec(query)).one())


async def subscribed_by_wijk(*, session: AsyncSession) -> dict[str, int]:
    rows = await session.exec(
        select(User.wijk, func.count())
        .where(User.subscribed.is_(True))  # type: ignore[attr-defined]
        .group_by(User.wijk)
    )
    return {wijk: int(count) for wijk, count in rows if wijk}
