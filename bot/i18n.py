"""Translations and locale-aware formatting.

Dutch is the source language: message ids are the Dutch text, so a missing catalog
still shows Dutch, never a key. Other languages live in locales/<lang>/LC_MESSAGES.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_time
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

DOMAIN = "buurtbot"
SOURCE_LANGUAGE = "nl"
# Dutch first; English for everyone else; Polish, Turkish and Arabic for the focus wijken.
SUPPORTED_LANGUAGES: tuple[str, ...] = ("nl", "en", "pl", "tr", "ar")
# The locale whose dates and numbers a language is written in. Plain "en" is Babel's
# US English ("12/1/26, 7:31 AM" reads as 12 January here): the bot's English readers
# live in Europe, so British conventions (day before month, 24-hour clock).
FORMAT_LOCALES: dict[str, str] = {"en": "en_GB"}
LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"


def N_(message: str) -> str:
    """Mark a string for extraction where it is defined; translate it where it is shown."""
    return message


def resolve_language(code: str | None, available: tuple[str, ...], default: str) -> str:
    """Pick the best available language for a Telegram `language_code`.

    Exact match, then Babel's normalised form (nl-BE -> nl_BE), then the base
    language (nl), then the default. Babel itself would silently fall back to no
    translation for codes like "pt-br", which is why the code is normalised here.
    """
    if not code:
        return default
    if code in available:
        return code
    try:
        locale = Locale.parse(code.replace("_", "-"), sep="-")
    except (UnknownLocaleError, ValueError):
        base = code.replace("_", "-").split("-")[0].lower()
        return base if base in available else default
    normalised = str(locale)
    if normalised in available:
        return normalised
    if locale.language in available:
        return locale.language
    return default


@dataclass(frozen=True)
class Translator:
    """The catalogs of one process, loaded once at start and shared by every update."""

    default_language: str
    timezone: ZoneInfo
    locales_dir: Path = LOCALES_DIR
    _catalogs: dict[str, NullTranslations] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for language in SUPPORTED_LANGUAGES:
            self._catalogs[language] = self._load(language)

    def _load(self, language: str) -> NullTranslations:
        if language == SOURCE_LANGUAGE:
            return NullTranslations()
        translations = Translations.load(str(self.locales_dir), [language], DOMAIN)
        # Babel returns NullTranslations when the .mo is missing: an install error we want
        # to see at start, not as Dutch text appearing for an English user.
        if not isinstance(translations, Translations):
            raise FileNotFoundError(f"no compiled catalog for {language!r} in {self.locales_dir}")
        return translations

    @property
    def languages(self) -> tuple[str, ...]:
        return SUPPORTED_LANGUAGES

    def resolve(self, code: str | None) -> str:
        return resolve_language(code, SUPPORTED_LANGUAGES, self.default_language)

    def gettext(self, language: str, message: str) -> str:
        return self._catalogs.get(language, self._catalogs[SOURCE_LANGUAGE]).gettext(message)

    def ngettext(self, language: str, singular: str, plural: str, n: int) -> str:
        catalog = self._catalogs.get(language, self._catalogs[SOURCE_LANGUAGE])
        return catalog.ngettext(singular, plural, n)

    def for_language(self, language: str) -> Lang:
        return Lang(self, self.resolve(language))


@dataclass(frozen=True)
class Lang:
    """One user's language: `_ = lang.gettext` inside a handler, then `_("...")`."""

    translator: Translator
    code: str

    def gettext(self, message: str) -> str:
        return self.translator.gettext(self.code, message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.translator.ngettext(self.code, singular, plural, n)

    @property
    def locale(self) -> Locale:
        return Locale.parse(FORMAT_LOCALES.get(self.code, self.code))

    def datetime(self, moment: datetime, format: str = "medium") -> str:
        """A moment in the city's time zone, written the way this language writes it."""
        return format_datetime(
            moment, format=format, tzinfo=self.translator.timezone, locale=self.locale
        )

    def date(self, day: date, format: str = "medium") -> str:
        """A calendar day (already the city's), written the way this language writes it."""
        return format_date(day, format=format, locale=self.locale)

    def full_date(self, day: date) -> str:
        """A day with its weekday and year in this language's own order.

        The locale's "full" pattern rather than a fixed "EEEE d MMMM y": Turkish puts
        the weekday last (the day, month and year, then "Cumartesi"), Polish uses the genitive month.
        """
        return format_date(day, format="full", locale=self.locale)

    def full_datetime(self, moment: datetime) -> str:
        """A moment as its full day and the short time, glued as this language glues them."""
        local = moment.astimezone(self.translator.timezone)
        glue = self.locale.datetime_formats["medium"]
        clock = format_time(local, format="short", locale=self.locale)
        return str(glue).format(clock, self.full_date(local.date()))

    def number(self, value: int | float) -> str:
        """A number as this language writes it (Dutch: 3.120)."""
        return format_decimal(value, locale=self.locale)

    def count(self, value: int, *, hide_below: int | None = None) -> str:
        """A figure for someone who may not see small counts: "<3" instead of 1 or 2.

        Small numbers can point at a single reporter; `hide_below=None` (coordinators)
        shows every count as it is. Zero stays zero: it reveals nobody.
        """
        if hide_below is not None and 0 < value < hide_below:
            return f"<{self.number(hide_below)}"
        return self.number(value)
