"""What Telegram does when someone opens a bot's Mini App: sign `initData` for them.

Written apart from the bot's check (bot.initdata) on purpose, from Telegram's
description, so a test of one against the other is a test of both.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from urllib.parse import quote, urlencode

from sandbox.state import UserRecord


def sign(token: str, user: UserRecord, *, auth_date: int | None = None) -> str:
    """initData for `user`, as Telegram hands it to a Mini App of the bot with `token`."""
    fields = {
        "query_id": "AAH" + secrets.token_urlsafe(12),
        "user": json.dumps(user.to_dict(), separators=(",", ":"), ensure_ascii=False),
        "auth_date": str(int(time.time()) if auth_date is None else auth_date),
    }
    data_check = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    key = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(key, data_check.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields, quote_via=quote)


def launch_url(url: str, init_data: str) -> str:
    """The Mini App's URL as a Telegram client opens it: initData in the fragment."""
    base = url.split("#", 1)[0]
    return f"{base}#tgWebAppData={quote(init_data, safe='')}&tgWebAppVersion=7.0"
