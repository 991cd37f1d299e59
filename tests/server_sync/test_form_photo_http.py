"""A photo registered by push reads back from GET /form-photos/{id}, scoped and audited like its case."""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy import select

from server.audit import AuditEntry
from server.cases.models import Case
from tests.helpers import bearer
from tests.server_sync.conftest import Field

SHA = hashlib.sha256(b"release of information").hexdigest()


async def test_a_registered_photo_reads_back_as_its_record_and_the_read_is_audited(field: Field) -> None:
    pid = uuid.uuid4()
    args: dict[str, object] = {
        "id": str(pid),
        "case_id": str(field.case_id),
        "form_type": "release_of_information",
        "sha256": SHA,
    }
    args |= {"size": 2048, "content_type": "application/pdf", "taken_at": "2025-03-04T10:00:00+01:00"}
    body = {
        "client_id": str(field.phone),
        "schema_version": 1,
        "mutations": [{"id": 1, "name": "form_photo.register", "args": args}],
    }
    pushed = await field.client.post("/sync/push", json=body, headers=bearer(field.tokens))
    assert pushed.json()["results"][0]["status"] == "applied", pushed.text

    response = await field.client.get(f"/form-photos/{pid}", headers=bearer(field.tokens))
    assert response.status_code == 200, response.text
    photo = response.json()
    assert (photo["id"], photo["version"], photo["case_id"]) == (str(pid), 1, str(field.case_id))
    assert (photo["form_type"], photo["sha256"], photo["size"], photo["upload_status"]) == (
        "release_of_information",
        SHA,
        2048,
        "pending",
    )
    assert photo["taken_at"].startswith("2025-03-04T09:00:00")
    missing = await field.client.get(f"/form-photos/{uuid.uuid4()}", headers=bearer(field.tokens))
    assert missing.status_code == 404
    async with field.factory() as s:
        student_id = await s.scalar(select(Case.student_id).where(Case.id == field.case_id))
        reads = (await s.scalars(select(AuditEntry).where(AuditEntry.action == "form_photo.read"))).all()
    assert [(r.entity_id, r.student_id) for r in reads] == [(str(pid), student_id)]
