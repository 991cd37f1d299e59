"""Evaluate every student at once: record truancy episodes and create parent meetings.

Set-based from start to end: one statement computes every student's status into a temporary
table, and a handful of statements turn it into episode transitions and parent-meeting
follow-ups. Runs after each import (a queued job), and daily as days pass (documentation
windows close without any new data). Serialised by an advisory lock; flushes, never commits.

It locks only the cases it writes: what changes (summaries, meeting deadlines made or closed) is
computed first into temporary tables, then those cases alone are locked in id order, as a push
locks the cases it touches, and written. A push never waits for a case the evaluation leaves
alone; on a day without news that is every case.

A meeting deadline the rules made stays open only while the student is truant from its trigger
day: when an absence is voided or excused (the student is no longer truant, or truant from
another day) the evaluation closes it as no longer required (``_close_stale_meetings``), and a
student truant from another day gets a new deadline counted from that day.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.cases import FollowUpKind
from schemas.rules import RuleSetOut
from server import audit
from server.audit import Actor
from server.rules import case_truancy, sql
from server.rules import repository as repo
from server.rules.meetings import NO_LONGER_REQUIRED, no_longer_required_sql
from server.rules.rulesets import effective

LOCK_KEY = 4_242_001  # pg_advisory_xact_lock key of the evaluation

_STATUS_COLUMNS = (
    "student_id, absences, unexcused, month_max, enrolled_days, monthly_trigger, yearly_trigger, "
    "habitual_trigger, absence_percent, chronic, months"
)


@dataclass(frozen=True)
class EvaluationResult:
    school_year: str | None
    as_of: date
    students: int = 0
    truant: int = 0
    habitual: int = 0
    chronic: int = 0
    episodes_opened: int = 0
    episodes_ended: int = 0
    meetings_created: int = 0
    meetings_closed: int = 0
    """Open meeting deadlines closed as no longer required (``_close_stale_meetings``)."""
    cases_changed: int = 0
    """Open cases whose truancy summary changed (``server.rules.case_truancy``)."""
    cases_locked: int = 0
    """Cases the evaluation locked to write them: those whose summary or open follow-ups changed."""
    seconds: float = 0.0


async def evaluate_all(session: AsyncSession, as_of: date, actor: Actor | None = None) -> EvaluationResult:
    """Evaluate the school year containing ``as_of`` (or the last one that ended before it)."""
    started = time.perf_counter()
    actor = actor or Actor.system()
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
    year = await repo.school_year_containing(session, as_of) or await repo.latest_school_year_started_by(session, as_of)
    ended = await _end_past_years(session, as_of)
    if year is None:
        return EvaluationResult(school_year=None, as_of=as_of, episodes_ended=ended)
    day = min(as_of, year.ends_on)
    rules = await effective(session, year)
    params = repo.rule_params(year.id, day, rules.values)

    await session.execute(
        text(
            "CREATE TEMP TABLE IF NOT EXISTS rules_status (student_id uuid PRIMARY KEY, absences int, "
            "unexcused int, month_max int, enrolled_days int, monthly_trigger date, yearly_trigger date, "
            "habitual_trigger date, absence_percent float8, chronic bool, months jsonb) ON COMMIT DROP"
        )
    )
    await session.execute(text("TRUNCATE rules_status"))
    status_params = {k: v for k, v in params.items() if k != "meeting_days"}
    await session.execute(
        text(f"INSERT INTO rules_status ({_STATUS_COLUMNS}) " + sql.status_sql(one_student=False, months=True)),
        status_params,
    )
    await session.execute(text("ANALYZE rules_status"))
    await session.execute(
        text("CREATE TEMP TABLE IF NOT EXISTS rules_firing (student_id uuid, rule text, became_on date) ON COMMIT DROP")
    )
    await session.execute(text("TRUNCATE rules_firing"))
    await session.execute(
        text(
            """
            INSERT INTO rules_firing
            SELECT student_id, 'monthly', monthly_trigger FROM rules_status WHERE monthly_trigger IS NOT NULL
            UNION ALL
            SELECT student_id, 'yearly', yearly_trigger FROM rules_status WHERE yearly_trigger IS NOT NULL
            UNION ALL
            SELECT student_id, 'habitual', habitual_trigger FROM rules_status WHERE habitual_trigger IS NOT NULL
            UNION ALL
            SELECT student_id, 'chronic', CAST(:as_of AS date) FROM rules_status WHERE chronic
            """
        ),
        {"as_of": day},
    )
    year_params = {"year_id": year.id, "as_of": day}
    no_longer = await session.execute(
        text(
            """
            UPDATE truancy_episode e SET ended_on = :as_of, end_reason = 'no_longer_met', updated_at = now()
            WHERE e.school_year_id = :year_id AND e.ended_on IS NULL
              AND NOT EXISTS (SELECT 1 FROM rules_firing f WHERE f.student_id = e.student_id AND f.rule = e.rule)
            """
        ),
        year_params,
    )
    moved = await session.execute(
        text(
            """
            UPDATE truancy_episode e SET ended_on = :as_of, end_reason = 'trigger_changed', updated_at = now()
            FROM rules_firing f
            WHERE f.student_id = e.student_id AND f.rule = e.rule AND e.rule <> 'chronic'
              AND e.school_year_id = :year_id AND e.ended_on IS NULL AND f.became_on <> e.became_on
            """
        ),
        year_params,
    )
    opened = await session.execute(
        text(
            """
            INSERT INTO truancy_episode (student_id, school_year_id, rule, became_on, detected_on, rule_set_version)
            SELECT f.student_id, :year_id, f.rule, f.became_on, :as_of, :version FROM rules_firing f
            WHERE NOT EXISTS (
                SELECT 1 FROM truancy_episode e WHERE e.student_id = f.student_id
                  AND e.school_year_id = :year_id AND e.rule = f.rule AND e.ended_on IS NULL)
            """
        ),
        year_params | {"version": rules.version},
    )
    # Cases are written from here on: the follow-ups of the meeting deadlines closed or made (a
    # trigger keeps each case's list of them) and the truancy summaries. What changes is computed
    # first, locking nothing; then only the cases it touches are locked, in id order as a push
    # locks them, and written. A push on any other case does not wait for the evaluation.
    await _stage_meetings(session, year.id, rules)
    await case_truancy.stage(session, "rules_status", case_truancy.params(year, day))
    locked = await case_truancy.lock(session, f"SELECT case_id FROM {STALE} UNION SELECT case_id FROM {NEW}")
    closed = await _close_stale_meetings(session, actor, day, rules)
    meetings = await session.execute(
        text(
            "INSERT INTO follow_up (id, student_id, case_id, kind, title, due_on, trigger_day) "
            f"SELECT gen_random_uuid(), student_id, case_id, '{FollowUpKind.PARENT_MEETING.value}', title, due_on, "
            f"trigger_day FROM {NEW}"
        )
    )
    cases_changed = await case_truancy.write(session)
    counts = (
        await session.execute(
            text(
                "SELECT count(*) AS students, "
                "count(*) FILTER (WHERE monthly_trigger IS NOT NULL OR yearly_trigger IS NOT NULL) AS truant, "
                "count(*) FILTER (WHERE habitual_trigger IS NOT NULL) AS habitual, "
                "count(*) FILTER (WHERE chronic) AS chronic FROM rules_status"
            )
        )
    ).one()
    result = EvaluationResult(
        school_year=year.name,
        as_of=day,
        students=counts.students,
        truant=counts.truant,
        habitual=counts.habitual,
        chronic=counts.chronic,
        episodes_opened=_rowcount(opened),
        episodes_ended=_rowcount(no_longer) + _rowcount(moved) + ended,
        meetings_created=_rowcount(meetings),
        meetings_closed=closed,
        cases_changed=cases_changed,
        cases_locked=locked,
        seconds=round(time.perf_counter() - started, 3),
    )
    audit.record(
        session,
        actor,
        "rules.evaluate",
        "school_year",
        year.id,
        as_of=day.isoformat(),
        rule_set_version=rules.version,
        students=result.students,
        truant=result.truant,
        habitual=result.habitual,
        chronic=result.chronic,
        episodes_opened=result.episodes_opened,
        episodes_ended=result.episodes_ended,
        meetings_created=result.meetings_created,
        meetings_closed=result.meetings_closed,
        cases_changed=result.cases_changed,
        cases_locked=result.cases_locked,
    )
    await session.flush()
    return result


STALE = "rules_stale_meetings"
"""Open meeting deadlines the rules no longer require (``_stage_meetings``); dropped at commit."""
NEW = "rules_new_meetings"
"""Meeting deadlines to make (``_stage_meetings``); dropped at commit."""

_STAGE_STALE = f"""
INSERT INTO {STALE} (id, case_id, truant_on, month_max, unexcused)
SELECT f.id, f.case_id, least(s.monthly_trigger, s.yearly_trigger), coalesce(s.month_max, 0), coalesce(s.unexcused, 0)
FROM follow_up f
CROSS JOIN (
    SELECT min(day) AS first_day, max(day) AS last_day FROM instructional_day WHERE school_year_id = :year_id
) AS span
LEFT JOIN rules_status s ON s.student_id = f.student_id
WHERE f.kind = '{FollowUpKind.PARENT_MEETING.value}' AND f.status = 'open' AND f.created_by IS NULL
  AND f.trigger_day BETWEEN span.first_day AND span.last_day
  AND f.trigger_day IS DISTINCT FROM least(s.monthly_trigger, s.yearly_trigger)
