"""The yearly report for the council (issue 17): "Jaarrapport 2026" as an .xlsx workbook
and as a PDF.

The workbook has a sheet per topic (the wijken over the year, the city per month, reports
per kind and wijk) with typed numbers, so the city can sum and chart them, and a chart of
the reports per month. The PDF (bot.yearly_pdf) has the same tables and two bar charts.
The figures are bot.stats' own, the same as
/stats and /export. Counts only: no name, no chat, no report text.
"""

from __future__ import annotations

import io
from datetime import date

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
# fpdf2 draws Arabic unshaped and left to right without HarfBuzz (uharfbuzz, a compiled
# extra): rather than a page nobody can read, the council's own language.
PDF_FALLBACK = {"ar"}


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
    code_header = stats.cbs_header(services, lang)
    wijken = _sheet(
        book, _("Wijken"), [_("wijk"), *code_header, *(header for header, _key in columns)]
    )
    rows = [(w.name, year.of(w.slug)) for w in services.areas.wijken]
    rows.append((_("Totaal"), year.of(None)))
    codes = stats.cbs_codes(services)
    for (name, figures), code in zip(rows, codes, strict=True):
        wijken.append([name, *code, *(int(figures[key]) for _h, key in columns)])
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
        book,
        _("Meldingen per soort"),
        [_("wijk"), *code_header, *(c.label(lang.code) for c in kinds)],
    )
    for (name, figures), code in zip(rows, codes, strict=True):
        reports.append([name, *code, *(int(figures[f"cat:{c.slug}"]) for c in kinds)])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


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
    # Imported here: fpdf2 (with Pillow and fontTools) costs a bot that never draws a PDF
    # a third of a second at start, as matplotlib would (bot.charts does the same).
    from bot import yearly_pdf

    figures, months = await _year_and_months(services, year)
    body = yearly_pdf.document(services, lang, figures, months, MONTH_COLUMNS)
    return body, f"jaarrapport-{year.key}.pdf"
