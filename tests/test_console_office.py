"""Office staff's console pages: the conflict queue and the side-by-side page with its resolve forms
(the same service and scope as ``GET /conflicts`` and ``POST /conflicts/{id}/resolve``), and the
roster, calendar and attendance imports as file uploads (the same import services as the JSON
routes). Refusals are the page again with the reason, nothing changed; a form post without its
CSRF token is 403; a record outside the role's scope is the 404 page."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import Role
from server import audit
from server.attendance.models import AttendanceRecord
from server.audit import Actor
from server.auth import service as auth
from server.cases.models import VisitNote
from server.db import SessionFactory, create_engine, create_session_factory
from server.schools.models import InstructionalDay
from server.students.models import Household, Student
from server.sync.models import Conflict
from tests import factories as f
from tests.conftest import PASSWORD, app_for, client_for, make_settings
from tests.helpers import bearer, login
from tests.test_console import _csrf, _labels_cover_inputs, _sign_in
from tests.test_imports import ATTENDANCE, CALENDAR, ROSTER

# --- helpers ---------------------------------------------------------------------------------------


def _resolve_form(page: httpx.Response, choice: str) -> dict[str, str]:
    """The fields of one resolve form on a conflict page (hidden ones, prefilled inputs and
    textareas), without the CSRF token: each test adds it, or leaves it out, itself."""
    found = re.search(
        rf'<form class="resolve-choice"[^>]*>(?:(?!</form>).)*name="choice" value="{choice}"(?:(?!</form>).)*</form>',
        page.text,
        re.S,
    )
    assert found, f"no {choice} form on the page"
    form = found.group(0)
    fields = {k: html.unescape(v) for k, v in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form)}
    fields |= {
        k: html.unescape(v) for k, v in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>([^<]*)</textarea>', form)
    }
    fields.pop("_csrf_token", None)
    return fields


async def _post_form(
    client: httpx.AsyncClient, conflict_id: uuid.UUID, choice: str, **fields: str
) -> tuple[httpx.Response, httpx.Response]:
    """Open the conflict page, fill one resolve form and post it with its CSRF token."""
    page = await client.get(f"/console/conflicts/{conflict_id}")
    assert page.status_code == 200, page.text
    form = _resolve_form(page, choice) | {"_csrf_token": _csrf(page)} | fields
    return page, await client.post(f"/console/conflicts/{conflict_id}/resolve", data=form)


async def _conflict(db: AsyncSession, conflict_id: uuid.UUID) -> Conflict:
    row = await db.get(Conflict, conflict_id, populate_existing=True)
    assert row is not None
    return row


async def _note(db: AsyncSession, note_id: uuid.UUID) -> tuple[str, int]:
    row = (await db.execute(select(VisitNote.body, VisitNote.version).where(VisitNote.id == note_id))).one()
    return row[0], row[1]


@dataclass
class NoteConflict:
    conflict: Conflict
    note: VisitNote
    case_id: uuid.UUID


THEIRS = "Met the mother at home.\nBus pass promised."
MINE = "Met the mother and the aunt at home.\nBus pass promised."


async def _note_conflict(db: AsyncSession, manager: str = "cm1", **fields: Any) -> NoteConflict:
    """A stale-base conflict on a draft note of ``manager``'s case, as a phone's push makes it."""
    author = await f.user_id(db, manager)
    case = await f.case(db, await f.student(db, await f.school(db)), manager=author)
    note = VisitNote(id=uuid.uuid4(), case_id=case.id, author_id=author, body=THEIRS, status="draft", version=2)
    db.add(note)
    await db.flush()
    conflict = Conflict(
        id=uuid.uuid4(),
        record_type="visit_note",
        record_id=note.id,
        kind="stale_base",
        author_id=author,
        base_version=1,
        theirs_version=2,
        base={"body": "Met the mother."},
        mine={"body": MINE, "visit_log_id": None},
        theirs={"case_id": str(case.id), "author_id": str(author), "body": THEIRS, "status": "draft"},
        **fields,
    )
    db.add(conflict)
    await db.flush()
    return NoteConflict(conflict, note, case.id)


@pytest.fixture
async def note_conflict(db: AsyncSession) -> NoteConflict:
    made = await _note_conflict(db)
    await db.commit()
    return made


async def _household_conflict(db: AsyncSession) -> tuple[Conflict, Household]:
    kid = await f.student(db, await f.school(db))
    home = await db.get(Household, kid.household_id)
    assert home is not None
    conflict = Conflict(
        id=uuid.uuid4(),
        record_type="household",
        record_id=home.id,
        kind="stale_base",
        author_id=await f.user_id(db, "cm1"),
        mine={"phone": "555-0199", "address": "9 New Road"},
        theirs={"phone": home.phone, "address": home.address, "latitude": home.latitude, "longitude": home.longitude},
    )
    db.add(conflict)
    await db.commit()
    return conflict, home


# --- the queue -------------------------------------------------------------------------------------


async def test_the_queue_filters_and_pages_with_the_api_cursor(client: httpx.AsyncClient, db: AsyncSession) -> None:
    notes = [(await _note_conflict(db)).conflict for _ in range(27)]
    other = (await _note_conflict(db, "cm2")).conflict
    home, _ = await _household_conflict(db)
    await db.commit()
    await _sign_in(client, "office1")

    seen: list[str] = []
    url: str | None = "/console/conflicts?record_type=visit_note&case_manager_id=" + str(await f.user_id(db, "cm1"))
    while url:
        page = await client.get(url)
        assert page.status_code == 200
        seen += re.findall(r'href="/console/conflicts/([0-9a-f-]{36})"', page.text)
        found = re.search(r'<a rel="next" href="([^"]+)">Next</a>', page.text)
        url = found.group(1).replace("&amp;", "&") if found else None
        if url:
            assert "record_type=visit_note" in url and "cursor=" in url
    assert len(seen) == len(set(seen)) == 27
    assert set(seen) == {str(c.id) for c in notes}

    households = await client.get("/console/conflicts", params={"record_type": "household"})
    assert f"/console/conflicts/{home.id}" in households.text and str(other.id) not in households.text
    by_cm2 = await client.get("/console/conflicts", params={"case_manager_id": str(await f.user_id(db, "cm2"))})
    assert re.findall(r'href="/console/conflicts/([0-9a-f-]{36})"', by_cm2.text) == [str(other.id)]
    resolved = await client.get("/console/conflicts", params={"status": "resolved"})
    assert "No conflicts to show." in resolved.text
    for bad in ({"record_type": "spaceship"}, {"case_manager_id": "cm1"}, {"status": "pending"}, {"cursor": "x!"}):
        refused = await client.get("/console/conflicts", params=bad)
        assert refused.status_code == 400 and "text/html" in refused.headers["content-type"], bad


async def test_a_supervisor_sees_her_teams_conflicts_without_resolve_buttons(
    client: httpx.AsyncClient, db: AsyncSession, note_conflict: NoteConflict
) -> None:
    conflict = note_conflict.conflict
    await _sign_in(client, "sup1")
    queue = await client.get("/console/conflicts")
    assert f'href="/console/conflicts/{conflict.id}"' in queue.text
    page = await client.get(f"/console/conflicts/{conflict.id}")
    assert page.status_code == 200 and MINE in page.text
    assert "Resolve:" not in page.text and "Resolve with my edit" not in page.text and "<textarea" not in page.text
    assert "Office staff and admins resolve conflicts." in page.text
    refused = await client.post(
        f"/console/conflicts/{conflict.id}/resolve",
        data={"choice": "mine", "note": "x", "expected_version": "1", "_csrf_token": _csrf(page)},
    )
    assert refused.status_code == 403
    assert (await _conflict(db, conflict.id)).status == "open"
    assert await _note(db, note_conflict.note.id) == (THEIRS, 2)


async def test_another_teams_conflict_is_the_404_page(
    client: httpx.AsyncClient, db: AsyncSession, note_conflict: NoteConflict
) -> None:
    conflict = note_conflict.conflict
    await _sign_in(client, "sup2")
    assert str(conflict.id) not in (await client.get("/console/conflicts")).text
    hidden = await client.get(f"/console/conflicts/{conflict.id}")
    assert hidden.status_code == 404 and "text/html" in hidden.headers["content-type"]
    assert MINE not in hidden.text and THEIRS not in hidden.text
    client.cookies.clear()
    await _sign_in(client, "office1")
    assert (await client.get(f"/console/conflicts/{uuid.uuid4()}")).status_code == 404
    assert (await client.get(f"/console/conflicts/{conflict.id}")).status_code == 200


async def test_a_case_manager_has_no_conflicts_nor_imports(
    client: httpx.AsyncClient, db: AsyncSession, note_conflict: NoteConflict
) -> None:
    await _sign_in(client, "cm1")
    page = await client.get("/console/cases")
    assert ">Conflicts</a>" not in page.text and ">Imports</a>" not in page.text
    for path in ("/console/conflicts", f"/console/conflicts/{note_conflict.conflict.id}", "/console/imports"):
        assert (await client.get(path)).status_code == 403, path
    refused = await client.post(
        f"/console/conflicts/{note_conflict.conflict.id}/resolve",
        data={"choice": "mine", "note": "mine", "expected_version": "1", "_csrf_token": _csrf(page)},
    )
    assert refused.status_code == 403
    upload = await client.post(
        "/console/imports/roster",
        data={"_csrf_token": _csrf(page), "mode": "good_rows"},
        files={"file": ("roster.csv", ROSTER.encode(), "text/csv")},
    )
    assert upload.status_code == 403
    assert await db.scalar(select(func.count()).select_from(Student).where(Student.student_number == "T-1001")) == 0
    assert (await _conflict(db, note_conflict.conflict.id)).status == "open"


# --- the side-by-side page and resolving -----------------------------------------------------------


async def test_the_side_by_side_page_shows_each_text_whole_marks_what_differs_and_the_word_diff(
    client: httpx.AsyncClient, db: AsyncSession, note_conflict: NoteConflict
) -> None:
    row = await _conflict(db, note_conflict.conflict.id)
    row.created_at = datetime(2026, 11, 30, 15, 5, tzinfo=UTC)  # 10:05 in the district (EST)
    await db.commit()
    await _sign_in(client, "office1")
    assert "2026-11-30 10:05 EST" in (await client.get("/console/conflicts")).text
    page = await client.get(f"/console/conflicts/{note_conflict.conflict.id}")
    assert page.status_code == 200
    assert "<dt>Arrived</dt><dd>2026-11-30 10:05 EST</dd>" in page.text
    body = re.search(
        r'<tr class="differs">\s*<th scope="row">body <span class="differs-mark">differs</span></th>(.*?)</tr>',
        page.text,
        re.S,
    )
    assert body, "the body row is not marked as differing"
    cells = re.findall(r'<div class="whole">(.*?)</div>', body.group(1), re.S)
    assert cells[:3] == ["Met the mother.", MINE, THEIRS], "base, mine and theirs, each whole"
    assert '<th scope="col">Base</th>' in page.text
    diff = re.search(r'<div class="whole word-diff">(.*?)</div>', body.group(1), re.S)
    assert diff and '<ins><span class="visually-hidden">[added: </span>and the aunt <span' in diff.group(1)
    status = re.search(r'<tr>\s*<th scope="row">status</th>', page.text)
    assert status, "a field the phone did not send is shown, unmarked"
    assert f'href="/console/cases/{note_conflict.case_id}"' in page.text
    for button in ("Resolve: keep theirs", "Resolve: keep mine", "Resolve with my edit"):
        assert f">{button}</button>" in page.text
    assert _resolve_form(page, "custom")["data.body"] == MINE, "the edit starts from the phone's text"
    assert _resolve_form(page, "mine")["expected_version"] == "1"


async def test_keep_theirs_mine_and_my_edit_through_the_forms(client: httpx.AsyncClient, db: AsyncSession) -> None:
    made = [await _note_conflict(db) for _ in range(3)]
    await db.commit()
    await _sign_in(client, "office1")
    office = await f.user_id(db, "office1")

    for item, choice, extra in (
        (made[0], "theirs", {}),
        (made[1], "mine", {}),
        (made[2], "custom", {"data.body": THEIRS + "\nThe aunt will take him to school."}),
    ):
        _, done = await _post_form(client, item.conflict.id, choice, note=f"{choice}: checked with cm1", **extra)
        assert (done.status_code, done.headers["location"]) == (303, f"/console/conflicts/{item.conflict.id}")
        stored = await _conflict(db, item.conflict.id)
        assert (stored.status, stored.version, stored.resolved_by) == ("resolved", 2, office)
        assert stored.resolution["choice"] == choice and stored.resolution["note"] == f"{choice}: checked with cm1"
        after = await client.get(f"/console/conflicts/{item.conflict.id}")
        assert '<dd id="conflict-status">resolved</dd>' in after.text and "Resolve:" not in after.text
    assert await _note(db, made[0].note.id) == (THEIRS, 2)
    assert await _note(db, made[1].note.id) == (MINE, 3)
    assert await _note(db, made[2].note.id) == (THEIRS + "\nThe aunt will take him to school.", 3)
    actions = [e.action for e in await audit.entries_for(db, "conflict", made[2].conflict.id)]
    assert actions.count("conflict.resolve") == 1 and set(actions) == {"conflict.read", "conflict.resolve"}


async def test_my_edit_of_a_household_is_written_field_by_field(client: httpx.AsyncClient, db: AsyncSession) -> None:
    conflict, home = await _household_conflict(db)
    before = home.version
    await _sign_in(client, "office1")
    page = await client.get(f"/console/conflicts/{conflict.id}")
    form = _resolve_form(page, "custom")
    assert (form["data.phone"], form["data.address"], form["data.latitude"]) == ("555-0199", "9 New Road", "41.55")
    _, done = await _post_form(
        client, conflict.id, "custom", note="called the family", **{"data.address": "9 New Road, Apt 2"}
    )
    assert done.status_code == 303, done.text
    stored = await db.get(Household, home.id, populate_existing=True)
    assert stored is not None
    assert (stored.phone, stored.address, stored.latitude, stored.version) == (
        "555-0199",
        "9 New Road, Apt 2",
        41.55,
        before + 1,
    )
    assert (stored.language, stored.alt_phone) == ("en", None), "a field neither side sent keeps its value"


async def test_resolving_a_resolved_conflict_is_a_409_page_and_changes_nothing(
    client: httpx.AsyncClient, db: AsyncSession, note_conflict: NoteConflict
) -> None:
    conflict = note_conflict.conflict
    await _sign_in(client, "office1")
    page = await client.get(f"/console/conflicts/{conflict.id}")
    form = _resolve_form(page, "mine") | {"_csrf_token": _csrf(page), "note": "the phone is right"}
    assert (await client.post(f"/console/conflicts/{conflict.id}/resolve", data=form)).status_code == 303
    resolved = await _note(db, note_conflict.note.id)
    assert resolved == (MINE, 3)
    edit = _resolve_form(page, "custom") | {"_csrf_token": _csrf(page), "note": "again", "data.body": "other"}
    for second in (form, form | {"choice": "theirs"}, edit):
        again = await client.post(f"/console/conflicts/{conflict.id}/resolve", data=second)
        assert again.status_code == 409, second["choice"]
        assert "already resolved, so nothing was changed" in again.text and 'role="alert"' in again.text
        assert "Resolve:" not in again.text
    stored = await _conflict(db, conflict.id)
    assert (stored.version, stored.resolution["choice"], stored.resolution["note"]) == (2, "mine", "the phone is right")
    assert await _note(db, note_conflict.note.id) == resolved
    entries = await audit.entries_for(db, "conflict", conflict.id)
    assert [e.action for e in entries if e.action != "conflict.read"] == ["conflict.resolve"]


async def test_a_stale_version_is_a_409_page_with_the_conflict_as_it_is_now(
    client: httpx.AsyncClient, db: AsyncSession, note_conflict: NoteConflict
) -> None:
    conflict = note_conflict.conflict
    await _sign_in(client, "office1")
    page = await client.get(f"/console/conflicts/{conflict.id}")
    form = _resolve_form(page, "mine") | {"_csrf_token": _csrf(page), "note": "phone wins"}
    row = await _conflict(db, conflict.id)
    row.version = 2  # it moved on while the page was open
    await db.commit()
    stale = await client.post(f"/console/conflicts/{conflict.id}/resolve", data=form)
    assert stale.status_code == 409
    assert "changed since you opened it, so nothing was changed" in stale.text
    assert _resolve_form(stale, "mine")["expected_version"] == "2"
    assert _resolve_form(stale, "mine")["note"] == "phone wins", "what was typed is kept"
    assert (await _conflict(db, conflict.id)).status == "open"
    assert await _note(db, note_conflict.note.id) == (THEIRS, 2)


async def test_a_missing_note_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, db: AsyncSession, note_conflict: NoteConflict
) -> None:
    conflict = note_conflict.conflict
    await _sign_in(client, "office1")
    edited = {"data.body": "An edit to keep"}
    _, refused = await _post_form(client, conflict.id, "custom", note="   ", **edited)
    assert refused.status_code == 400
    assert 'id="note-custom-error"' in refused.text and 'aria-describedby="note-custom-error"' in refused.text
    assert _resolve_form(refused, "custom")["data.body"] == "An edit to keep"
    _, without = await _post_form(client, conflict.id, "theirs", note="")
    assert without.status_code == 400 and "Write a note" in without.text
    assert (await _conflict(db, conflict.id)).status == "open"
    assert await _note(db, note_conflict.note.id) == (THEIRS, 2)


@pytest.mark.parametrize(
    ("field", "value", "label"),
    [
        ("data.latitude", "north", "Latitude"),
        ("data.latitude", "1000", "Latitude"),
        ("data.longitude", "-181", "Longitude"),
        ("data.phone", "5" * 40, "Phone"),
        ("data.address", "x" * 301, "Address"),
    ],
)
async def test_bad_custom_data_is_a_400_naming_the_field_and_changes_nothing(
    client: httpx.AsyncClient, db: AsyncSession, field: str, value: str, label: str
) -> None:
    conflict, home = await _household_conflict(db)
    before = (home.phone, home.address, home.latitude, home.longitude, home.version)
    await _sign_in(client, "office1")
    _, refused = await _post_form(client, conflict.id, "custom", note="merged by hand", **{field: value})
    assert refused.status_code == 400, refused.text
    alert = re.search(r'<p class="error" role="alert">([^<]*)</p>', refused.text)
    assert alert and alert.group(1).startswith(f"{label}: ") and "Nothing was changed" in alert.group(1)
    name = field.removeprefix("data.")
    assert f'id="data-{name}-error"' in refused.text and f'aria-describedby="data-{name}-error"' in refused.text
    assert _resolve_form(refused, "custom")[field] == value, "what was typed comes back"
    stored = await db.get(Household, home.id, populate_existing=True)
    assert stored is not None
    assert (stored.phone, stored.address, stored.latitude, stored.longitude, stored.version) == before
    assert (await _conflict(db, conflict.id)).status == "open"


async def test_a_forged_resolve_without_the_csrf_token_is_403_and_changes_nothing(
    client: httpx.AsyncClient, db: AsyncSession, note_conflict: NoteConflict
) -> None:
    conflict = note_conflict.conflict
    await _sign_in(client, "office1")
    page = await client.get(f"/console/conflicts/{conflict.id}")
    form = _resolve_form(page, "mine") | {"note": "forged"}
    assert (await client.post(f"/console/conflicts/{conflict.id}/resolve", data=form)).status_code == 403
    forged = form | {"_csrf_token": "forged"}
    assert (await client.post(f"/console/conflicts/{conflict.id}/resolve", data=forged)).status_code == 403
    assert (await _conflict(db, conflict.id)).status == "open"
    assert await _note(db, note_conflict.note.id) == (THEIRS, 2)


async def test_a_conflict_that_only_keeps_theirs_offers_only_that(client: httpx.AsyncClient, db: AsyncSession) -> None:
    conflict = Conflict(
        id=uuid.uuid4(),
        record_type="contact_attempt",
        record_id=uuid.uuid4(),
        kind="duplicate_id",
        author_id=await f.user_id(db, "cm1"),
        mine={"note": "called twice"},
        theirs={"note": "called once"},
    )
    db.add(conflict)
    await db.commit()
    await _sign_in(client, "office1")
    page = await client.get(f"/console/conflicts/{conflict.id}")
    assert ">Resolve: keep theirs</button>" in page.text
    assert "keep mine" not in page.text and "Resolve with my edit" not in page.text
    form = _resolve_form(page, "theirs") | {"_csrf_token": _csrf(page), "note": "forged", "choice": "mine"}
    refused = await client.post(f"/console/conflicts/{conflict.id}/resolve", data=form)
    assert refused.status_code == 400 and "can only be resolved with" in refused.text
    assert (await _conflict(db, conflict.id)).status == "open"


async def test_every_office_page_labels_its_inputs(
    client: httpx.AsyncClient, db: AsyncSession, note_conflict: NoteConflict
) -> None:
    household, _ = await _household_conflict(db)
    await _sign_in(client, "office1")
    pages = [
        await client.get(p)
        for p in (
            "/console",
            "/console/conflicts",
            f"/console/conflicts/{note_conflict.conflict.id}",
            f"/console/conflicts/{household.id}",
            "/console/imports",
        )
    ]
    _, refused = await _post_form(client, household.id, "custom", note="", **{"data.latitude": "north"})
    pages.append(refused)
    for page in pages:
        assert 'href="#main"' in page.text
        _labels_cover_inputs(page.text)
        labelled = set(re.findall(r'<label for="([^"]+)"', page.text))
        for tag in re.findall(r"<(?:select|textarea)[^>]*>", page.text):
            found = re.search(r'id="([^"]+)"', tag)
            assert found and found.group(1) in labelled, f"field without a label: {tag}"
    home = pages[0].text
    assert 'href="/console/conflicts"' in home and 'href="/console/imports"' in home


# --- a phone's conflict, resolved in the console, reaches the phone on its next pull -----------------


class Phone:
    """A device of a user: pushes mutations and pulls from its cursor."""

    def __init__(self, client: httpx.AsyncClient, tokens: dict[str, Any], device_id: uuid.UUID) -> None:
        self.client, self.tokens, self.device_id = client, tokens, device_id
        self.cursor: str | None = None
        self.next_id = 1

    @classmethod
    async def of(cls, client: httpx.AsyncClient, username: str) -> Phone:
        device_id = uuid.uuid4()
        return cls(client, await login(client, username, device_id=device_id), device_id)

    async def push(self, name: str, args: dict[str, Any], base_version: int | None = None) -> dict[str, Any]:
        mutation: dict[str, Any] = {"id": self.next_id, "name": name, "args": args}
        if base_version is not None:
            mutation["base_version"] = base_version
        self.next_id += 1
        body = {"client_id": str(self.device_id), "schema_version": 1, "mutations": [mutation]}
        response = await self.client.post("/sync/push", json=body, headers=bearer(self.tokens))
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()["results"][0]
        return result

    async def pull(self) -> dict[tuple[str, str], dict[str, Any]]:
        """One round of pulls from the cursor: the changes it brought, by type and id."""
        brought: dict[tuple[str, str], dict[str, Any]] = {}
        while True:
            body: dict[str, Any] = {"client_id": str(self.device_id), "schema_version": 1}
            if self.cursor:
                body["cursor"] = self.cursor
            response = await self.client.post("/sync/pull", json=body, headers=bearer(self.tokens))
            assert response.status_code == 200, response.text
            page = response.json()
            brought |= {(c["type"], c["id"]): c for c in page["changes"]}
            self.cursor = page["cursor"]
            if not page["has_more"]:
                return brought


@dataclass
class Office:
    factory: SessionFactory
    api: httpx.AsyncClient
    browser: httpx.AsyncClient
    case_id: uuid.UUID


@pytest.fixture
async def office(fresh_database: str) -> AsyncIterator[Office]:
    """A database of its own (pulls need real commits): sup1 leads cm1, office1, and cm1's case."""
    engine = create_engine(fresh_database)
    factory = create_session_factory(engine)
    async with factory() as s:
        await auth.create_user(s, Actor.system(), username="sup1", password=PASSWORD, role=Role.SUPERVISOR)
        await s.flush()
        await auth.create_user(
            s, Actor.system(), username="cm1", password=PASSWORD, role=Role.CASE_MANAGER, supervisor_username="sup1"
        )
        await auth.create_user(s, Actor.system(), username="office1", password=PASSWORD, role=Role.OFFICE_STAFF)
        await s.flush()
        case = await f.case(s, await f.student(s, await f.school(s)), manager=await f.user_id(s, "cm1"))
        await s.commit()
    app = app_for(make_settings(), factory)
    async with client_for(app) as api, client_for(app) as browser:
        yield Office(factory, api, browser, case.id)
    await engine.dispose()


