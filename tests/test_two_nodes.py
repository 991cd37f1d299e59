"""Two nodes, one database, one bucket (issue 20): how a district grows past one machine.

Two real ``doorstep serve`` processes on two ports, each with a data folder of its own, share one
PostgreSQL database, one S3-compatible bucket (moto's server) and one ``DOORSTEP_JWT_SECRET``;
node A runs the background worker, node B runs none (``DOORSTEP_WORKER=off``). A phone or a
browser may reach either node on any request, as behind a load balancer: nothing a request needs
lives in one node (docs/deploy.md, Past one machine).

The two serves start once for the module; every process is stopped at the end, whatever happens.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select

from bench.served import Served
from server.cases.models import ContactAttempt
from server.console.session import COOKIE
from server.db import SessionFactory, create_engine, create_session_factory
from server.sync.models import SyncMutation
from sync.client import Reply, SyncClient, Transport, http_transport
from tests.conftest import PASSWORD, make_settings, own_database
from tests.helpers import bearer, login
from tests.serve_processes import descendants, serving
from tests.server_sync.conftest import seed_team

BUCKET = "district-files"
TUS = {"Tus-Resumable": "1.0.0"}
PROCESSED_SECONDS = 60.0
"""How long node A's background worker may take to make a received file's served copy."""


@dataclass
class Nodes:
    a: Served
    b: Served
    factory: SessionFactory
    case_id: uuid.UUID
    s3: Any  # a boto3 S3 client on the bucket's server

    def http(self, node: Served) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=node.base_url, timeout=30.0, trust_env=False)


@dataclass(frozen=True)
class _Moto:
    env: dict[str, str]
    """The ``AWS_*`` settings that reach it."""
    s3: Any  # a boto3 S3 client on it


@pytest.fixture(scope="module")
def bucket() -> Iterator[_Moto]:
    """An S3-compatible server (moto's, in a thread of this process) with the district's bucket."""
    import boto3
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        env = {
            "AWS_ACCESS_KEY_ID": "doorstep",
            "AWS_SECRET_ACCESS_KEY": "doorstep-secret",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT": endpoint,
            "AWS_ALLOW_HTTP": "true",
        }
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )
        s3.create_bucket(Bucket=BUCKET)
        yield _Moto(env, s3)
    finally:
        moto.stop()


@pytest.fixture(scope="module")
async def nodes(
    server_url: str, template_url: str, bucket: _Moto, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Nodes]:
    """Nodes A and B on a database of the module's own, with cm's case in it."""
    folder = tmp_path_factory.mktemp("two-nodes")
    async with own_database(server_url) as url:
        engine = create_engine(url)
        try:
            factory = create_session_factory(engine)
            case_id = await seed_team(factory)
            shared = bucket.env | {
                "DOORSTEP_JWT_SECRET": make_settings().jwt_secret,
                "DOORSTEP_BLOB_URL": f"s3://{BUCKET}/district",
                "DOORSTEP_LOG_LEVEL": "WARNING",
            }
            a = Served(url, folder, "a", workers=1)
            b = Served(url, folder, "b", workers=1)
            a.env |= shared
            b.env |= shared | {"DOORSTEP_WORKER": "off"}
            with ExitStack() as a_stack, ExitStack() as b_stack:
                # Started side by side (each takes seconds), each stopped by its own stack.
                started = await asyncio.gather(
                    asyncio.to_thread(a_stack.enter_context, serving(a)),
                    asyncio.to_thread(b_stack.enter_context, serving(b)),
                    return_exceptions=True,
                )
                for outcome in started:
                    if isinstance(outcome, BaseException):
                        raise outcome
                yield Nodes(a, b, factory, case_id, bucket.s3)
        finally:
            await engine.dispose()


def _background_workers(node: Served) -> list[int]:
    assert node.proc is not None
    found = []
    for pid in descendants(node.proc.pid):
        with suppress(OSError):
            if b"server.cli\x00worker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
    return found


def test_one_background_worker_runs_for_both_nodes_on_node_a(nodes: Nodes) -> None:
    """So a file received through node B is processed by node A's worker (the next tests)."""
    assert len(_background_workers(nodes.a)) == 1
    assert _background_workers(nodes.b) == []


def _attempt(case_id: uuid.UUID, n: int) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid5(case_id, f"two-nodes-{n}")),
        "case_id": str(case_id),
        "method": "home_visit",
        "outcome": "family_met",
        "at": "2026-01-05T16:30:00Z",
    }


