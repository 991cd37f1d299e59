"""The directory of resources over REST: everyone reads it, office staff and admins write it, a
create is idempotent by the client's id, a PUT replaces and bumps the version, each write is
audited, and every case manager's phone gets it in its pull (type ``resource``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import Role
from schemas.casework import FACTORS, Factor, FactorCategory
from server import audit
from server.audit import Actor
from server.auth import service as auth
from server.db import create_engine, create_session_factory
from server.resources.models import Resource
from tests.conftest import PASSWORD, app_for, client_for, make_settings
from tests.helpers import bearer, login

FOOD_BANK: dict[str, Any] = {
    "name": "North End Food Pantry",
    "factors": ["food_insecurity", "clothing_or_supplies"],
    "languages": ["en", "es"],
    "address": "12 Main St, Hartford, CT 06105",
    "phone": "860-555-0142",
    "website": "https://pantry.example.org",
    "hours": "Mon-Fri 9-5",
    "latitude": 41.7775,
    "longitude": -72.6791,
}


@pytest.fixture
async def office(client: httpx.AsyncClient) -> dict[str, str]:
    return bearer(await login(client, "office1"))


async def _create(client: httpx.AsyncClient, headers: dict[str, str], **fields: Any) -> httpx.Response:
    return await client.post("/resources", json=FOOD_BANK | fields, headers=headers)


def _errors(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    assert body["code"] == "malformed", body
    return {e["key"]: e["message"] for e in body.get("errors", [])}


# --- the factor list --------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["cm1", "sup1", "office1", "counselor1", "admin"])
async def test_every_role_reads_the_assessment_factors_grouped_by_category(
    client: httpx.AsyncClient, username: str
) -> None:
    response = await client.get("/assessment-factors", headers=bearer(await login(client, username)))
    assert response.status_code == 200, response.text
    factors = response.json()
    assert [f["code"] for f in factors] == [f.value for f in FACTORS]
    assert factors[0] == {"code": "transportation", "category": "barriers", "label": "No reliable way to get to school"}
    categories = [f["category"] for f in factors]
    assert categories == sorted(categories, key=[c.value for c in FactorCategory].index)  # grouped, in order
    assert factors[-1]["code"] == "other"


async def test_the_factor_list_needs_a_login(client: httpx.AsyncClient) -> None:
    assert (await client.get("/assessment-factors")).status_code == 401


# --- who may write ----------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["office1", "admin"])
async def test_office_staff_and_admins_add_a_resource(client: httpx.AsyncClient, username: str) -> None:
    headers = bearer(await login(client, username))
    response = await _create(client, headers)
    assert response.status_code == 201, response.text
    made = response.json()
    assert made | {"id": None} == FOOD_BANK | {"id": None, "active": True, "version": 1}
    assert response.headers["etag"] == '"1"'
    listed = await client.get("/resources", headers=headers)
    assert [r["id"] for r in listed.json()] == [made["id"]]


@pytest.mark.parametrize("username", ["cm1", "sup1", "counselor1"])
async def test_other_roles_read_the_directory_but_may_not_write_it(
    client: httpx.AsyncClient, db: AsyncSession, office: dict[str, str], username: str
) -> None:
    made = (await _create(client, office)).json()
    headers = bearer(await login(client, username))
    listed = await client.get("/resources", headers=headers)
    assert listed.status_code == 200 and [r["name"] for r in listed.json()] == [FOOD_BANK["name"]]
    refused = await client.post("/resources", json=FOOD_BANK | {"name": "Theirs"}, headers=headers)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    put = await client.put(f"/resources/{made['id']}", json=FOOD_BANK | {"name": "Renamed"}, headers=headers)
    assert put.status_code == 403
    imported = await client.post(
        "/resources/imports", content=b"name\nTheirs\n", headers=headers | {"content-type": "text/csv"}
    )
    assert imported.status_code == 403
    assert await db.scalar(select(func.count()).select_from(Resource)) == 1
    assert (await db.get(Resource, uuid.UUID(made["id"]), populate_existing=True)).name == FOOD_BANK["name"]  # type: ignore[union-attr]


# --- validation: problem details naming each field ------------------------------------------------


async def test_a_resource_without_a_name_is_refused_naming_the_field(
    client: httpx.AsyncClient, office: dict[str, str]
) -> None:
    empty = await _create(client, office, name="")
    assert empty.status_code == 400
    assert _errors(empty) == {"name": "Expected `str` of length >= 1"}  # Litestar's own check, the same shape
    blank = await _create(client, office, name="   ")
    assert blank.status_code == 400
    assert _errors(blank) == {"name": "a name is required"}


async def test_a_latitude_without_its_longitude_and_other_bad_fields_are_each_named(
    client: httpx.AsyncClient, db: AsyncSession, office: dict[str, str]
) -> None:
    response = await _create(client, office, longitude=None, website="javascript:alert(1)")
    assert response.status_code == 400
    errors = _errors(response)
    assert set(errors) == {"website", "longitude"}
    assert "https://" in errors["website"]
    assert errors["longitude"] == "give the longitude too, or leave both latitude and longitude empty"
    tag = await _create(client, office, languages=["en", "pt_BR"])
    assert tag.status_code == 400 and set(_errors(tag)) == {"languages[1]"}
    out_of_range = await _create(client, office, latitude=91)
    assert out_of_range.status_code == 400 and "latitude" in out_of_range.text
    unknown = await _create(client, office, factors=["food_insecurity", "bad_weather"])
    assert unknown.status_code == 400 and unknown.json()["code"] == "malformed"
    assert await db.scalar(select(func.count()).select_from(Resource)) == 0


async def test_language_tags_are_normalised_and_codes_kept_once(
    client: httpx.AsyncClient, office: dict[str, str]
) -> None:
    response = await _create(
        client,
        office,
        languages=["EN", "pt-br", "es", "zh-hant-tw", "es"],
        factors=["food_insecurity", "food_insecurity"],
        phone="  860-555-0142 ",
        hours="",
    )
    assert response.status_code == 201, response.text
    made = response.json()
    assert made["languages"] == ["en", "pt-BR", "es", "zh-Hant-TW"]
    assert made["factors"] == ["food_insecurity"]
    assert made["phone"] == "860-555-0142" and made["hours"] is None


# --- idempotent create ----------------------------------------------------------------------------


async def test_the_same_id_and_content_again_is_the_same_resource_not_a_second_one(
    client: httpx.AsyncClient, db: AsyncSession, office: dict[str, str]
) -> None:
    resource_id = str(uuid.uuid4())
    first = await _create(client, office, id=resource_id)
    again = await _create(client, office, id=resource_id)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json() and first.json()["id"] == resource_id
    assert await db.scalar(select(func.count()).select_from(Resource)) == 1
    created = [e for e in await audit.entries_for(db, "resource", resource_id) if e.action == "resource.create"]
    assert len(created) == 1


async def test_the_same_id_with_other_content_is_a_duplicate_id_conflict(
    client: httpx.AsyncClient, db: AsyncSession, office: dict[str, str]
) -> None:
    resource_id = str(uuid.uuid4())
    assert (await _create(client, office, id=resource_id)).status_code == 201
    other = await _create(client, office, id=resource_id, phone="860-555-9999")
    assert other.status_code == 409 and other.json()["code"] == "duplicate_id"
    row = await db.get(Resource, uuid.UUID(resource_id), populate_existing=True)
    assert row is not None and row.phone == FOOD_BANK["phone"] and row.version == 1


# --- PUT --------------------------------------------------------------------------------------------


async def test_a_put_replaces_every_field_bumps_the_version_and_is_audited_with_before_and_after(
    client: httpx.AsyncClient, db: AsyncSession, office: dict[str, str]
) -> None:
    made = (await _create(client, office)).json()
    changed = {"name": "North End Pantry", "factors": ["food_insecurity"], "languages": ["es"], "active": False}
    response = await client.put(f"/resources/{made['id']}", json=changed, headers=office)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"] == 2 and response.headers["etag"] == '"2"'
    assert (body["name"], body["factors"], body["languages"], body["active"]) == (
        "North End Pantry",
        ["food_insecurity"],
        ["es"],
        False,
    )
    # a full replacement: what the body leaves out is cleared
    assert (body["phone"], body["address"], body["latitude"]) == (None, None, None)
    same = await client.put(f"/resources/{made['id']}", json=changed, headers=office)
    assert same.status_code == 200 and same.json()["version"] == 2, "the same content again changes nothing"
    updates = [e for e in await audit.entries_for(db, "resource", made["id"]) if e.action == "resource.update"]
    assert len(updates) == 1
    detail = updates[0].detail or {}
    assert detail["before"]["name"] == FOOD_BANK["name"] and detail["after"]["name"] == "North End Pantry"
    assert detail["before"]["active"] is True and detail["after"]["active"] is False
    assert updates[0].actor_role == "office_staff"


async def test_a_put_with_an_old_if_match_version_is_412_stale_version_and_changes_nothing(
    client: httpx.AsyncClient, db: AsyncSession, office: dict[str, str]
) -> None:
    made = (await _create(client, office)).json()
    url = f"/resources/{made['id']}"
    first = await client.put(url, json=FOOD_BANK | {"phone": "1"}, headers=office | {"If-Match": '"1"'})
    assert first.status_code == 200 and first.json()["version"] == 2
    stale = await client.put(url, json=FOOD_BANK | {"phone": "2"}, headers=office | {"If-Match": '"1"'})
    assert stale.status_code == 412 and stale.json()["code"] == "stale_version"
    assert stale.json()["current"]["phone"] == "1" and stale.json()["current"]["version"] == 2
    bad = await client.put(url, json=FOOD_BANK, headers=office | {"If-Match": "yesterday"})
    assert bad.status_code == 400 and bad.json()["code"] == "malformed"
    row = await db.get(Resource, uuid.UUID(made["id"]), populate_existing=True)
    assert row is not None and (row.phone, row.version) == ("1", 2)


async def test_a_put_to_no_resource_is_404_and_a_bad_body_400(
    client: httpx.AsyncClient, office: dict[str, str]
) -> None:
    missing = await client.put(f"/resources/{uuid.uuid4()}", json=FOOD_BANK, headers=office)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    made = (await _create(client, office)).json()
    bad = await client.put(f"/resources/{made['id']}", json=FOOD_BANK | {"latitude": None}, headers=office)
    assert bad.status_code == 400 and set(_errors(bad)) == {"latitude"}


# --- filters ----------------------------------------------------------------------------------------


async def test_the_list_filters_by_active_factor_and_primary_language(
    client: httpx.AsyncClient, office: dict[str, str]
) -> None:
    for name, factors, languages, active in (
        ("Bus Passes", ["transportation"], ["en"], True),
        ("Centro Latino", ["legal_or_immigration", "food_insecurity"], ["es", "en"], True),
        ("Casa do Brasil", ["food_insecurity"], ["pt-BR"], True),
        ("Closed Clinic", ["student_illness"], ["en", "pt"], False),
    ):
        created = await _create(client, office, name=name, factors=factors, languages=languages, active=active)
        assert created.status_code == 201, created.text

    async def names(**params: str) -> list[str]:
        response = await client.get("/resources", params=params, headers=office)
        assert response.status_code == 200, response.text
        return [r["name"] for r in response.json()]

    assert await names() == ["Bus Passes", "Casa do Brasil", "Centro Latino", "Closed Clinic"]
    assert await names(active="true") == ["Bus Passes", "Casa do Brasil", "Centro Latino"]
    assert await names(active="false") == ["Closed Clinic"]
    assert await names(factor="food_insecurity") == ["Casa do Brasil", "Centro Latino"]
    assert await names(language="pt") == ["Casa do Brasil", "Closed Clinic"]
    assert await names(language="PT-pt", active="true") == ["Casa do Brasil"]
    assert await names(language="es", factor="food_insecurity") == ["Centro Latino"]
    unknown = await client.get("/resources", params={"factor": "weather"}, headers=office)
    assert unknown.status_code == 400
    bad_tag = await client.get("/resources", params={"language": "Portuguese!"}, headers=office)
    assert bad_tag.status_code == 400 and "language" in bad_tag.json()["detail"]


# --- the phones' pull -------------------------------------------------------------------------------


@pytest.fixture
async def committing(fresh_database: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app on a database of its own that commits for real (a pull's cursor is a committed
    transaction's position): office staff, and two case managers on two teams."""
    engine = create_engine(fresh_database)
    factory = create_session_factory(engine)
    async with factory() as s:
        system = Actor.system()
        await auth.create_user(s, system, username="office", password=PASSWORD, role=Role.OFFICE_STAFF)
        for team in ("1", "2"):
            await auth.create_user(s, system, username=f"sup{team}", password=PASSWORD, role=Role.SUPERVISOR)
            await s.flush()
            await auth.create_user(
                s,
                system,
                username=f"cm{team}",
                password=PASSWORD,
                role=Role.CASE_MANAGER,
                supervisor_username=f"sup{team}",
            )
        await s.commit()
    async with client_for(app_for(make_settings(), factory)) as client:
        yield client
    await engine.dispose()


