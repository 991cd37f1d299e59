"""The resource import (``doorstep resources import``, ``POST /resources/imports``): strict, every
bad row listed by its line, nothing stored when one is bad, and a re-import adds nothing twice (a
row is matched by its id, else by its exact name and address)."""

from __future__ import annotations

import asyncio
import io
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from schemas.imports import ImportMode, ImportResult
from server import audit
from server.audit import Actor
from server.cli import app as cli
from server.db import create_engine
from server.errors import UnknownColumns
from server.resources.imports import import_resources
from server.resources.models import Resource
from tests.helpers import bearer, login

HEADER = "name,factors,languages,address,phone,website,hours,latitude,longitude,active\n"
GOOD = HEADER + (
    'North End Food Pantry,food_insecurity;clothing_or_supplies,en;ES,"12 Main St, Hartford",860-555-0142,'
    "https://pantry.example.org,Mon-Fri 9-5,41.7775,-72.6791,yes\n"
    "Centro de Apoyo,legal_or_immigration,es;en,40 Park St,860-555-0100,,,,,\n"
    "Casa do Brasil,food_insecurity;caring_for_family,pt-br,40 Park St,,,,41.76,-72.68,0\n"
)
OFFICE = Actor(user_id=None, role="office_staff", request_id="test")


def lines(body: str) -> io.StringIO:
    return io.StringIO(body, newline="")


async def run(db: AsyncSession, body: str, mode: ImportMode = ImportMode.ALL_OR_NOTHING) -> ImportResult:
    return await import_resources(db, OFFICE, lines(body), mode=mode, source_name="test.csv")


async def stored(db: AsyncSession) -> dict[str, Resource]:
    rows = (await db.scalars(select(Resource).execution_options(populate_existing=True))).all()
    return {r.name: r for r in rows}


# --- the service ----------------------------------------------------------------------------------


async def test_a_good_file_adds_every_resource_normalised_and_audited(db: AsyncSession) -> None:
    result = await run(db, GOOD)
    assert (result.applied, result.rows, result.inserted, result.updated, result.rejected) == (True, 3, 3, 0, 0)
    found = await stored(db)
    pantry = found["North End Food Pantry"]
    assert pantry.factors == ["food_insecurity", "clothing_or_supplies"]
    assert pantry.languages == ["en", "es"]
    assert (pantry.address, pantry.latitude, pantry.longitude, pantry.active) == (
        "12 Main St, Hartford",
        41.7775,
        -72.6791,
        True,
    )
    centro = found["Centro de Apoyo"]
    assert (centro.website, centro.hours, centro.latitude, centro.active) == (None, None, None, True)
    assert found["Casa do Brasil"].languages == ["pt-BR"] and found["Casa do Brasil"].active is False
    created = await db.scalar(
        select(func.count()).select_from(audit.AuditEntry).where(audit.AuditEntry.action == "resource.create")
    )
    summary = await db.scalar(select(audit.AuditEntry).where(audit.AuditEntry.action == "resource.import"))
    assert created == 3
    assert summary is not None and (summary.detail or {})["inserted"] == 3


async def test_importing_the_same_file_again_adds_nothing_and_changes_nothing(db: AsyncSession) -> None:
    await run(db, GOOD)
    versions = {n: r.version for n, r in (await stored(db)).items()}
    again = await run(db, GOOD)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    assert {n: r.version for n, r in (await stored(db)).items()} == versions
    assert await db.scalar(select(func.count()).select_from(Resource)) == 3


async def test_a_row_without_id_updates_the_resource_of_the_same_name_and_address(db: AsyncSession) -> None:
    await run(db, GOOD)
    corrected = GOOD.replace("40 Park St,860-555-0100", "40 Park St,860-555-0199")
    result = await run(db, corrected)
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 2)
    centro = (await stored(db))["Centro de Apoyo"]
    assert (centro.phone, centro.version) == ("860-555-0199", 2)
    update = await db.scalar(select(audit.AuditEntry).where(audit.AuditEntry.action == "resource.update"))
    assert update is not None and update.detail is not None
    assert (update.detail["before"], update.detail["after"], update.detail["line"]) == (
        {"phone": "860-555-0100"},
        {"phone": "860-555-0199"},
        3,
    )
    moved = corrected.replace("Centro de Apoyo,legal_or_immigration,es;en,40 Park St", "Centro de Apoyo,,es,41 Park St")
    assert (await run(db, moved)).inserted == 1, "another address is another resource"


