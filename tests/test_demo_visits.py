"""The demo district's field records: visit logs for the caseloads' home visits, with a realistic
mix of flags, check-outs, truancy context, a note on each visit saying what it found, an
addendum, a done follow-up."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import User
from server.cases.models import Case, FollowUp, VisitLog, VisitNote, VisitNoteAddendum
from server.demo.district import DemoYear
from server.demo.visits import load_visits
from server.rules import service as rules
from server.visits import context
from tests.conftest import DEMO_TODAY, DemoDistrict

TODAY = DEMO_TODAY


async def test_the_demo_district_has_flagged_and_clean_visits_with_their_casework(
    demo_district: DemoDistrict, demo_db: AsyncSession
) -> None:
    result, db = demo_district.result, demo_db
    visits = (await db.scalars(select(VisitLog).order_by(VisitLog.checked_in_at))).all()
    assert result.visits == len(visits) > 50

    counts = Counter(flag for v in visits for flag in v.flags)
    clean = sum(1 for v in visits if not v.flags)
    assert clean > len(visits) / 2, "most visits are clean"
    for flag in ("location_mismatch", "location_low_accuracy", "location_missing"):
        assert 0 < counts[flag] < len(visits) / 4, (flag, counts)
    assert counts["case_reassigned"] == 1 and set(counts) <= {
        "location_mismatch",
        "location_low_accuracy",
        "location_missing",
        "case_reassigned",
    }
    (moved,) = [v for v in visits if "case_reassigned" in v.flags]
    users = {u.username: u.id for u in (await db.scalars(select(User))).all()}
    owner = await db.scalar(select(Case.case_manager_id).where(Case.id == moved.case_id))
    assert (moved.created_by, owner) == (users["cm1"], users["cm5"])

    out = [v for v in visits if v.status == "checked_out"]
    assert len(visits) * 0.8 < len(out) < len(visits)
    assert {v.outcome for v in out} >= {"family_met", "no_one_home"}
    assert all(v.checked_out_at is not None and v.checked_in_at < v.checked_out_at for v in out)
    today = datetime(2026, 12, 1, tzinfo=UTC)
    assert all(v.checked_in_at < today for v in visits)

    # Each visit carries the student's truancy as the rules answered it on the visit's date: what
    # GET /students/{id}/truancy?as_of= answers, to the letter.
    assert all(v.truancy is not None for v in visits)
    student_of = dict((await db.execute(select(Case.id, Case.student_id))).all())
    for sample in visits[:: len(visits) // 12]:
        report = await rules.student_truancy(db, student_of[sample.case_id], context.visit_date(sample.checked_in_at))
        assert sample.truancy == msgspec.to_builtins(report)
    assert all(v.truancy and (v.truancy["truant"] or v.truancy["habitual"]) for v in visits), "cases of truants"

    notes = (await db.scalars(select(VisitNote))).all()
    by_id = {v.id: v for v in visits}
    assert len(notes) == len(out) - sum(1 for v in out if "case_reassigned" in v.flags)
    assert all(n.visit_log_id is not None and by_id[n.visit_log_id].case_id == n.case_id for n in notes)
    # A note says what its visit found: no note tells of a family met at a door no one opened.
    for note in notes:
        assert note.visit_log_id is not None
        visit = by_id[note.visit_log_id]
        assert note.author_id == visit.created_by and visit.checked_out_at is not None
        assert note.submitted_at is not None and visit.checked_out_at < note.created_at == note.submitted_at < today
        if visit.outcome == "no_one_home":
            assert "no one was home" in note.body and "met" not in note.body, note.body
        else:
            assert visit.outcome == "family_met" and "met with the family" in note.body, note.body
    (addendum,) = (await db.scalars(select(VisitNoteAddendum))).all()
    noted = await db.get(VisitNote, addendum.note_id)
    assert noted is not None and noted.status == "submitted" and addendum.author_id == users["cm1"]
    assert noted.visit_log_id is not None and by_id[noted.visit_log_id].outcome == "no_one_home"
    assert noted.submitted_at is not None and noted.submitted_at < addendum.created_at < today
    # The one follow-up of hers done by hand (meetings and calls of the casework aside).
    done = (await db.scalars(select(FollowUp).where(FollowUp.status == "done", FollowUp.kind == "follow_up"))).all()
    assert [(f.completed_by, f.version) for f in done] == [(users["cm1"], 2)]

    assert await load_visits(db, DemoYear.containing(TODAY)) == 0  # idempotent
    assert await db.scalar(select(func.count()).select_from(VisitLog)) == len(visits)
