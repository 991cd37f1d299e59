"""Office staff review conflicts and choose; the choice is written to the record and audited."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.cases.models import VisitNote
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
