"""``doorstep audit export --student ID``: every access to one student's records, as CSV, for a
parent's records request (34 CFR 99.32). Against a database of its own (the CLI commits)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from schemas.auth import Role
from server import cli
from server.audit import Actor, AuditEntry, record
from server.auth import service as auth
from server.db import create_engine, create_session_factory
from server.students.models import Student
from tests.conftest import PASSWORD

runner = CliRunner()


class Seeded:
    def __init__(self, student: uuid.UUID, other: uuid.UUID, user: uuid.UUID, phone: uuid.UUID) -> None:
        self.student, self.other, self.user, self.phone = student, other, user, phone


def _seed(url: str) -> Seeded:
    """Five accesses to one student (one a row from before migration 0006, naming the student only
    as its entity), and two to another."""

    async def run() -> Seeded:
        engine = create_engine(url)
        try:
            async with create_session_factory(engine)() as s:
                user = await auth.create_user(s, Actor.system(), username="cm", password=PASSWORD, role=Role.ADMIN)
                kid, other = uuid.uuid4(), uuid.uuid4()
                s.add_all(
                    [
                        Student(id=kid, student_number="E-1", first_name="A", last_name="B"),
                        Student(id=other, student_number="E-2", first_name="C", last_name="D"),
                    ]
                )
                await s.flush()
                phone = uuid.uuid4()
                who = Actor(user.id, "case_manager", phone, "req-1")
                record(s, who, "student.read", "student", kid)
                record(s, who, "case.read", "case", uuid.uuid4(), student_id=kid, note='a "quoted", comma')
                record(s, who, "student.read", "student", other)
                s.add(AuditEntry(action="student.read", entity_type="student", entity_id=str(kid)))  # legacy
                record(s, Actor.system("req-2"), "student.read_refused", "student", kid)
                record(s, who, "case.read", "case", uuid.uuid4(), student_id=other)
                record(s, who, "sync.pull.student", "student", kid, version=3)
                await s.commit()
                return Seeded(kid, other, user.id, phone)
        finally:
            await engine.dispose()

    return asyncio.run(run())


async def _exports(url: str, student: uuid.UUID) -> list[AuditEntry]:
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as s:
            query = select(AuditEntry).where(AuditEntry.action == "audit.export", AuditEntry.student_id == student)
            return list((await s.scalars(query)).all())
    finally:
        await engine.dispose()


@pytest.fixture
def seeded(fresh_database: str, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    monkeypatch.setenv("DATABASE_URL", fresh_database)
    monkeypatch.setattr(cli, "EXPORT_PAGE", 2)  # several pages from five rows
    return _seed(fresh_database)


def test_the_export_writes_every_access_to_the_student_oldest_first(
    seeded: Seeded, tmp_path: Path, fresh_database: str
) -> None:
    out = tmp_path / "records-request.csv"
    result = runner.invoke(cli.app, ["audit", "export", "--student", str(seeded.student), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "exported 5 audit rows" in result.output

    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(cli.EXPORT_COLUMNS)
    assert [r["action"] for r in rows] == [
        "student.read",
        "case.read",
        "student.read",
        "student.read_refused",
        "sync.pull.student",
    ]
    ids = [int(r["id"]) for r in rows]
    assert ids == sorted(ids)
    first = rows[0]
    assert (first["actor_id"], first["actor_username"], first["actor_role"]) == (str(seeded.user), "cm", "case_manager")
    assert (first["device_id"], first["request_id"], first["student_id"]) == (
        str(seeded.phone),
        "req-1",
        str(seeded.student),
    )
    assert json.loads(rows[1]["detail"]) == {"note": 'a "quoted", comma'}
    assert rows[2]["student_id"] == "" and rows[2]["entity_id"] == str(seeded.student)  # the legacy row
    assert rows[3]["actor_role"] == "system" and rows[3]["actor_username"] == ""
    assert str(seeded.other) not in out.read_text()
    assert not list(tmp_path.glob(".*partial"))

    (export,) = asyncio.run(_exports(fresh_database, seeded.student))
    assert export.actor_role == "cli" and export.detail is not None
    assert (export.detail["rows"], export.detail["output"]) == (5, str(out))


def test_the_export_goes_to_standard_output_without_a_file(seeded: Seeded) -> None:
    result = runner.invoke(cli.app, ["audit", "export", "--student", str(seeded.other)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["action"] for r in rows] == ["student.read", "case.read"]


def test_exporting_an_unknown_student_fails_and_writes_no_file(seeded: Seeded, tmp_path: Path) -> None:
    out = tmp_path / "nobody.csv"
    result = runner.invoke(cli.app, ["audit", "export", "--student", str(uuid.uuid4()), "--output", str(out)])
    assert result.exit_code == 1
    assert "No student" in result.output
    assert list(tmp_path.iterdir()) == []