@pytest.mark.parametrize("choice", ["theirs", "mine", "custom"])
async def test_office_resolves_a_phones_conflict_and_the_phone_pulls_the_result(office: Office, choice: str) -> None:
    phone, tablet = await Phone.of(office.api, "cm1"), await Phone.of(office.api, "cm1")
    note = str(uuid.uuid4())
    args = {"id": note, "case_id": str(office.case_id)}
    assert (await phone.push("visit_note.save", args | {"body": "Met the mother."}))["version"] == 1
    await tablet.pull()
    assert (await tablet.push("visit_note.save", args | {"body": THEIRS}, base_version=1))["version"] == 2
    offline = await phone.push("visit_note.save", args | {"body": MINE}, base_version=1)  # written offline from v1
    assert offline["status"] == "conflict"
    conflict_id = offline["conflict_id"]
    held = await phone.pull()
    assert held[("visit_note", note)]["data"]["body"] == THEIRS
    assert held[("conflict", conflict_id)]["data"]["status"] == "open"
    await tablet.pull()

    await _sign_in(office.browser, "office1")
    queue = await office.browser.get("/console/conflicts")
    assert f'href="/console/conflicts/{conflict_id}"' in queue.text
    edit = THEIRS + "\nThe aunt was there too."
    fields = {"data.body": edit} if choice == "custom" else {}
    page, done = await _post_form(office.browser, uuid.UUID(conflict_id), choice, note="checked with cm1", **fields)
    assert MINE in page.text and THEIRS in page.text
    assert '<th scope="col">Base</th>' in page.text and '<div class="whole">Met the mother.</div>' in page.text
    assert done.status_code == 303, done.text

    expected = {"theirs": THEIRS, "mine": MINE, "custom": edit}[choice]
    async with office.factory() as s:
        stored = await s.get(VisitNote, uuid.UUID(note))
        resolved = await s.get(Conflict, uuid.UUID(conflict_id))
    assert stored is not None and resolved is not None
    assert stored.body == expected and resolved.status == "resolved"
    assert resolved.resolution["choice"] == choice

    for device in (phone, tablet):
        brought = await device.pull()
        if choice == "theirs":  # the note stays as the devices hold it: only the conflict moves on
            assert ("visit_note", note) not in brought
        else:
            pulled = brought[("visit_note", note)]
            assert (pulled["version"], pulled["data"]["body"]) == (3, expected)
        if device is phone:  # the author's device hears of the resolution: how, and when
            pulled = brought[("conflict", conflict_id)]
            assert (pulled["version"], pulled["data"]["status"]) == (2, "resolved")
            assert pulled["data"]["resolution"]["choice"] == choice and pulled["data"]["resolved_at"]


