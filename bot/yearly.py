"""The yearly report for the council (issue 17): "Jaarrapport 2026" as an .xlsx workbook
and as a PDF.

The workbook has a sheet per topic (the wijken over the year, the city per month, reports
per kind and wijk) with typed numbers, so the city can sum and chart them, and a chart of
the reports per month. The PDF has the same tables and two bar charts, drawn with fpdf2's
own primitives (no picture to keep in step). The figures are bot.stats' own, the same as
/stats and /export. Counts only: no name, no chat, no report text.
"""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import matplotlib
from fpdf import FPDF
from fpdf.fonts import FontFace
from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.worksheet.worksheet import Worksheet

from bot import stats
from bot.i18n import Lang
from bot.services import Services
from bot.stats import Period, Stats

# Per month, the city's: these of /export's columns (header msgid, figure key).
MONTH_KEYS = ("subscribed", "joined", "left", "broadcasts", "delivered", "reports")
MONTH_COLUMNS = tuple(column for column in stats.COLUMNS if column[1] in MONTH_KEYS)
# Excel's own limit on a sheet's name.
SHEET_NAME_MAX = 31
# The PDF's table of wijken: the figures a council asks about first (all are in the .xlsx).
PDF_WIJK_KEYS = ("subscribed", "joined", "left", "teams_active", "groups_active", "reports")
# A Unicode font that is there wherever the bot runs: matplotlib (a dependency) ships it.
FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
# fpdf2 draws Arabic unshaped and left to right without HarfBuzz (uharfbuzz, a compiled
# extra): rather than a page nobody can read, the council's own language.
PDF_FALLBACK = {"ar"}
ACCENT = (31, 95, 168)  # the app's blue, dark enough for white text on it


def months_of(year: Period, today: date) -> list[Period]:
    """The year's months that have begun."""
    months = [stats.period_of("month", year.first)]
    while months[-1].next().first <= min(year.last, today):
        months.append(months[-1].next())
    return months


def _sheet(book: Workbook, title: str, header: list[str]) -> Worksheet:
    sheet = book.create_sheet(title[:SHEET_NAME_MAX])
    sheet.append(header)
    sheet.freeze_panes = "B2"
    return sheet


def workbook(services: Services, lang: Lang, year: Stats, months: list[Stats]) -> bytes:
    """The workbook's bytes."""
    _ = lang.gettext
    book = Workbook()
    book.remove(book.active)
    title = _("Jaarrapport {year}").format(year=year.period.key)
    book.properties.title = f"{title} – {services.areas.city}"
    columns = [(_(header), key) for header, key in stats.COLUMNS]
    wijken = _sheet(book, _("Wijken"), [_("wijk"), *(header for header, _key in columns)])
    rows = [(w.name, year.of(w.slug)) for w in services.areas.wijken]
    rows.append((_("Totaal"), year.of(None)))
    for name, figures in rows:
        wijken.append([name, *(int(figures[key]) for _h, key in columns)])
    per_month = _sheet(
        book, _("Maanden"), [_("maand"), *(_(header) for header, _key in MONTH_COLUMNS)]
    )
    for month in months:
        total = month.of(None)
        per_month.append(
            [stats.period_title(lang, month.period), *(int(total[k]) for _h, k in MONTH_COLUMNS)]
        )
    chart = BarChart()
    chart.title = _("Meldingen per maand")
    reports_column = 1 + [key for _h, key in MONTH_COLUMNS].index("reports") + 1
    chart.add_data(
        Reference(per_month, min_col=reports_column, min_row=1, max_row=len(months) + 1),
        titles_from_data=True,
    )
    chart.set_categories(Reference(per_month, min_col=1, min_row=2, max_row=len(months) + 1))
    per_month.add_chart(chart, "A" + str(len(months) + 3))
    kinds = services.categories.items
    reports = _sheet(
        book, _("Meldingen per soort"), [_("wijk"), *(c.label(lang.code) for c in kinds)]
    )
    for name, figures in rows:
        reports.append([name, *(int(figures[f"cat:{c.slug}"]) for c in kinds)])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


class _Report(FPDF):
    """A4 upright, the city's name and the page number at the foot of every page."""

    def __init__(self, footer: str, lang: Lang) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.add_font("DejaVu", "", str(FONT_DIR / "DejaVuSans.ttf"))
        self.add_font("DejaVu", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
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


def pdf(services: Services, lang: Lang, year: Stats, months: list[Stats]) -> bytes:
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
        [_("maand"), *(_(header) for header, _key in MONTH_COLUMNS)],
        [
            [stats.period_title(lang, m.period), *(int(m.of(None)[k]) for _h, k in MONTH_COLUMNS)]
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


async def _year_and_months(services: Services, year: Period) -> tuple[Stats, list[Stats]]:
    today = stats.today_in(services)
    figures = await stats.compute(services, year)
    return figures, [await stats.compute(services, month) for month in months_of(year, today)]


async def yearly_report(services: Services, lang: Lang, year: Period) -> tuple[bytes, str]:
    """The workbook of `year` and its file name."""
    figures, months = await _year_and_months(services, year)
    return workbook(services, lang, figures, months), f"jaarrapport-{year.key}.xlsx"


async def yearly_pdf(services: Services, lang: Lang, year: Period) -> tuple[bytes, str]:
    """The PDF of `year` (in Dutch where the reader's script would not render) and its name."""
    if lang.code in PDF_FALLBACK:
        lang = services.translator.for_language(services.settings.default_language)
    figures, months = await _year_and_months(services, year)
    return pdf(services, lang, figures, months), f"jaarrapport-{year.key}.pdf"
