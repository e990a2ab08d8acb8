"""Where a person is in a guided conversation, as a service: each call is one session."""

from __future__ import annotations

from typing import Any

from bot.services import Services
from storage import conversations as store
from storage.models import Conversation

# The state handlers are handed; re-exported so they need not know where it is stored.
__all__ = ["Conversation", "clear", "data_of", "get", "put"]

data_of = store.data_of


async def get(services: Services, user_id: int) -> Conversation | None:
    async with services.sessions() as session:
        return await store.get(session=session, user_id=user_id)


async def put(services: Services, user_id: int, flow: str, step: str, data: dict[str, Any]) -> None:
    async with services.sessions() as session:
        await store.put(session=session, user_id=user_id, flow=flow, step=step, data=data)


async def clear(services: Services, user_id: int) -> Conversation | None:
    """Drop the conversation in progress; returns what was dropped, if anything (one commit)."""
    async with services.sessions() as session:
        state = await store.get(session=session, user_id=user_id)
        await store.clear(session=session, user_id=user_id)
    return state
