"""The field for sync over HTTP: a team (``sup`` leads ``cm``; ``admin``), one household, one
student and her case, and ``cm`` logged in on a phone. These tests commit for real, so each has a
database of its own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from schemas.auth import Role
from server.app import create_app
from server.audit import Actor
from server.auth import service as auth
from server.cases.models import Case
from server.db import SessionFactory, create_engine, create_session_factory
from server.students.models import Household, Student
from tests.conftest import PASSWORD, client_for, make_settings
from tests.helpers import login


@dataclass
class Field:
    factory: SessionFactory
    client: httpx.AsyncClient
    case_id: uuid.UUID
    phone: uuid.UUID
    tokens: dict[str, Any]


@pytest.fixture
async def field(fresh_database: str) -> AsyncIterator[Field]:
    engine = create_engine(fresh_database)
    factory = create_session_factory(engine)
    async with factory() as s:
        sup = await auth.create_user(s, Actor.system(), username="sup", password=PASSWORD, role=Role.SUPERVISOR)
        await s.flush()
        cm = await auth.create_user(
            s, Actor.system(), username="cm", password=PASSWORD, role=Role.CASE_MANAGER, supervisor_username="sup"
        )
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
        assert sup.id
    phone = uuid.uuid4()
    async with client_for(create_app(make_settings(), session_factory=factory)) as client:
        tokens = await login(client, "cm", device_id=phone)
        yield Field(factory, client, case.id, phone, tokens)
    await engine.dispose()
