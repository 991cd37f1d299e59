"""The console's approvals: the queue (``/console/approvals``) and the visit page with Approve and
Return, through the same services and scope as ``GET /visits`` and ``POST /visits/{id}/decisions``
(out of scope is the 404 page, audited; a form post without its CSRF token is 403)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server import audit
from server.cases.models import FormPhoto, VisitNote, VisitNoteAddendum
from server.visits.models import VisitDecision
from tests import factories as f
from tests.test_console import _csrf, _labels_cover_inputs, _sign_in
from tests.test_visits import _now, _visit


@pytest.fixture
async def team(db: AsyncSession) -> dict[str, Any]:
    """cm1 (sup1's team) and cm5 (sup2's), a case each at the North school."""
    school = await f.school(db, "North")
    users = {u: await f.user_id(db, u) for u in ("cm1", "cm5", "sup1", "sup2", "admin")}
    cases = {
        u: await f.case(db, await f.student(db, school, first_name="Ana", last_name=f"Of{u}"), manager=users[u])
        for u in ("cm1", "cm5")
    }
    return {"users": users, "cases": cases}


def _form(page: httpx.Response, decision: str) -> dict[str, str]:
    """The hidden fields of the Approve or Return form on a visit page."""
    found = re.search(
        rf'<form class="decide"[^>]*>(?:(?!</form>).)*name="decision" value="{decision}"(?:(?!</form>).)*</form>',
        page.text,
        re.S,
    )
    assert found, f"no {decision} form on the page"
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', found.group(0)))
    fields.pop("_csrf_token", None)  # each test adds it, or leaves it out, itself
    return fields


async def _note(db: AsyncSession, note_id: uuid.UUID) -> VisitNote:
    stored = await db.get(VisitNote, note_id, populate_existing=True)
    assert stored is not None
    return stored


async def _decisions(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(VisitDecision)) or 0)


async def test_the_queue_shows_a_teams_submitted_visit_to_its_supervisor_only(
    client: httpx.AsyncClient, db: AsyncSession, team: dict[str, Any]
) -> None:
    u, c = team["users"], team["cases"]
    visit, _ = await _visit(db, c["cm1"], u["cm1"], flags=("location_mismatch",))
    await db.commit()

    await _sign_in(client, "sup1")
    queue = await client.get("/console/approvals")
    assert queue.status_code == 200
    assert f'href="/console/visits/{visit.id}"' in queue.text and "Ofcm1, Ana" in queue.text
    flagged = await client.get("/console/approvals", params={"flag": "location_mismatch"})
    assert f"/console/visits/{visit.id}" in flagged.text
    other_flag = await client.get("/console/approvals", params={"flag": "location_missing"})
    assert str(visit.id) not in other_flag.text
    by_manager = await client.get("/console/approvals", params={"case_manager_id": str(u["cm1"])})
    assert str(visit.id) in by_manager.text
    old = await client.get("/console/approvals", params={"older_than_days": "5"})
    assert str(visit.id) not in old.text
    assert (await client.get("/console/approvals", params={"flag": "nonsense"})).status_code == 400
    page = await client.get(f"/console/visits/{visit.id}")
    assert page.status_code == 200
    assert "40 m ± 12 m from home, against the 150 m radius" in page.text
    assert ">Approve</button>" in page.text and ">Return</button>" in page.text

    client.cookies.clear()
    await _sign_in(client, "sup2")
    assert str(visit.id) not in (await client.get("/console/approvals")).text
    hidden = await client.get(f"/console/visits/{visit.id}")
    assert hidden.status_code == 404 and "Ofcm1" not in hidden.text
    assert "visit.read_refused" in [e.action for e in await audit.entries_for(db, "visit", visit.id)]


async def test_the_queue_pages_with_the_api_cursor_and_keeps_its_filters(
    client: httpx.AsyncClient, db: AsyncSession, team: dict[str, Any]
) -> None:
    u, c = team["users"], team["cases"]
    made = [(await _visit(db, c["cm1"], u["cm1"], hours_ago=1 + i))[0] for i in range(30)]
    await db.commit()
    await _sign_in(client, "sup1")
    seen: list[str] = []
    url: str | None = f"/console/approvals?case_manager_id={u['cm1']}"
    while url:
        page = await client.get(url)
        assert page.status_code == 200
        seen += re.findall(r'href="/console/visits/([0-9a-f-]{36})"', page.text)
        found = re.search(r'<a rel="next" href="([^"]+)">Next</a>', page.text)
        url = found.group(1).replace("&amp;", "&") if found else None
        if url:
            assert f"case_manager_id={u['cm1']}" in url
    assert len(seen) == len(set(seen)) == 30
    assert set(seen) == {str(v.id) for v in made}


async def test_approve_through_the_form_moves_the_note_and_a_double_submit_is_one_decision(
    client: httpx.AsyncClient, db: AsyncSession, team: dict[str, Any]
) -> None:
    u, c = team["users"], team["cases"]
    visit, note = await _visit(db, c["cm1"], u["cm1"])
    await db.commit()
    await _sign_in(client, "sup1")
    page = await client.get(f"/console/visits/{visit.id}")
    form = _form(page, "approve") | {"_csrf_token": _csrf(page)}
    assert form["expected_version"] == "2"
    done = await client.post(f"/console/visits/{visit.id}/decisions", data=form)
    assert (done.status_code, done.headers["location"]) == (303, f"/console/visits/{visit.id}")
    again = await client.post(f"/console/visits/{visit.id}/decisions", data=form)
    assert again.status_code == 303, "the same decision_id again is the same decision"
    stored = await _note(db, note.id)
    assert (stored.status, stored.version, stored.reviewed_by) == ("approved", 3, u["sup1"])
    assert await _decisions(db) == 1
    after = await client.get(f"/console/visits/{visit.id}")
    assert '<dd id="visit-status">approved</dd>' in after.text
    assert ">Approve</button>" not in after.text


async def test_return_without_a_comment_shows_the_error_and_changes_nothing(
    client: httpx.AsyncClient, db: AsyncSession, team: dict[str, Any]
) -> None:
    u, c = team["users"], team["cases"]
    visit, note = await _visit(db, c["cm1"], u["cm1"])
    await db.commit()
    await _sign_in(client, "sup1")
    page = await client.get(f"/console/visits/{visit.id}")
    form = _form(page, "return") | {"_csrf_token": _csrf(page), "comment": "   "}
    refused = await client.post(f"/console/visits/{visit.id}/decisions", data=form)
    assert refused.status_code == 400
    assert 'id="comment-error"' in refused.text and 'aria-describedby="comment-error"' in refused.text
    stored = await _note(db, note.id)
    assert (stored.status, stored.version) == ("submitted", 2)
    assert await _decisions(db) == 0

    page = refused
    form = _form(page, "return") | {"_csrf_token": _csrf(page), "comment": "Say who was home."}
    returned = await client.post(f"/console/visits/{visit.id}/decisions", data=form)
    assert returned.status_code == 303
    stored = await _note(db, note.id)
    assert (stored.status, stored.review_comment) == ("returned", "Say who was home.")


async def test_a_post_without_the_csrf_token_is_403_and_changes_nothing(
    client: httpx.AsyncClient, db: AsyncSession, team: dict[str, Any]
) -> None:
    u, c = team["users"], team["cases"]
    visit, note = await _visit(db, c["cm1"], u["cm1"])
    await db.commit()
    await _sign_in(client, "sup1")
    page = await client.get(f"/console/visits/{visit.id}")
    form = _form(page, "approve")
    assert (await client.post(f"/console/visits/{visit.id}/decisions", data=form)).status_code == 403
    forged = form | {"_csrf_token": "forged"}
    assert (await client.post(f"/console/visits/{visit.id}/decisions", data=forged)).status_code == 403
    stored = await _note(db, note.id)
    assert (stored.status, stored.version) == ("submitted", 2)
    assert await _decisions(db) == 0


async def test_a_case_manager_sees_her_visit_without_decision_buttons(
    client: httpx.AsyncClient, db: AsyncSession, team: dict[str, Any]
) -> None:
    u, c = team["users"], team["cases"]
    visit, note = await _visit(db, c["cm1"], u["cm1"])
    other, _ = await _visit(db, c["cm5"], u["cm5"])
    db.add(VisitNoteAddendum(id=uuid.uuid4(), note_id=note.id, body="The father called back.", author_id=u["cm1"]))
    await db.commit()
    await _sign_in(client, "cm1")
    page = await client.get(f"/console/visits/{visit.id}")
    assert page.status_code == 200
    assert "Met the family at home." in page.text and "The father called back." in page.text
    assert "Approve" not in page.text and ">Return</button>" not in page.text and "<textarea" not in page.text
    assert (await client.get(f"/console/visits/{other.id}")).status_code == 404
    assert (await client.get("/console/approvals")).status_code == 403
    page = await client.get(f"/console/visits/{visit.id}")
    form = {
        "decision": "approve",
        "decision_id": str(uuid.uuid4()),
        "expected_version": "2",
        "_csrf_token": _csrf(page),
    }
    assert (await client.post(f"/console/visits/{visit.id}/decisions", data=form)).status_code == 403
    assert (await _note(db, note.id)).status == "submitted"


async def test_another_teams_supervisor_cannot_decide_through_the_form(
    client: httpx.AsyncClient, db: AsyncSession, team: dict[str, Any]
) -> None:
    u, c = team["users"], team["cases"]
    visit, note = await _visit(db, c["cm1"], u["cm1"])
    await db.commit()
    await _sign_in(client, "sup2")
    page = await client.get("/console/approvals")
    form = {"decision": "approve", "decision_id": str(uuid.uuid4()), "expected_version": "2"}
    refused = await client.post(f"/console/visits/{visit.id}/decisions", data=form | {"_csrf_token": _csrf(page)})
    assert refused.status_code == 404
    assert (await _note(db, note.id)).status == "submitted"
    assert "visit.decide_refused" in [e.action for e in await audit.entries_for(db, "visit", visit.id)]


async def test_a_stale_version_shows_the_problem_and_the_current_state(
    client: httpx.AsyncClient, db: AsyncSession, team: dict[str, Any]
) -> None:
    u, c = team["users"], team["cases"]
    visit, note = await _visit(db, c["cm1"], u["cm1"])
    await db.commit()
    await _sign_in(client, "sup1")
    page = await client.get(f"/console/visits/{visit.id}")
    form = _form(page, "approve") | {"_csrf_token": _csrf(page)}
    note.version = 3  # the case manager edited it meanwhile
    await db.commit()
    stale = await client.post(f"/console/visits/{visit.id}/decisions", data=form)
    assert stale.status_code == 409
    assert "changed since you opened it" in stale.text
    assert _form(stale, "approve")["expected_version"] == "3"
    stored = await _note(db, note.id)
    assert (stored.status, stored.version) == ("submitted", 3)
    assert await _decisions(db) == 0


async def test_a_photo_thumbnail_is_served_under_the_photos_scope(
    client: httpx.AsyncClient, db: AsyncSession, team: dict[str, Any]
) -> None:
    u, c = team["users"], team["cases"]
    visit, _ = await _visit(db, c["cm1"], u["cm1"])
    photo = FormPhoto(
        id=uuid.uuid4(),
        case_id=c["cm1"].id,
        visit_log_id=visit.id,
        form_type="consent",
        sha256="a" * 64,
        size=10,
        content_type="image/jpeg",
        taken_at=await _now(db),
        created_by=u["cm1"],
        upload_status="received",
    )
    db.add(photo)
    await db.commit()
    await _sign_in(client, "sup1")
    page = await client.get(f"/console/visits/{visit.id}")
    assert f'<img src="/console/form-photos/{photo.id}/thumbnail"' in page.text
    assert "consent form, received" in page.text
    client.cookies.clear()
    await _sign_in(client, "sup2")
    assert (await client.get(f"/console/form-photos/{photo.id}/thumbnail")).status_code == 404
    assert "form_photo.read_refused" in [e.action for e in await audit.entries_for(db, "form_photo", photo.id)]


async def test_every_approvals_page_labels_its_inputs(
    client: httpx.AsyncClient, db: AsyncSession, team: dict[str, Any]
) -> None:
    u, c = team["users"], team["cases"]
    visit, _ = await _visit(db, c["cm1"], u["cm1"])
    await db.commit()
    await _sign_in(client, "sup1")
    pages = [await client.get(p) for p in ("/console/approvals", f"/console/visits/{visit.id}")]
    page = pages[-1]
    form = _form(page, "return") | {"_csrf_token": _csrf(page), "comment": ""}
    pages.append(await client.post(f"/console/visits/{visit.id}/decisions", data=form))
    for page in pages:
        assert 'href="#main"' in page.text
        _labels_cover_inputs(page.text)
        labelled = set(re.findall(r'<label for="([^"]+)"', page.text))
        for tag in re.findall(r"<(?:select|textarea)[^>]*>", page.text):
            found = re.search(r'id="([^"]+)"', tag)
            assert found and found.group(1) in labelled, f"field without a label: {tag}"
    assert 'for="comment"' in pages[1].text and 'for="older_than_days"' in pages[0].text


async def test_office_staff_see_every_teams_queue_without_decision_buttons(
    client: httpx.AsyncClient, db: AsyncSession, team: dict[str, Any]
) -> None:
    u, c = team["users"], team["cases"]
    mine, _ = await _visit(db, c["cm1"], u["cm1"])
    theirs, _ = await _visit(db, c["cm5"], u["cm5"])
    await db.commit()
    await _sign_in(client, "office1")
    queue = await client.get("/console/approvals")
    assert str(mine.id) in queue.text and str(theirs.id) in queue.text
    page = await client.get(f"/console/visits/{theirs.id}")
    assert page.status_code == 200 and ">Approve</button>" not in page.text and "<textarea" not in page.text


async def test_the_visit_page_shows_times_on_the_districts_clock(
    client: httpx.AsyncClient, db: AsyncSession, team: dict[str, Any]
) -> None:
    """Stored in UTC, read in the district's zone (America/New_York by default), its name shown."""
    u, c = team["users"], team["cases"]
    visit, _ = await _visit(db, c["cm1"], u["cm1"])
    visit.checked_in_at = datetime(2026, 11, 30, 15, 5, tzinfo=UTC)  # 10:05 in Waterbury (EST)
    visit.checked_out_at = datetime(2026, 7, 1, 3, 30, tzinfo=UTC)  # 23:30 the day before (EDT)
    await db.commit()
    await _sign_in(client, "sup1")
    page = (await client.get(f"/console/visits/{visit.id}")).text
    assert "2026-11-30 10:05 EST" in page and "2026-06-30 23:30 EDT" in page
    assert "15:05" not in page


async def test_a_nul_in_a_form_field_is_a_plain_refusal_and_changes_nothing(
    client: httpx.AsyncClient, db: AsyncSession, team: dict[str, Any]
) -> None:
    """A return comment pasted with a NUL (PostgreSQL text cannot hold one) is the 400 page, not a 500."""
    u, c = team["users"], team["cases"]
    visit, note = await _visit(db, c["cm1"], u["cm1"])
    await _sign_in(client, "sup1")
    page = await client.get(f"/console/visits/{visit.id}")
    form = _form(page, "return") | {"comment": "Please add\x00 the school", "_csrf_token": _csrf(page)}
    answer = await client.post(f"/console/visits/{visit.id}/decisions", data=form)
    assert answer.status_code == 400 and "NUL" in answer.text and "nothing was saved" in answer.text
    assert (await _note(db, note.id)).status == "submitted" and await _decisions(db) == 0
    raw = "decision=return&comment=x%00y&_csrf_token=" + _csrf(page)
    answer = await client.post(
        f"/console/visits/{visit.id}/decisions",
        content=raw,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 400 and await _decisions(db) == 0
