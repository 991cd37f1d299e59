"""School years: the list an admin picks a year's id from (for the rules routes)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.schools import RulesInForce, SchoolYearOut
from server.rules.models import RuleSet
from server.rules.rulesets import out
from server.schools.models import InstructionalDay, SchoolYear


async def school_years(session: AsyncSession) -> list[SchoolYearOut]:
    """Every school year, the latest first, with its instructional days' span and its rules in force."""
    days = (
        select(
            InstructionalDay.school_year_id,
            func.min(InstructionalDay.day).label("first_day"),
            func.max(InstructionalDay.day).label("last_day"),
        )
        .group_by(InstructionalDay.school_year_id)
        .subquery()
    )
    years = (
        await session.execute(
            select(SchoolYear, days.c.first_day, days.c.last_day)
            .outerjoin(days, days.c.school_year_id == SchoolYear.id)
            .order_by(SchoolYear.starts_on.desc(), SchoolYear.name.desc())
        )
    ).all()
    latest = (
        select(RuleSet.school_year_id, func.max(RuleSet.version).label("version"))
        .group_by(RuleSet.school_year_id)
        .subquery()
    )
    current = {
        row.school_year_id: row
        for row in await session.scalars(
            select(RuleSet).join(
                latest, (latest.c.school_year_id == RuleSet.school_year_id) & (latest.c.version == RuleSet.version)
            )
        )
    }
    listed = []
    for year, first_day, last_day in years:
        rules = out(year, current.get(year.id))
        listed.append(
            SchoolYearOut(
                id=year.id,
                name=year.name,
                starts_on=year.starts_on,
                ends_on=year.ends_on,
                first_instructional_day=first_day,
                last_instructional_day=last_day,
                rules=RulesInForce(version=rules.version, preset=rules.preset, values=rules.values),
            )
        )
    return listed
