"""Failing tests from a review of the tus upload and photo file handling (each names the bug)."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from server.photos import files, processing
from server.photos.models import PhotoFile
from server.uploads.models import Upload
from sync import photos
from tests.server_sync.conftest import Served, jpeg
from tests.server_sync.test_tus import TUS, _meta, create, patch, stored_keys, uploader


async def test_a_unicode_digit_upload_length_is_a_400_not_a_500(served: Served) -> None:
    # tus.non_negative: "²".isdigit() is True but int("²") raises ValueError -> 500.
    pid = uuid.uuid4()
    headers = [(k.encode(), v.encode()) for k, v in (served.auth | TUS | {"Upload-Metadata": _meta(pid)}).items()]
    response = await served.http.post("/uploads/", headers=[*headers, (b"Upload-Length", "²".encode("latin-1"))])
    assert response.status_code == 400, response.text


async def test_a_nul_in_upload_metadata_is_a_400_not_a_500(served: Served) -> None:
    # parse_metadata accepts "\x00"; JSONB cannot store \u0000, so the INSERT fails -> 500.
    pid = uuid.uuid4()
    response = await create(served, 100, pid, **{"Upload-Metadata": _meta(pid, filename="a\x00b.jpg")})
    assert response.status_code == 400, response.text


async def test_a_patch_to_an_expired_upload_is_404_like_its_head(served: Served) -> None:
    # service.head refuses an expired unfinished upload; service.write never looks at expires_at,
    # so the PATCH writes into (and resurrects) an upload the sweep may be deleting.
    data = jpeg(40, size=(300, 200))
    pid = uuid.uuid4()
    await served.register(pid, data)
    location = (await create(served, len(data), pid)).headers["Location"]
    assert (await patch(served, location, 0, data[:1000])).status_code == 204
    async with served.field.factory() as s:
        await s.execute(
            Upload.__table__.update().values(expires_at=datetime.now(UTC) - timedelta(minutes=1))  # type: ignore[attr-defined]
        )
        await s.commit()
    assert (await served.http.head(location, headers=served.auth | TUS)).status_code == 404
    response = await patch(served, location, 1000, data[1000:])
    assert response.status_code == 404, response.status_code


async def test_a_refused_photo_is_received_when_the_right_file_comes_after(served: Served) -> None:
    # files.finish meets a registration only while it is `pending`: a correct upload after a bad one
    # leaves the photo `refused` forever, although the same two uploads *before* the registration
    # make it `received` (sync.photos.meet looks for any accepted upload with the registered hash).
    good, bad = jpeg(41), jpeg(42)
    pid = uuid.uuid4()
    await served.register(pid, good)
    location = (await create(served, len(bad), pid)).headers["Location"]
    assert (await patch(served, location, 0, bad)).status_code == 422
    await asyncio.to_thread(uploader(served, good, pid).upload)
    photo = await served.photo(pid)
    assert (photo["upload_status"], photo["upload_error"]) == ("received", None)


async def test_a_finish_that_fails_after_deleting_the_parts_leaves_a_resumable_upload(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    # write() runs add_part and finish in one transaction. finish renames the file into blobs/ and
    # deletes the parts *before* its flush (and before the request edge's commit). Any error after
    # that (here injected in the meeting; in life a failed flush/commit) rolls back add_part: the
    # upload goes back to its last offset with `parts` naming deleted keys, so every resume is a 500.
    data = jpeg(43, size=(400, 300))
    half = len(data) // 2
    pid = uuid.uuid4()
    await served.register(pid, data)
    location = (await create(served, len(data), pid)).headers["Location"]
    assert (await patch(served, location, 0, data[:half])).status_code == 204

    real_meet = photos.meet
    calls = {"n": 0}

    def failing_meet(*args: object, **kw: object) -> object:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("the database went away")
        return real_meet(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(photos, "meet", failing_meet)
    failed = await patch(served, location, half, data[half:])
    assert failed.status_code == 500
    head = await served.http.head(location, headers=served.auth | TUS)
    offset = int(head.headers["Upload-Offset"])
    resumed = await patch(served, location, offset, data[offset:])
    assert resumed.status_code == 204, resumed.text
    assert (await served.photo(pid))["upload_status"] == "received"


async def test_a_file_whose_stored_copies_are_gone_is_served_after_it_comes_again(
    served: Served, fresh_database: str
) -> None:
    # files._keep: a photo_file row whose blob is missing gets the blob back, but the row keeps its
    # processed_at, so make_copies does nothing and served/ and thumbs/ stay missing. (How the
    # blobs go missing: the sweep deletes them before its transaction commits; if _finish_stuck or
    # the commit then fails, the rows stay and the blobs are gone.)
    data = jpeg(44)
    sha = hashlib.sha256(data).hexdigest()
    first = uuid.uuid4()
    await served.register(first, data, mutation_id=1)
    await asyncio.to_thread(uploader(served, data, first).upload)
    await processing.run_process(fresh_database, served.settings, sha)
    await served.app.state.blobs.delete(files.blob_key(sha), files.served_key(sha), files.thumb_key(sha))

    second = uuid.uuid4()
    await served.register(second, data, mutation_id=2)
    await asyncio.to_thread(uploader(served, data, second).upload)
    assert await stored_keys(served, "blobs/") == [f"blobs/{sha}"]
    await processing.run_process(fresh_database, served.settings, sha)  # whatever the queue holds
    response = await served.http.get(f"/form-photos/{second}/file", headers=served.auth)
    assert response.status_code == 200, response.status_code


async def test_a_sweep_whose_stuck_finish_fails_does_not_delete_blobs_it_keeps_rows_for(served: Served) -> None:
    # sweep() deletes blobs first and commits the rows at the end, in one transaction, and
    # _finish_stuck runs last: one stuck upload whose finish raises (a missing part) rolls the
    # rows back after the orphan files' blobs were deleted, on every run, so nothing is ever swept
    # again and photo_file rows point at deleted blobs.
    orphan = jpeg(45)
    sha = hashlib.sha256(orphan).hexdigest()
    await asyncio.to_thread(uploader(served, orphan, uuid.uuid4()).upload)  # never registered
    stuck = (await create(served, 10, uuid.uuid4())).headers["Location"]
    stuck_id = uuid.UUID(stuck.rsplit("/", 1)[1])
    old = datetime.now(UTC) - timedelta(days=30)
    async with served.field.factory() as s:
        await s.execute(PhotoFile.__table__.update().values(created_at=old))  # type: ignore[attr-defined]
        await s.execute(
            Upload.__table__.update().where(Upload.finished_at.is_not(None)).values(finished_at=old)  # type: ignore[attr-defined]
        )
        await s.execute(
            Upload.__table__.update()  # type: ignore[attr-defined]
            .where(Upload.id == stuck_id)
            .values(upload_offset=10, parts=[f"uploads/{stuck_id}/missing"])
        )
        await s.commit()
    async with served.field.factory() as s:
        try:
            await processing.sweep(s, served.app.state.blobs, served.settings, datetime.now(UTC))
            await s.commit()
        except Exception:
            await s.rollback()
    async with served.field.factory() as s:
        row = await s.scalar(select(PhotoFile).where(PhotoFile.sha256 == sha))
    blob = await stored_keys(served, "blobs/")
    # Either the orphan is fully gone or fully kept; never a row without its blob.
    assert (row is None) == (blob == []), (row, blob)
