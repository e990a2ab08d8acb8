"""Queries of the durable inbox (bot.inbox): updates stored before Telegram forgets them.

Statuses: pending -> done | dead. `attempts` counts the tries started. None of these
functions commits: the inbox service commits once per step.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.dialect import insert
from storage.models import InboxStatus, InboxUpdate, utcnow

ERROR_MAX = 120
# Rows per INSERT: getUpdates hands over at most 100, a webhook one; this is headroom.
INSERT_CHUNK = 500


async def store(
    *, session: AsyncSession, updates: Sequence[tuple[int, str]], tried: bool = True
) -> set[int]:
    """Store (update_id, sealed payload) rows that are not there yet; returns the new ids.

    A new row counts its first try already when `tried` (the update goes to its handler
    right after, in this process); a webhook's row waits for the leader, which counts
    the try when it takes the row. An id already stored (pending, done or dead) is left
    as it is: that is a replay.
    """
    new: set[int] = set()
    now = utcnow()
    for start in range(0, len(updates), INSERT_CHUNK):
        chunk = updates[start : start + INSERT_CHUNK]
        values = [
            {
                "update_id": update_id,
                "status": InboxStatus.PENDING.value,
                "payload": payload,
                "attempts": 1 if tried else 0,
                "received_at": now,
            }
            for update_id, payload in chunk
        ]
        statement = (
            insert(session, InboxUpdate)
            .values(values)
            .on_conflict_do_nothing(index_elements=["update_id"])
            .returning(col(InboxUpdate.update_id))
        )
        new.update(int(update_id) for update_id in (await session.exec(statement)).scalars())
    return new


async def pending(
    *, session: AsyncSession, skip: Collection[int] = (), limit: int | None = None
) -> list[InboxUpdate]:
    """Unfinished updates, oldest first (Telegram's ids rise with arrival), but those in
    `skip` (already in the caller's hands)."""
    return list(await session.exec(_pending(select(InboxUpdate), skip, limit)))


async def pending_ids(
    *, session: AsyncSession, skip: Collection[int] = (), limit: int | None = None
) -> list[tuple[int, int]]:
    """`pending` without the payloads: (update_id, attempts), oldest first."""
    statement = _pending(select(InboxUpdate.update_id, InboxUpdate.attempts), skip, limit)
    return [
        (int(update_id), int(attempts)) for update_id, attempts in await session.exec(statement)
    ]


def _pending(statement: Any, skip: Collection[int], limit: int | None) -> Any:
    """Narrow a select of the inbox to the pending rows, oldest first, but those in
    `skip`, at most `limit`."""
    statement = statement.where(InboxUpdate.status == InboxStatus.PENDING).order_by(
        col(InboxUpdate.update_id)
    )
    if skip:
        statement = statement.where(col(InboxUpdate.update_id).not_in(sorted(skip)))
    if limit is not None:
        statement = statement.limit(limit)
    return statement


async def payloads(*, session: AsyncSession, update_ids: Collection[int]) -> dict[int, str]:
    """The sealed payloads of these pending updates, by id (a row without one is left out)."""
    if not update_ids:
        return {}
    rows = await session.exec(
        select(InboxUpdate.update_id, InboxUpdate.payload)
        .where(col(InboxUpdate.update_id).in_(sorted(update_ids)))
        .where(InboxUpdate.status == InboxStatus.PENDING)
    )
    return {int(update_id): payload for update_id, payload in rows if payload is not None}


async def begin_try(*, session: AsyncSession, update_id: int) -> int:
    """Count one more try of a pending update; returns the tries started so far (0: not pending)."""
    statement = (
        update(InboxUpdate)
        .where(col(InboxUpdate.update_id) == update_id)
        .where(col(InboxUpdate.status) == InboxStatus.PENDING)
        .values(attempts=col(InboxUpdate.attempts) + 1)
        .returning(col(InboxUpdate.attempts))
    )
    attempts = (await session.exec(statement)).scalars().first()  # type: ignore[call-overload]
    return int(attempts or 0)


async def give_back_try(*, session: AsyncSession, update_id: int) -> None:
    """Uncount a try that never ran (a leader that lost the lease left the update)."""
    await session.exec(
        update(InboxUpdate)  # type: ignore[call-overload]
        .where(col(InboxUpdate.update_id) == update_id)
        .where(col(InboxUpdate.status) == InboxStatus.PENDING)
        .where(col(InboxUpdate.attempts) > 0)
        .values(attempts=col(InboxUpdate.attempts) - 1)
    )


async def begin_tries(*, session: AsyncSession, update_ids: Sequence[int]) -> dict[int, int]:
    """`begin_try` for many pending updates in one statement: id -> tries started."""
    if not update_ids:
        return {}
    statement = (
        update(InboxUpdate)
        .where(col(InboxUpdate.update_id).in_(update_ids))
        .where(col(InboxUpdate.status) == InboxStatus.PENDING)
        .values(attempts=col(InboxUpdate.attempts) + 1)
        .returning(col(InboxUpdate.update_id), col(InboxUpdate.attempts))
    )
    rows = (await session.exec(statement)).all()  # type: ignore[call-overload]
    return {int(update_id): int(attempts) for update_id, attempts in rows}


async def finish_many(*, session: AsyncSession, update_ids: Sequence[int]) -> None:
    """Handled: the payloads go at once, the ids stay to recognise a replay."""
    await session.exec(
        update(InboxUpdate)  # type: ignore[call-overload]
        .where(col(InboxUpdate.update_id).in_(update_ids))
        .where(col(InboxUpdate.status) == InboxStatus.PENDING)
        .values(status=InboxStatus.DONE.value, payload=None, error=None, finished_at=utcnow())
    )


async def record_failure(*, session: AsyncSession, update_id: int, error: str) -> None:
    """Remember the name of the last failure; the row stays pending for the next try.

    Pending rows only, as `bury`: another replica may have finished the update meanwhile,
    and a done row must not carry an error it did not end with."""
    await session.exec(
        update(InboxUpdate)  # type: ignore[call-overload]
        .where(col(InboxUpdate.update_id) == update_id)
        .where(col(InboxUpdate.status) == InboxStatus.PENDING)
        .values(error=error[:ERROR_MAX])
    )


async def bury(*, session: AsyncSession, update_id: int, error: str) -> None:
    """Dead letter: no more tries, no payload; the error's name stays for the administrators."""
    await session.exec(
        update(InboxUpdate)  # type: ignore[call-overload]
        .where(col(InboxUpdate.update_id) == update_id)
        .where(col(InboxUpdate.status) == InboxStatus.PENDING)
        .values(
            status=InboxStatus.DEAD.value,
            payload=None,
            error=error[:ERROR_MAX],
            finished_at=utcnow(),
        )
    )


async def counts(*, session: AsyncSession) -> dict[InboxStatus, int]:
    rows = await session.exec(
        select(InboxUpdate.status, func.count()).group_by(col(InboxUpdate.status))
    )
    found = {InboxStatus(status): int(count) for status, count in rows}
    return {status: found.get(status, 0) for status in InboxStatus}


async def prune(*, session: AsyncSession, done_before: datetime, dead_before: datetime) -> int:
    """Forget finished rows once a replay of them can no longer come (done) or matter (dead)."""
    done = (col(InboxUpdate.status) == InboxStatus.DONE) & (
        col(InboxUpdate.finished_at) < done_before
    )
    dead = (col(InboxUpdate.status) == InboxStatus.DEAD) & (
        col(InboxUpdate.finished_at) < dead_before
    )
    result = await session.exec(delete(InboxUpdate).where(or_(done, dead)))  # type: ignore[call-overload]
    return int(result.rowcount or 0)