async def test_a_row_with_an_id_updates_that_resource_even_renamed(db: AsyncSession) -> None:
    await run(db, GOOD)
    pantry = (await stored(db))["North End Food Pantry"]
    body = f"id,name,factors,address\n{pantry.id},North End Pantry (renamed),food_insecurity,12 Main St\n"
    result = await run(db, body)
    assert (result.inserted, result.updated) == (0, 1)
    found = await stored(db)
    assert "North End Food Pantry" not in found
    renamed = found["North End Pantry (renamed)"]
    assert renamed.id == pantry.id and renamed.factors == ["food_insecurity"] and renamed.languages == ["en"]
    assert renamed.phone is None, "a row is the whole resource: an absent column clears the field"


async def test_bad_rows_are_listed_by_line_with_their_reasons_and_nothing_is_stored(db: AsyncSession) -> None:
    body = GOOD + (
        "Bus Passes,transportation;bad_weather,en,,,,,,,\n"  # line 5
        "Clinic,student_illness,english,,,,,,,\n"  # 6
        ",food_insecurity,en,,,,,,,\n"  # 7
        "Shelter,housing_instability,en,,,,,forty-one,-72.6,\n"  # 8
        "Tutoring,academic_difficulty,en,,,,,41.7,,\n"  # 9
        "Clothes Closet,clothing_or_supplies,en,,,,,,,maybe\n"  # 10
        "Legal Aid,legal_or_immigration,en,,,ftp://legal.example.org,,,,\n"  # 11
    )
    result = await run(db, body)
    assert not result.applied and result.rows == 10 and result.rejected == 7
    reasons = {b.line: b.reason for b in result.bad_rows}
    assert list(reasons) == [5, 6, 7, 8, 9, 10, 11]
    assert "factors: unknown code 'bad_weather'" in reasons[5]
    assert "languages: 'english' is not a language code" in reasons[6]
    assert reasons[7] == "name: a name is required"
    assert reasons[8] == "latitude: not a number: 'forty-one'"
    assert reasons[9] == "longitude: give the longitude too, or leave both latitude and longitude empty"
    assert reasons[10] == "active: expected true or false, got 'maybe'"
    assert reasons[11].startswith("website: a web address starting with https://")
    assert await db.scalar(select(func.count()).select_from(Resource)) == 0


async def test_a_row_with_several_problems_lists_them_all(db: AsyncSession) -> None:
    result = await run(db, HEADER + "Drop-in,bad_weather,xx_YY,,,,,,200,\n")
    (bad,) = result.bad_rows
    assert bad.line == 2
    assert "factors: unknown code" in bad.reason and "underscore" in bad.reason
    assert "longitude: a number from -180 to 180" in bad.reason and "latitude: give the latitude too" in bad.reason


async def test_repeats_unknown_ids_and_ambiguous_matches_are_bad_rows(db: AsyncSession) -> None:
    await run(db, GOOD)
    db.add(Resource(id=uuid.uuid4(), name="Twin", address="1 Elm St", factors=[], languages=["en"]))
    db.add(Resource(id=uuid.uuid4(), name="Twin", address="1 Elm St", factors=[], languages=["en"]))
    await db.flush()
    pantry = (await stored(db))["North End Food Pantry"]
    unknown = uuid.uuid4()
    body = (
        "id,name,address,phone\n"
        f",Soup Kitchen,5 Oak St,1\n"  # 2
        f",Soup Kitchen,5 Oak St,2\n"  # 3: repeats line 2
        f"{unknown},Lost,,\n"  # 4: no such id
        f"not-an-id,Typo,,\n"  # 5
        f",Twin,1 Elm St,\n"  # 6: two stored resources match
        f'{pantry.id},North End Food Pantry,"12 Main St, Hartford",\n'  # 7
        f',North End Food Pantry,"12 Main St, Hartford",\n'  # 8: the same resource as line 7
        f"{pantry.id},Again,,\n"  # 9: id repeats line 7
    )
    result = await run(db, body)
    reasons = {b.line: b.reason for b in result.bad_rows}
    assert reasons == {
        3: "name and address repeat line 2 (one resource per name and address)",
        4: "id: no resource has this id (leave id empty to add a new resource)",
        5: "id: not a UUID: 'not-an-id' (leave it empty to add a new resource)",
        6: "name and address match 2 stored resources: give the id of the one to update",
        8: "updates the same resource as line 7",
        9: "id repeats line 7",
    }
    assert "Soup Kitchen" not in await stored(db)


