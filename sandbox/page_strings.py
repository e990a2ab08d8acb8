"""The sandbox page's own words (menus, buttons, labels), in the language of whoever the
page acts as, from the bot's Babel catalogs.

Dutch in the source, as everywhere: `t("…")` in the page's script and elements marked
`data-t` (their text) or `data-t-attrs="placeholder title …"` (those attributes) in its
HTML. The two extractors below hand them to `pybabel extract` (babel.cfg); the server
finds the same strings with them and answers `GET /sandbox/strings?lang=pl` with each
one's translation, so the page needs no build step and no table of its own.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import IO, Any

from babel import Locale, UnknownLocaleError
from babel.messages.extract import extract_javascript
from babel.support import NullTranslations, Translations

STATIC_DIR = Path(__file__).with_name("static")
LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "buurtbot"
SOURCE_LANGUAGE = "nl"
# The languages the bot speaks; a phone in any other language sees the Dutch page.
LANGUAGES = ("nl", "en", "pl", "tr", "ar")
# How a language writes its times, where the bare code would pick another country's way.
TIME_LOCALES = {"nl": "nl-NL", "en": "en-GB", "pl": "pl-PL", "tr": "tr-TR", "ar": "ar"}

Extracted = Iterator[tuple[int, str | None, str, list[str]]]


def extract_script(
    fileobj: IO[bytes], keywords: Any, comment_tags: Collection[str], options: dict[str, Any]
) -> Extracted:
    """Babel extractor: the strings of `t("…")` calls in the page's script (only `t`:
    the script's other calls are no messages)."""
    for lineno, _, message, comments in extract_javascript(
        fileobj, {"t": None}, comment_tags, options
    ):
        # t("…", {name: x || "…"}): the values' strings come along; the message is first.
        first = message[0] if isinstance(message, tuple) else message
        if first:
            # No keyword name: pybabel would look `t` up among its own keywords.
            yield lineno, None, first, list(comments)


class _Marked(HTMLParser):
    """Texts of elements marked data-t, and of the attributes data-t-attrs names."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self._open: list[tuple[str, int, list[str]]] = []  # tag, line, text so far

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        line = self.getpos()[0]
        for name in (values.get("data-t-attrs") or "").split():
            if values.get(name):
                self.found.append((line, str(values[name])))
        if "data-t" in values:
            self._open.append((tag, line, []))

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1][2].append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1][0] == tag:
            _, line, parts = self._open.pop()
            text = " ".join("".join(parts).split())
            if text:
                self.found.append((line, text))


def marked_texts(html: str) -> list[tuple[int, str]]:
    parser = _Marked()
    parser.feed(html)
    parser.close()
    return parser.found


def extract_page(
    fileobj: IO[bytes], keywords: Any, comment_tags: Collection[str], options: dict[str, Any]
) -> Extracted:
    """Babel extractor: the texts the page's HTML marks with data-t and data-t-attrs."""
    for lineno, text in marked_texts(fileobj.read().decode("utf-8")):
        yield lineno, None, text, []


@functools.cache
def messages(static_dir: Path = STATIC_DIR) -> tuple[str, ...]:
    """Every Dutch string of the page, from its script and its HTML, in order, once."""
    found: dict[str, None] = {}
    for path in sorted(static_dir.glob("*.js")):
        with path.open("rb") as script:
            found.update((message, None) for _, _, message, _ in extract_script(script, (), (), {}))
    for path in sorted(static_dir.glob("*.html")):
        found.update((text, None) for _, text in marked_texts(path.read_text("utf-8")))
    return tuple(found)


@functools.cache
def _catalog(language: str, locales_dir: Path = LOCALES_DIR) -> NullTranslations:
    if language == SOURCE_LANGUAGE:
        return NullTranslations()
    return Translations.load(str(locales_dir), [language], DOMAIN)


def page_language(code: str | None) -> str:
    """A phone's language code as the page speaks it: the bot's language, else Dutch."""
    if not code:
        return SOURCE_LANGUAGE
    try:
        language = Locale.parse(code, sep="-" if "-" in code else "_").language
    except (ValueError, UnknownLocaleError):
        return SOURCE_LANGUAGE
    return language if language in LANGUAGES else SOURCE_LANGUAGE


def strings(code: str | None) -> dict[str, Any]:
    """What the page needs to speak a language: its code, direction, time locale and words."""
    language = page_language(code)
    catalog = _catalog(language)
    rtl = Locale.parse(language).character_order == "right-to-left"
    return {
        "lang": language,
        "dir": "rtl" if rtl else "ltr",
        "time_locale": TIME_LOCALES[language],
        "strings": {message: catalog.gettext(message) for message in messages()},
    }
