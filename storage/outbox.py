"""The delivery outbox: one row per recipient of a broadcast, worked off by bot.delivery.

Statuses: queued -> sending -> sent | failed | blocked | gone. A row is "sending" from the
moment the engine claims it until its result is written; rows found "sending" at start
were cut off by a crash and go back to "queued".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.dialect import insert
from storage.models import Delivery, utcnow

STATUSES = ("queued", "sending", "sent", "failed", "blocked", "gone")
ERROR_MAX = 200
# Rows per INSERT: SQLite allows 32,766 bound values per statement; 5 columns each.
INSERT_CHUNK = 1000


async def enqueue(
    *,
    session: AsyncSession,
    broadcast_id: int,
    recipients: Sequence[tuple[int, str, str | None, datetime | None]],
) -> int:
    """Queue (chat_id, kind, language, not_before) recipients; those already there are left alone.

    Returns how many rows are new, so enqueueing the same audience twice queues nothing.
    """
    added = 0
    for start in range(0, len(recipients), INSERT_CHUNK):
        chunk = recipients[start : start + INSERT_CHUNK]
        values = [
            {
                "broadcast_id": broadcast_id,
                "chat_id": chat_id,
                "recipient": kind,
                "language": language,
                "status": "queued",
                "attempts": 0,
                "not_before": not_before,
            }
            for chat_id, kind, language, not_before in chunk
        ]
        statement = (
            insert(session, Delivery)
            .values(values)
            .on_conflict_do_nothing(index_elements=["broadcast_id", "chat_id"])
            .returning(col(Delivery.id))
        )
        added += len((await session.exec(statement)).all())
    await session.commit()
    return added


async def claim(*, session: AsyncSession, limit: int) -> list[Delivery]:
    """Mark up to `limit` queued rows "sending", oldest broadcast and first recipient first.

    SKIP LOCKED keeps a second process from claiming the same rows on PostgreSQL; SQLite
    has one writer at a time anyway, and SQLAlchemy leaves the clause out there.
    """
    ids = list(
        await session.exec(
            select(Delivery.id)
            .where(
                Delivery.status == "queued",
                # Held back for quiet hours until not_before.
                or_(col(Delivery.not_before).is_(None), col(Delivery.not_before) <= utcnow()),
            )
            .order_by(col(Delivery.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if not ids:
        await session.commit()
        return []
    await session.exec(
        update(Delivery)  # type: ignore[call-overload]
        .where(col(Delivery.id).in_(ids), Delivery.status == "queued")
        .values(status="sending")
    )
    rows = list(
        await session.exec(
            select(Delivery)
            .where(col(Delivery.id).in_(ids))
            .order_by(col(Delivery.id))
            .execution_options(populate_existing=True)
        )
    )
    await session.commit()
    return rows


async def requeue_interrupted(*, session: AsyncSession) -> int:
    """Rows a crash left "sending" go back to the queue; how many there were."""
    result: Any = await session.exec(
        update(Delivery)  # type: ignore[call-overload]
        .where(Delivery.status == "sending")
        .values(status="queued")
    )
    await session.commit()
    return int(result.rowcount or 0)


async def release(*, session: AsyncSession, attempts: dict[int, int]) -> None:
    """Claimed rows that were not sent go back to the queue, keeping their attempt counts."""
    if not attempts:
        return
    await session.exec(
        update(Delivery),  # type: ignore[call-overload]
        params=[
            {"id": row_id, "status": "queued", "attempts": count}
            for row_id, count in attempts.items()
        ],
    )
    await session.commit()


async def record(*, session: AsyncSession, results: Sequence[dict[str, Any]]) -> None:
    """Write final results in one transaction.

    Each result holds id, status, attempts, chat_id, message_id, error and sent_at.
    """
    if not results:
        return
    await session.exec(
        update(Delivery),  # type: ignore[call-overload]
        params=[
            {**result, "error": result["error"][:ERROR_MAX] if result["error"] else None}
            for result in results
        ],
    )
    await session.commit()


async def move_chat(*, session: AsyncSession, delivery_id: int, new_chat_id: int) -> bool:
    """Point a row at the chat its group migrated to; False if that chat is already a
    recipient of the same broadcast (the unique key forbids a second row)."""
    row = await session.get(Delivery, delivery_id)
    if row is None:
        return False
    taken = (
        await session.exec(
            select(Delivery.id).where(
                Delivery.broadcast_id == row.broadcast_id, Delivery.chat_id == new_chat_id
            )
        )
    ).first()
    if taken is not None:
        await session.commit()
        return False
    row.chat_id = new_chat_id
    session.add(row)
    await session.commit()
    return True


async def counts(*, session: AsyncSession, broadcast_id: int) -> dict[str, int]:
    """Rows per status for one broadcast; every status present, zero where none."""
    result = await session.exec(
        select(Delivery.status, func.count())
        .where(Delivery.broadcast_id == broadcast_id)
        .group_by(Delivery.status)
    )
    found = {status: 0 for status in STATUSES}
    for status, count in result:
        found[status] = int(count)
    return found


async def for_broadcast(*, session: AsyncSession, broadcast_id: int) -> list[Delivery]:
    result = await session.exec(
        select(Delivery).where(Delivery.broadcast_id == broadcast_id).order_by(col(Delivery.id))
    )
    return list(result)
