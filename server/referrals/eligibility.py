"""Is a referred student eligible for the program? The rules engine decides; this reads its answer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.rules import Rule
from server.rules.service import report_near


@dataclass(frozen=True)
class Verdict:
    eligible: bool
    reasons: list[str]
    as_of: date


async def check(session: AsyncSession, student_id: uuid.UUID, as_of: date) -> Verdict:
    """Eligible when the student is truant (or habitually truant) on ``as_of``.

    Outside the school year (a referral in summer) the last day of the latest school year counts.
    """
    report = await report_near(session, student_id, as_of)
    if report is None:
        return Verdict(False, [f"No school year on record on or before {as_of.isoformat()}"], as_of)
    as_of = report.as_of
    if report.truant or report.habitual:
        return Verdict(True, [], as_of)
    reasons = [
        f"Not truant on {as_of.isoformat()} ({report.school_year})",
        *(r.explanation for r in report.rules if r.rule in (Rule.MONTHLY, Rule.YEARLY) and r.explanation),
    ]
    if report.chronic:
        reasons.append("Chronically absent, but chronic absence alone does not make a student truant")
    return Verdict(False, reasons, as_of)
