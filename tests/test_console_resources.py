"""The console's directory of resources (office staff and admins): the list, Add, Edit and the CSV
upload, through the same services as the API. A form refused comes back with each problem by its
field and what was typed kept; a form post without its CSRF token is 403; other roles are refused."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.casework import FACTORS
from server.resources.models import Resource
from tests.test_console import _csrf, _labels_cover_inputs, _sign_in
from tests.test_resource_import import GOOD


async def _resource(db: AsyncSession, **fields: Any) -> Resource:
    row = Resource(
        id=uuid.uuid4(),
        **(
            {
                "name": "North End Food Pantry",
                "factors": ["food_insecurity"],
                "languages": ["en", "es"],
                "phone": "860-555-0142",
                "address": "12 Main St",
            }
            | fields
        ),
    )
    db.add(row)
    await db.commit()
    return row


async def _fresh(db: AsyncSession, resource_id: uuid.UUID) -> Resource:
    row = await db.get(Resource, resource_id, populate_existing=True)
    assert row is not None
    return row


def _form_fields(page: httpx.Response) -> dict[str, Any]:
    """The resource form's values as the page prefilled them (the CSRF token aside)."""
    form = re.search(r'<form class="stack resource-form".*?</form>', page.text, re.S)
    assert form, "no resource form on the page"
    body = form.group(0)
    fields: dict[str, Any] = {
        k: html.unescape(v)
        for k, v in re.findall(r'<input id="[^"]*" name="([^"]+)" type="(?:text|tel|url)" value="([^"]*)"', body)
    }
    fields |= {k: v for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', body)}
    fields.pop("_csrf_token", None)
    fields["factors"] = re.findall(r'name="factors" type="checkbox" value="([^"]+)" checked', body)
    if re.search(r'id="active" name="active" type="checkbox" value="yes" checked', body):
        fields["active"] = "yes"
    return fields


def _problem(page: httpx.Response, name: str) -> str:
    found = re.search(rf'<p class="error" id="{name}-error">([^<]*)</p>', page.text)
    assert found, f"no message by the {name} field"
    return html.unescape(found.group(1))


def _value(page: httpx.Response, name: str) -> str:
    found = re.search(rf'<input id="{name}" name="{name}" type="[a-z]+" value="([^"]*)"', page.text)
    assert found, name
    return html.unescape(found.group(1))


async def _upload(
    client: httpx.AsyncClient, content: bytes, *, filename: str = "resources.csv", mode: str = "all_or_nothing"
) -> httpx.Response:
    page = await client.get("/console/resources")
    return await client.post(
        "/console/resources/import",
        data={"_csrf_token": _csrf(page), "mode": mode},
        files={"file": (filename, content, "text/csv")},
    )


def _count(page: httpx.Response, name: str) -> int:
    found = re.search(rf'<td id="count-{name}">(\d+)</td>', page.text)
    assert found, name
    return int(found.group(1))


def _bad_rows(page: httpx.Response) -> list[tuple[int, str]]:
    table = re.search(r'<table class="bad-rows">.*?</table>', page.text, re.S)
    assert table, "no table of bad rows"
    rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td></tr>", table.group(0))
    return [(int(line), html.unescape(reason)) for line, reason in rows]


# --- the list -------------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["office1", "admin"])
async def test_the_list_shows_each_resource_with_factor_labels_languages_phone_and_status(
    client: httpx.AsyncClient, db: AsyncSession, username: str
) -> None:
    pantry = await _resource(db, factors=["food_insecurity", "transportation"])
    closed = await _resource(db, name="Closed Clinic", factors=[], languages=["pt-BR"], phone=None, active=False)
    await _sign_in(client, username)
    page = await client.get("/console/resources")
    assert page.status_code == 200
    assert '<a href="/console/resources" aria-current="page">Resources</a>' in page.text
    assert f'<a href="/console/resources/{pantry.id}">North End Food Pantry</a>' in page.text
    assert "<li>Not enough food at home</li><li>No reliable way to get to school</li>" in page.text
    assert "<td>en, es</td>" in page.text and "<td>860-555-0142</td>" in page.text
    assert f'<a href="/console/resources/{closed.id}">Closed Clinic</a>' in page.text and "Inactive" in page.text
    _labels_cover_inputs(page.text)
    active_only = await client.get("/console/resources", params={"show": "active"})
    assert "North End Food Pantry" in active_only.text and "Closed Clinic" not in active_only.text
    assert (await client.get("/console/resources", params={"show": "some"})).status_code == 400


@pytest.mark.parametrize("username", ["cm1", "sup1", "counselor1"])
async def test_other_roles_have_no_resources_page_and_cannot_post_to_it(
    client: httpx.AsyncClient, db: AsyncSession, username: str
) -> None:
    pantry = await _resource(db)
    await _sign_in(client, username)
    home = await client.get("/console/cases")
    assert ">Resources</a>" not in home.text
    for path in ("/console/resources", "/console/resources/new", f"/console/resources/{pantry.id}"):
        refused = await client.get(path)
        assert refused.status_code == 403 and "text/html" in refused.headers["content-type"], path
    token = _csrf(home)
    add = await client.post("/console/resources", data={"_csrf_token": token, "id": str(uuid.uuid4()), "name": "X"})
    edit = await client.post(
        f"/console/resources/{pantry.id}", data={"_csrf_token": token, "version": "1", "name": "Renamed"}
    )
    upload = await client.post(
        "/console/resources/import",
        data={"_csrf_token": token},
        files={"file": ("resources.csv", GOOD.encode(), "text/csv")},
    )
    assert (add.status_code, edit.status_code, upload.status_code) == (403, 403, 403)
    assert await db.scalar(select(func.count()).select_from(Resource)) == 1
    assert (await _fresh(db, pantry.id)).name == "North End Food Pantry"


# --- Add ------------------------------------------------------------------------------------------


async def test_add_labels_every_field_groups_factors_by_category_and_stores_the_resource(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await _sign_in(client, "office1")
    form = await client.get("/console/resources/new")
    assert form.status_code == 200
    _labels_cover_inputs(form.text)
    for title in ("Barriers", "Aversion", "Disengagement", "Misconceptions", "Other"):
        assert re.search(rf"<legend>{title}\b", form.text), title
    assert len(re.findall(r'name="factors" type="checkbox"', form.text)) == len(FACTORS)
    fields = _form_fields(form) | {
        "name": "  Bus Passes for Families ",
        "factors": ["transportation", "unsafe_route"],
        "languages": "en, ES pt-br",
        "phone": "860-555-0111",
        "website": "https://bus.example.org",
        "latitude": "41.7658",
        "longitude": "-72.6734",
        "active": "yes",
    }
    saved = await client.post("/console/resources", data=fields | {"_csrf_token": _csrf(form)})
    assert saved.status_code == 303, saved.text
    row = await db.scalar(select(Resource).where(Resource.name == "Bus Passes for Families"))
    assert row is not None and str(row.id) == fields["id"]
    assert (row.factors, row.languages, row.latitude, row.active) == (
        ["transportation", "unsafe_route"],
        ["en", "es", "pt-BR"],
        41.7658,
        True,
    )
    listing = await client.get(saved.headers["location"])
    assert "Saved “Bus Passes for Families”." in listing.text

    twice = await client.post("/console/resources", data=fields | {"_csrf_token": _csrf(form)})
    assert twice.status_code == 303, "the same form sent twice adds one resource"
    assert await db.scalar(select(func.count()).select_from(Resource)) == 1


async def test_an_empty_name_and_a_latitude_without_longitude_come_back_explained_with_what_was_typed(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await _sign_in(client, "office1")
    form = await client.get("/console/resources/new")
    typed = _form_fields(form) | {
        "name": "   ",
        "factors": ["food_insecurity", "bullying"],
        "languages": "es, english",
        "address": "5 Oak St & Elm",
        "latitude": "41.77",
        "longitude": "",
        "website": "pantry.example.org",
        "active": "yes",
    }
    refused = await client.post("/console/resources", data=typed | {"_csrf_token": _csrf(form)})
    assert refused.status_code == 400
    assert "Nothing was saved: 4 fields to correct, marked below." in refused.text
    assert _problem(refused, "name") == "a name is required"
    assert _problem(refused, "longitude") == "give the longitude too, or leave both latitude and longitude empty"
    assert "&#39;english&#39; is not a language code" in refused.text
    assert "https://" in _problem(refused, "website")
    assert 'aria-invalid="true"' in refused.text and '<a href="#longitude">Longitude</a>' in refused.text
    kept = _form_fields(refused)
    assert (kept["address"], kept["latitude"], kept["languages"], kept["website"]) == (
        "5 Oak St & Elm",
        "41.77",
        "es, english",
        "pantry.example.org",
    )
    assert kept["factors"] == ["food_insecurity", "bullying"] and kept["id"] == typed["id"]
    assert await db.scalar(select(func.count()).select_from(Resource)) == 0

    fixed = kept | {"name": "Oak St Pantry", "languages": "es, en", "website": "", "longitude": "-72.68"}
    saved = await client.post("/console/resources", data=fixed | {"_csrf_token": _csrf(refused)})
    assert saved.status_code == 303
    row = await db.scalar(select(Resource))
    assert row is not None and (row.name, row.longitude, row.languages) == ("Oak St Pantry", -72.68, ["es", "en"])


async def test_a_latitude_that_is_not_a_number_says_so(client: httpx.AsyncClient) -> None:
    await _sign_in(client, "office1")
    form = await client.get("/console/resources/new")
    typed = _form_fields(form) | {"name": "Shelter", "latitude": "41,77", "longitude": "-72.6"}
    refused = await client.post("/console/resources", data=typed | {"_csrf_token": _csrf(form)})
    assert refused.status_code == 400
    assert _problem(refused, "latitude").startswith("not a number")
    assert _value(refused, "latitude") == "41,77"


# --- Edit -----------------------------------------------------------------------------------------


async def test_edit_shows_the_resource_and_saves_the_changes_with_a_new_version(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    pantry = await _resource(db, latitude=41.7775, longitude=-72.6791, hours="Mon-Fri 9-5")
    await _sign_in(client, "admin")
    form = await client.get(f"/console/resources/{pantry.id}")
    assert form.status_code == 200
    _labels_cover_inputs(form.text)
    fields = _form_fields(form)
    assert (fields["name"], fields["languages"], fields["latitude"], fields["version"]) == (
        "North End Food Pantry",
        "en, es",
        "41.7775",
        "1",
    )
    assert fields["factors"] == ["food_insecurity"] and fields["active"] == "yes"
    changed = fields | {"phone": "860-555-0199", "factors": ["food_insecurity", "family_illness"]}
    del changed["active"]  # unticked
    saved = await client.post(f"/console/resources/{pantry.id}", data=changed | {"_csrf_token": _csrf(form)})
    assert saved.status_code == 303, saved.text
    row = await _fresh(db, pantry.id)
    assert (row.phone, row.factors, row.active, row.version) == (
        "860-555-0199",
        ["food_insecurity", "family_illness"],
        False,
        2,
    )
    assert (row.latitude, row.hours) == (41.7775, "Mon-Fri 9-5"), "fields left as they were stay"


async def test_an_edit_over_a_change_made_meanwhile_keeps_the_typing_and_shows_what_is_stored(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    pantry = await _resource(db)
    await _sign_in(client, "office1")
    form = await client.get(f"/console/resources/{pantry.id}")
    pantry.phone, pantry.version = "860-555-7777", 2  # someone else saved meanwhile
    await db.commit()
    mine = _form_fields(form) | {"hours": "Sat 10-2"}
    stale = await client.post(f"/console/resources/{pantry.id}", data=mine | {"_csrf_token": _csrf(form)})
    assert stale.status_code == 409
    assert "Someone saved this resource while you were editing it" in stale.text
    assert "Stored now (version 2)" in stale.text and "860-555-7777" in stale.text
    again = _form_fields(stale)
    assert again["hours"] == "Sat 10-2" and again["version"] == "2"
    assert (await _fresh(db, pantry.id)).hours is None
    saved = await client.post(f"/console/resources/{pantry.id}", data=again | {"_csrf_token": _csrf(stale)})
    assert saved.status_code == 303
    assert (await _fresh(db, pantry.id)).hours == "Sat 10-2"


async def test_an_edit_of_no_resource_is_the_404_page(client: httpx.AsyncClient) -> None:
    await _sign_in(client, "office1")
    missing = await client.get(f"/console/resources/{uuid.uuid4()}")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]


# --- CSRF -----------------------------------------------------------------------------------------


async def test_every_form_post_without_its_csrf_token_is_403_and_changes_nothing(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    pantry = await _resource(db)
    await _sign_in(client, "office1")
    form = await client.get(f"/console/resources/{pantry.id}")
    fields = _form_fields(form) | {"name": "Forged"}
    assert (await client.post(f"/console/resources/{pantry.id}", data=fields)).status_code == 403
    forged = await client.post(f"/console/resources/{pantry.id}", data=fields | {"_csrf_token": "x" * 64})
    assert forged.status_code == 403
    added = await client.post("/console/resources", data={"id": str(uuid.uuid4()), "name": "Forged"})
    assert added.status_code == 403
    upload = await client.post(
        "/console/resources/import", files={"file": ("resources.csv", GOOD.encode(), "text/csv")}
    )
    assert upload.status_code == 403
    assert await db.scalar(select(func.count()).select_from(Resource)) == 1
    assert (await _fresh(db, pantry.id)).name == "North End Food Pantry"


# --- the upload -----------------------------------------------------------------------------------


async def test_an_upload_adds_the_resources_and_again_adds_nothing(client: httpx.AsyncClient, db: AsyncSession) -> None:
    await _sign_in(client, "office1")
    page = await _upload(client, GOOD.encode())
    assert page.status_code == 200, page.text
    assert (_count(page, "rows"), _count(page, "added"), _count(page, "bad")) == (3, 3, 0)
    assert "Import of resources.csv" in page.text and "Casa do Brasil" in page.text
    again = await _upload(client, GOOD.encode())
    assert (_count(again, "added"), _count(again, "updated"), _count(again, "unchanged")) == (0, 0, 3)
    assert await db.scalar(select(func.count()).select_from(Resource)) == 3


async def test_a_bad_upload_lists_the_bad_rows_by_line_and_stores_nothing(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await _sign_in(client, "office1")
    bad = GOOD + "Bus Passes,bad_weather,en,,,,,,,\nTutoring,academic_difficulty,en,,,,,41.7,,\n"
    page = await _upload(client, bad.encode())
    assert page.status_code == 422
    assert "Nothing was imported: 2 bad rows of 5." in page.text
    rows = _bad_rows(page)
    assert [line for line, _ in rows] == [5, 6]
    assert "bad_weather" in rows[0][1] and "longitude" in rows[1][1]
    assert await db.scalar(select(func.count()).select_from(Resource)) == 0

    good_rows = await _upload(client, bad.encode(), mode="good_rows")
    assert good_rows.status_code == 200 and _count(good_rows, "added") == 3 and _count(good_rows, "bad") == 2


async def test_an_upload_that_is_no_csv_or_has_unknown_columns_is_refused_with_the_reason(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await _sign_in(client, "office1")
    sheet = await _upload(client, b"PK\x03\x04" + b"\x00" * 20, filename="resources.xlsx")
    assert sheet.status_code == 400 and "is not a CSV file" in sheet.text
    empty = await _upload(client, b"")
    assert empty.status_code == 400 and "is empty" in empty.text
    columns = await _upload(client, b"name,language\nPantry,en\n")
    assert columns.status_code == 422 and "unknown column(s): language" in columns.text
    page = await client.get("/console/resources")
    nothing = await client.post("/console/resources/import", data={"_csrf_token": _csrf(page)})
    assert nothing.status_code == 400 and "Choose a CSV file" in nothing.text
    assert await db.scalar(select(func.count()).select_from(Resource)) == 0