def _routed(plan: list[Served], token: Callable[[], str], http: httpx.AsyncClient, log: list[str]) -> Transport:
    """The phone's transport behind a balancer: each request goes to the next node of ``plan``
    (the last one stays), and ``log`` gets ``"<node> <path>"`` for each."""

    async def send(path: str, body: bytes) -> Reply:
        node = plan.pop(0) if len(plan) > 1 else plan[0]
        log.append(f"{node.folder.name} {path}")
        return await http_transport(node.base_url, token, client=http)(path, body)

    return send


async def test_a_push_on_one_node_is_pulled_from_the_other(nodes: Nodes, tmp_path: Path) -> None:
    phone_id = uuid.uuid4()
    async with nodes.http(nodes.a) as a, nodes.http(nodes.b) as b:
        tokens = await login(a, "cm", device_id=phone_id)  # signed in on A...
        refreshed = await b.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert refreshed.status_code == 200, refreshed.text  # ...its refresh token good on B
        tokens = refreshed.json()
    ids = [uuid.UUID(_attempt(nodes.case_id, n)["id"]) for n in range(10)]
    plan: list[Served] = []
    log: list[str] = []
    async with httpx.AsyncClient(timeout=30.0, trust_env=False) as http:
        phone = SyncClient(
            tmp_path / "phone.sqlite", phone_id, _routed(plan, lambda: tokens["access_token"], http, log), batch_size=2
        )
        try:
            for n in range(3):
                phone.enqueue("contact_attempt.create", _attempt(nodes.case_id, n))
            plan[:] = [nodes.a]
            await phone.push()
            plan[:] = [nodes.b]
            await phone.pull()
            assert ("case", nodes.case_id) in phone.records()
            assert {i for (kind, i) in phone.records() if kind == "contact_attempt"} == set(ids[:3])

            phone.enqueue("contact_attempt.create", _attempt(nodes.case_id, 3))
            await phone.push()  # the other way round
            plan[:] = [nodes.a]
            await phone.pull()
            assert {i for (kind, i) in phone.records() if kind == "contact_attempt"} == set(ids[:4])

            for n in range(4, 10):
                phone.enqueue("contact_attempt.create", _attempt(nodes.case_id, n))
            plan[:] = [nodes.b, nodes.a, nodes.b, nodes.a]  # each request to the other node
            await phone.push()
            await phone.pull()
            assert phone.pending() == []
            assert {i for (kind, i) in phone.records() if kind == "contact_attempt"} == set(ids)
        finally:
            phone.close()
    assert log == [
        *["serve-a /sync/push"] * 2,
        "serve-b /sync/pull",
        "serve-b /sync/push",
        "serve-a /sync/pull",
        "serve-b /sync/push",
        "serve-a /sync/push",
        "serve-b /sync/push",
        "serve-a /sync/pull",
    ]
    async with nodes.factory() as s:
        stored = await s.scalar(
            select(func.count()).select_from(SyncMutation).where(SyncMutation.client_id == phone_id)
        )
        attempts = set(
            (await s.scalars(select(ContactAttempt.id).where(ContactAttempt.case_id == nodes.case_id))).all()
        )
    assert stored == 10 and attempts == set(ids)  # each once, whichever node took it


def _pdf() -> bytes:
    """A form scanned to PDF: Doorstep serves a PDF as it came, so the served file is the very
    bytes the phone hashed."""
    image = Image.effect_noise((400, 300), 60).convert("RGB")
    out = io.BytesIO()
    image.save(out, "PDF")
    return out.getvalue()


