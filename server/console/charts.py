"""Small charts for the console's pages, laid out here and drawn as inline SVG by the templates (no
JavaScript, nothing fetched): the geometry is plain numbers a template writes into attributes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from schemas.truancy import MonthCount

PLOT = 120.0
"""Height of the tallest bar, in SVG units."""
TOP, BOTTOM, LEFT, RIGHT = 22.0, 24.0, 8.0, 40.0
SLOT, BAR = 44.0, 28.0


@dataclass(frozen=True)
class Bar:
    month: str
    """``YYYY-MM``"""
    label: str
    """The month's short name (``Oct``)."""
    name: str
    """The month's full name (``October 2025``)."""
    absences: int
    unexcused: int
    x: float
    unexcused_y: float
    unexcused_height: float
    other_y: float
    other_height: float
    count_y: float

    @property
    def other(self) -> int:
        return self.absences - self.unexcused

    @property
    def middle(self) -> float:
        return self.x + BAR / 2


@dataclass(frozen=True)
class MonthChart:
    width: float
    height: float
    baseline: float
    bars: list[Bar]
    threshold: int | None
    threshold_y: float | None
    bar: float = BAR
    """Width of a bar."""


def month_chart(months: Sequence[MonthCount], threshold: float | None = None) -> MonthChart:
    """Absences by month as bars: the unexcused part at the bottom, the other absences (excused,
    pending, disciplinary) above it, the total over each bar, and a line at ``threshold`` (the
    monthly rule's number of unexcused absences), all to one scale."""
    line = int(threshold) if threshold else None
    top = max([m.absences for m in months] + [line or 0, 1])
    unit = PLOT / top
    baseline = TOP + PLOT
    bars = []
    for i, m in enumerate(months):
        day = date.fromisoformat(f"{m.month}-01")
        x = LEFT + i * SLOT + (SLOT - BAR) / 2
        unexcused_height = m.unexcused * unit
        other_height = (m.absences - m.unexcused) * unit
        bars.append(
            Bar(
                month=m.month,
                label=day.strftime("%b"),
                name=day.strftime("%B %Y"),
                absences=m.absences,
                unexcused=m.unexcused,
                x=x,
                unexcused_y=baseline - unexcused_height,
                unexcused_height=unexcused_height,
                other_y=baseline - unexcused_height - other_height,
                other_height=other_height,
                count_y=baseline - unexcused_height - other_height - 5,
            )
        )
    return MonthChart(
        width=LEFT + len(months) * SLOT + RIGHT,
        height=TOP + PLOT + BOTTOM,
        baseline=baseline,
        bars=bars,
        threshold=line,
        threshold_y=baseline - line * unit if line else None,
    )


# --- horizontal bars, for the reports ---------------------------------------------------------------

ROW, ROW_BAR = 26.0, 18.0
"""Height of a row and of its bar, in SVG units."""
LABEL_WIDTH, PLOT_WIDTH, TOTAL_WIDTH = 320.0, 460.0, 160.0
"""The labels' column (right-aligned against the axis), the bars' and the totals' after them."""
HEAD = 6.0


@dataclass(frozen=True)
class Series:
    key: str
    """A CSS class name (the colour) and the key of its legend."""
    label: str


@dataclass(frozen=True)
class Segment:
    series: Series
    value: int
    x: float
    width: float


@dataclass(frozen=True)
class BarRow:
    label: str
    total: int
    note: str
    """Written after the total (``45% connected``); may be empty."""
    y: float
    segments: list[Segment]
    total_x: float

    @property
    def middle(self) -> float:
        """The text baseline that centres a 13px label on the bar."""
        return self.y + ROW_BAR / 2 + 4.5

    @property
    def title(self) -> str:
        """``Label: total note; part 1, part 2`` (the parts of a stacked bar that are not nought)."""
        parts = ", ".join(f"{s.series.label} {s.value}" for s in self.segments if s.value)
        return (
            f"{self.label}: {self.total}"
            + (f" {self.note}" if self.note else "")
            + (f"; {parts}" if parts and len(self.segments) > 1 else "")
        )


@dataclass(frozen=True)
class BarChart:
    width: float
    height: float
    axis_x: float
    rows: list[BarRow]
    series: list[Series]
    bar: float = ROW_BAR

    @property
    def stacked(self) -> bool:
        return len(self.series) > 1


def bar_chart(
    rows: Sequence[tuple[str, Sequence[int]]],
    series: Sequence[Series],
    notes: Sequence[str] | None = None,
    *,
    label_width: float = LABEL_WIDTH,
    totals: Sequence[int] | None = None,
) -> BarChart:
    """One horizontal bar per row, its parts stacked left to right in ``series`` order (one value
    per series), all to one scale: the longest bar spans the plot; each row's total (and its
    ``note``) after its bar. The total is the sum of the parts, or ``totals`` when the parts
    overlap (a case counted in two of them): the number written then is not the bar's length."""
    top = max([sum(values) for _, values in rows] + [1])
    unit = PLOT_WIDTH / top
    fits = int(label_width / 7.2)  # characters of a 13px label that fit its column
    laid = []
    for i, (label, values) in enumerate(rows):
        y = HEAD + i * ROW + (ROW - ROW_BAR) / 2
        x = label_width
        segments = []
        for s, value in zip(series, values, strict=True):
            segments.append(Segment(series=s, value=value, x=x, width=value * unit))
            x += value * unit
        laid.append(
            BarRow(
                label=label if len(label) <= fits else label[: fits - 1].rstrip() + "…",
                total=totals[i] if totals is not None else sum(values),
                note=notes[i] if notes else "",
                y=y,
                segments=segments,
                total_x=x + 6,
            )
        )
    return BarChart(
        width=label_width + PLOT_WIDTH + TOTAL_WIDTH,
        height=HEAD * 2 + len(rows) * ROW,
        axis_x=label_width,
        rows=laid,
        series=list(series),
    )
