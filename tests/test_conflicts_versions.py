"""A conflict has a base: the server keeps every version of the record, so ``GET /conflicts/{id}``
and the console's conflict page show base, mine and theirs, a resolution (keep mine included)
writes a new version and destroys none, and a note's history is on its visit page."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.sync import RecordType
from server.auth import repository as users
from server.auth.models import Device
from server.console.history import via
from server.sync import versions
from server.sync.models import RecordVersion
from server.sync.versions import BACKFILL
from sync.store import PUSH, Ref, Version
from tests import factories as f
from tests.helpers import bearer, login
from tests.test_console import _csrf, _sign_in
from tests.test_console_approvals import _form
from tests.test_console_office import MINE, THEIRS, Office, Phone, _post_form, office
from tests.test_visits import _visit

BASE = "Met the mother."

__all__ = ["office"]  # the fixture, used by the tests below


async def _stale_note(office: Office) -> tuple[Phone, Phone, str, str, dict[str, Any]]:
    """cm1 writes a note on her phone (v1), edits it on her tablet (v2), and saves it offline on
    her phone from v1: a stale-base conflict. Returns the devices, the note and conflict ids, and
    the note as the phone pulled it at v1."""
    phone, tablet = await Phone.of(office.api, "cm1"), await Phone.of(office.api, "cm1")
    note = str(uuid.uuid4())
    args = {"id": note, "case_id": str(office.case_id)}
    assert (await phone.push("visit_note.save", args | {"body": BASE}))["version"] == 1
    seen = (await phone.pull())[("visit_note", note)]
    await tablet.pull()
    assert (await tablet.push("visit_note.save", args | {"body": THEIRS}, base_version=1))["version"] == 2
    offline = await phone.push("visit_note.save", args | {"body": MINE}, base_version=1)
    assert offline["status"] == "conflict"
    return phone, tablet, note, offline["conflict_id"], seen


async def test_get_conflict_has_the_base_the_phone_started_from(office: Office) -> None:
    _, _, note, conflict_id, seen = await _stale_note(office)
    assert seen["version"] == 1
    staff = await login(office.api, "office1")
    read = await office.api.get(f"/conflicts/{conflict_id}", headers=bearer(staff))
    assert read.status_code == 200, read.text
    body = read.json()
    assert (body["base_version"], body["theirs_version"]) == (1, 2)
    assert body["base"] == seen["data"]  # the record as the phone saw it, field for field
    assert body["base"]["body"] == BASE and body["theirs"]["body"] == THEIRS and body["mine"]["body"] == MINE
    listed = (await office.api.get("/conflicts", headers=bearer(staff))).json()["items"]
    assert [(c["id"], c["base"]) for c in listed] == [(conflict_id, seen["data"])]


async def test_a_base_that_predates_the_history_is_null_and_said_so(office: Office) -> None:
    _, _, note, conflict_id, _ = await _stale_note(office)
    async with office.factory() as s:  # as if version 1 had been written before versions were kept
        await s.execute(
            delete(RecordVersion).where(RecordVersion.record_id == uuid.UUID(note), RecordVersion.version == 1)
        )
        await s.commit()
    staff = await login(office.api, "office1")
    body = (await office.api.get(f"/conflicts/{conflict_id}", headers=bearer(staff))).json()
    assert (body["base_version"], body["base"]) == (1, None)
    await _sign_in(office.browser, "office1")
    page = await office.browser.get(f"/console/conflicts/{conflict_id}")
    assert "The base is unknown: version 1, which the phone started from, is not in the record" in page.text
    assert "keeps no history" not in page.text


async def test_the_console_page_shows_base_mine_and_theirs_and_each_sides_changes(office: Office) -> None:
    _, _, _, conflict_id, _ = await _stale_note(office)
    await _sign_in(office.browser, "office1")
    page = await office.browser.get(f"/console/conflicts/{conflict_id}")
    assert page.status_code == 200
    head = re.search(r"<thead><tr>(.*?)</tr></thead>", page.text, re.S)
    assert head and re.findall(r'<th scope="col">([^<]*)</th>', head.group(1))[:4] == [
        "Field",
        "Base",
        "Mine (the phone's)",
        "Theirs (the server's)",
    ]
    row = re.search(r'<th scope="row">body <span class="differs-mark">differs</span></th>(.*?)</tr>', page.text, re.S)
    assert row, "the body row is not marked as differing"
    assert re.findall(r'<div class="whole">(.*?)</div>', row.group(1), re.S)[:3] == [BASE, MINE, THEIRS]
    assert "no history" not in page.text and "not kept" not in page.text
    changes = re.search(r'<table class="sides line-diffs">(.*?)</table>', page.text, re.S)
    assert changes, "no line diffs from the base"
    mine, theirs = re.findall(r"<td>(.*?)</td>", changes.group(1), re.S)
    removed = '<del><span class="visually-hidden">[removed line: </span>Met the mother.<span'
    assert removed in mine and removed in theirs
    assert "[added line: </span>Met the mother and the aunt at home.<span" in mine
    assert "[added line: </span>Bus pass promised.<span" in mine and "Met the mother at home." not in mine
    assert "[added line: </span>Met the mother at home.<span" in theirs and "aunt" not in theirs


async def test_keep_mine_writes_a_new_version_and_the_overwritten_one_stays(office: Office) -> None:
    phone, tablet, note, conflict_id, _ = await _stale_note(office)
    staff = await login(office.api, "office1")
    done = await office.api.post(
        f"/conflicts/{conflict_id}/resolve",
        json={"choice": "mine", "note": "the phone's is newer"},
        headers=bearer(staff),
    )
    assert done.status_code == 200, done.text
    assert done.json()["base"]["body"] == BASE

    async with office.factory() as s:
        history = await versions.history(s, Ref(RecordType.VISIT_NOTE, uuid.UUID(note)))
        conflict = await versions.history(s, Ref(RecordType.CONFLICT, uuid.UUID(conflict_id)))
        cm1, office1 = await f.user_id(s, "cm1"), await f.user_id(s, "office1")
        staff_device = await s.scalar(select(Device.id).where(Device.user_id == office1))
    assert [(v.version, v.data["body"]) for v in history] == [(1, BASE), (2, THEIRS), (3, MINE)]
    assert [(v.written_by, v.client_id, v.mutation_id, v.via) for v in history] == [
        (cm1, phone.device_id, 1, PUSH),
        (cm1, tablet.device_id, 1, PUSH),
        (office1, staff_device, None, "POST /conflicts/{conflict_id}/resolve"),
    ]
    assert [(v.version, v.data["status"], v.via) for v in conflict] == [
        (1, "open", PUSH),
        (2, "resolved", "POST /conflicts/{conflict_id}/resolve"),
    ]
    assert conflict[0].mutation_id == 2 and conflict[0].client_id == phone.device_id


async def test_keep_mine_in_the_console_keeps_the_server_text_in_the_history(office: Office) -> None:
    _, _, note, conflict_id, _ = await _stale_note(office)
    await _sign_in(office.browser, "office1")
    _, done = await _post_form(office.browser, uuid.UUID(conflict_id), "mine", note="checked with cm1")
    assert done.status_code == 303, done.text
    async with office.factory() as s:
        history = await versions.history(s, Ref(RecordType.VISIT_NOTE, uuid.UUID(note)))
    assert [(v.version, v.data["body"]) for v in history] == [(1, BASE), (2, THEIRS), (3, MINE)]
    assert history[-1].via == "POST /console/conflicts/{conflict_id}/resolve"


async def test_the_visit_page_lists_every_version_of_its_note(client: httpx.AsyncClient, db: AsyncSession) -> None:
    cm1 = await f.user_id(db, "cm1")
    sup1 = await users.user_by_username(db, "sup1")
    assert sup1 is not None
    case = await f.case(db, await f.student(db, await f.school(db)), manager=cm1)
    visit, note = await _visit(db, case, cm1, body="Met the family.\nThe bus is late.")
    await db.commit()
    await _sign_in(client, "sup1")
    page = await client.get(f"/console/visits/{visit.id}")
    returned = await client.post(
        f"/console/visits/{visit.id}/decisions",
        data=_form(page, "return") | {"_csrf_token": _csrf(page), "comment": "Say which bus."},
    )
    assert returned.status_code == 303, returned.text

    page = await client.get(f"/console/visits/{visit.id}")
    section = re.search(r'<section aria-labelledby="history">(.*?)</section>', page.text, re.S)
    assert section, "no history on the visit page"
    entries = re.findall(r'<article class="note" id="version-(\d+)">(.*?)</article>', section.group(1), re.S)
    assert [int(n) for n, _ in entries] == [2, 3]
    first, second = entries[0][1], entries[1][1]
    assert "by unknown, through the server (no request named)" in first and "Status submitted" in first
    assert "Met the family.\nThe bus is late." in first
    assert "Status returned" in second and "review returned: Say which bus." in second
    assert f"by {sup1.display_name}, through the server: POST /console/visits/{{visit_id}}/decisions" in second


def test_a_backfilled_version_is_said_to_be_where_the_history_begins() -> None:
    kept = Version(4, {}, False, datetime.now(UTC), None, None, None, BACKFILL)
    assert via(kept) == "kept when the server began keeping versions (the versions before it are gone)"
