"""The tus endpoint with a stock client (tuspy), and every bad input it must refuse cleanly."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError

from server.audit import AuditEntry
from server.photos import processing
from server.photos.models import PhotoFile
from server.uploads.models import Upload
from tests.server_sync.conftest import Served, jpeg

TUS = {"Tus-Resumable": "1.0.0"}


def uploader(served: Served, data: bytes, photo_id: uuid.UUID, chunk_size: int = 1 << 20, **kw: Any) -> Any:
    client = tus_client.TusClient(served.endpoint, headers=served.auth)
    return client.uploader(
        file_stream=io.BytesIO(data), chunk_size=chunk_size, metadata={"form_photo_id": str(photo_id)}, **kw
    )


async def create(served: Served, length: int, photo_id: uuid.UUID, **headers: str) -> httpx.Response:
    meta = "form_photo_id " + base64.b64encode(str(photo_id).encode()).decode()
    return await served.http.post(
        "/uploads/",
        headers=served.auth | TUS | {"Upload-Length": str(length), "Upload-Metadata": meta} | headers,
    )


async def patch(served: Served, location: str, offset: int, body: bytes | Any, **headers: str) -> httpx.Response:
    return await served.http.patch(
        location,
        content=body,
        headers=served.auth
        | TUS
        | {"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
        | headers,
    )


async def stored_keys(served: Served, prefix: str) -> list[str]:
    return sorted(await served.app.state.blobs.keys(prefix))


async def test_options_announce_the_protocol_and_its_extensions(served: Served) -> None:
    response = await served.http.options("/uploads/")
    assert response.status_code == 204
    assert response.headers["Tus-Version"] == "1.0.0"
    assert set(response.headers["Tus-Extension"].split(",")) == {
        "creation",
        "creation-with-upload",
        "checksum",
        "termination",
        "expiration",
    }
    assert response.headers["Tus-Max-Size"] == str(4 * 1024 * 1024)
    assert set(response.headers["Tus-Checksum-Algorithm"].split(",")) == {"sha1", "sha256"}


async def test_a_stock_client_uploads_a_registered_photo_which_becomes_received_with_its_gps(
    served: Served,
) -> None:
    data = jpeg(1, gps=(40.7128, -74.006))
    pid = uuid.uuid4()
    assert (await served.register(pid, data))["status"] == "applied"
    up = uploader(served, data, pid, upload_checksum=True)
    await asyncio.to_thread(up.upload)

    photo = await served.photo(pid)
    assert (photo["upload_status"], photo["upload_error"]) == ("received", None)
    assert photo["exif_latitude"] == pytest.approx(40.7128, abs=1e-4)
    assert photo["exif_longitude"] == pytest.approx(-74.006, abs=1e-4)
    assert await stored_keys(served, "blobs/") == [f"blobs/{hashlib.sha256(data).hexdigest()}"]
    assert await stored_keys(served, "uploads/") == []  # the parts are gone
    assert list((served.settings.data_dir / "blobs" / "uploads").iterdir()) == []  # nor an empty folder
    async with served.field.factory() as s:  # its served copy and thumbnail are asked of the job queue
        jobs = (
            await s.execute(
                text("SELECT args FROM procrastinate.procrastinate_jobs WHERE task_name = 'photos.process'")
            )
        ).scalars()
        assert list(jobs) == [{"sha256": hashlib.sha256(data).hexdigest()}]
    head = await served.http.head(up.url, headers=served.auth | TUS)
    assert (head.status_code, head.headers["Upload-Offset"], head.headers["Upload-Length"]) == (
        200,
        str(len(data)),
        str(len(data)),
    )
    assert "Upload-Expires" not in head.headers


async def test_an_interrupted_upload_resumes_from_the_servers_offset(served: Served) -> None:
    data = jpeg(2, size=(400, 300)) + b""  # a few KB
    chunk = 1024
    pid = uuid.uuid4()
    await served.register(pid, data)
    first = uploader(served, data, pid, chunk_size=chunk)
    await asyncio.to_thread(first.upload_chunk)
    await asyncio.to_thread(first.upload_chunk)  # two chunks, then the phone loses its signal

    # A new client, told the URL: it asks the server (HEAD) where to go on from.
    second = await asyncio.to_thread(lambda: uploader(served, data, pid, chunk_size=chunk, url=first.url))
    assert second.offset == 2 * chunk
    sent: list[int] = []
    while second.offset < len(data):
        sent.append(second.offset)
        await asyncio.to_thread(second.upload_chunk)
    assert sent[0] == 2 * chunk  # nothing before the server's offset was sent again
    assert (await served.photo(pid))["upload_status"] == "received"


async def test_a_corrupt_chunk_is_refused_with_460_and_not_kept(served: Served) -> None:
    data = jpeg(3)
    pid = uuid.uuid4()
    await served.register(pid, data)
    created = await create(served, len(data), pid)
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    assert created.headers["Upload-Offset"] == "0" and "Upload-Expires" in created.headers

    wrong = base64.b64encode(hashlib.sha256(b"something else").digest()).decode()
    refused = await patch(served, location, 0, data[:500], **{"Upload-Checksum": f"sha256 {wrong}"})
    assert refused.status_code == 460
    assert refused.json()["code"] == "checksum_mismatch"
    head = await served.http.head(location, headers=served.auth | TUS)
    assert head.headers["Upload-Offset"] == "0"
    assert await stored_keys(served, "uploads/") == []

    right = base64.b64encode(hashlib.sha1(data).digest()).decode()
    done = await patch(served, location, 0, data, **{"Upload-Checksum": f"sha1 {right}"})
    assert done.status_code == 204, done.text
    assert done.headers["Upload-Offset"] == str(len(data))
    assert (await served.photo(pid))["upload_status"] == "received"


async def test_the_same_photo_twice_is_stored_once_and_served_identically(served: Served, fresh_database: str) -> None:
    data = jpeg(4, gps=(1.0, 2.0))
    first, second = uuid.uuid4(), uuid.uuid4()
    await served.register(first, data, mutation_id=1)
    await served.register(second, data, mutation_id=2)
    for pid in (first, second):
        await asyncio.to_thread(uploader(served, data, pid).upload)
    sha = hashlib.sha256(data).hexdigest()
    assert await stored_keys(served, "blobs/") == [f"blobs/{sha}"]
    async with served.field.factory() as s:
        assert await s.scalar(select(func.count()).select_from(PhotoFile)) == 1
    early = await served.http.get(f"/form-photos/{first}/file", headers=served.auth)
    assert (early.status_code, early.json()["code"], early.headers["Retry-After"]) == (409, "photo_processing", "5")
    await processing.run_process(fresh_database, served.settings, sha)  # the queued job, as the worker runs it
    bodies = []
    for pid in (first, second):
        response = await served.http.get(f"/form-photos/{pid}/file", headers=served.auth)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("image/jpeg")
        bodies.append(response.content)
        thumb = await served.http.get(f"/form-photos/{pid}/thumbnail", headers=served.auth)
        assert thumb.status_code == 200 and thumb.content[:3] == b"\xff\xd8\xff"
    assert bodies[0] == bodies[1]
    assert b"Exif\x00\x00" not in bodies[0]  # the served copy has no EXIF (the original had GPS)
    async with served.field.factory() as s:
        reads = (await s.scalars(select(AuditEntry).where(AuditEntry.entity_type == "form_photo"))).all()
    actions = sorted((r.action, r.entity_id) for r in reads)
    assert actions == sorted(
        [("form_photo.file_read", str(pid)) for pid in (first, second)]
        + [("form_photo.thumbnail_read", str(pid)) for pid in (first, second)]
    )
    assert all(r.student_id is not None for r in reads)


async def test_a_file_before_its_registration_meets_it_when_it_comes(served: Served) -> None:
    data = jpeg(5, gps=(-33.8688, 151.2093))
    pid = uuid.uuid4()
    await asyncio.to_thread(uploader(served, data, pid).upload)  # the upload wins the race
    result = await served.register(pid, data)
    assert result["status"] == "applied"
    photo = await served.photo(pid)
    assert photo["upload_status"] == "received"
    assert photo["exif_latitude"] == pytest.approx(-33.8688, abs=1e-4)


async def test_a_file_before_a_registration_with_another_hash_leaves_the_photo_refused(served: Served) -> None:
    data = jpeg(6)
    pid = uuid.uuid4()
    await asyncio.to_thread(uploader(served, data, pid).upload)
    await served.register(pid, jpeg(7))  # the phone registered different bytes
    photo = await served.photo(pid)
    assert (photo["upload_status"], photo["upload_error"]) == ("refused", "sha256_mismatch")


async def test_a_file_whose_hash_differs_from_its_registration_is_refused_and_kept_nowhere(served: Served) -> None:
    pid = uuid.uuid4()
    await served.register(pid, jpeg(8))
    data = jpeg(9)
    created = await create(served, len(data), pid)
    response = await patch(served, created.headers["Location"], 0, data)
    assert response.status_code == 422
    assert response.json()["code"] == "sha256_mismatch"
    photo = await served.photo(pid)
    assert (photo["upload_status"], photo["upload_error"], photo["version"]) == ("refused", "sha256_mismatch", 2)
    assert await stored_keys(served, "") == []


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"GIF89a" + bytes(200), "unsupported_type"),
        (b"just some text, named photo.jpg\n" * 10, "unsupported_type"),
        (b"\xff\xd8\xff\xe0" + bytes(100), "unreadable"),
    ],
)
async def test_a_file_that_is_not_an_image_or_pdf_is_refused_by_content(
    served: Served, payload: bytes, code: str
) -> None:
    pid = uuid.uuid4()
    await served.register(pid, payload)
    created = await create(served, len(payload), pid, **{"Upload-Metadata": _meta(pid, filename="photo.jpg")})
    response = await patch(served, created.headers["Location"], 0, payload)
    assert response.status_code == 422
    assert response.json()["code"] == code
    assert (await served.photo(pid))["upload_error"] == code
    assert await stored_keys(served, "") == []


async def test_a_decompression_bomb_is_refused_before_decoding(served: Served) -> None:
    from PIL import Image

    out = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(out, "PNG")  # 144 megapixels in a few KB
    bomb = out.getvalue()
    pid = uuid.uuid4()
    await served.register(pid, bomb, content_type="image/png")
    created = await create(served, len(bomb), pid)
    response = await patch(served, created.headers["Location"], 0, bomb)
    assert response.status_code == 422
    assert response.json()["code"] == "decompression_bomb"


def _meta(photo_id: uuid.UUID, **more: str) -> str:
    pairs = {"form_photo_id": str(photo_id), **more}
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


async def test_bad_requests_each_get_a_precise_problem_and_write_nothing(served: Served) -> None:
    pid = uuid.uuid4()
    data = jpeg(10)
    too_big = await create(served, 4 * 1024 * 1024 + 1, pid)
    assert (too_big.status_code, too_big.json()["code"]) == (413, "upload_too_large")
    no_version = await served.http.post(
        "/uploads/", headers=served.auth | {"Upload-Length": "10", "Upload-Metadata": _meta(pid)}
    )
    assert (no_version.status_code, no_version.json()["code"]) == (412, "tus_version_unsupported")
    assert no_version.headers["Tus-Version"] == "1.0.0"
    no_photo = await served.http.post("/uploads/", headers=served.auth | TUS | {"Upload-Length": "10"})
    assert (no_photo.status_code, no_photo.json()["code"]) == (400, "bad_upload_header")
    bad_meta = await create(served, 10, pid, **{"Upload-Metadata": "form_photo_id !!!notbase64"})
    assert (bad_meta.status_code, bad_meta.json()["code"]) == (400, "bad_upload_header")
    not_uuid = await create(
        served,
        10,
        pid,
        **{
            "Upload-Metadata": _meta(pid).replace("form_photo_id", "x")
            + ","
            + "form_photo_id "
            + base64.b64encode(b"42").decode()
        },
    )
    assert (not_uuid.status_code, not_uuid.json()["code"]) == (400, "bad_upload_header")
    no_length = await served.http.post("/uploads/", headers=served.auth | TUS | {"Upload-Metadata": _meta(pid)})
    assert (no_length.status_code, no_length.json()["code"]) == (400, "bad_upload_header")

    created = await create(served, len(data), pid)
    location = created.headers["Location"]
    wrong_offset = await patch(served, location, 5, data[5:])
    assert (wrong_offset.status_code, wrong_offset.json()["code"]) == (409, "offset_mismatch")
    wrong_type = await served.http.patch(
        location, content=data, headers=served.auth | TUS | {"Upload-Offset": "0", "Content-Type": "image/jpeg"}
    )
    assert (wrong_type.status_code, wrong_type.json()["code"]) == (415, "unsupported_media_type")
    overflow = await patch(served, location, 0, data + b"more")
    assert (overflow.status_code, overflow.json()["code"]) == (413, "upload_overflow")
    unknown_algorithm = await patch(served, location, 0, data, **{"Upload-Checksum": "md5 AAAA"})
    assert (unknown_algorithm.status_code, unknown_algorithm.json()["code"]) == (400, "checksum_unsupported")
    head = await served.http.head(location, headers=served.auth | TUS)
    assert head.headers["Upload-Offset"] == "0"
    assert await stored_keys(served, "") == []
    unknown = await served.http.head(f"/uploads/{uuid.uuid4()}", headers=served.auth | TUS)
    assert unknown.status_code == 404


async def test_another_users_photo_cannot_be_uploaded_and_uploads_are_private(served: Served) -> None:
    from tests.helpers import bearer, login

    data = jpeg(11)
    pid = uuid.uuid4()
    await served.register(pid, data)
    sup = await login(served.http, "sup")
    meta = {"Upload-Length": str(len(data)), "Upload-Metadata": _meta(pid)}
    refused = await served.http.post("/uploads/", headers=bearer(sup) | TUS | meta)
    assert (refused.status_code, refused.json()["code"]) == (404, "not_found")

    created = await create(served, len(data), pid)  # cm's own
    location = created.headers["Location"]
    for method in ("HEAD", "PATCH", "DELETE"):
        other = await served.http.request(
            method,
            location,
            content=data if method == "PATCH" else None,
            headers=bearer(sup) | TUS | {"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
        )
        assert other.status_code == 404, method


async def test_two_patches_at_once_cannot_both_write(served: Served) -> None:
    data = jpeg(12, size=(300, 200))
    pid = uuid.uuid4()
    await served.register(pid, data)
    location = (await create(served, len(data), pid)).headers["Location"]
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield data[:100]
        started.set()
        await release.wait()
        yield data[100:]

    first = asyncio.create_task(patch(served, location, 0, slow()))
    await started.wait()
    await asyncio.sleep(0.2)  # the first PATCH holds the lease and is streaming
    second = await patch(served, location, 0, data)
    assert (second.status_code, second.json()["code"]) == (423, "upload_locked")
    release.set()
    assert (await first).status_code == 204
    assert (await served.photo(pid))["upload_status"] == "received"


async def test_termination_removes_the_upload_and_its_parts(served: Served) -> None:
    data = jpeg(13, size=(300, 200))
    pid = uuid.uuid4()
    location = (await create(served, len(data), pid)).headers["Location"]
    assert (await patch(served, location, 0, data[:1000])).status_code == 204
    assert len(await stored_keys(served, "uploads/")) == 1
    gone = await served.http.delete(location, headers=served.auth | TUS)
    assert gone.status_code == 204
    assert await stored_keys(served, "uploads/") == []
    assert (await served.http.head(location, headers=served.auth | TUS)).status_code == 404


async def test_creation_with_upload_takes_the_first_chunk(served: Served) -> None:
    data = jpeg(14)
    pid = uuid.uuid4()
    await served.register(pid, data)
    created = await served.http.post(
        "/uploads/",
        content=data,
        headers=served.auth
        | TUS
        | {
            "Upload-Length": str(len(data)),
            "Upload-Metadata": _meta(pid),
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert created.status_code == 201, created.text
    assert created.headers["Upload-Offset"] == str(len(data))
    assert (await served.photo(pid))["upload_status"] == "received"


async def test_the_sweep_removes_expired_uploads_and_files_no_photo_has(served: Served) -> None:
    from datetime import UTC, datetime, timedelta

    data = jpeg(15, size=(300, 200))
    stale = (await create(served, len(data), uuid.uuid4())).headers["Location"]
    assert (await patch(served, stale, 0, data[:1000])).status_code == 204
    orphan = jpeg(16)
    await asyncio.to_thread(uploader(served, orphan, uuid.uuid4()).upload)  # never registered
    kept = jpeg(17)
    pid = uuid.uuid4()
    await served.register(pid, kept)
    await asyncio.to_thread(uploader(served, kept, pid).upload)

    later = datetime.now(UTC) + timedelta(seconds=served.settings.orphan_file_seconds + 60)
    async with served.field.factory() as s:
        await s.execute(
            Upload.__table__.update().values(created_at=datetime.now(UTC) - timedelta(days=30))  # type: ignore[attr-defined]
        )
        await s.execute(
            PhotoFile.__table__.update().values(created_at=datetime.now(UTC) - timedelta(days=30))  # type: ignore[attr-defined]
        )
        await s.execute(
            Upload.__table__.update()  # type: ignore[attr-defined]
            .where(Upload.finished_at.is_not(None))
            .values(finished_at=datetime.now(UTC) - timedelta(days=30))
        )
        counts = await processing.sweep(s, served.app.state.blobs, served.settings, later)
        await s.commit()
    assert counts["expired_uploads"] == 1 and counts["files"] == 1
    assert await stored_keys(served, "uploads/") == []
    assert await stored_keys(served, "blobs/") == [f"blobs/{hashlib.sha256(kept).hexdigest()}"]
    assert (await served.photo(pid))["upload_status"] == "received"


async def test_tuspy_reports_a_refused_file(served: Served) -> None:
    pid = uuid.uuid4()
    junk = b"%!PS-Adobe-3.0 not a photo\n" * 20
    with pytest.raises(TusCommunicationError):
        await asyncio.to_thread(uploader(served, junk, pid).upload)


@pytest.fixture
async def s3_served(field: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Served]:
    """The same server with its files in an S3 bucket: a real S3 API (moto's standalone server)."""
    import boto3
    import uvicorn
    from moto.server import ThreadedMotoServer

    from server.app import create_app
    from tests.conftest import make_settings

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    env = {"AWS_ACCESS_KEY_ID": "doorstep", "AWS_SECRET_ACCESS_KEY": "doorstep-secret", "AWS_REGION": "us-east-1"}
    for name, value in (env | {"AWS_ENDPOINT": endpoint, "AWS_ALLOW_HTTP": "true"}).items():
        monkeypatch.setenv(name, value)
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="forms")
    settings = make_settings(data_dir=tmp_path, blob_url="s3://forms/doorstep")
    app = create_app(settings, session_factory=field.factory)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  (uvicorn offers no event to wait on)
        await asyncio.sleep(0.01)
    url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        yield Served(field, url, settings, app, http)
    server.should_exit = True
    await task
    moto.stop()


