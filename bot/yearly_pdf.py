"""The yearly report as a PDF for the council (issue 17), drawn with fpdf2.

Imported only when a PDF is made (bot.yearly.yearly_pdf). Tables and two bar charts drawn
with fpdf2's own primitives (no picture to keep in step), in DejaVu Sans, a Unicode font
matplotlib (a dependency) ships, found without importing matplotlib. Counts only.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

from bot import stats
from bot.i18n import Lang
from bot.services import Services
from bot.stats import Stats

# The PDF's table of wijken: the figures a council asks about first (all are in the .xlsx).
PDF_WIJK_KEYS = ("subscribed", "joined", "left", "teams_active", "groups_active", "reports")
ACCENT = (31, 95, 168)  # the app's blue, dark enough for white text on it


def _font_dir() -> Path:
    spec = find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("matplotlib is missing: it is a dependency of buurtbot")
    return Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "fonts" / "ttf"


class _Report(FPDF):
    """A4 upright, the city's name and the page number at the foot of every page."""

    def __init__(self, footer: str, lang: Lang) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.add_font("DejaVu", "", str(_font_dir() / "DejaVuSans.ttf"))
        self.add_font("DejaVu", "B", str(_font_dir() / "DejaVuSans-Bold.ttf"))
        self.set_font("DejaVu", size=10)
        self.set_auto_page_break(auto=True, margin=15)
        self.footer_text = footer
        self.reader = lang

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("DejaVu", size=8)
        self.cell(0, 6, f"{self.footer_text} · {self.page_no()}", align="C")

    def heading(self, text: str) -> None:
        self.ln(4)
        self.set_font("DejaVu", "B", 13)
        self.cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
        self.set_font("DejaVu", size=9)

    def rows(self, header: list[str], rows: list[list[str | int]]) -> None:
        """A table: the first column text, the others numbers aligned right."""
        with self.table(
            text_align=("LEFT", *("RIGHT" for _ in header[1:])),
            headings_style=_heading_style(),
            line_height=5.5,
            col_widths=(3, *(2 for _ in header[1:])),
        ) as table:
            table.row(header)
            for values in rows:
                table.row([v if isinstance(v, str) else self.reader.number(v) for v in values])

    def bars(self, title: str, labels: list[str], values: list[int]) -> None:
        """A bar chart: one bar per label, its value above it, a base line under all."""
        self.heading(title)
        left, width, height = self.l_margin + 8, self.epw - 8, 55
        top = self.get_y() + 4
        if top + height + 12 > self.page_break_trigger:
            self.add_page()
            top = self.get_y() + 4
        highest = max(1, *values)
        slot = width / max(1, len(values))
        self.set_font("DejaVu", size=7)
        for index, (label, value) in enumerate(zip(labels, values, strict=True)):
            bar = height * value / highest
            x = left + index * slot + slot * 0.15
            self.set_fill_color(*ACCENT)
            if bar:
                self.rect(x, top + height - bar, slot * 0.7, bar, style="F")
            self.set_xy(x - slot * 0.15, top + height - bar - 4)
            self.cell(slot, 4, self.reader.number(value), align="C")
            self.set_xy(x - slot * 0.15, top + height + 1)
            self.cell(slot, 4, label, align="C")
        self.line(left, top + height, left + width, top + height)
        self.set_y(top + height + 8)
        self.set_font("DejaVu", size=9)


def _heading_style() -> FontFace:
    return FontFace(emphasis="BOLD", color=(255, 255, 255), fill_color=ACCENT)


def document(
    services: Services,
    lang: Lang,
    year: Stats,
    months: list[Stats],
    month_columns: tuple[tuple[str, str], ...],
) -> bytes:
    """The PDF's bytes: the wijken over the year, the city per month, two charts, the
    reports per kind."""
    _ = lang.gettext
    city = services.areas.city
    title = _("Jaarrapport {year}").format(year=year.period.key)
    document = _Report(f"{title} – {city}", lang)
    document.set_title(f"{title} – {city}")
    document.set_lang(lang.code)
    document.set_creator("buurtbot")
    document.add_page()
    document.set_font("DejaVu", "B", 20)
    document.cell(0, 12, title, new_x="LMARGIN", new_y="NEXT")
    document.set_font("DejaVu", "B", 14)
    document.cell(0, 8, city, new_x="LMARGIN", new_y="NEXT")
    document.set_font("DejaVu", size=9)
    document.multi_cell(
        0, 5, _("Alleen aantallen, zonder persoonsgegevens."), new_x="LMARGIN", new_y="NEXT"
    )
    labels = dict((key, _(header)) for header, key in stats.COLUMNS)
    document.heading(_("Wijken"))
    places = [(w.name, year.of(w.slug)) for w in services.areas.wijken]
    places.append((_("Totaal"), year.of(None)))
    document.rows(
        [_("wijk"), *(labels[key] for key in PDF_WIJK_KEYS)],
        [[name, *(int(figures[key]) for key in PDF_WIJK_KEYS)] for name, figures in places],
    )
    month_names = [lang.date(m.period.first, "MMM") for m in months]
    document.bars(
        _("Meldingen per maand"), month_names, [int(m.of(None)["reports"]) for m in months]
    )
    document.bars(
        _("Bewoners ingeschreven per maand"),
        month_names,
        [int(m.of(None)["subscribed"]) for m in months],
    )
    document.heading(_("Maanden"))
    document.rows(
        [_("maand"), *(_(header) for header, _key in month_columns)],
        [
            [stats.period_title(lang, m.period), *(int(m.of(None)[k]) for _h, k in month_columns)]
            for m in months
        ],
    )
    document.heading(_("Meldingen per soort"))
    total = year.of(None)
    document.rows(
        [_("soort"), _("meldingen")],
        [[c.label(lang.code), int(total[f"cat:{c.slug}"])] for c in services.categories.items],
    )
    return bytes(document.output())
