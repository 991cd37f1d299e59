"""Rule sets: the program's defaults, the state preset, and versioned, audited changes."""

from __future__ import annotations

import uuid

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.rules import PRESETS, MonthReading, RulePreset, RuleSetChange, RuleSetOut, RuleValues
from server import audit
from server.audit import Actor
from server.errors import NotFound
from server.rules import repository as repo
from server.rules.models import RuleSet
from server.schools.models import SchoolYear

_FIELDS = tuple(RuleValues.__struct_fields__)


def values_of(row: RuleSet) -> RuleValues:
    return RuleValues(
        monthly_threshold=row.monthly_threshold,
        yearly_threshold=row.yearly_threshold,
        habitual_threshold=row.habitual_threshold,
        chronic_percent=row.chronic_percent,
        month_reading=MonthReading(row.month_reading),
        documentation_window_days=row.documentation_window_days,
        tier_boundary=row.tier_boundary,
        meeting_due_days=row.meeting_due_days,
        wellness_days=row.wellness_days,
    )


def out(year: SchoolYear, row: RuleSet | None) -> RuleSetOut:
    if row is None:
        return RuleSetOut(
            school_year_id=year.id,
            school_year=year.name,
            version=0,
            preset=RulePreset.PROGRAM,
            values=PRESETS[RulePreset.PROGRAM],
        )
    return RuleSetOut(
        school_year_id=year.id,
        school_year=year.name,
        version=row.version,
        preset=RulePreset(row.preset),
        values=values_of(row),
        created_at=row.created_at,
        created_by=row.created_by,
        note=row.note,
    )


async def effective(session: AsyncSession, year: SchoolYear) -> RuleSetOut:
    """The rules in force for a school year: its latest version, or the program's defaults."""
    return out(year, await repo.current_rule_set(session, year.id))


async def year_or_404(session: AsyncSession, school_year_id: uuid.UUID) -> SchoolYear:
    year = await repo.school_year(session, school_year_id)
    if year is None:
        raise NotFound(f"no school year {school_year_id}")
    return year


async def history(session: AsyncSession, school_year_id: uuid.UUID) -> list[RuleSetOut]:
    year = await year_or_404(session, school_year_id)
    return [out(year, row) for row in await repo.rule_set_versions(session, year.id)]


async def change(session: AsyncSession, actor: Actor, school_year_id: uuid.UUID, body: RuleSetChange) -> RuleSetOut:
    """Store a new version (never overwrite one) and audit it. No difference: nothing is written."""
    year = await year_or_404(session, school_year_id)
    current = await effective(session, year)
    base = PRESETS[body.preset] if body.preset and body.preset != RulePreset.CUSTOM else current.values
    updates = {f: getattr(body, f) for f in _FIELDS if getattr(body, f) is not None}
    new_values = msgspec.structs.replace(base, **updates)
    preset: RulePreset
    if body.preset and body.preset != RulePreset.CUSTOM and not updates:
        preset = body.preset
    else:
        preset = next((RulePreset(p) for p, v in PRESETS.items() if v == new_values), RulePreset.CUSTOM)
    if new_values == current.values and preset == current.preset:
        return current
    row = RuleSet(
        school_year_id=year.id,
        version=await repo.next_rule_set_version(session, year.id),
        preset=preset.value,
        note=body.note,
        created_by=actor.user_id,
        **{f: _plain(getattr(new_values, f)) for f in _FIELDS},
    )
    session.add(row)
    await session.flush()
    changed = {
        f: {"from": _plain(getattr(current.values, f)), "to": _plain(getattr(new_values, f))}
        for f in _FIELDS
        if getattr(current.values, f) != getattr(new_values, f)
    }
    audit.record(
        session,
        actor,
        "rule_set.change",
        "school_year",
        year.id,
        version=row.version,
        previous_version=current.version,
        preset=preset.value,
        changed=changed,
        note=body.note,
    )
    await session.flush()
    await session.refresh(row)
    return out(year, row)


def _plain(value: object) -> object:
    return value.value if isinstance(value, MonthReading) else value
