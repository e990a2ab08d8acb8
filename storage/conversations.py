"""Where a person is in a guided conversation; stored so a restart loses nothing."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Conversation, utcnow


async def get(*, session: AsyncSession, user_id: int) -> Conversation | None:
    return await session.get(Conversation, user_id)


async def put(
    *, session: AsyncSession, user_id: int, flow: str, step: str, data: dict[str, Any]
) -> None:
    state = await session.get(Conversation, user_id) or Conversation(
        user_id=user_id, flow=flow, step=step
    )
    state.flow, state.step, state.updated_at = flow, step, utcnow()
    state.data = json.dumps(data, ensure_ascii=False)
    session.add(state)
    await session.commit()


async def drop(*, session: AsyncSession, user_id: int) -> None:
    """The user's conversation state goes, inside the caller's transaction."""
    state = await session.get(Conversation, user_id)
    if state is not None:
        await session.delete(state)


async def clear(*, session: AsyncSession, user_id: int) -> None:
    await drop(session=session, user_id=user_id)
    await session.commit()


def data_of(state: Conversation) -> dict[str, Any]:
    loaded = json.loads(state.data or "{}")
    return loaded if isinstance(loaded, dict) else {}
