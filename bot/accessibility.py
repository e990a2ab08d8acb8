"""The Mini App's accessibility statement (toegankelijkheidsverklaring), issue 17.

Dutch government services must meet WCAG 2.1 AA and say how far they do; the statement
is a plain page in the reader's language from the bot's own catalogs, public (it holds
nothing about anyone), linked from the app. Every value put in it is escaped.
"""

from __future__ import annotations

from datetime import date
from html import escape

from bot.i18n import N_, Lang

# When the pages were last checked against WCAG 2.1 AA (tests/browser/test_miniapp.py
# runs axe-core on each of them; the manual checks below were made that day).
CHECKED = date(2026, 12, 1)

TITLE = N_("Toegankelijkheidsverklaring")
INTRO = N_(
    "{city} wil dat iedereen dit overzicht kan gebruiken. "
    "Daarom volgen we de richtlijnen WCAG 2.1, niveau AA."
)
DONE_TITLE = N_("Wat we doen")
DONE = (
    N_("Je kunt alles met het toetsenbord bedienen. Je ziet altijd waar je bent."),
    N_("Tekst en achtergrond hebben genoeg contrast."),
    N_("Elke knop en elk veld heeft een naam die een schermlezer voorleest."),
    N_("In het Arabisch loopt de pagina van rechts naar links."),
    N_("De pagina werkt ook op een smal scherm van 320 pixels."),
    N_("We testen elke pagina automatisch met axe-core."),
)
LIMITS_TITLE = N_("Wat nog niet helemaal goed is")
LIMITS = (
    N_(
        "De kaart is een kaart met tegels, niet met de echte grenzen. De cijfers staan ook in de tabel."
    ),
    N_("De grafieken zijn plaatjes. Een schermlezer leest de cijfers als tekst voor."),
)
CONTACT_TITLE = N_("Werkt iets niet?")
CONTACT = N_(
    "Laat het de coördinator weten in de chat met de bot. We lossen het zo snel mogelijk op."
)
CHECKED_LINE = N_("Gecontroleerd op {date}.")
BACK = N_("Terug naar het overzicht")


def statement(lang: Lang, city: str, rtl: set[str]) -> str:
    """The page's HTML: headings, two lists, a way to report a problem, and a way back."""
    _ = lang.gettext

    def items(texts: tuple[str, ...]) -> str:
        return "".join(f"<li>{escape(_(text))}</li>" for text in texts)

    direction = "rtl" if lang.code in rtl else "ltr"
    return f"""<!doctype html>
<html lang="{escape(lang.code)}" dir="{direction}">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{escape(_(TITLE))}</title>
  <link rel="stylesheet" href="static/app.css">
</head>
<body>
  <header><h1>{escape(_(TITLE))}</h1></header>
  <main>
    <p>{escape(_(INTRO).format(city=city))}</p>
    <h2>{escape(_(DONE_TITLE))}</h2>
    <ul>{items(DONE)}</ul>
    <h2>{escape(_(LIMITS_TITLE))}</h2>
    <ul>{items(LIMITS)}</ul>
    <h2>{escape(_(CONTACT_TITLE))}</h2>
    <p>{escape(_(CONTACT))}</p>
    <p class="note">{escape(_(CHECKED_LINE).format(date=lang.date(CHECKED, "long")))}</p>
    <p><a id="back" href="./">{escape(_(BACK))}</a></p>
  </main>
  <script src="static/statement.js"></script>
</body>
</html>
"""
