"""initData (issue 17): the bot's check against the sandbox's signature, as Telegram signs."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode

import pytest

from bot import initdata
from bot.cli import SANDBOX_TOKEN
from bot.initdata import InitDataError
from sandbox import webapp
from sandbox.state import UserRecord

OTHER_TOKEN = "654321:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
CARLA = UserRecord(id=900001, first_name="Carla", language_code="ar")


def now() -> datetime:
    return datetime.now(UTC)


def refused(init_data: str, token: str = SANDBOX_TOKEN, at: datetime | None = None) -> str:
    with pytest.raises(InitDataError) as caught:
        initdata.validate(init_data, token, at or now())
    return caught.value.key


def test_what_the_sandbox_signs_is_accepted_with_its_user() -> None:
    user = initdata.validate(webapp.sign(SANDBOX_TOKEN, CARLA), SANDBOX_TOKEN, now())
    assert user == initdata.WebAppUser(id=900001, first_name="Carla", language_code="ar")


def test_a_changed_field_breaks_the_signature() -> None:
    fields = dict(parse_qsl(webapp.sign(SANDBOX_TOKEN, CARLA)))
    fields["user"] = fields["user"].replace("900001", "900002")
    assert refused(urlencode(fields)) == "bad signature"


def test_a_missing_or_empty_hash_is_refused() -> None:
    fields = dict(parse_qsl(webapp.sign(SANDBOX_TOKEN, CARLA)))
    fields["hash"] = ""
    assert refused(urlencode(fields)) == "bad signature"
    del fields["hash"]
    assert refused(urlencode(fields)) == "bad signature"


def test_signed_for_another_bot_is_refused() -> None:
    assert refused(webapp.sign(OTHER_TOKEN, CARLA)) == "bad signature"


def test_older_than_an_hour_is_refused_and_just_under_accepted() -> None:
    signed = int(time.time()) - 3600
    init_data = webapp.sign(SANDBOX_TOKEN, CARLA, auth_date=signed)
    at = datetime.fromtimestamp(signed, UTC)
    assert initdata.validate(init_data, SANDBOX_TOKEN, at + timedelta(minutes=59)).id == 900001
    assert refused(init_data, at=at + timedelta(hours=1, seconds=1)) == "initData expired"


def test_signed_in_the_future_is_refused() -> None:
    later = int(time.time()) + 600
    assert refused(webapp.sign(SANDBOX_TOKEN, CARLA, auth_date=later)) == "auth_date in the future"


def test_a_repeated_field_is_refused() -> None:
    signed = webapp.sign(SANDBOX_TOKEN, CARLA)
    assert refused(signed + "&auth_date=1") == "a field appears twice"


@pytest.mark.parametrize("junk", ["", "no-equals-sign", "a=1&&b", "x" * 5000])
def test_junk_is_refused(junk: str) -> None:
    refused(junk)


def test_a_signature_over_no_user_is_refused() -> None:
    fields = {"auth_date": str(int(time.time())), "user": '{"first_name": "x"}'}
    check = initdata.check_string(fields)
    fields["hash"] = hmac.new(initdata.secret_key(SANDBOX_TOKEN), check, hashlib.sha256).hexdigest()
    assert refused(urlencode(fields)) == "no user"
