"""Queries about users (people who talk to the bot in private)."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import User, utcnow


async def get_user(*, session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def touch_user(*, session: AsyncSession, user_id: int) -> User:
    """The user's row, created on first contact; marks them active and seen now."""
    user = await session.get(User, user_id)
    now = utcnow()
    if user is None:
        user = User(id=user_id, created_at=now, last_seen_at=now)
    else:
        user.last_seen_at = now
        user.active = True
        user.blocked_at = None
    session.add(user)
    await session.commit()
    return user


async def set_language(*, session: AsyncSession, user_id: int, language: str) -> None:
    user = await touch_user(session=session, user_id=user_id)
    user.language = language
    session.add(user)
    await session.commit()


async def mark_blocked(*, session: AsyncSession, user_id: int) -> None:
    """The user blocked the bot: stop writing to them, keep the row until they return or erase."""
    user = await session.get(User, user_id)
    if user is None:
        return
    user.active = False
    user.blocked_at = utcnow()
    session.add(user)
    await session.commit()
