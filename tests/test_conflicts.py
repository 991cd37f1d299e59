"""Office staff review conflicts and choose; the choice is written to the record and audited."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit import AuditEntry
from server.cases.models import Case, VisitNote
from server.students.models import Household
from server.sync.models import Conflict
from tests import factories as f
from tests.helpers import Client, bearer, login


@pytest.fixture
async def note_conflict(db: AsyncSession) -> tuple[Conflict, VisitNote]:
    kid = await f.student(db, await f.school(db))
    cm1 = await f.user_id(db, "cm1")
    case = await f.case(db, kid, manager=cm1)
    note = VisitNote(id=uuid.uuid4(), case_id=case.id, author_id=cm1, body="server text", status="draft")
    db.add(note)
    await db.flush()
    conflict = Conflict(
        id=uuid.uuid4(),
        record_type="visit_note",
        record_id=note.id,
        kind="keep_both",
        author_id=cm1,
        base={"body": "original"},
        mine={"body": "device text"},
        theirs={"body": "server text"},
    )
    db.add(conflict)
    await db.commit()
    return conflict, note


async def _note(db: AsyncSession, note_id: uuid.UUID) -> tuple[str, int]:
    row = (await db.execute(select(VisitNote.body, VisitNote.version).where(VisitNote.id == note_id))).one()
    return row[0], row[1]


async def test_office_lists_open_conflicts_and_keeps_mine(
    client: Client, db: AsyncSession, note_conflict: tuple[Conflict, VisitNote]
) -> None:
    conflict, note = note_conflict
    office = await login(client, "office1")
    listed = (await client.get("/conflicts", headers=bearer(office))).json()
    assert [c["id"] for c in listed["items"]] == [str(conflict.id)]
    response = await client.post(
        f"/conflicts/{conflict.id}/resolve", json={"choice": "mine", "note": "device is newer"}, headers=bearer(office)
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "resolved"
    assert await _note(db, note.id) == ("device text", note.version + 1)
    assert (await client.get("/conflicts", headers=bearer(office))).json()["items"] == []
    again = await client.post(f"/conflicts/{conflict.id}/resolve", json={"choice": "theirs"}, headers=bearer(office))
    assert again.status_code == 409


async def test_theirs_changes_nothing_and_custom_writes_the_given_text(
    client: Client, db: AsyncSession, note_conflict: tuple[Conflict, VisitNote]
) -> None:
    conflict, note = note_conflict
    office = await login(client, "office1")
    response = await client.post(
        f"/conflicts/{conflict.id}/resolve",
        json={"choice": "custom", "data": {"body": "server text\n\ndevice text"}},
        headers=bearer(office),
    )
    assert response.status_code == 200
    assert (await _note(db, note.id))[0] == "server text\n\ndevice text"


async def test_a_submitted_note_is_frozen_even_for_a_resolution(
    client: Client, db: AsyncSession, note_conflict: tuple[Conflict, VisitNote]
) -> None:
    conflict, note = note_conflict
    stored = await db.get(VisitNote, note.id)
    assert stored is not None
    stored.status, stored.submitted_at = "submitted", datetime.now(UTC)
    await db.commit()
    office = await login(client, "office1")
    response = await client.post(f"/conflicts/{conflict.id}/resolve", json={"choice": "mine"}, headers=bearer(office))
    assert response.status_code == 409
    assert (await _note(db, note.id))[0] == "server text"


async def test_household_conflict_applies_only_household_fields(client: Client, db: AsyncSession) -> None:
    kid = await f.student(db, await f.school(db))
    assert kid.household_id is not None
    conflict = Conflict(
        id=uuid.uuid4(),
        record_type="household",
        record_id=kid.household_id,
        kind="stale_base",
        mine={"phone": "555-0199", "version": 99},
    )
    db.add(conflict)
    await db.commit()
    office = await login(client, "office1")
    response = await client.post(f"/conflicts/{conflict.id}/resolve", json={"choice": "mine"}, headers=bearer(office))
    assert response.status_code == 200
    assert await db.scalar(select(Household.phone).where(Household.id == kid.household_id)) == "555-0199"


async def test_supervisors_see_their_teams_conflicts_and_case_managers_none(
    client: Client, note_conflict: tuple[Conflict, VisitNote]
) -> None:
    sup1 = await login(client, "sup1")
    sup2 = await login(client, "sup2")
    cm1 = await login(client, "cm1")
    assert len((await client.get("/conflicts", headers=bearer(sup1))).json()["items"]) == 1
    assert (await client.get("/conflicts", headers=bearer(sup2))).json()["items"] == []
    assert (await client.get("/conflicts", headers=bearer(cm1))).status_code == 403
    resolve = await client.post(
        f"/conflicts/{note_conflict[0].id}/resolve", json={"choice": "theirs"}, headers=bearer(sup1)
    )
    assert resolve.status_code == 403


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"phone": "5" * 40}, "$.data.phone"),
        ({"latitude": "north"}, "$.data.latitude"),
        ({"latitude": 1000}, "$.data.latitude"),
        ({"longitude": -181}, "$.data.longitude"),
        ({"address": "x" * 301}, "$.data.address"),
    ],
)
async def test_a_custom_resolution_is_validated_like_a_push(
    client: Client, db: AsyncSession, data: dict[str, object], field: str
) -> None:
    """Issue 9, finding 5: custom data went to the household unchecked (500s, or a latitude of
    1000 synced to every phone). It meets the same bounds as ``household.update``."""
    kid = await f.student(db, await f.school(db))
    assert kid.household_id is not None
    conflict = Conflict(
        id=uuid.uuid4(), record_type="household", record_id=kid.household_id, kind="stale_base", mine={}
    )
    db.add(conflict)
    await db.commit()
    before = await db.scalar(select(Household.version).where(Household.id == kid.household_id))
    office = await login(client, "office1")
    response = await client.post(
        f"/conflicts/{conflict.id}/resolve", json={"choice": "custom", "data": data}, headers=bearer(office)
    )
    assert (response.status_code, response.json()["code"]) == (400, "malformed"), response.text
    assert f"`{field}`" in response.json()["detail"]
    assert await db.scalar(select(Household.version).where(Household.id == kid.household_id)) == before
    assert (await client.get(f"/conflicts/{conflict.id}", headers=bearer(office))).json()["status"] == "open"


async def test_resolve_with_a_stale_expected_version_is_refused_with_the_conflict_as_it_is(
    client: Client, db: AsyncSession, note_conflict: tuple[Conflict, VisitNote]
) -> None:
    conflict, note = note_conflict
    office = await login(client, "office1")
    read = (await client.get(f"/conflicts/{conflict.id}", headers=bearer(office))).json()
    body = {"choice": "mine", "note": "phone wins", "expected_version": read["version"]}
    first = await client.post(f"/conflicts/{conflict.id}/resolve", json=body, headers=bearer(office))
    assert first.status_code == 200, first.text
    after = await _note(db, note.id)
    second = await client.post(
        f"/conflicts/{conflict.id}/resolve", json=body | {"choice": "theirs"}, headers=bearer(office)
    )
    assert (second.status_code, second.json()["code"]) == (409, "stale_version")
    current = second.json()["current"]
    assert (current["id"], current["status"], current["version"]) == (str(conflict.id), "resolved", read["version"] + 1)
    assert current["resolution"]["choice"] == "mine"
    assert await _note(db, note.id) == after, "nothing changed"
    without = await client.post(f"/conflicts/{conflict.id}/resolve", json={"choice": "theirs"}, headers=bearer(office))
    assert (without.status_code, without.json()["code"]) == (409, "conflict"), "a resolved conflict stays resolved"
    for bad in (0, -1, "one"):
        refused = await client.post(
            f"/conflicts/{conflict.id}/resolve",
            json={"choice": "theirs", "expected_version": bad},
            headers=bearer(office),
        )
        assert (refused.status_code, refused.json()["code"]) == (400, "malformed"), bad


async def test_conflicts_are_filtered_by_record_type_and_case_manager(client: Client, db: AsyncSession) -> None:
    kid = await f.student(db, await f.school(db))
    cm1, cm2 = await f.user_id(db, "cm1"), await f.user_id(db, "cm2")
    assert kid.household_id is not None

    def row(record_type: str, author: uuid.UUID) -> Conflict:
        return Conflict(
            id=uuid.uuid4(), record_type=record_type, record_id=uuid.uuid4(), kind="stale_base", author_id=author
        )

    rows = [row("visit_note", cm1), row("household", cm1), row("visit_note", cm2), row("contact_attempt", cm2)]
    for r in rows:  # one at a time: the list is ordered by creation
        db.add(r)
        await db.flush()
    await db.commit()
    office = await login(client, "office1")

    async def ids(**params: str) -> list[str]:
        response = await client.get("/conflicts", params=params, headers=bearer(office))
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["items"]]

    everything = await ids()
    assert set(everything) == {str(r.id) for r in rows}
    assert set(await ids(record_type="visit_note")) == {str(rows[0].id), str(rows[2].id)}
    assert set(await ids(case_manager_id=str(cm2))) == {str(rows[2].id), str(rows[3].id)}
    assert await ids(record_type="visit_note", case_manager_id=str(cm1)) == [str(rows[0].id)]
    assert await ids(record_type="form_photo") == []
    for bad in ({"record_type": "spaceship"}, {"case_manager_id": "cm1"}):
        response = await client.get("/conflicts", params=bad, headers=bearer(office))
        assert (response.status_code, response.json()["code"]) == (400, "malformed"), bad


async def test_a_conflict_is_read_with_a_word_diff_of_its_texts(client: Client, db: AsyncSession) -> None:
    kid = await f.student(db, await f.school(db))
    cm1 = await f.user_id(db, "cm1")
    case = await f.case(db, kid, manager=cm1)
    note = VisitNote(id=uuid.uuid4(), case_id=case.id, author_id=cm1, body="x", status="approved")
    db.add(note)
    await db.flush()
    conflict = Conflict(
        id=uuid.uuid4(),
        record_type="visit_note",
        record_id=note.id,
        kind="edited_after_approval",
        author_id=cm1,
        mine={"body": "Met the mother and the aunt at home.\nBus pass promised.", "visit_log_id": str(uuid.uuid4())},
        theirs={"body": "Met the mother at home.\nBus pass promised.", "status": "approved"},
    )
    db.add(conflict)
    await db.commit()
    office = await login(client, "office1")
    read = (await client.get(f"/conflicts/{conflict.id}", headers=bearer(office))).json()
    assert read["kind"] == "edited_after_approval"
    assert read["diff"] == {
        "body": [
            {"op": "equal", "text": "Met the mother "},
            {"op": "insert", "text": "and the aunt "},
            {"op": "equal", "text": "at home.\nBus pass promised."},
        ]
    }
    parts = read["diff"]["body"]
    assert "".join(p["text"] for p in parts if p["op"] != "insert") == conflict.theirs["body"]
    assert "".join(p["text"] for p in parts if p["op"] != "delete") == conflict.mine["body"]
    listed = (await client.get("/conflicts", headers=bearer(office))).json()["items"]
    assert [c["id"] for c in listed] == [str(conflict.id)] and "diff" not in listed[0]
    resolve = await client.post(f"/conflicts/{conflict.id}/resolve", json={"choice": "mine"}, headers=bearer(office))
    assert (resolve.status_code, resolve.json()["code"]) == (409, "conflict"), "an approved note stays as approved"
    assert (await _note(db, note.id))[0] == "x"


async def test_a_returned_note_takes_a_resolution(
    client: Client, db: AsyncSession, note_conflict: tuple[Conflict, VisitNote]
) -> None:
    conflict, note = note_conflict
    stored = await db.get(VisitNote, note.id)
    assert stored is not None
    stored.status = "returned"
    await db.commit()
    office = await login(client, "office1")
    response = await client.post(f"/conflicts/{conflict.id}/resolve", json={"choice": "mine"}, headers=bearer(office))
    assert response.status_code == 200, response.text
    assert await db.scalar(select(VisitNote.status).where(VisitNote.id == note.id)) == "returned"
    assert (await _note(db, note.id))[0] == "device text"


async def test_every_conflict_read_is_audited_with_its_student_and_a_refused_one_too(
    client: Client, db: AsyncSession, note_conflict: tuple[Conflict, VisitNote]
) -> None:
    """A conflict holds a student's record (``mine``, ``theirs``): reading it is a read of her record."""
    conflict, note = note_conflict
    student_id = await db.scalar(select(Case.student_id).where(Case.id == note.case_id))

    async def rows(action: str) -> list[tuple[str | None, uuid.UUID | None]]:
        found = await db.execute(select(AuditEntry.entity_id, AuditEntry.student_id).where(AuditEntry.action == action))
        return [(entity, student) for entity, student in found.all()]

    office = await login(client, "office1")
    assert len((await client.get("/conflicts", headers=bearer(office))).json()["items"]) == 1
    assert await rows("conflict.listed") == [(str(conflict.id), student_id)]
    assert (await client.get(f"/conflicts/{conflict.id}", headers=bearer(office))).status_code == 200
    assert await rows("conflict.read") == [(str(conflict.id), student_id)]

    sup2 = await login(client, "sup2")  # another team's supervisor: 404, as for no conflict, and kept
    refused = await client.get(f"/conflicts/{conflict.id}", headers=bearer(sup2))
    assert (refused.status_code, refused.json()["detail"]) == (404, "No such conflict")
    assert await rows("conflict.read_refused") == [(str(conflict.id), student_id)]
    missing = uuid.uuid4()
    assert (await client.get(f"/conflicts/{missing}", headers=bearer(sup2))).status_code == 404
    assert (str(missing), None) in await rows("conflict.read_refused")
