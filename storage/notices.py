"""Notices in the outbox: one broadcast row per notice, one delivery per recipient with its
own rendered message, and the erasure of that message once it is settled."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Broadcast, Delivery, DeliveryStatus, utcnow

NOTICE = "notice"
SETTLED = (
    DeliveryStatus.SENT,
    DeliveryStatus.FAILED,
    DeliveryStatus.BLOCKED,
    DeliveryStatus.GONE,
)
# The chat of a settled notice whose topic must not stay linkable to whom it went.
NOBODY = 0


async def create(
    *,
    session: AsyncSession,
    topic: str,
    rows: Sequence[tuple[int, str | None, str]],
) -> Broadcast:
    """Queue one notice: (chat_id, language, content) per recipient, in one commit."""
    notice = Broadcast(
        kind=NOTICE,
        status=DeliveryStatus.SENDING,
        author_id=0,  # the bot itself: nobody asked for it
        fields=json.dumps({"topic": topic}),
        audience="{}",
        started_at=utcnow(),
    )
    session.add(notice)
    await session.flush()
    assert notice.id is not None
    for chat_id, language, content in rows:
        session.add(
            Delivery(
                broadcast_id=notice.id,
                chat_id=chat_id,
                recipient="user",
                language=language,
                content=content,
            )
        )
    await session.commit()
    await session.refresh(notice)
    return notice


async def scrub(
    *, session: AsyncSession, private_topics: Sequence[str], broadcast_id: int | None = None
) -> tuple[int, int]:
    """Erase the message of settled notice rows (one notice, or all); for private topics
    the chat too, so nothing links the recipient to what they were told. One commit.
    Returns (messages erased, chats erased)."""
    notices = select(Broadcast.id).where(Broadcast.kind == NOTICE)
    if broadcast_id is not None:
        notices = notices.where(Broadcast.id == broadcast_id)
    settled = (
        col(Delivery.broadcast_id).in_(notices),
        col(Delivery.status).in_(SETTLED),
    )
    erased: Any = await session.exec(
        update(Delivery)  # type: ignore[call-overload]
        .where(*settled, col(Delivery.content).is_not(None))
        .values(content=None)
    )
    private = select(Broadcast.id).where(
        Broadcast.kind == NOTICE,
        col(Broadcast.fields).in_([json.dumps({"topic": topic}) for topic in private_topics]),
    )
    if broadcast_id is not None:
        private = private.where(Broadcast.id == broadcast_id)
    hidden: Any = await session.exec(
        update(Delivery)  # type: ignore[call-overload]
        .where(*settled, col(Delivery.broadcast_id).in_(private), Delivery.chat_id != NOBODY)
        .values(chat_id=NOBODY)
    )
    await session.commit()
    return int(erased.rowcount or 0), int(hidden.rowcount or 0)


async def of_topic(*, session: AsyncSession, topic: str) -> list[Delivery]:
    """Every outbox row of notices of one topic (tests, and the operator's questions)."""
    notices = select(Broadcast.id).where(
        Broadcast.kind == NOTICE, Broadcast.fields == json.dumps({"topic": topic})
    )
    query = select(Delivery).where(col(Delivery.broadcast_id).in_(notices))
    return list(await session.exec(query.order_by(col(Delivery.id))))
