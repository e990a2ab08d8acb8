"""Catalogs: complete where they must be, compiled catalogs not stale, locales resolved well."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from bot.i18n import LOCALES_DIR, SUPPORTED_LANGUAGES, Translator, resolve_language

ROOT = Path(__file__).resolve().parent.parent
TRANSLATED = [language for language in SUPPORTED_LANGUAGES if language != "nl"]
# Languages that must translate everything; the others at least what onboarding needs.
COMPLETE = ("en",)


def source_messages() -> set[str]:
    """Every message id in the code, extracted the way `make messages-extract` does."""
    found: set[str] = set()
    for package in ("bot", "handlers", "scheduler", "storage"):
        for _filename, _lineno, message, _comments, _context in extract_from_dir(
            ROOT / package,
            method_map=[("**.py", "python")],
            keywords={"_": None, "N_": None, "ngettext": (1, 2), "gettext": None},
        ):
            found.add(message if isinstance(message, str) else message[0])
    return found


def read_catalog(language: str) -> object:
    with (LOCALES_DIR / language / "LC_MESSAGES" / "buurtbot.po").open("rb") as file:
        return read_po(file, locale=language)


@pytest.mark.parametrize("language", COMPLETE)
def test_complete_languages_translate_every_message(language: str) -> None:
    catalog = read_catalog(language)
    translated = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id and m.string}  # type: ignore[attr-defined]
    missing = source_messages() - translated
    assert not missing, f"{language} lacks translations (run make messages-update): {missing}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_no_catalog_has_fuzzy_or_half_translations(language: str) -> None:
    catalog = read_catalog(language)
    for message in catalog:  # type: ignore[attr-defined]
        if not message.id:
            continue
        assert "fuzzy" not in message.flags, f"{language}: fuzzy {message.id!r}"
        assert message.string, f"{language}: untranslated {message.id!r}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_compiled_catalogs_are_not_stale(language: str) -> None:
    folder = LOCALES_DIR / language / "LC_MESSAGES"
    with (folder / "buurtbot.po").open("rb") as file:
        expected = BytesIO()
        write_mo(expected, read_po(file, locale=language))
    with (folder / "buurtbot.mo").open("rb") as file:
        compiled = read_mo(file)
    expected.seek(0)
    wanted = read_mo(expected)
    pairs = {_hashable(m.id): _hashable(m.string) for m in wanted if m.id}
    assert {_hashable(m.id): _hashable(m.string) for m in compiled if m.id} == pairs, (
        "run make messages-compile"
    )


def _hashable(value: object) -> object:
    """A plural message reads back from a .mo as lists (its forms)."""
    return tuple(value) if isinstance(value, list) else value


@pytest.mark.parametrize("language", TRANSLATED)
def test_placeholders_survive_translation(language: str) -> None:
    for message in read_catalog(language):  # type: ignore[attr-defined]
        if isinstance(message.id, str) and message.string:
            assert set(_placeholders(message.id)) == set(_placeholders(message.string)), message.id


def _placeholders(text: str) -> list[str]:
    import string

    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (None, "nl"),
        ("", "nl"),
        ("en", "en"),
        ("en-GB", "en"),
        ("en_US", "en"),
        ("nl-BE", "nl"),
        ("pl", "pl"),
        ("tr-TR", "tr"),
        ("ar-MA", "ar"),
        ("fr", "nl"),
        ("zz-nonsense", "nl"),
        ("pt-br", "nl"),
    ],
)
def test_resolve_language(code: str | None, expected: str) -> None:
    assert resolve_language(code, SUPPORTED_LANGUAGES, "nl") == expected


def test_resolve_language_uses_the_configured_default() -> None:
    assert resolve_language("fr", SUPPORTED_LANGUAGES, "en") == "en"


def test_translator_translates_and_falls_back_to_dutch() -> None:
    translator = Translator(default_language="nl", timezone=ZoneInfo("Europe/Amsterdam"))
    message = "Is er nu gevaar? Bel altijd eerst 112."
    assert translator.for_language("en").gettext(message) == (
        "Is there danger right now? Always call 112 first."
    )
    assert translator.for_language("nl").gettext(message) == message
    assert translator.for_language("fr").gettext(message) == message


def test_missing_compiled_catalog_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no compiled catalog for 'en'"):
        Translator(default_language="nl", timezone=ZoneInfo("UTC"), locales_dir=tmp_path)


def test_dates_are_written_in_the_city_time_zone_and_the_users_language() -> None:
    translator = Translator(default_language="nl", timezone=ZoneInfo("Europe/Amsterdam"))
    # 18:30 UTC on a summer day is 20:30 in Helmond (CEST), and in winter 19:30 (CET).
    summer = datetime(2026, 7, 1, 18, 30, tzinfo=UTC)
    winter = datetime(2026, 12, 1, 18, 30, tzinfo=UTC)
    assert translator.for_language("nl").datetime(summer, "d MMMM y HH:mm") == "1 juli 2026 20:30"
    assert (
        translator.for_language("en").datetime(winter, "d MMMM y HH:mm") == "1 December 2026 19:30"
    )
    assert "lipca" in translator.for_language("pl").datetime(summer, "long")


# What a reader of each language expects: day before month everywhere (English in
# Europe, not the US "12/1/26, 7:31 AM"), a 24-hour clock but in Arabic, and the
# weekday where the language puts it (Turkish: last).
EXPECTED_FORMATS = {
    "nl": ("01-12-2026, 08:31", "zaterdag 5 december 2026", "zaterdag 5 december 2026, 19:30"),
    "en": ("01/12/2026, 08:31", "Saturday, 5 December 2026", "Saturday, 5 December 2026, 19:30"),
    "pl": ("1.12.2026, 08:31", "sobota, 5 grudnia 2026", "sobota, 5 grudnia 2026, 19:30"),
    "tr": ("1.12.2026 08:31", "5 Aralık 2026 Cumartesi", "5 Aralık 2026 Cumartesi 19:30"),
    "ar": ("1\u200f/12\u200f/2026، 8:31 ص", "السبت، 5 ديسمبر 2026", "السبت، 5 ديسمبر 2026، 7:30 م"),
}


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_every_language_writes_dates_and_times_its_own_way(language: str) -> None:
    translator = Translator(default_language="nl", timezone=ZoneInfo("Europe/Amsterdam"))
    lang = translator.for_language(language)
    short, day, moment = EXPECTED_FORMATS[language]
    assert lang.datetime(datetime(2026, 12, 1, 7, 31, tzinfo=UTC), "short") == short
    assert lang.full_date(datetime(2026, 12, 5).date()) == day
    assert lang.full_datetime(datetime(2026, 12, 5, 18, 30, tzinfo=UTC)) == moment


# Wording readers stumbled over (issue 16): literal Dutch ("is for signals"), a mouse's
# "click" on a phone, Polish forms that fit only a man, a too casual Turkish "Oldu!",
# "Durdur" where one gives up a report, and "Another moment" for another time.
STUMBLES = {
    "en": (r"for signals", r"Another moment"),
    "pl": (r"sygnał", r"\b[Kk]likn", r"\w+łeś\b"),
    "tr": (r"sinyal", r"\bOldu!", r"\bDurdur\b"),
    "ar": (r"للإشارات",),
}


@pytest.mark.parametrize("language", TRANSLATED)
def test_no_catalog_keeps_the_wording_readers_stumbled_over(language: str) -> None:
    found = [
        (pattern, message.string)
        for message in read_catalog(language)  # type: ignore[attr-defined]
        if message.id and isinstance(message.string, str)
        for pattern in STUMBLES[language]
        if re.search(pattern, message.string)
    ]
    assert found == []
