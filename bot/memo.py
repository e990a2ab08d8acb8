"""A small in-process cache whose entries expire: for what many updates read and few change."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Expiring(Generic[K, V]):
    """Values kept for `ttl` seconds. A change made by this process clears its entry at
    once; one made by another process (a replica) shows after at most `ttl`."""

    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}
        # Loads under way, shared by everyone who asks meanwhile (see load).
        self._loading: dict[K, asyncio.Future[V]] = {}
        self._generation = 0  # moved on by clear(): a load begun before it is not kept

    def get(self, key: K) -> tuple[bool, V | None]:
        """(True, value) while fresh; (False, None) when absent or expired."""
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            return False, None
        return True, entry[1]

    def put(self, key: K, value: V) -> None:
        self._entries[key] = (self._clock() + self.ttl, value)

    def clear(self) -> None:
        self._entries.clear()
        self._generation += 1

    async def load(self, key: K, read: Callable[[], Awaitable[V]]) -> V:
        """The fresh value, else what `read` returns, kept for `ttl`.

        Everyone who asks while a read is under way waits for that same read: two hundred
        residents tapping at once would otherwise each miss and queue a query of their
        own. A read that began before a clear() is returned but not kept.
        """
        fresh, value = self.get(key)
        if fresh:
            return value  # type: ignore[return-value]
        pending = self._loading.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._read(key, read, self._generation))
            # Retrieved here too: if every waiter was cancelled, no warning is left behind.
            pending.add_done_callback(lambda f: f.cancelled() or f.exception())
            self._loading[key] = pending
        # Shielded: one waiter cancelled (its update timed out) does not cancel the others'.
        return await asyncio.shield(pending)

    async def _read(self, key: K, read: Callable[[], Awaitable[V]], generation: int) -> V:
        try:
            value = await read()
        finally:
            del self._loading[key]
        if generation == self._generation:
            self.put(key, value)
        return value
