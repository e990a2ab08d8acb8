"""The expiring cache: fresh for its ttl, cleared at once by a change of this process."""

from __future__ import annotations

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
