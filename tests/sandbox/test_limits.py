"""Flood control: per chat, per group and global token buckets, runtime changes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from telegram import Bot
from telegram.error import RetryAfter

from sandbox.client import SandboxClient
from sandbox.config import Limits, SandboxConfig
from sandbox.server import SandboxServer

from .conftest import TOKEN, make_config

User = dict[str, Any]


def test_limits_scaled_and_off() -> None:
    base = Limits()
    fast = base.scaled(100)
    assert fast.per_chat_rate == 100
    assert fast.global_rate == 3000
    assert fast.per_chat_burst == base.per_chat_burst
    assert fast.group_per_minute == 20
    assert fast.group_window == pytest.approx(0.6)
    assert Limits.off().enabled is False
    with pytest.raises(ValueError, match="positive"):
        base.scaled(0)
    assert SandboxConfig(token="1:a").limits == Limits()


async def test_per_chat_burst_then_retry_after(bot: Bot, anna: User, client: SandboxClient) -> None:
    await client.set_limits(per_chat_rate=0.5)
    for i in range(3):
        await bot.send_message(anna["id"], f"burst {i}")
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(anna["id"], "te veel")
    assert info.value.retry_after.total_seconds() == 2  # one token at 0.5/s
    log = await client.requests("sendMessage")
    assert log[-1]["status"] == 429
    assert log[-1]["error"] == "Too Many Requests: retry after 2"


async def test_per_chat_bucket_refills(
    bot: Bot, client: SandboxClient, anna: User, bram: User
) -> None:
    await client.set_limits(per_chat_rate=4)
    # Burst of 3, then one message per 250 ms.
    for i in range(3):
        await bot.send_message(anna["id"], f"{i}")
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(anna["id"], "x")
    assert info.value.retry_after.total_seconds() >= 1
    await bot.send_message(bram["id"], "other chats are unaffected")
    await asyncio.sleep(0.3)
    await bot.send_message(anna["id"], "again")


async def test_group_limit_per_minute(bot: Bot, client: SandboxClient, anna: User) -> None:
    await client.set_limits(per_chat_burst=100, group_window=60)
    group = await client.create_group("Buurt", creator_id=anna["id"])
    await client.add_bot(group["id"], by=anna["id"])
    for i in range(20):
        await bot.send_message(group["id"], f"{i}")
    with pytest.raises(RetryAfter):
        await bot.send_message(group["id"], "21st")
    # A private chat is not a group: no per-minute cap.
    for i in range(25):
        await bot.send_message(anna["id"], f"{i}")


async def test_global_limit(bot: Bot, client: SandboxClient) -> None:
    await client.set_limits(global_burst=5, global_rate=1, per_chat_burst=100)
    users = [await client.create_user(f"U{i}") for i in range(6)]
    for user in users:
        await client.send(user["id"], "/start")
    for user in users[:5]:
        await bot.send_message(user["id"], "hoi")
    with pytest.raises(RetryAfter):
        await bot.send_message(users[5]["id"], "hoi")


async def test_edits_count_lightly_and_limits_can_be_disabled(
    bot: Bot, client: SandboxClient, anna: User
) -> None:
    await client.set_limits(per_chat_rate=0.01)
    sent = await bot.send_message(anna["id"], "0")
    for i in range(4):
        await bot.edit_message_text(f"{i + 1}", chat_id=anna["id"], message_id=sent.message_id)
    with pytest.raises(RetryAfter):
        await bot.send_message(anna["id"], "burst of 3 used by 1 send + 4 half-cost edits")
    limits = await client.set_limits(enabled=False)
    assert limits["enabled"] is False
    for i in range(50):
        await bot.send_message(anna["id"], f"{i}")
    assert (await client.limits())["enabled"] is False


async def test_set_limits_rejects_unknown_fields(client: SandboxClient) -> None:
    from sandbox.client import SandboxError

    with pytest.raises(SandboxError, match="unknown limit"):
        await client.set_limits(per_day=5)


async def test_disabled_limits_from_config() -> None:
    server = SandboxServer(make_config(limits=Limits.off()))
    await server.start()
    try:
        async with (
            SandboxClient(server.url) as client,
            Bot(TOKEN, base_url=server.api_base_url) as bot,
        ):
            user = await client.create_user()
            await client.send(user["id"], "/start")
            await asyncio.gather(*(bot.send_message(user["id"], str(i)) for i in range(40)))
            assert len(await client.bot_messages(user["id"])) == 40
    finally:
        await server.stop()
