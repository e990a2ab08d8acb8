"""The figures as a picture: reports per week by category, and residents per wijk.

matplotlib is imported only when a chart is drawn (it costs start time and memory a bot
that never draws should not pay), and drawn on a Figure with the Agg canvas: no pyplot,
so no global state shared between two charts drawn at once in worker threads.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Telegram shows a photo at most 1280 px wide; this fits a phone held upright or sideways.
SIZE_INCHES = (8.0, 8.0)
DPI = 100


@dataclass(frozen=True)
class ChartData:
    weeks: tuple[str, ...]  # labels of the x axis, oldest first ("W37")
    series: tuple[tuple[str, tuple[int, ...]], ...]  # (category label, count per week)
    residents: tuple[tuple[str, int], ...]  # (wijk name, subscribed residents)
    reports_title: str
    residents_title: str


def figure(data: ChartData) -> Figure:
    """Two panels: stacked bars (one series per category) above, residents per wijk below."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=SIZE_INCHES, dpi=DPI, layout="constrained")
    reports, residents = fig.subplots(2, 1, height_ratios=(3, 2))
    positions = range(len(data.weeks))
    bottom = [0] * len(data.weeks)
    for label, values in data.series:
        reports.bar(positions, values, bottom=bottom, label=label)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    reports.set_xticks(list(positions), data.weeks)
    reports.set_title(data.reports_title)
    reports.yaxis.get_major_locator().set_params(integer=True)
    if data.series:
        # Beside the bars, not on them; long category names shortened to keep the bars wide.
        reports.legend(
            [_short(label) for label, _values in data.series],
            loc="upper left",
            bbox_to_anchor=(1.01, 1),
            fontsize="small",
        )
    names = [name for name, _count in data.residents]
    counts = [count for _name, count in data.residents]
    residents.barh(range(len(names)), counts, color="#4C72B0")
    residents.set_yticks(list(range(len(names))), names)
    residents.invert_yaxis()  # the first wijk on top, as in the text
    residents.set_title(data.residents_title)
    residents.xaxis.get_major_locator().set_params(integer=True)
    return fig


def _short(label: str, limit: int = 22) -> str:
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def draw(data: ChartData) -> bytes:
    """The chart as PNG bytes (blocking: call it in a worker thread)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = figure(data)
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