async def test_files_go_to_an_s3_bucket_when_configured(s3_served: Served) -> None:
    import boto3

    served = s3_served
    data = jpeg(20, size=(600, 400), gps=(10.5, 20.25))
    pid = uuid.uuid4()
    await served.register(pid, data)
    await asyncio.to_thread(uploader(served, data, pid, chunk_size=4096).upload)  # several parts, assembled
    assert (await served.photo(pid))["upload_status"] == "received"
    sha = hashlib.sha256(data).hexdigest()
    s3 = boto3.client("s3", endpoint_url=_endpoint(), region_name="us-east-1")
    listed = s3.list_objects_v2(Bucket="forms", Prefix="doorstep/")
    assert [o["Key"] for o in listed.get("Contents", [])] == [f"doorstep/blobs/{sha}"]
    assert s3.get_object(Bucket="forms", Key=f"doorstep/blobs/{sha}")["Body"].read() == data
    async with served.field.factory() as s:
        assert await processing.make_copies(s, served.app.state.blobs, sha) is True
        await s.commit()
    response = await served.http.get(f"/form-photos/{pid}/file", headers=served.auth)
    assert response.status_code == 200 and response.content[:3] == b"\xff\xd8\xff"
    assert b"Exif\x00\x00" not in response.content


def _endpoint() -> str:
    import os

    return os.environ["AWS_ENDPOINT"]