# --- imports ---------------------------------------------------------------------------------------


async def _upload(
    client: httpx.AsyncClient, kind: str, content: bytes, *, filename: str = "file.csv", mode: str = "all_or_nothing"
) -> httpx.Response:
    page = await client.get("/console/imports")
    return await client.post(
        f"/console/imports/{kind}",
        data={"_csrf_token": _csrf(page), "mode": mode},
        files={"file": (filename, content, "text/csv")},
    )


def _bad_rows(page: httpx.Response) -> list[tuple[int, str]]:
    table = re.search(r'<table class="bad-rows">.*?</table>', page.text, re.S)
    assert table, "no table of bad rows"
    return [
        (int(line), reason) for line, reason in re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td></tr>", table.group(0))
    ]


def _count(page: httpx.Response, name: str) -> int:
    found = re.search(rf'<td id="count-{name}">(\d+)</td>', page.text)
    assert found, name
    return int(found.group(1))


BAD_ROSTER = ROSTER + (
    "T-1004,Dee,,2013-04-02,7,IMP1,Import Middle,2025-2026,2025-09-02,,H-4,,,,,,,,,\n"
    "T-1005,Eve,Lark,2013-04-02,7,IMP1,Import Middle,2025-2026,not-a-date,,H-5,,,,,,,,,\n"
    "T-1006,Fay,Lark,2013-04-02,7,IMP1,Import Middle,2025-2026,2025-09-02,,H-5,,,,,,,,,\n"
)


