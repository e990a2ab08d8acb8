"""getUpdates long polling, offsets, allowed_updates, conflicts and webhook stores."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from telegram import Bot, Update
from telegram.error import Conflict

from sandbox.client import SandboxClient
from sandbox.server import SandboxServer

from .conftest import TOKEN, make_config

User = dict[str, Any]


async def test_long_poll_returns_early_when_an_update_arrives(
    bot: Bot, client: SandboxClient, anna: User
) -> None:
    first = await bot.get_updates()
    offset = first[-1].update_id + 1
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(offset=offset, timeout=10))
    await asyncio.sleep(0.05)
    assert not poll.done()
    await client.send(anna["id"], "help")
    updates = await asyncio.wait_for(poll, 3)
    assert time.monotonic() - started < 2
    assert [u.message.text for u in updates if u.message] == ["help"]


async def test_long_poll_times_out_with_empty_list(bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=0.2) == ()
    assert time.monotonic() - started >= 0.15


async def test_offset_confirms_and_drops_earlier_updates(
    bot: Bot, client: SandboxClient, anna: User
) -> None:
    for text in ("a", "b", "c"):
        await client.send(anna["id"], text)
    updates = await bot.get_updates()
    assert len(updates) == 4  # /start + a, b, c
    ids = [u.update_id for u in updates]
    assert ids == sorted(ids)
    assert ids == list(range(ids[0], ids[0] + 4))
    # Without an offset nothing is confirmed: the same updates come again.
    assert [u.update_id for u in await bot.get_updates()] == ids
    rest = await bot.get_updates(offset=ids[2])
    assert [u.update_id for u in rest] == ids[2:]
    assert [u.update_id for u in await bot.get_updates()] == ids[2:]
    assert await bot.get_updates(offset=ids[-1] + 1) == ()
    assert len(await client.pending_updates()) == 0


async def test_negative_offset_and_limit(bot: Bot, client: SandboxClient, anna: User) -> None:
    for text in ("a", "b", "c", "d"):
        await client.send(anna["id"], text)
    limited = await bot.get_updates(limit=2)
    assert [u.message.text for u in limited if u.message] == ["/start", "a"]
    last_two = await bot.get_updates(offset=-2)
    assert [u.message.text for u in last_two if u.message] == ["c", "d"]
    # Earlier updates were forgotten.
    assert len(await bot.get_updates()) == 2


async def test_allowed_updates_are_remembered(bot: Bot, client: SandboxClient, anna: User) -> None:
    await bot.get_updates(offset=-1, allowed_updates=[Update.CALLBACK_QUERY])
    await bot.get_updates(offset=(await bot.get_updates())[-1].update_id + 1)
    await client.send(anna["id"], "niet gewenst")
    assert await bot.get_updates() == ()  # remembered across calls without the parameter
    await bot.get_updates(allowed_updates=[])  # empty list = back to the default set
    await client.send(anna["id"], "wel gewenst")
    updates = await bot.get_updates()
    assert [u.message.text for u in updates if u.message] == ["wel gewenst"]


async def test_chat_member_updates_only_when_asked(
    bot: Bot, client: SandboxClient, anna: User, bram: User
) -> None:
    group = await client.create_group("Buurt", creator_id=anna["id"], supergroup=True)
    await client.add_bot(group["id"], by=anna["id"], admin=True)
    await client.add_member(group["id"], bram["id"])
    kinds = [u.to_dict().keys() - {"update_id"} for u in await bot.get_updates()]
    assert {"chat_member"} not in kinds
    last = (await bot.get_updates())[-1].update_id
    await bot.get_updates(offset=last + 1, allowed_updates=["message", "chat_member"])
    await client.remove_member(group["id"], bram["id"])
    updates = await bot.get_updates()
    member_updates = [u.chat_member for u in updates if u.chat_member]
    assert len(member_updates) == 1
    assert member_updates[0].new_chat_member.status == "left"


async def test_second_get_updates_terminates_the_first(server: SandboxServer, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.05)
    async with Bot(TOKEN, base_url=server.api_base_url) as other:
        second = asyncio.create_task(other.get_updates(timeout=0.3))
        with pytest.raises(Conflict, match=r"(?i)terminated by other getUpdates request"):
            await asyncio.wait_for(first, 3)
        assert await second == ()


async def test_webhook_store_and_conflict(bot: Bot, client: SandboxClient, anna: User) -> None:
    assert (await bot.get_webhook_info()).url == ""
    assert await bot.set_webhook("https://buurtbot.example.nl/hook", max_connections=5)
    info = await bot.get_webhook_info()
    assert info.url == "https://buurtbot.example.nl/hook"
    assert info.pending_update_count == 1  # Anna's /start
    assert info.max_connections == 5
    assert info.api_kwargs == {}
    with pytest.raises(Conflict, match=r"(?i)can't use getUpdates method while webhook is active"):
        await bot.get_updates()
    with pytest.raises(Exception, match=r"(?i)HTTPS url must be provided"):
        await bot.set_webhook("http://insecure.example.nl/hook")
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert (await bot.get_webhook_info()).pending_update_count == 0
    assert await bot.get_updates() == ()


async def test_timeout_is_capped_by_config() -> None:
    server = SandboxServer(make_config(long_poll_max=0.1))
    await server.start()
    try:
        async with Bot(TOKEN, base_url=server.api_base_url) as bot:
            started = time.monotonic()
            assert await bot.get_updates(timeout=30) == ()
            assert time.monotonic() - started < 1
    finally:
        await server.stop()
