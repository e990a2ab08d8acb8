"""Callback data: short, versioned, parsed strictly.

Buttons carry their whole state ("r1:wijk:brandevoort"), so a journey survives a
restart without conversation persistence, and a forged or stale button is just data
that fails to parse or validate, answered with the way back.
"""

from __future__ import annotations

import re
from enum import StrEnum

PREFIX = "r1"  # bump when the layout changes, so old buttons read as stale, not as wrong
_PART = re.compile(r"^[a-z0-9_-]{1,40}$")
MAX_BYTES = 64  # Telegram's limit on callback_data


class Button(StrEnum):
    """Every button's action code: the first part of its callback data. One definition,
    used by the wiring (bot/app.py, which routes by it) and by the modules that draw the
    buttons, so a code cannot be typed differently in two places."""

    LANG = "lang"
    WIJK = "wijk"
    HERE = "here"
    BUURT = "buurt"
    KIND = "kind"
    QUIET = "quiet"
    ERASE = "erase"
    MENU = "menu"
    INVITE = "inv"
    REVOKE = "rev"
    MAY_SEND = "snd"
    TEAM = "team"
    TEAM_DECISION = "tdec"
    GROUP = "grp"
    GROUP_DECISION = "gdec"
    CHANNEL = "chn"
    FOLLOW = "fol"
    DORMANT = "dorm"
    ALIVE = "alive"
    BROADCAST = "bc"
    REPLY = "rep"
    RESULT = "res"
    REPORT_WHAT = "mvc"
    REPORT_WHERE = "mva"
    REPORT_WHEN = "mvw"
    REPORT_PHOTOS = "mvp"
    REPORT_ANONYMOUS = "mvn"
    REPORT_WIDER = "mvk"
    REPORT_ACTION = "mvx"
    REPORT_MINE = "mvs"
    RESIDENTS_MAY_REPORT = "mvr"
    REPORT_DETAILS = "mvd"
    REPORT_PHOTOS_VIEW = "mvf"
    REPORT_STATUS = "mvt"
    STATS = "st"
    STATS_CHART = "stg"
    STATS_EXPORT = "stx"
    STATS_XLSX = "sxl"
    NOTES = "cnote"


# Row ids are 32-bit integers on PostgreSQL: a forged "99999999999999999999" must read as
# "no such row", not reach the database as an out-of-range parameter (a crash there).
MAX_ROW_ID = 2**31 - 1


def row_id(text: str) -> int | None:
    """A database id from callback data or a deep link; None when it cannot be one."""
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ROW_ID else None


def pack(*parts: str) -> str:
    if not all(_PART.match(part) for part in parts):
        raise ValueError(f"callback part not in [a-z0-9_-]: {parts!r}")
    data = ":".join((PREFIX, *parts))
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"callback data over {MAX_BYTES} bytes: {data!r}")
    return data


def unpack(data: str | None) -> tuple[str, ...] | None:
    """The parts after the prefix, or None for data this version of the bot did not make."""
    if not data or len(data.encode()) > MAX_BYTES:
        return None
    prefix, *parts = data.split(":")
    if prefix != PREFIX or not parts or not all(_PART.match(part) for part in parts):
        return None
    return tuple(parts)


def pattern(action: str) -> re.Pattern[str]:
    """A CallbackQueryHandler pattern for one action, e.g. pattern("wijk")."""
    return re.compile(rf"^{PREFIX}:{re.escape(action)}(:|$)")