async def _student_numbers(db: AsyncSession) -> set[str]:
    rows = await db.scalars(select(Student.student_number).where(Student.student_number.like("T-10%")))
    return set(rows.all())


async def test_good_rows_are_stored_and_the_bad_ones_listed_by_line(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await _sign_in(client, "office1")
    page = await _upload(client, "roster", BAD_ROSTER.encode(), filename="roster.csv", mode="good_rows")
    assert page.status_code == 200, page.text
    bad = _bad_rows(page)
    assert [line for line, _ in bad] == [5, 6]
    assert "last_name" in bad[0][1] and "entered_on" in bad[1][1]
    assert (_count(page, "rows"), _count(page, "bad")) == (6, 2)
    assert await _student_numbers(db) == {"T-1001", "T-1002", "T-1003", "T-1006"}
    assert "roster.csv" in page.text and "Records by kind" in page.text

    again = await _upload(client, "roster", BAD_ROSTER.encode(), filename="roster.csv", mode="good_rows")
    assert (_count(again, "added"), _count(again, "updated"), _count(again, "unchanged")) == (0, 0, 4)


async def test_all_or_nothing_with_a_bad_row_imports_nothing_and_lists_it(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await _sign_in(client, "office1")
    page = await _upload(client, "roster", BAD_ROSTER.encode())
    assert page.status_code == 422
    assert "Nothing was imported: 2 bad rows of 6." in page.text
    assert [line for line, _ in _bad_rows(page)] == [5, 6]
    assert await _student_numbers(db) == set()


async def test_roster_calendar_and_attendance_load_through_the_console(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await _sign_in(client, "office1")
    for kind, content, added in (("roster", ROSTER, 11), ("calendar", CALENDAR, 20), ("attendance", ATTENDANCE, 4)):
        page = await _upload(client, kind, content.encode())
        assert page.status_code == 200, page.text
        assert _count(page, "added") == added, kind
        assert "will be evaluated again" in page.text
    days = await db.scalar(select(func.count()).select_from(InstructionalDay))
    records = await db.scalar(select(func.count()).select_from(AttendanceRecord))
    assert (days, records) == (20, 4)
    voided = await _upload(client, "attendance", b"student_number,school_code,day,void\nT-1001,IMP1,2025-09-02,true\n")
    assert _count(voided, "removed") == 1
    assert await db.scalar(select(func.count()).select_from(AttendanceRecord)) == 3


async def test_an_empty_a_missing_a_non_csv_or_an_oversized_file_is_refused(
    client: httpx.AsyncClient, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _sign_in(client, "office1")
    empty = await _upload(client, "roster", b"", filename="roster.csv")
    assert empty.status_code == 400 and "is empty" in empty.text
    page = await client.get("/console/imports")
    missing = await client.post(
        "/console/imports/roster", data={"_csrf_token": _csrf(page)}, files={"other": ("x", b"y")}
    )
    assert missing.status_code == 400 and "choose a CSV file" in missing.text
    sheet = await _upload(client, "roster", b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 40, filename="roster.xlsx")
    assert sheet.status_code == 400 and "is not a CSV file" in sheet.text
    renamed = await _upload(client, "roster", b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 40, filename="roster.csv")
    assert renamed.status_code == 400 and "is not a CSV file" in renamed.text
    latin = await _upload(client, "roster", ROSTER.replace("Quill", "Quíll").encode("latin-1"))
    assert latin.status_code == 400 and "not UTF-8" in latin.text
    columns = await _upload(client, "roster", ROSTER.replace("exited_on", "exit_date").encode())
    assert columns.status_code == 422 and "unknown column(s): exit_date" in columns.text
    assert (await client.post("/console/imports/spaceships", data={"_csrf_token": _csrf(page)})).status_code == 404

    monkeypatch.setattr("server.console.imports.MAX_IMPORT_BYTES", 100)
    large = await _upload(client, "roster", ROSTER.encode())
    assert large.status_code == 413 and "larger than" in large.text
    assert "text/html" in large.headers["content-type"]
    assert await _student_numbers(db) == set()


async def test_a_body_over_the_route_limit_is_a_413_page(client: httpx.AsyncClient) -> None:
    from server.attendance.routes import MAX_IMPORT_BYTES
    from server.console.imports import FORM_OVERHEAD

    await _sign_in(client, "office1")
    page = await client.get("/console/imports")
    limit = MAX_IMPORT_BYTES + FORM_OVERHEAD
    request = client.build_request(
        "POST",
        "/console/imports/roster",
        data={"_csrf_token": _csrf(page)},
        files={"file": ("roster.csv", ROSTER.encode(), "text/csv")},
    )
    request.headers["content-length"] = str(limit + 1)  # announced: refused before anything is read
    refused = await client.send(request)
    assert refused.status_code == 413
    assert "text/html" in refused.headers["content-type"] and "too large" in refused.text


async def test_a_forged_upload_without_the_csrf_token_is_403_and_imports_nothing(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await _sign_in(client, "office1")
    await client.get("/console/imports")
    files = {"file": ("roster.csv", ROSTER.encode(), "text/csv")}
    without = await client.post("/console/imports/roster", data={"mode": "good_rows"}, files=files)
    assert without.status_code == 403
    forged = await client.post(
        "/console/imports/roster", data={"mode": "good_rows", "_csrf_token": "x" * 128}, files=files
    )
    assert forged.status_code == 403
    assert await _student_numbers(db) == set()
    good = await _upload(client, "roster", ROSTER.encode())
    assert good.status_code == 200, "the same upload with its token goes through"
    assert await _student_numbers(db) == {"T-1001", "T-1002", "T-1003"}


async def test_a_supervisor_cannot_import(client: httpx.AsyncClient, db: AsyncSession) -> None:
    await _sign_in(client, "sup1")
    page = await client.get("/console/cases")
    assert (await client.get("/console/imports")).status_code == 403
    refused = await client.post(
        "/console/imports/roster",
        data={"_csrf_token": _csrf(page), "mode": "good_rows"},
        files={"file": ("roster.csv", ROSTER.encode(), "text/csv")},
    )
    assert refused.status_code == 403
    assert await _student_numbers(db) == set()
