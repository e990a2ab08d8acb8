"""Updates of different chats run side by side; updates of one chat stay in order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from telegram import Chat, Message, Update, User

from bot.updates import PerChatUpdateProcessor, chat_key


def message_update(update_id: int, chat_id: int) -> Update:
    chat = Chat(chat_id, Chat.PRIVATE)
    user = User(chat_id, "Anna", is_bot=False)
    return Update(update_id, message=Message(update_id, datetime.now(UTC), chat, from_user=user))


async def test_one_chat_in_order_many_chats_at_once() -> None:
    processor = PerChatUpdateProcessor(16)
    log: list[str] = []
    release = asyncio.Event()

    async def handle(name: str, wait: bool) -> None:
        log.append(f"start {name}")
        if wait:
            await release.wait()
        log.append(f"end {name}")

    async with processor:
        first = asyncio.create_task(
            processor.process_update(message_update(1, 10), handle("a1", wait=True))
        )
        second = asyncio.create_task(
            processor.process_update(message_update(2, 10), handle("a2", wait=False))
        )
        other = asyncio.create_task(
            processor.process_update(message_update(3, 20), handle("b1", wait=False))
        )
        await other  # another chat is not held up by chat 10's slow update
        assert log == ["start a1", "start b1", "end b1"]
        assert processor.busy_chats == 1
        release.set()
        await asyncio.gather(first, second)
    assert log[3:] == ["end a1", "start a2", "end a2"]
    assert processor.busy_chats == 0  # idle chats are forgotten


async def test_updates_without_a_chat_are_processed_directly() -> None:
    processor = PerChatUpdateProcessor(4)
    done: list[int] = []

    async def handle() -> None:
        done.append(1)

    async with processor:
        await processor.process_update(object(), handle())
    assert done == [1]
    assert chat_key(object()) is None
    assert chat_key(Update(5)) is None
