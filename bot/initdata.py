"""Telegram Mini App `initData`: who opened the app, as Telegram vouches for it.

Telegram hands the Mini App a query string (`query_id`, `user`, `auth_date`, ...,
`hash`). Its `hash` is HMAC-SHA256 over the other fields, sorted by key and joined as
"key=value" lines, with the key HMAC-SHA256("WebAppData", bot token). Only Telegram
and this bot know the token, so a valid hash means Telegram said who this is; the
comparison is in constant time so the hash cannot be guessed byte by byte. An old
`initData` (copied from a log, a screenshot of a URL) stops working after `MAX_AGE`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl

from bot.errors import KeyedError

MAX_AGE = timedelta(hours=1)
# A clock a little ahead of Telegram's is no reason to refuse.
CLOCK_SLACK = timedelta(minutes=1)
# initData is a few hundred bytes; anything much larger is not from Telegram.
MAX_LENGTH = 4096


class InitDataError(KeyedError):
    """Why initData was refused; `key` is a short English reason for the API's answer."""


@dataclass(frozen=True)
class WebAppUser:
    id: int
    first_name: str
    language_code: str | None


def secret_key(token: str) -> bytes:
    """The key Telegram signs a bot's initData with."""
    return hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()


def check_string(fields: dict[str, str]) -> bytes:
    """The fields but `hash`, sorted by key, as "key=value" lines: what the hash covers."""
    return "\n".join(f"{key}={fields[key]}" for key in sorted(fields) if key != "hash").encode()


def validate(init_data: str, token: str, now: datetime) -> WebAppUser:
    """The user `init_data` names, if Telegram signed it for this bot within MAX_AGE."""
    if not init_data or len(init_data) > MAX_LENGTH:
        raise InitDataError("no initData")
    try:
        pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise InitDataError("initData is not a query string") from None
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise InitDataError("a field appears twice")  # which one would the hash cover?
    given = fields.get("hash", "")
    expected = hmac.new(secret_key(token), check_string(fields), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise InitDataError("bad signature")
    try:
        signed_at = datetime.fromtimestamp(int(fields["auth_date"]), tz=now.tzinfo)
    except (KeyError, ValueError, OverflowError, OSError):
        raise InitDataError("no auth_date") from None
    if now - signed_at > MAX_AGE:
        raise InitDataError("initData expired")
    if signed_at - now > CLOCK_SLACK:
        raise InitDataError("auth_date in the future")
    try:
        user = json.loads(fields["user"])
        if not isinstance(user, dict) or type(user.get("id")) is not int:
            raise ValueError("no user id")
        language = user.get("language_code")
        return WebAppUser(
            id=user["id"],
            first_name=str(user.get("first_name", "")),
            language_code=language if isinstance(language, str) else None,
        )
    except (KeyError, ValueError):
        raise InitDataError("no user") from None
