"""The approval flow over HTTP, with real commits: a case manager's phone submits a visit's note, her
supervisor returns it with a comment, the phone's next pull brings the review, the phone edits
and resubmits, the supervisor approves; an edit made offline that arrives after the approval is a
conflict kept for review, and the approval stands."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from server.cases.models import VisitNote
from server.visits.models import VisitDecision
from tests.helpers import bearer, login
from tests.server_sync.conftest import Field


class Phone:
    """cm's phone: pushes its mutations and pulls with its cursor, keeping what it holds."""

    def __init__(self, f: Field) -> None:
        self.f = f
        self.cursor: str | None = None
        self.next_id = 1
        self.held: dict[tuple[str, str], dict[str, Any]] = {}

    async def push(self, name: str, args: dict[str, Any], base_version: int | None = None) -> dict[str, Any]:
        mutation: dict[str, Any] = {"id": self.next_id, "name": name, "args": args}
        if base_version is not None:
            mutation["base_version"] = base_version
        self.next_id += 1
        body = {"client_id": str(self.f.phone), "schema_version": 1, "mutations": [mutation]}
        response = await self.f.client.post("/sync/push", json=body, headers=bearer(self.f.tokens))
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()["results"][0]
        return result

    async def pull(self) -> list[dict[str, Any]]:
        """One round of pulls from the phone's cursor; the changes it brought."""
        brought: list[dict[str, Any]] = []
        while True:
            body: dict[str, Any] = {"client_id": str(self.f.phone), "schema_version": 1}
            if self.cursor:
                body["cursor"] = self.cursor
            page = (await self.f.client.post("/sync/pull", json=body, headers=bearer(self.f.tokens))).json()
            for change in page["changes"]:
                brought.append(change)
                self.held[(change["type"], change["id"])] = change
            self.cursor = page["cursor"]
            if not page["has_more"]:
                return brought

    def note(self, note_id: uuid.UUID) -> dict[str, Any]:
        return self.held[("visit_note", str(note_id))]


async def test_return_resubmit_approve_and_a_late_edit(field: Field) -> None:
    phone = Phone(field)
    visit, note = uuid.uuid4(), uuid.uuid4()
    at = "2026-11-30T15:00:00Z"
    assert (await phone.push("visit_log.check_in", {"id": str(visit), "case_id": str(field.case_id), "at": at}))[
        "status"
    ] == "applied"
    save = {"id": str(note), "case_id": str(field.case_id), "body": "Met the mother.", "visit_log_id": str(visit)}
    assert (await phone.push("visit_note.save", save))["version"] == 1
    assert (await phone.push("visit_note.submit", {"id": str(note)}, base_version=1))["version"] == 2
    await phone.pull()
    assert phone.note(note)["data"]["status"] == "submitted"

    sup = bearer(await login(field.client, "sup"))
    queue = (await field.client.get("/visits", params={"status": "submitted"}, headers=sup)).json()
    assert [(v["id"], v["status"], v["version"]) for v in queue["items"]] == [(str(visit), "submitted", 2)]
    assert queue["items"][0]["submitted_at"] is not None, "a note saved and submitted in one push has its time"
    record = (await field.client.get(f"/visits/{visit}", headers=sup)).json()
    assert (record["note"]["id"], record["note"]["body"], record["case_id"]) == (
        str(note),
        "Met the mother.",
        str(field.case_id),
    )

    decision = {"decision_id": str(uuid.uuid4()), "decision": "return", "expected_version": 2}
    returned = await field.client.post(
        f"/visits/{visit}/decisions", json=decision | {"comment": "Who else was at home?"}, headers=sup
    )
    assert returned.status_code == 200, returned.text
    assert (returned.json()["status"], returned.json()["version"]) == ("returned", 3)

    brought = await phone.pull()
    assert [(c["type"], c["id"]) for c in brought] == [("visit_note", str(note))]
    data = phone.note(note)["data"]
    assert (phone.note(note)["version"], data["status"], data["review_status"], data["review_comment"]) == (
        3,
        "returned",
        "returned",
        "Who else was at home?",
    )
    assert data["reviewed_by"] and data["reviewed_at"]

    edited = await phone.push("visit_note.save", save | {"body": "Met the mother and the aunt."}, base_version=3)
    assert (edited["status"], edited["version"]) == ("applied", 4)
    listed = (await field.client.get("/visits", params={"status": "returned"}, headers=sup)).json()["items"]
    assert [(v["id"], v["version"]) for v in listed] == [(str(visit), 4)], "it stays returned while edited"
    resubmitted = await phone.push("visit_note.submit", {"id": str(note)}, base_version=4)
    assert (resubmitted["status"], resubmitted["version"]) == ("applied", 5)
    again = (await field.client.get("/visits", params={"status": "submitted"}, headers=sup)).json()["items"]
    assert [(v["id"], v["version"], v["review_status"]) for v in again] == [(str(visit), 5, "returned")]

    approve = {"decision_id": str(uuid.uuid4()), "decision": "approve", "expected_version": 5}
    approved = await field.client.post(f"/visits/{visit}/decisions", json=approve, headers=sup)
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["version"], approved.json()["review_comment"]) == (
        "approved",
        6,
        None,
    )
    replay = await field.client.post(f"/visits/{visit}/decisions", json=approve, headers=sup)
    assert (replay.status_code, replay.content) == (200, approved.content), "the same decision, the same body"

    late = await phone.push("visit_note.save", save | {"body": "Written on the bus, offline."}, base_version=4)
    assert (late["status"], late["version"]) == ("conflict", 6)
    await phone.pull()
    assert (phone.note(note)["version"], phone.note(note)["data"]["status"]) == (6, "approved")
    assert phone.note(note)["data"]["body"] == "Met the mother and the aunt."
    conflict = phone.held[("conflict", late["conflict_id"])]["data"]
    assert (conflict["kind"], conflict["mine"]["body"]) == ("edited_after_approval", "Written on the bus, offline.")

    record = (await field.client.get(f"/visits/{visit}", headers=sup)).json()
    assert [(d["decision"], d["comment"]) for d in record["decisions"]] == [
        ("return", "Who else was at home?"),
        ("approve", None),
    ]
    async with field.factory() as s:
        stored = (await s.execute(select(VisitNote.status, VisitNote.body).where(VisitNote.id == note))).one()
        assert tuple(stored) == ("approved", "Met the mother and the aunt.")
        first, second = (await s.scalars(select(VisitDecision).order_by(VisitDecision.decided_at))).all()
        assert first.submitted_at is not None and second.submitted_at is not None
        assert second.submitted_at > first.submitted_at, "the resubmission is the second decision's start"
