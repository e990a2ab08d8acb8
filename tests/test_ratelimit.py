"""A 429 on an interactive reply: only that request waits, then goes again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from telegram.error import RetryAfter

from bot.app import BotApplication, running
from bot.ratelimit import RetryingRateLimiter, retry_seconds
from sandbox.client import SandboxClient


def refusals(count: int, seconds: float) -> tuple[list[int], object]:
    calls: list[int] = []

    async def callback() -> dict[str, bool]:
        calls.append(1)
        if len(calls) <= count:
            raise RetryAfter(timedelta(seconds=seconds))
        return {"ok": True}

    return calls, callback


async def test_waits_and_retries_the_refused_request() -> None:
    calls, callback = refusals(2, 0.01)
    limiter = RetryingRateLimiter(max_retries=2)
    result = await limiter.process_request(callback, (), {}, "sendMessage", {}, None)
    assert result == {"ok": True}
    assert len(calls) == 3


async def test_gives_up_after_max_retries() -> None:
    calls, callback = refusals(5, 0.01)
    with pytest.raises(RetryAfter):
        await RetryingRateLimiter(max_retries=1).process_request(
            callback, (), {}, "sendMessage", {}, None
        )
    assert len(calls) == 2


async def test_a_long_wait_is_not_held_on_an_update() -> None:
    calls, callback = refusals(1, 120)
    with pytest.raises(RetryAfter):
        await RetryingRateLimiter(max_wait=30).process_request(
            callback, (), {}, "sendMessage", {}, None
        )
    assert len(calls) == 1


async def test_rate_limit_args_override_the_retries() -> None:
    calls, callback = refusals(1, 0.01)
    with pytest.raises(RetryAfter):
        await RetryingRateLimiter(max_retries=3).process_request(
            callback, (), {}, "sendMessage", {}, 0
        )
    assert len(calls) == 1


def test_retry_seconds_reads_both_shapes() -> None:
    assert retry_seconds(RetryAfter(timedelta(seconds=3))) == 3.0


async def test_a_fast_tapper_still_gets_every_answer(
    app: BotApplication, client: SandboxClient
) -> None:
    # Telegram's real pace for one chat: about one message a second, a burst of one.
    await client.set_limits(per_chat_rate=1.0, per_chat_burst=1)
    async with running(app, poll_timeout=1):
        user = await client.create_user("Snel", language_code="nl")
        await client.send(user["id"], "/help")
        await client.send(user["id"], "/privacy")
        replies = await client.wait_bot_messages(user["id"], 2, timeout=10)
    refused = [r for r in await client.requests("sendMessage") if r["status"] == 429]
    assert len(replies) == 2
    assert refused, "the second reply should have met flood control once"