async def test_a_patch_cut_off_midway_keeps_nothing_and_the_upload_resumes_at_once(served: Served) -> None:
    data = jpeg(21, size=(500, 400))
    pid = uuid.uuid4()
    await served.register(pid, data)
    location = (await create(served, len(data), pid)).headers["Location"]

    async def cut() -> AsyncIterator[bytes]:
        yield data[:1500]
        await asyncio.sleep(0.2)
        raise ConnectionResetError("the phone lost its signal")

    with pytest.raises(ConnectionResetError):
        await patch(served, location, 0, cut())
    for _ in range(50):  # the server notices the cut connection and lets the lease go
        head = await served.http.head(location, headers=served.auth | TUS)
        async with served.field.factory() as s:
            upload = await s.get(Upload, uuid.UUID(location.rsplit("/", 1)[1]))
        if upload is not None and upload.writer is None:
            break
        await asyncio.sleep(0.1)
    assert head.headers["Upload-Offset"] == "0"
    assert await stored_keys(served, "uploads/") == []
    resumed = await patch(served, location, 0, data)
    assert resumed.status_code == 204, resumed.text
    assert (await served.photo(pid))["upload_status"] == "received"


async def test_a_patch_meeting_a_writer_that_is_letting_go_waits_for_it_instead_of_423(served: Served) -> None:
    data = jpeg(22, size=(300, 200))
    pid = uuid.uuid4()
    await served.register(pid, data)
    location = (await create(served, len(data), pid)).headers["Location"]
    upload_id = uuid.UUID(location.rsplit("/", 1)[1])
    async with served.field.factory() as s:  # a lost PATCH still holds the lease, for 0.3 s more
        await s.execute(
            Upload.__table__.update()  # type: ignore[attr-defined]
            .where(Upload.id == upload_id)
            .values(writer=uuid.uuid4(), writer_until=func.now() + text("interval '0.3 seconds'"))
        )
        await s.commit()
    resumed = await patch(served, location, 0, data)
    assert resumed.status_code == 204, resumed.text