async def test_good_rows_mode_stores_the_good_rows_and_lists_the_bad(db: AsyncSession) -> None:
    body = GOOD + "Bus Passes,bad_weather,en,,,,,,,\n"
    result = await run(db, body, ImportMode.GOOD_ROWS)
    assert (result.applied, result.inserted, result.rejected) == (True, 3, 1)
    assert [b.line for b in result.bad_rows] == [5]
    assert set(await stored(db)) == {"North End Food Pantry", "Centro de Apoyo", "Casa do Brasil"}


async def test_an_unknown_column_refuses_the_whole_file(db: AsyncSession) -> None:
    with pytest.raises(UnknownColumns) as refused:
        await run(db, "name,language\nPantry,en\n")
    assert refused.value.extra["unknown"] == ["language"]
    missing = await run(db, "factors\nfood_insecurity\n")
    assert [(b.line, b.reason) for b in missing.bad_rows] == [(1, "missing column(s): name")]


# --- the route ------------------------------------------------------------------------------------


async def test_the_route_imports_a_file_and_answers_422_listing_bad_rows(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    headers = bearer(await login(client, "office1")) | {"content-type": "text/csv"}
    bad = await client.post("/resources/imports", content=(GOOD + ",x,en,,,,,,,\n").encode(), headers=headers)
    assert bad.status_code == 422 and bad.json()["code"] == "import_rejected"
    assert bad.json()["bad_rows"][0]["line"] == 5
    assert await db.scalar(select(func.count()).select_from(Resource)) == 0
    good = await client.post("/resources/imports", content=GOOD.encode("utf-8-sig"), headers=headers)
    assert good.status_code == 200, good.text
    assert (good.json()["kind"], good.json()["inserted"]) == ("resource", 3)
    listed = await client.get("/resources", headers=headers)
    assert [r["name"] for r in listed.json()] == ["Casa do Brasil", "Centro de Apoyo", "North End Food Pantry"]


# --- the CLI --------------------------------------------------------------------------------------

runner = CliRunner()


def _query(url: str, sql: str) -> list[tuple[Any, ...]]:
    async def go() -> list[tuple[Any, ...]]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return [tuple(r) for r in await conn.execute(text(sql))]
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_the_cli_imports_a_file_and_a_second_run_adds_nothing(
    fresh_database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", fresh_database)
    path = tmp_path / "resources.csv"
    path.write_text(GOOD, encoding="utf-8")
    first = runner.invoke(cli, ["resources", "import", str(path)])
    assert first.exit_code == 0, first.output
    assert "resources: 3 rows, 3 inserted, 0 updated" in first.output
    assert "re-evaluation" not in first.output
    again = runner.invoke(cli, ["resources", "import", str(path)])
    assert again.exit_code == 0, again.output
    assert "0 inserted, 0 updated, 0 deleted, 3 unchanged" in again.output
    assert _query(fresh_database, "SELECT count(*) FROM resource") == [(3,)]
    assert _query(fresh_database, "SELECT count(*) FROM procrastinate.procrastinate_jobs") == [(0,)]
    logged = _query(fresh_database, "SELECT count(DISTINCT record_id) FROM sync_change WHERE record_type = 'resource'")
    assert logged == [(3,)], "the phones' pulls carry what the import added"


def test_the_cli_lists_bad_rows_by_line_exits_1_and_stores_nothing(
    fresh_database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", fresh_database)
    path = tmp_path / "resources.csv"
    path.write_text(GOOD + "Bus Passes,bad_weather,en,,,,,,,\n,food_insecurity,en,,,,,,,\n", encoding="utf-8")
    result = runner.invoke(cli, ["resources", "import", str(path)])
    assert result.exit_code == 1, result.output
    out = " ".join(result.output.split())
    assert "line 5: factors: unknown code 'bad_weather'" in out
    assert "line 6: name: a name is required" in out
    assert "rejected: 2 bad row(s); nothing imported" in out
    assert _query(fresh_database, "SELECT count(*) FROM resource") == [(0,)]
