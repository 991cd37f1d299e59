"""The blob store failing or full under a tus upload: the PATCH is answered 507 (full) or 503 with
``Retry-After``, nothing half-written is kept (the offset is what was durably written, as HEAD
says), and the phone resumes later from there. A missing object or a store used wrongly is no
outage, and is not answered as one."""

from __future__ import annotations

import base64
import errno
import hashlib
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import httpx
import obstore
import pytest
from obstore import exceptions as store_errors

from server import blobs
from server.errors import StorageFull, Unavailable
from server.photos import processing
from tests.server_sync.conftest import Served, jpeg

TUS = {"Tus-Resumable": "1.0.0"}
FULL = "Generic LocalFileSystem error: Unable to copy data to file: No space left on device (os error 28)"
S3_DOWN = "Generic S3 error: Error performing PUT http://minio:9000/forms/doorstep/uploads/x in 1.2s - 503 Slow Down"


async def _create(served: Served, data: bytes, photo_id: uuid.UUID) -> str:
    meta = "form_photo_id " + base64.b64encode(str(photo_id).encode()).decode()
    created = await served.http.post(
        "/uploads/", headers=served.auth | TUS | {"Upload-Length": str(len(data)), "Upload-Metadata": meta}
    )
    assert created.status_code == 201, created.text
    return created.headers["Location"]