"""
"""A deadline the rules made whose student is no longer truant from its trigger day."""

_STAGE_NEW = f"""
WITH cal AS (
    SELECT school_id, day, row_number() OVER (PARTITION BY school_id ORDER BY day)::int AS seq
    FROM instructional_day WHERE school_year_id = :year_id
),
span AS (SELECT min(day) AS first_day, max(day) AS last_day FROM cal),
trig AS (
    SELECT s.student_id, least(s.monthly_trigger, s.yearly_trigger) AS trigger_day,
        CASE WHEN s.monthly_trigger <= coalesce(s.yearly_trigger, s.monthly_trigger)
             THEN 'Parent meeting: ' || :monthly || ' unexcused absences in one month'
             ELSE 'Parent meeting: ' || :yearly || ' unexcused absences this school year' END AS title
    FROM rules_status s
    WHERE s.monthly_trigger IS NOT NULL OR s.yearly_trigger IS NOT NULL
)
INSERT INTO {NEW} (student_id, case_id, title, due_on, trigger_day)
SELECT t.student_id,
    (SELECT cf.id FROM case_file cf WHERE cf.student_id = t.student_id AND cf.status <> 'closed' LIMIT 1),
    t.title, coalesce(due.day, span.last_day), t.trigger_day
FROM trig t
CROSS JOIN span
JOIN attendance_record a ON a.student_id = t.student_id AND a.day = t.trigger_day
JOIN cal c ON c.school_id = a.school_id AND c.day = t.trigger_day
LEFT JOIN cal due ON due.school_id = a.school_id AND due.seq = c.seq + :meeting_days
WHERE NOT EXISTS (
    SELECT 1 FROM follow_up f WHERE f.student_id = t.student_id
      AND f.kind = '{FollowUpKind.PARENT_MEETING.value}'
      AND f.trigger_day BETWEEN span.first_day AND span.last_day
      AND NOT {no_longer_required_sql("f")}
      AND NOT EXISTS (SELECT 1 FROM {STALE} x WHERE x.id = f.id))
