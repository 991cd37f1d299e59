"""Queries of the rules engine: rule sets, school years, classified absences, episodes."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.rules import MonthReading, RuleValues
from server.rules import sql
from server.rules.models import RuleSet, TruancyEpisode
from server.schools.models import SchoolYear
from server.students.models import Student


async def school_year(session: AsyncSession, school_year_id: uuid.UUID) -> SchoolYear | None:
    return await session.get(SchoolYear, school_year_id)


async def school_year_by_name(session: AsyncSession, name: str) -> SchoolYear | None:
    found: SchoolYear | None = await session.scalar(select(SchoolYear).where(SchoolYear.name == name))
    return found


async def school_year_containing(session: AsyncSession, day: date) -> SchoolYear | None:
    found: SchoolYear | None = await session.scalar(
        select(SchoolYear).where(SchoolYear.starts_on <= day, SchoolYear.ends_on >= day).order_by(SchoolYear.starts_on)
    )
    return found


async def latest_school_year_started_by(session: AsyncSession, day: date) -> SchoolYear | None:
    found: SchoolYear | None = await session.scalar(
        select(SchoolYear).where(SchoolYear.starts_on <= day).order_by(SchoolYear.starts_on.desc()).limit(1)
    )
    return found


async def current_rule_set(session: AsyncSession, school_year_id: uuid.UUID) -> RuleSet | None:
    found: RuleSet | None = await session.scalar(
        select(RuleSet).where(RuleSet.school_year_id == school_year_id).order_by(RuleSet.version.desc()).limit(1)
    )
    return found


async def rule_set_versions(session: AsyncSession, school_year_id: uuid.UUID) -> list[RuleSet]:
    rows = await session.scalars(
        select(RuleSet).where(RuleSet.school_year_id == school_year_id).order_by(RuleSet.version)
    )
    return list(rows)


async def next_rule_set_version(session: AsyncSession, school_year_id: uuid.UUID) -> int:
    current = await session.scalar(select(func.max(RuleSet.version)).where(RuleSet.school_year_id == school_year_id))
    return int(current or 0) + 1


def rule_params(school_year_id: uuid.UUID, as_of: date, values: RuleValues) -> dict[str, Any]:
    return {
        "year_id": school_year_id,
        "as_of": as_of,
        "window": values.documentation_window_days,
        "tier": values.tier_boundary,
        "wellness": values.wellness_days,
        "monthly": values.monthly_threshold,
        "yearly": values.yearly_threshold,
        "habitual": values.habitual_threshold,
        "chronic_pct": values.chronic_percent,
        "rolling": values.month_reading == MonthReading.ROLLING30,
        "meeting_days": values.meeting_due_days,
    }


_CLASSIFY_KEYS = ("year_id", "as_of", "window", "tier", "wellness")


async def classified_absences(session: AsyncSession, student_id: uuid.UUID, params: dict[str, Any]) -> list[RowMapping]:
    bind = {k: params[k] for k in _CLASSIFY_KEYS} | {"student_id": student_id}
    result = await session.execute(text(sql.classify_sql(one_student=True)), bind)
    return list(result.mappings())


async def classified_absences_of(
    session: AsyncSession, student_ids: list[uuid.UUID], params: dict[str, Any]
) -> dict[uuid.UUID, list[RowMapping]]:
    """``classified_absences`` for each of ``student_ids``, in one statement."""
    bind = {k: params[k] for k in _CLASSIFY_KEYS} | {"student_ids": student_ids}
    found: dict[uuid.UUID, list[RowMapping]] = defaultdict(list)
    for row in (await session.execute(text(sql.classify_sql(one_student=False, some=True)), bind)).mappings():
        found[row["student_id"]].append(row)
    return found


async def unexcused_days(
    session: AsyncSession, student_ids: list[uuid.UUID], params: dict[str, Any]
) -> list[tuple[uuid.UUID, date]]:
    """Each unexcused absence of the year so far (as of ``params``' date) of these students."""
    if not student_ids:
        return []
    bind = {k: params[k] for k in _CLASSIFY_KEYS} | {"student_ids": student_ids}
    result = await session.execute(text(sql.unexcused_days_sql()), bind)
    return [(student_id, day) for student_id, day in result]


async def statuses(
    session: AsyncSession, params: dict[str, Any], student_ids: list[uuid.UUID] | None = None
) -> dict[uuid.UUID, RowMapping]:
    """Every student's counts, triggers and chronic flag under ``params`` (``rule_params``), or
    those of ``student_ids``: one statement, set-based (``sql.statuses_sql``)."""
    bind = {k: v for k, v in params.items() if k != "meeting_days"}
    if student_ids is not None:
        if not student_ids:
            return {}
        bind["student_ids"] = student_ids
    result = await session.execute(text(sql.statuses_sql(student_ids is not None)), bind)
    return {row["student_id"]: row for row in result.mappings()}


async def student_status(session: AsyncSession, student_id: uuid.UUID, params: dict[str, Any]) -> RowMapping | None:
    bind = {k: v for k, v in params.items() if k != "meeting_days"} | {"student_id": student_id}
    result = await session.execute(text(sql.status_sql(one_student=True)), bind)
    return result.mappings().first()


_EVALUATE_KEYS = (*_CLASSIFY_KEYS, "monthly", "yearly", "habitual", "rolling")

_TRUANT_PLANNER = {"plan_cache_mode": "force_custom_plan", "enable_mergejoin": "off"}
"""Planner settings for the one ``truant`` statement, measured on the demo district (a counselor's
667 students, an admin's 2,000): a prepared statement's generic plan (PostgreSQL's choice after
five runs on a connection) knows neither the day nor how many students, and was 15 times slower;
and the calendar joins (``ret``, ``dead``, ``enr``) were merge joins on the school alone, filtering
hundreds of thousands of pairs, where hash joins on (school, day) take half the time."""


async def truant(
    session: AsyncSession,
    visible: ColumnElement[bool],
    params: dict[str, Any],
    *,
    limit: int,
    after: tuple[date, uuid.UUID] | None,
) -> list[RowMapping]:
    """The students ``visible`` names (a scope over ``Student``) who are truant or habitually truant
    under ``params`` (``rule_params``), in (first trigger, id) order after ``after``: up to ``limit``
    rows of ``sql.truant_sql``."""
    ids = list(await session.scalars(select(Student.id).where(visible)))
    if not ids:
        return []
    bind = {k: params[k] for k in _EVALUATE_KEYS} | {"student_ids": ids, "limit": limit}
    if after is not None:
        bind |= {"after_day": after[0], "after_id": after[1]}
    for name, value in _TRUANT_PLANNER.items():
        await session.execute(text(f"SET LOCAL {name} = {value}"))
    result = await session.execute(text(sql.truant_sql(after is not None)), bind)
    found = list(result.mappings())
    for name in _TRUANT_PLANNER:  # the rest of the transaction plans as usual (a failure rolls them back)
        await session.execute(text(f"RESET {name}"))
    return found


async def episodes_for(session: AsyncSession, student_id: uuid.UUID, school_year_id: uuid.UUID) -> list[TruancyEpisode]:
    rows = await session.scalars(
        select(TruancyEpisode)
        .where(TruancyEpisode.student_id == student_id, TruancyEpisode.school_year_id == school_year_id)
        .order_by(TruancyEpisode.became_on, TruancyEpisode.rule, TruancyEpisode.created_at)
    )
    return list(rows)


async def episodes_of_year(session: AsyncSession, school_year_id: uuid.UUID) -> dict[uuid.UUID, list[TruancyEpisode]]:
    """Every student's episodes of the year, each list in ``episodes_for``'s order."""
    found: dict[uuid.UUID, list[TruancyEpisode]] = defaultdict(list)
    rows = await session.scalars(
        select(TruancyEpisode)
        .where(TruancyEpisode.school_year_id == school_year_id)
        .order_by(TruancyEpisode.student_id, TruancyEpisode.became_on, TruancyEpisode.rule, TruancyEpisode.created_at)
    )
    for episode in rows:
        found[episode.student_id].append(episode)
    return found


async def last_school_day_before(session: AsyncSession, day: date) -> date | None:
    """The last day of the latest school year that started on or before ``day``."""
    return await session.scalar(
        select(SchoolYear.ends_on).where(SchoolYear.starts_on <= day).order_by(SchoolYear.ends_on.desc()).limit(1)
    )
