"""The expiring cache: fresh for its ttl, cleared at once by a change of this process."""

from __future__ import annotations

import asyncio

from bot.memo import Expiring


def test_a_value_is_fresh_for_its_ttl_then_read_again() -> None:
    now = [100.0]
    cache: Expiring[str, int | None] = Expiring(30.0, clock=lambda: now[0])
    assert cache.get("stiphout") == (False, None)
    cache.put("stiphout", None)  # "no channel" is an answer worth keeping too
    assert cache.get("stiphout") == (True, None)
    now[0] += 29.9
    assert cache.get("stiphout") == (True, None)
    now[0] += 0.2
    assert cache.get("stiphout") == (False, None)


def test_clear_forgets_everything() -> None:
    cache: Expiring[str, int] = Expiring(30.0)
    cache.put("a", 1)
    cache.clear()
    assert cache.get("a") == (False, None)


async def test_who_asks_while_a_read_runs_waits_for_that_read() -> None:
    cache: Expiring[str, int] = Expiring(30.0)
    reads = 0
    gate = asyncio.Event()

    async def read() -> int:
        nonlocal reads
        reads += 1
        await gate.wait()
        return 7

    waiting = [asyncio.ensure_future(cache.load("stiphout", read)) for _ in range(50)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*waiting) == [7] * 50
    assert reads == 1
    assert await cache.load("stiphout", read) == 7  # kept: no second read
    assert reads == 1


async def test_a_read_begun_before_a_clear_is_answered_but_not_kept() -> None:
    cache: Expiring[str, int] = Expiring(30.0)
    gate = asyncio.Event()
    values = iter([1, 2])

    async def read() -> int:
        await gate.wait()
        return next(values)

    first = asyncio.ensure_future(cache.load("a", read))
    await asyncio.sleep(0)
    cache.clear()  # a change while the old value was being read
    gate.set()
    assert await first == 1
    assert cache.get("a") == (False, None)
    assert await cache.load("a", read) == 2


async def test_one_waiter_cancelled_leaves_the_read_to_the_others() -> None:
    cache: Expiring[str, int] = Expiring(30.0)
    gate = asyncio.Event()

    async def read() -> int:
        await gate.wait()
        return 3

    impatient = asyncio.ensure_future(cache.load("a", read))
    patient = asyncio.ensure_future(cache.load("a", read))
    await asyncio.sleep(0)
    impatient.cancel()
    gate.set()
    assert await patient == 3
    assert cache.get("a") == (True, 3)


async def test_a_failed_read_reaches_every_waiter_and_the_next_ask_reads_again() -> None:
    cache: Expiring[str, int] = Expiring(30.0)
    attempts = 0

    async def read() -> int:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(0)
        if attempts == 1:
            raise OSError("database away")
        return 5

    results = await asyncio.gather(
        cache.load("a", read), cache.load("a", read), return_exceptions=True
    )
    assert [type(r) for r in results] == [OSError, OSError]
    assert await cache.load("a", read) == 5
    assert attempts == 2
