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
