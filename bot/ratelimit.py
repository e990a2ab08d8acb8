"""What the bot does when Telegram says "too many requests" to an interactive reply."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram._utils.types import JSONDict
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)


def retry_seconds(error: RetryAfter) -> float:
    value: Any = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class RetryingRateLimiter(BaseRateLimiter[int]):
    """Wait out a 429 for the one request that got it, then send again.

    PTB's AIORateLimiter pauses every request after one 429, so a broadcast's flood
    answer would freeze every resident's buttons. Here only the refused request waits.
    Broadcasts pace themselves in the delivery engine; this is the safety net for a
    resident who taps faster than Telegram allows one chat. A wait longer than
    `max_wait` is not worth holding an update for: the error goes to the error handler.
    """

    def __init__(
        self,
        *,
        max_retries: int = 2,
        max_wait: float = 30.0,
        on_flood: Callable[[float], None] | None = None,
    ) -> None:
        self.on_flood = on_flood  # the metrics: every 429 and the wait it asked for
        self.max_retries = max_retries
        self.max_wait = max_wait

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | JSONDict | list[JSONDict]:
        retries = self.max_retries if rate_limit_args is None else rate_limit_args
        attempt = 0
        while True:
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                wait = retry_seconds(error)
                if self.on_flood is not None:
                    self.on_flood(wait)
                if attempt >= retries or wait > self.max_wait:
                    raise
                attempt += 1
                log.info("%s refused for flood control; retrying in %.1f s", endpoint, wait)
                await asyncio.sleep(wait)


class SlidingWindow:
    """At most N events per key within the last `seconds` (a per-person quota)."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self._events: dict[int, deque[float]] = {}

    def _recent(self, key: int) -> deque[float]:
        events = self._events.get(key)
        if events is None:
            return deque()
        cutoff = self.clock() - self.seconds
        while events and events[0] <= cutoff:
            events.popleft()
        if not events:
            del self._events[key]
        return events

    def allows(self, key: int, limit: int) -> bool:
        return len(self._recent(key)) < limit

    def record(self, key: int) -> None:
        self._recent(key)
        self._events.setdefault(key, deque()).append(self.clock())