async def _patch(served: Served, location: str, offset: int, body: bytes) -> httpx.Response:
    headers = {"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
    return await served.http.patch(location, content=body, headers=served.auth | TUS | headers)


async def _offset(served: Served, location: str) -> int:
    head = await served.http.head(location, headers=served.auth | TUS)
    assert head.status_code == 200
    return int(head.headers["Upload-Offset"])


async def _parts(served: Served, location: str) -> list[str]:
    return sorted(await served.app.state.blobs.keys(f"uploads/{location.rsplit('/', 1)[1]}/"))


def _failing_store(monkeypatch: pytest.MonkeyPatch, error: BaseException, after: int) -> list[int]:
    """The next write to the store fails with ``error`` once ``after`` bytes of it came (the real
    write runs until then, as a disk filling up midway would have it). Returns the bytes taken."""
    real = obstore.put_async
    taken: list[int] = []

    async def put_async(store: Any, key: str, chunks: AsyncIterable[bytes], **kw: Any) -> Any:
        monkeypatch.setattr(obstore, "put_async", real)  # once

        async def until_it_fails() -> AsyncIterator[bytes]:
            seen = 0
            async for data in chunks:
                seen += len(data)
                if seen > after:
                    taken.append(seen)
                    raise error
                yield data

        return await real(store, key, until_it_fails(), **kw)

    monkeypatch.setattr(obstore, "put_async", put_async)
    return taken


FAULTS = {
    "disk-full": (OSError(errno.ENOSPC, "No space left on device"), 507, "storage_full"),
    "quota": (OSError(errno.EDQUOT, "Disk quota exceeded"), 507, "storage_full"),
    "obstore-disk-full": (store_errors.GenericError(FULL), 507, "storage_full"),
    "permission": (PermissionError(errno.EACCES, "Permission denied"), 503, "unavailable"),
    "obstore-permission": (store_errors.PermissionDeniedError("Access Denied"), 503, "unavailable"),
    "s3-down": (store_errors.GenericError(S3_DOWN), 503, "unavailable"),
    "connection-reset": (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), 503, "unavailable"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_a_store_failing_mid_patch_is_a_clear_5xx_keeps_nothing_and_the_phone_resumes(
    served: Served, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    error, status, code = FAULTS[fault]
    data = jpeg(30, size=(500, 400))
    half = len(data) // 2
    pid = uuid.uuid4()
    await served.register(pid, data)
    location = await _create(served, data, pid)
    assert (await _patch(served, location, 0, data[:half])).status_code == 204

    taken = _failing_store(monkeypatch, error, after=half // 2)
    failed = await _patch(served, location, half, data[half:])
    assert taken  # the write did start, and failed midway
    assert failed.status_code == status, failed.text
    assert failed.json()["code"] == code
    assert failed.headers["content-type"].startswith("application/problem+json")
    assert int(failed.headers["Retry-After"]) > 0
    assert await _offset(served, location) == half  # what was durably written, no more
    assert len(await _parts(served, location)) == 1  # the failed part left nothing behind

    resumed = await _patch(served, location, half, data[half:])  # later: no lease left behind either
    assert resumed.status_code == 204, resumed.text
    assert resumed.headers["Upload-Offset"] == str(len(data))
    photo = await served.photo(pid)
    assert (photo["upload_status"], photo["sha256"]) == ("received", hashlib.sha256(data).hexdigest())
    stored = b"".join([chunk async for chunk in served.app.state.blobs.stream(f"blobs/{photo['sha256']}")])
    assert stored == data


@pytest.mark.parametrize("by", ["empty-patch", "sweep"])
async def test_a_full_disk_while_finishing_keeps_the_bytes_and_the_upload_finishes_later(
    served: Served, fresh_database: str, monkeypatch: pytest.MonkeyPatch, by: str
) -> None:
    """The last chunk counts (its part is written), but assembling the whole file meets a full
    disk: 507, the offset is the length (every byte is kept). The next PATCH, empty, at that
    offset finishes the upload; so does the cleanup job, for a phone that took it as done."""
    data = jpeg(31, size=(500, 400))
    half = len(data) // 2
    pid = uuid.uuid4()
    await served.register(pid, data)
    location = await _create(served, data, pid)
    assert (await _patch(served, location, 0, data[:half])).status_code == 204

    real = obstore.put_async
    calls: list[str] = []

    async def full_for_the_whole(store: Any, key: str, chunks: Any, **kw: Any) -> Any:
        calls.append(key)
        if key.endswith("/whole"):
            raise store_errors.GenericError(FULL)
        return await real(store, key, chunks, **kw)

    monkeypatch.setattr(obstore, "put_async", full_for_the_whole)
    last = await _patch(served, location, half, data[half:])
    assert last.status_code == 507, last.text
    assert last.json()["code"] == "storage_full" and "Retry-After" in last.headers
    assert [k.rsplit("/", 1)[1] for k in calls][-1] == "whole"
    assert await _offset(served, location) == len(data)
    assert len(await _parts(served, location)) == 2
    assert (await served.photo(pid))["upload_status"] == "pending"

    monkeypatch.setattr(obstore, "put_async", real)
    if by == "sweep":
        assert (await processing.run_sweep(fresh_database, served.settings))["finished"] == 1
    else:
        finished = await _patch(served, location, len(data), b"")
        assert finished.status_code == 204, finished.text
    assert (await served.photo(pid))["upload_status"] == "received"
    assert await _parts(served, location) == []


def test_what_the_store_failing_is_answered() -> None:
    """``server.blobs.store_failure``: full is 507, any other failure of the store 503; a missing
    object or a store used wrongly is no outage."""
    full: list[Exception] = [
        OSError(errno.ENOSPC, "No space left on device"),
        OSError(errno.EDQUOT, "Disk quota exceeded"),
        store_errors.GenericError(FULL),
    ]
    failed: list[Exception] = [
        store_errors.GenericError(S3_DOWN),
        store_errors.PermissionDeniedError("denied"),
        store_errors.UnauthenticatedError("expired token"),
        PermissionError(errno.EACCES, "Permission denied"),
        TimeoutError(),
    ]
    none: list[Exception] = [
        FileNotFoundError(errno.ENOENT, "No such file"),
        store_errors.NotFoundError("no such object"),
        store_errors.InvalidPathError("bad path"),
        ValueError("not the store's"),
    ]
    assert [e for e in full if not isinstance(blobs.store_failure(e), StorageFull)] == []
    assert [e for e in failed if not isinstance(blobs.store_failure(e), Unavailable)] == []
    assert [e for e in none if blobs.store_failure(e) is not None] == []
    answer = blobs.store_failure(failed[0])
    assert answer is not None and int(answer.headers["Retry-After"]) > 0
