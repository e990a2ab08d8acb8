"""Queries about users (people who talk to the bot in private).

None of these commits: the service around them commits once per use case."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, cast

from sqlalchemy import Table
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import dialect
from storage.models import User, utcnow

_USERS = cast(Table, User.__table__)


async def get_user(*, session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


@dataclass(frozen=True)
class Contact:
    """What a /start or a language tap needs of the user's row after writing it."""

    language: str | None
    wijk: str | None
    buurt: str | None
    subscribed: bool


async def _upsert(
    session: AsyncSession,
    user_id: int,
    changes: dict[str, Any],
    first: dict[str, Any] | None = None,
) -> Contact:
    """Create the user's row or change it, in one statement: this runs on every /start
    and language tap, where a read-then-write would double the database round trips.
    `first` holds values only a new row gets.

    On the table, returning four columns: a User loaded through the ORM cost more than
    the statement itself."""
    now = utcnow()
    # The columns' own defaults fill the rest of a new row (SQLAlchemy applies them to an
    # INSERT that leaves them out).
    new = {"id": user_id, "created_at": now, "last_seen_at": now} | (first or {}) | changes
    statement = _upsert_statement(dialect.name_of(session), tuple(sorted(changes)))
    row = (await session.exec(statement, params=new)).one()  # type: ignore[call-overload]
    return Contact(
        language=row.language, wijk=row.wijk, buurt=row.buurt, subscribed=bool(row.subscribed)
    )


@cache
def _upsert_statement(dialect_name: str, changed: tuple[str, ...]) -> Any:
    """Built once per shape, on first use, with its values bound at execution: building
    the statement anew for every /start cost as much as running it."""
    users = _USERS.c
    statement = dialect.insert_for(dialect_name, _USERS)
    return statement.on_conflict_do_update(
        index_elements=["id"], set_={name: statement.excluded[name] for name in changed}
    ).returning(users.language, users.wijk, users.buurt, users.subscribed)


async def touch_user(
    *, session: AsyncSession, user_id: int, language: str | None = None
) -> Contact:
    """The user's row, created on first contact; marks them active and seen now.

    A new row starts in `language` (what their Telegram app uses), so announcements reach
    them in it even if they never choose one; a choice made later replaces it.
    """
    return await _upsert(
        session,
        user_id,
        {"last_seen_at": utcnow(), "active": True, "blocked_at": None},
        {"language": language} if language else None,
    )


async def set_language(*, session: AsyncSession, user_id: int, language: str) -> Contact:
    return await _upsert(session, user_id, {"language": language, "last_seen_at": utcnow()})


async def mark_blocked(*, session: AsyncSession, user_id: int) -> None:
    """The user blocked the bot: stop writing to them, keep the row until they return or erase."""
    user = await session.get(User, user_id)
    if user is None:
        return
    user.active = False
    user.blocked_at = utcnow()
    session.add(user)
