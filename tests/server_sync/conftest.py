"""The field for sync over HTTP: a team (``sup`` leads ``cm``; ``admin``), one household, one
student and her case, and ``cm`` logged in on a phone. These tests commit for real, so each has a
database of its own.

``served`` is the same app on a real TCP port, for stock clients (tuspy)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from litestar import Litestar
from PIL import Image

from schemas.auth import Role
from server.audit import Actor
from server.auth import service as auth
from server.cases.models import Case
from server.db import SessionFactory, create_engine, create_session_factory
from server.settings import Settings
from server.students.models import Household, Student
from tests.conftest import PASSWORD, app_for, client_for, make_settings
from tests.helpers import bearer, login


@dataclass
class Field:
    factory: SessionFactory
    client: httpx.AsyncClient
    case_id: uuid.UUID
    phone: uuid.UUID
    tokens: dict[str, Any]


async def seed_team(factory: SessionFactory, *, admin: bool = False) -> uuid.UUID:
    """A supervisor ``sup`` leading case manager ``cm`` (and an ``admin`` if asked), and one case
    of cm's, committed: its id."""
    async with factory() as s:
        await auth.create_user(s, Actor.system(), username="sup", password=PASSWORD, role=Role.SUPERVISOR)
        await s.flush()
        cm = await auth.create_user(
            s, Actor.system(), username="cm", password=PASSWORD, role=Role.CASE_MANAGER, supervisor_username="sup"
        )
        if admin:
            await auth.create_user(s, Actor.system(), username="admin", password=PASSWORD, role=Role.ADMIN)
        home = Household(id=uuid.uuid4(), external_id="H1", phone="555-0100")
        s.add(home)
        await s.flush()
        kid = Student(id=uuid.uuid4(), student_number="1", first_name="A", last_name="B", household_id=home.id)
        s.add(kid)
        await s.flush()
        case = Case(
            id=uuid.uuid4(), student_id=kid.id, status="active", case_manager_id=cm.id, opened_at=datetime.now(UTC)
        )
        s.add(case)
        await s.commit()
        return case.id


@pytest.fixture
async def field(fresh_database: str) -> AsyncIterator[Field]:
    engine = create_engine(fresh_database)
    factory = create_session_factory(engine)
    case_id = await seed_team(factory, admin=True)
    phone = uuid.uuid4()
    async with client_for(app_for(make_settings(), factory)) as client:
        tokens = await login(client, "cm", device_id=phone)
        yield Field(factory, client, case_id, phone, tokens)
    await engine.dispose()


@dataclass
class Served:
    field: Field
    url: str
    settings: Settings
    app: Litestar
    http: httpx.AsyncClient

    @property
    def endpoint(self) -> str:
        return self.url + "/uploads/"

    @property
    def auth(self) -> dict[str, str]:
        return bearer(self.field.tokens)

    async def register(self, photo_id: uuid.UUID, data: bytes, mutation_id: int = 1, **extra: Any) -> dict[str, Any]:
        """Push ``form_photo.register`` for ``data`` from cm's phone; the mutation's result."""
        args: dict[str, Any] = {
            "id": str(photo_id),
            "case_id": str(self.field.case_id),
            "form_type": "consent",
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "content_type": "image/jpeg",
            "taken_at": "2026-11-30T10:00:00Z",
        } | extra
        body = {
            "client_id": str(self.field.phone),
            "schema_version": 1,
            "mutations": [{"id": mutation_id, "name": "form_photo.register", "args": args}],
        }
        response = await self.http.post("/sync/push", json=body, headers=self.auth)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()["results"][0]
        return result

    async def photo(self, photo_id: uuid.UUID) -> dict[str, Any]:
        response = await self.http.get(f"/form-photos/{photo_id}", headers=self.auth)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found


@pytest.fixture
async def served(field: Field, tmp_path: Path) -> AsyncIterator[Served]:
    settings = make_settings(data_dir=tmp_path, max_upload_bytes=4 * 1024 * 1024)
    app = app_for(settings, field.factory)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  (uvicorn offers no event to wait on)
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        yield Served(field, url, settings, app, http)
    server.should_exit = True
    await task


def jpeg(seed: int = 0, size: tuple[int, int] = (64, 48), gps: tuple[float, float] | None = None) -> bytes:
    """A small generated JPEG (a gradient, no person), with EXIF GPS if asked."""
    image = Image.new("RGB", size, (seed % 256, 120, 200))
    for x in range(size[0]):
        image.putpixel((x, x % size[1]), (255, seed % 256, 0))
    out = io.BytesIO()
    exif = Image.Exif()
    if gps is not None:
        lat, lon = gps
        exif[0x8825] = {
            1: "N" if lat >= 0 else "S",
            2: _dms(abs(lat)),
            3: "E" if lon >= 0 else "W",
            4: _dms(abs(lon)),
        }
    image.save(out, "JPEG", exif=exif.tobytes(), quality=90)
    return out.getvalue()


def _dms(value: float) -> tuple[float, float, float]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round(((value - degrees) * 60 - minutes) * 60, 4)
    return (float(degrees), float(minutes), seconds)