async def test_an_upload_started_on_one_node_is_resumed_on_the_other(nodes: Nodes) -> None:
    data = _pdf()
    sha = hashlib.sha256(data).hexdigest()
    photo_id, phone_id = uuid.uuid4(), uuid.uuid4()
    half = len(data) // 2
    async with nodes.http(nodes.a) as a, nodes.http(nodes.b) as b:
        auth_headers = bearer(await login(b, "cm", device_id=phone_id))
        register = {
            "client_id": str(phone_id),
            "schema_version": 1,
            "mutations": [
                {
                    "id": 1,
                    "name": "form_photo.register",
                    "args": {
                        "id": str(photo_id),
                        "case_id": str(nodes.case_id),
                        "form_type": "consent",
                        "sha256": sha,
                        "size": len(data),
                        "content_type": "application/pdf",
                        "taken_at": "2026-11-30T10:00:00Z",
                    },
                }
            ],
        }
        pushed = await a.post("/sync/push", json=register, headers=auth_headers)
        assert pushed.status_code == 200 and pushed.json()["results"][0]["status"] == "applied", pushed.text

        metadata = "form_photo_id " + base64.b64encode(str(photo_id).encode()).decode()
        created = await a.post(
            "/uploads/", headers=auth_headers | TUS | {"Upload-Length": str(len(data)), "Upload-Metadata": metadata}
        )
        assert created.status_code == 201, created.text
        location = created.headers["Location"]
        chunk = {"Content-Type": "application/offset+octet-stream"}
        first = await a.patch(
            location, content=data[:half], headers=auth_headers | TUS | chunk | {"Upload-Offset": "0"}
        )
        assert first.status_code == 204 and first.headers["Upload-Offset"] == str(half), first.text

        # The phone's next request reaches B: it asks where the upload stands and sends the rest.
        head = await b.head(location, headers=auth_headers | TUS)
        assert head.status_code == 200
        assert head.headers["Upload-Offset"] == str(half) and head.headers["Upload-Length"] == str(len(data))
        rest = await b.patch(
            location, content=data[half:], headers=auth_headers | TUS | chunk | {"Upload-Offset": str(half)}
        )
        assert rest.status_code == 204 and rest.headers["Upload-Offset"] == str(len(data)), rest.text

        photo = await b.get(f"/form-photos/{photo_id}", headers=auth_headers)
        assert photo.json()["upload_status"] == "received"
        # Its served copy is made by the only background worker, node A's, from the bucket; B
        # serves it from the bucket.
        deadline = asyncio.get_running_loop().time() + PROCESSED_SECONDS
        while (file := await b.get(f"/form-photos/{photo_id}/file", headers=auth_headers)).status_code == 409:
            assert file.json()["code"] == "photo_processing"
            assert asyncio.get_running_loop().time() < deadline, "node A's worker never processed the file"
            await asyncio.sleep(0.2)
        assert file.status_code == 200, file.text
        assert file.headers["content-type"].startswith("application/pdf")
        assert hashlib.sha256(file.content).hexdigest() == sha
        thumbnail = await b.get(f"/form-photos/{photo_id}/thumbnail", headers=auth_headers)
        assert thumbnail.status_code == 200 and thumbnail.content[:3] == b"\xff\xd8\xff"

    keys = {o["Key"] for o in nodes.s3.list_objects_v2(Bucket=BUCKET, Prefix="district/").get("Contents", [])}
    assert {f"district/blobs/{sha}", f"district/served/{sha}", f"district/thumbs/{sha}"} <= keys
    assert not any(key.startswith("district/uploads/") for key in keys)  # the parts, assembled, are gone
    assert _files_in(nodes.a) == _files_in(nodes.b) == []  # and nothing of it on either machine's disk


def _files_in(node: Served) -> list[Path]:
    """The files in a node's data folder."""
    return [p for p in Path(node.env["DOORSTEP_DATA_DIR"]).rglob("*") if p.is_file()]


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert found, "the form carries no CSRF token"
    return found.group(1)


async def test_a_console_session_holds_on_both_nodes_and_ends_on_both(nodes: Nodes) -> None:
    """One browser behind a balancer: one cookie jar, its requests to either node."""
    async with httpx.AsyncClient(timeout=30.0, trust_env=False) as browser:
        a, b = nodes.a.base_url, nodes.b.base_url
        page = await browser.get(f"{a}/console/sign-in")
        signed_in = await browser.post(
            f"{a}/console/sign-in", data={"username": "sup", "password": PASSWORD, "_csrf_token": _csrf(page)}
        )
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/console/cases", signed_in.text
        cookie = browser.cookies[COOKIE]

        cases = await browser.get(f"{b}/console/cases")
        assert cases.status_code == 200 and "Sign out" in cases.text
        assert (await browser.get(f"{a}/console/cases")).status_code == 200

        signed_out = await browser.post(f"{b}/console/sign-out", data={"_csrf_token": _csrf(cases)})
        assert signed_out.status_code == 303 and signed_out.headers["location"] == "/console/sign-in"
        assert COOKIE not in browser.cookies  # B told the browser to forget it
        for node in (a, b):  # and a copy kept from before is refused on either node
            browser.cookies.set(COOKIE, cookie, domain="127.0.0.1", path="/console")
            copied = await browser.get(f"{node}/console/cases")
            assert copied.status_code == 303 and copied.headers["location"] == "/console/sign-in"
