"""Queries about residents: their subscription, preferences, export and erasure.

None of these commits: a use case (joining: user, subscription and membership event;
erasure: every table that knows the person) is one transaction, committed by the
service in bot.residents, so a crash leaves all of it or nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import cache
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, update
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import dialect
from storage.models import MembershipDaily, MembershipEvent, User, utcnow

_USERS = cast(Table, User.__table__)
_EVENTS = cast(Table, MembershipEvent.__table__)


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
    # On the tables, not the ORM classes: every join writes these, and the ORM's unit of
    # work and bulk-insert steps cost several times the statements themselves.
    await session.exec(_event_insert(), params=events)  # type: ignore[call-overload]
    await session.exec(  # type: ignore[call-overload]
        _daily_upsert(dialect.name_of(session)), params=membership_daily_rows(events, tz)
    )


# The statements of every join, built once on first use with their values bound at
# execution: building them anew each time cost about as much as running them.


@cache
def _event_insert() -> Any:
    return _EVENTS.insert()


@cache
def _daily_upsert(dialect_name: str) -> Any:
    daily = cast(Table, MembershipDaily.__table__)
    statement = dialect.insert_for(dialect_name, daily)
    return statement.on_conflict_do_update(
        index_elements=["day", "wijk", "kind"],
        set_={"count": daily.c.count + statement.excluded.count},
    )


@cache
def _subscription() -> Any:
    users = _USERS.c
    return select(
        users.wijk, users.buurt, users.subscribed, users.follows_channel, users.kinds
    ).where(users.id == bindparam("user_id"))


@cache
def _user_update() -> Any:
    """The SET clause comes from the values given at execution."""
    return update(_USERS).where(_USERS.c.id == bindparam("user_id"))


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


@dataclass(frozen=True)
class Subscribed:
    previous: str | None  # the wijk they followed before, if any
    changed: bool  # whether anything changed
    follows_channel: bool  # whether they follow the new wijk's channel
    kinds: str  # the announcement kinds they get, as stored


async def subscribe(
    *,
    session: AsyncSession,
    user_id: int,
    wijk: str,
    buurt: str | None,
    tz: tzinfo,
    language: str | None = None,
) -> Subscribed:
    """Subscribe to `wijk`, creating the user's row on first contact.

    Joining the same wijk twice records nothing new, so figures count people, not taps.
    Written as statements on the users table, not through a loaded User: this is every
    join's transaction, and the ORM's load, change tracking and flush were most of it.
    """
    row = (await session.exec(_subscription(), params={"user_id": user_id})).one_or_none()  # type: ignore[call-overload]
    now = utcnow()
    if row is None:
        # The columns' defaults fill the rest; on conflict, someone made it meanwhile.
        await session.exec(
            dialect.insert(session, _USERS)
            .values(id=user_id, created_at=now, last_seen_at=now, language=language)
            .on_conflict_do_nothing(index_elements=["id"])
        )
        row = (await session.exec(_subscription(), params={"user_id": user_id})).one()  # type: ignore[call-overload]
    previous = row.wijk if row.subscribed else None
    changes: dict[str, Any] = {
        "wijk": wijk, "buurt": buurt, "subscribed": True,
        "active": True, "blocked_at": None, "last_seen_at": now,
    }  # fmt: skip
    if previous != wijk:
        # A move is one person moving, not one leaving and another joining: the city's
        # figures count it as a move, each wijk as one out and one in.
        moved = previous is not None
        events = [(previous, "moved_out")] if previous is not None else []
        events.append((wijk, "moved_in" if moved else "joined"))
        await record_membership(session=session, at=now, changes=events, tz=tz)
        changes["joined_at"] = now
    follows = bool(row.follows_channel)
    if row.wijk != wijk:
        # Following the old wijk's channel says nothing about the new wijk's.
        changes["follows_channel"] = follows = False
    await session.exec(_user_update(), params={"user_id": user_id, **changes})  # type: ignore[call-overload]
    return Subscribed(
        previous=previous,
        changed=not row.subscribed or row.wijk != wijk or row.buurt != buurt,
        follows_channel=follows,
        kinds=row.kinds,
    )


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