async def _pull(client: httpx.AsyncClient, tokens: dict[str, Any], phone: uuid.UUID, cursor: str | None) -> Any:
    """Every page of a pull from ``cursor``: the changes, and the cursor to pull from next."""
    changes: list[dict[str, Any]] = []
    while True:
        body = {"client_id": str(phone), "schema_version": 1} | ({"cursor": cursor} if cursor else {})
        response = await client.post("/sync/pull", json=body, headers=bearer(tokens))
        assert response.status_code == 200, response.text
        page = response.json()
        changes += page["changes"]
        cursor = page["cursor"]
        if not page["has_more"]:
            return changes, cursor


async def test_a_resource_written_through_rest_reaches_every_case_managers_next_pull(
    committing: httpx.AsyncClient,
) -> None:
    client = committing
    phones = {name: uuid.uuid4() for name in ("cm1", "cm2")}
    tokens = {name: await login(client, name, device_id=phone) for name, phone in phones.items()}
    cursors = {name: (await _pull(client, tokens[name], phones[name], None))[1] for name in phones}
    office = bearer(await login(client, "office"))
    made = (await _create(client, office)).json()

    for name, phone in phones.items():
        changes, cursors[name] = await _pull(client, tokens[name], phone, cursors[name])
        pulled = [c for c in changes if c["type"] == "resource"]
        assert [(c["op"], c["id"], c["version"]) for c in pulled] == [("put", made["id"], 1)], name
        data = pulled[0]["data"]
        assert {k: data[k] for k in FOOD_BANK} == FOOD_BANK and data["active"] is True

    updated = await client.put(f"/resources/{made['id']}", json=FOOD_BANK | {"active": False}, headers=office)
    assert updated.status_code == 200
    changes, _ = await _pull(client, tokens["cm2"], phones["cm2"], cursors["cm2"])
    again = [c for c in changes if c["type"] == "resource"]
    assert [(c["id"], c["version"], c["data"]["active"]) for c in again] == [(made["id"], 2, False)]
    first_sync = uuid.uuid4()
    everything, _ = await _pull(client, await login(client, "cm1", device_id=first_sync), first_sync, None)
    assert [c["id"] for c in everything if c["type"] == "resource"] == [made["id"]], "a new phone gets the directory"


def test_every_factor_code_has_a_category_and_a_label() -> None:
    assert set(FACTORS) == set(Factor)
    assert all(label for _, label in FACTORS.values())
