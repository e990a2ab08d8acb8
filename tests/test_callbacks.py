"""Callback data: packed within Telegram's 64 bytes, parsed strictly."""

from __future__ import annotations

import pytest

from bot.callbacks import pack, pattern, unpack


def test_round_trip() -> None:
    data = pack("buurt", "helmond-west", "houtsdonk")
    assert data == "r1:buurt:helmond-west:houtsdonk"
    assert unpack(data) == ("buurt", "helmond-west", "houtsdonk")
    assert pattern("buurt").match(data)
    assert not pattern("buur").match(data)


@pytest.mark.parametrize("part", ["", "Hoofd", "a:b", "é", "x" * 41])
def test_pack_refuses_parts_it_could_not_read_back(part: str) -> None:
    with pytest.raises(ValueError, match="callback part"):
        pack("wijk", part)


def test_pack_refuses_more_than_64_bytes() -> None:
    with pytest.raises(ValueError, match="over 64 bytes"):
        pack("a" * 30, "b" * 30, "c" * 10)


@pytest.mark.parametrize(
    "data",
    [None, "", "r1", "r1:", "r2:wijk:x", "wijk:x", "r1:Wijk", "r1:wijk:x y", "r1:" + "a" * 70],
)
def test_unpack_refuses_what_this_bot_did_not_make(data: str | None) -> None:
    assert unpack(data) is None
