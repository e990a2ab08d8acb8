"""The metrics that count where the work happens: 429s and their waits, misfired jobs;
each application on a registry of its own."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.metrics import Metrics
from bot.ratelimit import RetryingRateLimiter
from scheduler.runner import JobRunner
from tests.test_ratelimit import refusals


async def test_interactive_429s_and_the_seconds_waited_are_counted() -> None:
    metrics = Metrics()
    calls, callback = refusals(2, 0.01)
    limiter = RetryingRateLimiter(
        max_retries=2, on_flood=lambda seconds: metrics.flood_wait("interactive", seconds)
    )
    await limiter.process_request(callback, (), {}, "sendMessage", {}, None)
    assert len(calls) == 3
    page = metrics.render().decode()
    assert 'buurtbot_flood_waits_total{sender="interactive"} 2.0' in page
    assert 'buurtbot_flood_wait_seconds_total{sender="interactive"} 0.02' in page


async def test_a_job_missed_beyond_the_grace_is_counted_as_a_misfire() -> None:
    missed: list[str] = []
    runner = JobRunner(timezone=UTC, grace=timedelta(seconds=1), on_misfire=missed.append)
    ran: list[int] = []

    async def job() -> None:
        ran.append(1)

    runner.plan("broadcast:7", datetime.now(UTC) - timedelta(hours=1), job)
    runner.start()
    try:
        for _ in range(50):
            if missed:
                break
            await asyncio.sleep(0.05)
    finally:
        await runner.stop()
    assert missed == ["broadcast:7"]
    assert ran == []


def test_two_applications_count_apart() -> None:
    first, second = Metrics(), Metrics()
    first.update_finished("message", "onboarding.start", "done", 0.01)
    assert 'buurtbot_updates_total{kind="message",outcome="done"} 1.0' in first.render().decode()
    assert "onboarding.start" not in second.render().decode()
