"""Reports: what ``GET /reports`` answers (the same service, the same scope), each report an inline
SVG chart with its numbers as a table: assessment factors by category, by school (a bar per school,
its parts the categories) and by factor, referrals by resource and status, parent meetings against
their legal deadline. A period of the district's days can be chosen (by default the school year in
progress)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any

from litestar import get
from litestar.params import QueryParameter
from litestar.response import Template

from schemas.casework import FactorCategory
from schemas.reports import FactorRow, FactorsReport, MeetingCounts, Reports, SchoolCount
from server.console.charts import BarChart, Series, bar_chart
from server.console.pages import page
from server.console.session import signed_in
from server.deps import AuthRequest, Config, Db
from server.errors import InvalidInput
from server.reports import service

CATEGORY_NAMES = {
    FactorCategory.BARRIERS: "Barriers",
    FactorCategory.AVERSION: "Aversion (negative school experiences)",
    FactorCategory.DISENGAGEMENT: "Disengagement",
    FactorCategory.MISCONCEPTIONS: "Misconceptions",
    FactorCategory.OTHER: "Other",
}
CATEGORY_SERIES = [Series(f"cat-{c.value}", CATEGORY_NAMES[c]) for c in FactorCategory]
STATUS_SERIES = [
    Series("st-connected", "connected"),
    Series("st-made", "made, no answer yet"),
    Series("st-not_connected", "not connected"),
    Series("st-declined", "declined"),
]
MEETING_SERIES = [
    Series("mt-on_time", "held on time"),
    Series("mt-late", "held late"),
    Series("mt-overdue", "not held, deadline passed"),
    Series("mt-pending", "not held, not yet due"),
]
CHART_RESOURCES = 12
"""The most referred resources the chart shows; the table lists them all."""
NO_SCHOOL = "No school on record"


def percent(share: float | None) -> str:
    return "" if share is None else f"{share * 100:.0f}%"


def counts(by_school: list[SchoolCount]) -> dict[uuid.UUID | None, int]:
    return {c.school_id: c.cases for c in by_school}


@dataclass(frozen=True)
class Column:
    school_id: uuid.UUID | None
    name: str


def _columns(found: Reports, present: set[uuid.UUID | None]) -> list[Column]:
    """The schools the reports name, by name, and a column for cases with no school if any."""
    columns = [Column(s.id, s.name) for s in found.schools if s.id in present]
    return columns + ([Column(None, NO_SCHOOL)] if None in present else [])


def _factor_chart(rows: list[FactorRow]) -> BarChart:
    categories = list(FactorCategory)
    return bar_chart(
        [(r.label, [r.cases if r.category is c else 0 for c in categories]) for r in rows],
        CATEGORY_SERIES,
        [f"({r.primary} primary)" if r.primary else "" for r in rows],
        label_width=360,
    )


def _school_chart(f: FactorsReport, columns: list[Column]) -> BarChart:
    """A bar per school, its parts the cases naming a factor of each category there; a case naming
    factors of two categories is in both, so the number after a bar is the school's cases assessed."""
    assessed = counts(f.by_school)
    by_category = {row.category: counts(row.by_school) for row in f.categories}
    return bar_chart(
        [(c.name, [by_category.get(cat, {}).get(c.school_id, 0) for cat in FactorCategory]) for c in columns],
        CATEGORY_SERIES,
        [f"case{'s' if assessed.get(c.school_id, 0) != 1 else ''} assessed" for c in columns],
        label_width=360,
        totals=[assessed.get(c.school_id, 0) for c in columns],
    )


def _meeting_values(m: MeetingCounts) -> list[int]:
    return [m.on_time, m.late, m.overdue, m.pending]


def _context(found: Reports) -> dict[str, Any]:
    f, r, m = found.factors, found.referrals, found.parent_meetings
    named = [row for row in f.factors if row.cases]
    present = {c.school_id for c in f.by_school} | {row.school_id for row in m.by_school}
    columns = _columns(found, present)
    order = {c.school_id: i for i, c in enumerate(columns)}
    school_rows = sorted(m.by_school, key=lambda row: order.get(row.school_id, len(order)))
    names = {c.school_id: c.name for c in columns}
    categories = [c for c in f.categories if c.cases]
    assessed = [c for c in columns if any(s.school_id == c.school_id for s in f.by_school)]
    return {
        "found": found,
        "columns": assessed,
        "school_chart": _school_chart(f, assessed) if assessed else None,
        "factor_groups": [(CATEGORY_NAMES[c], [row for row in named if row.category is c]) for c in FactorCategory],
        "factor_chart": _factor_chart(named) if named else None,
        "categories": categories,
        "category_names": CATEGORY_NAMES,
        "category_chart": bar_chart(
            [(CATEGORY_NAMES[c.category], [c.cases]) for c in categories],
            [Series("bar-cases", "cases")],
            [f"({percent(c.cases / f.cases_assessed)} of cases)" for c in categories],
            label_width=360,
        )
        if categories
        else None,
        "referral_chart": bar_chart(
            [
                (row.resource_name, [s.connected, s.made, s.not_connected, s.declined])
                for row in r.resources[:CHART_RESOURCES]
                for s in [row.statuses]
            ],
            STATUS_SERIES,
            [f"({percent(row.connected_share)} connected)" for row in r.resources[:CHART_RESOURCES]],
        )
        if r.resources
        else None,
        "chart_resources": CHART_RESOURCES,
        "school_rows": school_rows,
        "school_names": names,
        "meeting_chart": bar_chart(
            [("All schools", _meeting_values(m))]
            + [(names.get(row.school_id, NO_SCHOOL), _meeting_values(row)) for row in school_rows],
            MEETING_SERIES,
            [
                f"({percent(row.on_time_share)} on time)" if row.on_time_share is not None else ""
                for row in [m, *school_rows]
            ],
        )
        if m.required
        else None,
        "percent": percent,
        "counts": counts,
    }


def _day(text: str | None) -> date | None:
    if not text:
        return None
    return date.fromisoformat(text.strip())


@get("/reports", opt=signed_in(*service.READERS))
async def reports_page(
    request: AuthRequest,
    db: Db,
    settings: Config,
    first: Annotated[str | None, QueryParameter(name="from")] = None,
    last: Annotated[str | None, QueryParameter(name="to")] = None,
) -> Template:
    form: dict[str, Any] = {"first": first or "", "last": last or ""}
    try:
        start, end = _day(first), _day(last)
    except ValueError:
        message = "That is not a date. Enter it as year-month-day, for example 2025-09-01."
        return page(request, "reports.html", 400, found=None, date_error=message, **form)
    try:
        found = await service.reports(db, request.user, datetime.now(UTC), settings.time_zone, start, end)
    except InvalidInput as exc:
        return page(request, "reports.html", 400, found=None, date_error=exc.detail, **form)
    if not first and not last:
        form = {"first": found.period.from_.isoformat(), "last": found.period.to.isoformat()}
    return page(request, "reports.html", date_error=None, **form, **_context(found))


HANDLERS = [reports_page]