"""
"""A deadline for each truant student who has none this school year (or only ones the rules no
longer require, about to be closed)."""


async def _stage_meetings(session: AsyncSession, year_id: uuid.UUID, rules: RuleSetOut) -> None:
    """Compute, locking nothing, the meeting deadlines no longer required (``STALE``) and those
    to make (``NEW``), with their cases."""
    for ddl in (
        f"{STALE} (id uuid PRIMARY KEY, case_id uuid, truant_on date, month_max int, unexcused int)",
        f"{NEW} (student_id uuid, case_id uuid, title text, due_on date, trigger_day date)",
    ):
        await session.execute(text(f"CREATE TEMP TABLE IF NOT EXISTS {ddl} ON COMMIT DROP"))
    await session.execute(text(f"TRUNCATE {STALE}, {NEW}"))
    await session.execute(text(_STAGE_STALE), {"year_id": year_id})
    await session.execute(
        text(_STAGE_NEW),
        {
            "year_id": year_id,
            "monthly": str(rules.values.monthly_threshold),
            "yearly": str(rules.values.yearly_threshold),
            "meeting_days": rules.values.meeting_due_days,
        },
    )


_CLOSE_STALE = f"""
WITH closed AS (
    UPDATE follow_up f SET completed_at = now(), completed_by = NULL, version = f.version + 1, updated_at = now(),
        note = '{NO_LONGER_REQUIRED}' || CASE
            WHEN x.truant_on IS NULL THEN
                'as of ' || CAST(:as_of AS date) || ' the student is not truant (at most ' || x.month_max
                || ' unexcused absences in one month, truant at ' || :monthly || '; ' || x.unexcused
                || ' in the school year, truant at ' || :yearly || '), so the truancy of ' || f.trigger_day
                || ' no longer holds (an absence voided, excused or corrected, or the rules changed)'
            ELSE
                'as of ' || CAST(:as_of AS date) || ' the student became truant on ' || x.truant_on || ', not on '
                || f.trigger_day || ' (an absence voided, excused, corrected or added, or the rules changed): '
                || 'the meeting is due from ' || x.truant_on || ' instead'
            END
    FROM {STALE} x
    WHERE f.id = x.id AND f.status = 'open'
    RETURNING f.id, f.student_id, f.case_id, f.trigger_day, f.note, x.truant_on
),
aud AS (
    INSERT INTO audit_log
        (actor_id, actor_role, device_id, action, entity_type, entity_id, student_id, request_id, detail)
    SELECT CAST(:actor_id AS uuid), :actor_role, CAST(:device_id AS uuid), 'follow_up.no_longer_required',
        'follow_up', c.id::text, c.student_id, :request_id,
        jsonb_build_object('case_id', c.case_id, 'trigger_day', c.trigger_day, 'truant_on', c.truant_on,
                           'as_of', CAST(:as_of AS date), 'rule_set_version', CAST(:version AS int), 'note', c.note)
    FROM closed c
    RETURNING 1
)
SELECT count(*) FROM closed
"""


async def _close_stale_meetings(session: AsyncSession, actor: Actor, day: date, rules: RuleSetOut) -> int:
    """Close the staged deadlines the rules no longer require (after their cases are locked):
    done, no one named, the note saying why (``server.rules.meetings.NO_LONGER_REQUIRED``), one
    ``follow_up.no_longer_required`` audit row each. One that was completed meanwhile (its meeting
    held) is left alone. The case's list of open follow-ups drops it (the ``follow_up`` trigger,
    migration 0011), so the phones hear."""
    result = await session.execute(
        text(_CLOSE_STALE),
        {
            "as_of": day,
            "monthly": str(rules.values.monthly_threshold),
            "yearly": str(rules.values.yearly_threshold),
            "version": rules.version,
            "actor_id": actor.user_id,
            "actor_role": actor.role,
            "device_id": actor.device_id,
            "request_id": actor.request_id,
        },
    )
    return int(result.scalar_one())


async def _end_past_years(session: AsyncSession, as_of: date) -> int:
    """Episodes of school years that are over end with their year."""
    result = await session.execute(
        text(
            """
            UPDATE truancy_episode e SET ended_on = y.ends_on, end_reason = 'school_year_ended', updated_at = now()
            FROM school_year y
            WHERE y.id = e.school_year_id AND e.ended_on IS NULL AND y.ends_on < :as_of
            """
        ),
        {"as_of": as_of},
    )
    return _rowcount(result)


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
