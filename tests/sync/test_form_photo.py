"""form_photo.register: insert-only records of photos of signed forms, pending their upload."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest

from schemas.sync import RecordType, Status
from sync.store import Ref
from tests.sync.world import World, mutation

AT = "2025-03-04T10:00:00Z"
SHA = hashlib.sha256(b"a signed consent form").hexdigest()


def register(pid: uuid.UUID, case: uuid.UUID, **extra: Any) -> dict[str, Any]:
    args = {"id": str(pid), "case_id": str(case), "form_type": "consent", "sha256": SHA, "size": 123_456}
    return args | {"content_type": "image/jpeg", "taken_at": AT} | extra


async def test_a_registered_photo_is_pending_and_synced_with_its_case(world: World) -> None:
    pid, visit = uuid.uuid4(), uuid.uuid4()
    response = await world.push(
        world.a,
        mutation(1, "visit_log.check_in", {"id": str(visit), "case_id": str(world.c1), "at": AT}),
        mutation(2, "form_photo.register", register(pid, world.c1, visit_log_id=str(visit))),
        mutation(3, "form_photo.register", register(pid, world.c1, visit_log_id=str(visit))),
    )
    assert [(r.status, r.version) for r in response.results] == [(Status.APPLIED, 1)] * 3
    held, _ = await world.pull_all(world.a)
    assert held[Ref(RecordType.FORM_PHOTO, pid)] == (
        1,
        {
            "case_id": str(world.c1),
            "visit_log_id": str(visit),
            "form_type": "consent",
            "sha256": SHA,
            "size": 123_456,
            "content_type": "image/jpeg",
            "taken_at": AT,
            "created_by": str(world.a.user_id),
            "upload_status": "pending",
            "upload_error": None,
            "exif_latitude": None,
            "exif_longitude": None,
        },
    )
    assert held == await world.backend.seed.snapshot(world.a.user_id)
    assert Ref(RecordType.FORM_PHOTO, pid) not in await world.backend.seed.snapshot(world.b.user_id)
    other = await world.push(world.a, mutation(4, "form_photo.register", register(pid, world.c1, size=9)))
    assert other.results[0].status is Status.CONFLICT


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"sha256": SHA.upper()}, "sha256"),
        ({"sha256": SHA[:-1]}, "sha256"),
        ({"form_type": "selfie"}, "form_type"),
        ({"size": 0}, "size"),
        ({"taken_at": "2025-03-04T10:00:00"}, "taken_at"),
    ],
)
async def test_malformed_registrations_are_rejected_with_their_field(
    world: World, change: dict[str, Any], path: str
) -> None:
    response = await world.push(world.a, mutation(1, "form_photo.register", register(uuid.uuid4(), world.c1, **change)))
    (result,) = response.results
    assert (result.status, result.error and result.error.code) == (Status.REJECTED, "malformed")
    assert result.error is not None and path in result.error.detail


async def test_a_photo_on_another_caseload_or_another_cases_visit_is_rejected(world: World) -> None:
    visit = uuid.uuid4()
    response = await world.push(
        world.a,
        mutation(1, "visit_log.check_in", {"id": str(visit), "case_id": str(world.c1), "at": AT}),
        mutation(2, "form_photo.register", register(uuid.uuid4(), world.c3)),
        mutation(3, "form_photo.register", register(uuid.uuid4(), world.c2, visit_log_id=str(visit))),
    )
    assert [r.error.code if r.error else None for r in response.results] == [None, "not_in_scope", "case_mismatch"]


OTHER = hashlib.sha256(b"another photo").hexdigest()


@pytest.mark.parametrize(
    ("upload", "status", "error", "gps"),
    [
        (
            {"sha256": SHA, "error": None, "exif_latitude": 40.5, "exif_longitude": -74.25},
            "received",
            None,
            (40.5, -74.25),
        ),
        ({"sha256": OTHER, "error": None}, "refused", "sha256_mismatch", (None, None)),
        ({"sha256": SHA, "error": "unsupported_type"}, "refused", "unsupported_type", (None, None)),
    ],
)
async def test_a_file_that_came_first_meets_its_registration(
    world: World, upload: dict[str, Any], status: str, error: str | None, gps: tuple[Any, Any]
) -> None:
    pid = uuid.uuid4()
    await world.backend.seed.finished_upload(pid, world.a.user_id, upload)
    response = await world.push(world.a, mutation(1, "form_photo.register", register(pid, world.c1)))
    assert response.results[0].status is Status.APPLIED
    held, _ = await world.pull_all(world.a)
    data = held[Ref(RecordType.FORM_PHOTO, pid)][1]
    assert (data["upload_status"], data["upload_error"]) == (status, error)
    assert (data["exif_latitude"], data["exif_longitude"]) == gps
    again = await world.push(world.a, mutation(2, "form_photo.register", register(pid, world.c1)))
    assert (again.results[0].status, again.results[0].version) == (Status.APPLIED, 1)  # a replay: no conflict


async def test_another_users_file_does_not_meet_a_registration(world: World) -> None:
    pid = uuid.uuid4()
    await world.backend.seed.finished_upload(pid, world.b.user_id, {"sha256": SHA, "error": None})
    await world.push(world.a, mutation(1, "form_photo.register", register(pid, world.c1)))
    held, _ = await world.pull_all(world.a)
    assert held[Ref(RecordType.FORM_PHOTO, pid)][1]["upload_status"] == "pending"
