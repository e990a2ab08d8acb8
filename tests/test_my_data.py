"""/mijngegevens as a person reads it: every stored column present, in their language."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.app import build_services
from bot.my_data import USER_FIELDS, readable
from bot.settings import load_settings
from storage.models import User


def test_every_column_of_a_user_is_in_the_file() -> None:
    # A new column must be added to the export on purpose, never silently left out.
    assert set(USER_FIELDS) == set(User.model_fields)


@pytest.mark.parametrize(
    ("code", "quiet", "kinds", "joined"),
    [
        ("nl", "22:00–07:00", ["BuurtTent", "Nieuws"], "01-12-2026, 08:31"),
        ("en", "22:00–07:00", ["BuurtTent (info tent)", "News"], "01/12/2026, 08:31"),
    ],
)
def test_values_read_as_the_bot_shows_them(
    code: str, quiet: str, kinds: list[str], joined: str
) -> None:
    services = build_services(load_settings({}))
    lang = services.translator.for_language(code)
    _ = lang.gettext
    user = User(
        id=7_123_456_789,
        language="pl",
        wijk="helmond-west",
        buurt="oud-west",
        subscribed=True,
        kinds="buurttent,nieuws",
        quiet_start=22 * 60,
        quiet_end=7 * 60,
        joined_at=datetime(2026, 12, 1, 7, 31, tzinfo=UTC),
    )
    document = readable(services, lang, user, [])
    about = document[_("Jij")]
    assert about[_("Stille uren")] == quiet  # not 1320 and 420
    assert about[_("Berichten over")] == kinds
    assert about[_("Aangemeld op")] == joined
    assert about[_("Wijk")] == "Helmond-West"
    assert about[_("Taal")] == {"nl": "Pools", "en": "Polish"}[code]
    assert about[_("Bot geblokkeerd op")] is None
    assert all(isinstance(key, str) and key for key in about)
