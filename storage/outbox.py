"""The delivery outbox: one row per recipient of a broadcast, worked off by bot.delivery.

Statuses: queued -> sending -> sent | failed | blocked | gone. A row is "sending" from the
moment an engine claims it until its result is written. A claim names its engine
(`claimed_by`) and holds until `claim_expires_at`, which the engine keeps renewing; rows of
an engine that is gone (its claim expired, or it is known to have stopped) go back to
"queued", those of a live engine never.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, literal, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.dialect import insert
from storage.models import Broadcast, Delivery, DeliveryStatus, utcnow

STATUSES: tuple[DeliveryStatus, ...] = tuple(DeliveryStatus)
ERROR_MAX = 200
# Recipients per executemany in enqueue.
ENQUEUE_CHUNK = 5000


async def enqueue(
    *,
    session: AsyncSession,
    broadcast_id: int,
    recipients: Sequence[tuple[int, str, str | None, datetime | None]],
) -> int:
    """Queue (chat_id, kind, language, not_before) recipients; those already there are left alone.

    Returns how many rows are new, so enqueueing the same audience twice queues nothing.
    Each chunk is one statement with a list of parameters: SQLAlchemy sends it in batches
    ("insertmanyvalues") from one cached compilation. A multi-row VALUES clause built here
    was compiled anew for every chunk, about 1 ms per recipient (bench/growth.py); the
    chunks keep the parameter dicts of a city-wide audience from all being held at once.
    """
    statement = (
        insert(session, Delivery)
        .on_conflict_do_nothing(index_elements=["broadcast_id", "chat_id"])
        .returning(col(Delivery.id))
    )
    added = 0
    for start in range(0, len(recipients), ENQUEUE_CHUNK):
        values = [
            {
                "broadcast_id": broadcast_id,
                "chat_id": chat_id,
                "recipient": kind,
                "language": language,
                "status": DeliveryStatus.QUEUED,
                "attempts": 0,
                "not_before": not_before,
            }
            for chat_id, kind, language, not_before in recipients[start : start + ENQUEUE_CHUNK]
        ]
        result = await session.exec(statement, params=values)  # type: ignore[call-overload]
        added += len(result.all())
    await session.commit()
    return added


async def enqueue_chosen(*, session: AsyncSession, broadcast_id: int, chosen: Any) -> int:
    """Queue every (chat_id, language, not_before) row a SELECT gives as a private
    recipient, in the database itself: nothing per recipient passes through Python.
    Rows already queued are left alone; returns how many are new."""
    rows = chosen.subquery()
    source = select(
        literal(broadcast_id), rows.c.chat_id, literal("user"), rows.c.language,
        literal(str(DeliveryStatus.QUEUED)), literal(0), rows.c.not_before,
    ).where(rows.c.chat_id.is_not(None))  # fmt: skip
    columns = [
        "broadcast_id",
        "chat_id",
        "recipient",
        "language",
        "status",
        "attempts",
        "not_before",
    ]
    statement = (
        insert(session, Delivery)
        .from_select(columns, source)
        .on_conflict_do_nothing(index_elements=["broadcast_id", "chat_id"])
    )
    result = await session.exec(statement)  # type: ignore[call-overload]
    await session.commit()
    return max(int(result.rowcount or 0), 0)


@dataclass(frozen=True)
class Claim:
    """The rows one engine holds "sending" (claimer None: claimed before claims had names)."""

    claimer: str | None
    rows: int
    expired: int  # of those, how many have a claim that expired (or none at all)
    expires_at: datetime | None  # the latest expiry among them


def claimable(limit: int) -> Any:
    """The ids `claim` takes: queued and due, in id order, read along ix_deliveries_status_id."""
    return (
        select(Delivery.id)
        .where(
            Delivery.status == DeliveryStatus.QUEUED,
            # Held back for quiet hours until not_before.
            or_(col(Delivery.not_before).is_(None), col(Delivery.not_before) <= utcnow()),
        )
        .order_by(col(Delivery.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


async def claim(
    *, session: AsyncSession, limit: int, claimer: str, expires_at: datetime
) -> list[Delivery]:
    """Mark up to `limit` queued rows "sending" for `claimer` until `expires_at`, oldest
    broadcast and first recipient first.

    SKIP LOCKED keeps a second process from claiming the same rows on PostgreSQL; SQLite
    has one writer at a time anyway, and SQLAlchemy leaves the clause out there.
    """
    ids = list(await session.exec(claimable(limit)))
    if not ids:
        await session.commit()
        return []
    await session.exec(
        update(Delivery)  # type: ignore[call-overload]
        # By id alone: the rows are this transaction's (FOR UPDATE on PostgreSQL; on
        # SQLite the one connection is ours and the lease keeps other processes out). A
        # status condition here made PostgreSQL walk the status index across the whole
        # queue after a big enqueue (stale statistics): 225-375 ms a claim at 1M.
        .where(col(Delivery.id).in_(ids))
        .values(status=DeliveryStatus.SENDING, claimed_by=claimer, claim_expires_at=expires_at)
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


async def claims(*, session: AsyncSession, now: datetime) -> list[Claim]:
    """Who holds rows "sending": how many, how many of those expired by `now`, until when."""
    lapsed = or_(col(Delivery.claim_expires_at).is_(None), col(Delivery.claim_expires_at) <= now)
    result = await session.exec(
        select(
            Delivery.claimed_by,
            func.count(),
            func.sum(case((lapsed, 1), else_=0)),
            func.max(Delivery.claim_expires_at),
        )
        .where(Delivery.status == DeliveryStatus.SENDING)
        .group_by(col(Delivery.claimed_by))
        .order_by(col(Delivery.claimed_by))
    )
    found = [
        Claim(claimer, int(count), int(expired or 0), expires)
        for claimer, count, expired, expires in result
    ]
    await session.commit()
    return found


async def take_back(
    *, session: AsyncSession, claimer: str | None, expired_by: datetime | None = None
) -> int:
    """Rows `claimer` holds "sending" go back to the queue: all of them, or with `expired_by`
    only those whose claim expired by then. Returns how many."""
    owner = (
        col(Delivery.claimed_by).is_(None) if claimer is None else Delivery.claimed_by == claimer
    )
    condition = [Delivery.status == DeliveryStatus.SENDING, owner]
    if expired_by is not None:
        condition.append(
            or_(
                col(Delivery.claim_expires_at).is_(None),
                col(Delivery.claim_expires_at) <= expired_by,
            )
        )
    result: Any = await session.exec(
        update(Delivery)  # type: ignore[call-overload]
        .where(*condition)
        .values(status=DeliveryStatus.QUEUED, claimed_by=None, claim_expires_at=None)
    )
    await session.commit()
    return int(result.rowcount or 0)


async def renew(
    *, session: AsyncSession, claimer: str, ids: Sequence[int], expires_at: datetime
) -> int:
    """Extend the claims `claimer` holds on these rows; how many it still holds."""
    if not ids:
        return 0
    result: Any = await session.exec(
        update(Delivery)  # type: ignore[call-overload]
        .where(
            col(Delivery.id).in_(ids),
            Delivery.status == DeliveryStatus.SENDING,
            Delivery.claimed_by == claimer,
        )
        .values(claim_expires_at=expires_at)
    )
    await session.commit()
    return int(result.rowcount or 0)


async def release(*, session: AsyncSession, claimer: str, attempts: dict[int, int]) -> None:
    """Claimed rows that were not sent go back to the queue, keeping their attempt counts.

    Only rows `claimer` still holds: one whose claim lapsed may belong to another by now.
    """
    if not attempts:
        return
    for row_id, count in attempts.items():
        await session.exec(
            update(Delivery)  # type: ignore[call-overload]
            .where(
                col(Delivery.id) == row_id,
                Delivery.status == DeliveryStatus.SENDING,
                Delivery.claimed_by == claimer,
            )
            .values(
                status=DeliveryStatus.QUEUED, attempts=count, claimed_by=None, claim_expires_at=None
            )
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


@dataclass(frozen=True)
class Backlog:
    depth: int
    # When the broadcast of the oldest unsent row was created (None: nothing waits).
    oldest: datetime | None


async def backlog(*, session: AsyncSession) -> Backlog:
    """Rows not yet settled (queued or sending) and the age of the oldest, for /metrics.

    A row has no time of its own; its broadcast's creation is when it began to wait.
    """
    waiting = col(Delivery.status).in_(("queued", "sending"))
    depth = (await session.exec(select(func.count()).where(waiting))).one()
    oldest = (
        await session.exec(
            select(func.min(Broadcast.created_at)).where(
                col(Broadcast.id).in_(select(Delivery.broadcast_id).where(waiting).distinct())
            )
        )
    ).one()
    return Backlog(depth=int(depth or 0), oldest=oldest)
