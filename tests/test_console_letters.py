"""Family letters in the console: the Letters page of office staff and admins (what is due now by
kind and language, Make a batch, a batch followed to its PDF and marked mailed, a letter that came
back and its household's address checked) and the case page's letters, each PDF read through the
case's scope. The district is tests/test_letters.py's ``world``: as of the district's today Ana
(Spanish) and Zoe (English) are due a truancy notice, Jean (Haitian Creole: no catalog) an
attendance notice."""

from __future__ import annotations

import html
import io
import re
import uuid
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from pypdf import PdfReader
from sqlalchemy import select, text, update

from server import clock
from server.audit import AuditEntry
from server.blobs import Blobs
from server.cases.models import ContactAttempt
from server.letters import service
from server.letters.models import Letter, LetterBatch
from server.students.models import Household
from tests import test_letters
from tests.test_console import _csrf, _labels_cover_inputs, _sign_in
from tests.test_letters import World

world = test_letters.world
"""tests/test_letters.py's fixture, used here by name."""

FALLBACK = "English — no catalog for Haitian Creole: add an interpreter's note"


def _text(page: str) -> str:
    """What the reader sees of some HTML: the tags left out, the spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def _section(page: httpx.Response, heading_id: str) -> str:
    found = re.search(rf'<section aria-labelledby="{heading_id}"[^>]*>(.*?)</section>', page.text, re.S)
    assert found, f"no section {heading_id}"
    return found.group(1)


def _error(page: httpx.Response, error_id: str) -> str:
    found = re.search(rf'<p class="error" id="{error_id}">([^<]*)</p>', page.text)
    assert found, f"no message {error_id}"
    return html.unescape(found.group(1))


def _rows(table_html: str) -> list[str]:
    return [_text(r) for r in re.findall(r"<tr[^>]*>(.*?)</tr>", table_html, re.S)]


async def _make_batch(w: World, **form: Any) -> httpx.Response:
    letters = await w.client.get("/console/letters")
    batch_id = re.search(r'name="id" value="([^"]+)"', letters.text)
    assert batch_id
    data: dict[str, Any] = {
        "_csrf_token": _csrf(letters),
        "id": batch_id.group(1),
        "as_of": clock.today(w.settings).isoformat(),
        "kinds": ["attendance_notice", "chronic_absence_notice", "truancy_notice", "habitual_truancy_notice"],
    } | form
    return await w.client.post("/console/letters/batches", data=data)


async def _run(w: World, made: httpx.Response) -> uuid.UUID:
    """The batch a Make a batch post queued, run as the worker runs it."""
    assert made.status_code == 303, made.text
    batch_id = uuid.UUID(made.headers["location"].rsplit("/", 1)[1])
    await service.run_batch(w.factory, w.settings, Blobs.from_settings(w.settings), batch_id)
    return batch_id


async def _letters_of(w: World, batch_id: uuid.UUID) -> dict[uuid.UUID, Letter]:
    async with w.factory() as s:
        return {x.student_id: x for x in await s.scalars(select(Letter).where(Letter.batch_id == batch_id))}


# --- the Letters page --------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["office", "admin"])
async def test_the_letters_page_counts_what_is_due_by_kind_and_language(world: World, username: str) -> None:
    await _sign_in(world.client, username)
    page = await world.client.get("/console/letters")
    assert page.status_code == 200, page.text
    assert '<a href="/console/letters" aria-current="page">Letters</a>' in page.text
    due = _section(page, "due-now")
    assert _rows(re.search(r"<tbody>(.*?)</tbody>", due, re.S).group(1)) == [  # type: ignore[union-attr]
        "Attendance notice Sent early, when a student has a few unexcused absences, before the student is truant. "
        "English 1",
        "Truancy notice Sent when a student becomes truant; it invites the parent to the meeting the law requires "
        "(CGS 10-198a). English 1",
        "Truancy notice Sent when a student becomes truant; it invites the parent to the meeting the law requires "
        "(CGS 10-198a). Spanish 1",
    ]
    assert '<td class="num" id="due-total">3</td>' in due
    form = _section(page, "make-batch-title")
    assert f'name="as_of" type="date" value="{clock.today(world.settings).isoformat()}"' in form
    assert len(re.findall(r'name="kinds" type="checkbox" value="[a-z_]+" checked', form)) == 4
    assert "No batch yet." in _section(page, "recent")
    assert "No letter has come back" in _section(page, "addresses")
    _labels_cover_inputs(page.text)


async def test_outside_any_school_year_the_page_says_so(world: World) -> None:
    async with world.factory() as s:
        await s.execute(text("UPDATE school_year SET starts_on = starts_on + 1000, ends_on = ends_on + 1000"))
        await s.commit()
    await _sign_in(world.client, "office")
    page = await world.client.get("/console/letters")
    assert page.status_code == 200, page.text
    assert "is outside any school year on record, so no letter is due" in _text(_section(page, "due-now"))


async def test_a_batch_is_made_followed_printed_and_mailed(world: World) -> None:
    await _sign_in(world.client, "office")
    made = await _make_batch(world)
    assert made.status_code == 303, made.text
    location = made.headers["location"]
    assert re.fullmatch(r"/console/letters/batches/[0-9a-f-]{36}", location)
    batch_id = uuid.UUID(location.rsplit("/", 1)[1])
    queued = await world.client.get(location)
    assert queued.status_code == 200
    assert '<meta http-equiv="refresh" content="2">' in queued.text, "refreshes while queued"
    assert ">queued</span>" in queued.text and "<progress" in queued.text
    assert "Download PDF" not in queued.text
    async with world.factory() as s:
        batch = await s.get_one(LetterBatch, batch_id)
        assert (batch.kinds, batch.as_of) == (None, clock.today(world.settings)), "every kind ticked: every kind"
        jobs = await s.scalar(
            text("SELECT count(*) FROM procrastinate.procrastinate_jobs WHERE task_name = 'letters.batch'")
        )
    assert jobs == 1, "the form queued the job"
    again = await _make_batch(world, id=str(batch_id))
    assert (again.status_code, again.headers["location"]) == (303, location), "the same form twice: one batch"

    await service.run_batch(world.factory, world.settings, Blobs.from_settings(world.settings), batch_id)
    done = await world.client.get(location)
    assert done.status_code == 200
    assert "http-equiv" not in done.text, "done: no more refreshing"
    assert ">done</span>" in done.text and "3 of 3 letters" in _text(done.text)
    table = re.search(r'<table class="batch-letters">.*?</table>', done.text, re.S)
    assert table
    rows = _rows(table.group(0))
    assert rows[1:] == [
        "Ana Test Wilby Middle Truancy notice Spanish Ready, not mailed",
        f"Jean Test Wilby Middle Attendance notice {FALLBACK} Ready, not mailed",
        "Zoe Test Wilby Middle Truancy notice English Ready, not mailed",
    ], "by school, then last name (all Test), then first name"
    assert "Returned" not in table.group(0), "a letter comes back only once mailed"
    _labels_cover_inputs(done.text)

    download = re.search(r'<a class="button" id="download" href="([^"]+)">Download PDF</a>', done.text)
    assert download
    pdf = await world.client.get(download.group(1))
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"].startswith("attachment;")
    assert len(PdfReader(io.BytesIO(pdf.content)).pages) == 3, "one page a letter"

    mailed = await world.client.post(f"{location}/mailed", data={"_csrf_token": _csrf(done)})
    assert (mailed.status_code, mailed.headers["location"]) == (303, location)
    after = await world.client.get(location)
    assert "Mark all mailed" not in after.text
    assert re.search(r'<p class="status ok" id="mailed-note">Mailed \d{4}-\d\d-\d\d \d\d:\d\d E[SD]T\.</p>', after.text)
    assert after.text.count(">Returned</button>") == 3, "each mailed letter has its Returned form"
    letters = await _letters_of(world, batch_id)
    assert {x.status for x in letters.values()} == {"mailed"}
    async with world.factory() as s:
        outcomes = (await s.scalars(select(ContactAttempt.outcome))).all()
    assert outcomes == ["letter_sent"] * 3

    home = await world.client.get("/console/letters")
    assert "Nothing is due today" in _text(_section(home, "due-now")), "the batch took every student due"
    recent = _section(home, "recent")
    assert f'<a href="{location}">{clock.today(world.settings).isoformat()}</a>' in recent
    assert "every kind" in recent and ">done</span>" in recent


async def test_a_returned_letter_flags_the_address_until_it_is_checked(world: World) -> None:
    await _sign_in(world.client, "office")
    batch_id = await _run(world, await _make_batch(world))
    location = f"/console/letters/batches/{batch_id}"
    page = await world.client.get(location)
    await world.client.post(f"{location}/mailed", data={"_csrf_token": _csrf(page)})
    ana = (await _letters_of(world, batch_id))[world.ids["ana"]]

    back = await world.client.post(
        f"/console/letters/{ana.id}/returned", data={"_csrf_token": _csrf(page), "note": "Moved, no forwarding"}
    )
    assert back.status_code == 303, back.text
    assert back.headers["location"] == f"{location}?returned={ana.id}#letters"
    shown = await world.client.get(back.headers["location"])
    assert "Marked returned: the letter to Ana Test's family." in _text(shown.text)
    row = re.search(rf'<tr data-letter="{ana.id}".*?</tr>', shown.text, re.S)
    assert row and "Returned</span>" in row.group(0) and "Moved, no forwarding" in row.group(0)
    assert "<form" not in row.group(0), "returned already: no form"

    letters = await world.client.get("/console/letters")
    addresses = _section(letters, "addresses")
    flagged = re.search(rf'<tr data-household="{world.ids["lopez"]}">.*?</tr>', addresses, re.S)
    assert flagged, addresses
    seen = _text(flagged.group(0))
    assert "45 Cherry St, Apt 2, Waterbury, CT 06702" in seen
    assert "Ana Test, Luis Test" in seen, "every student of the household"
    assert "A truancy notice letter came back: Moved, no forwarding" in seen
    assert clock.today(world.settings).isoformat() in seen
    action = re.search(r'action="(/console/letters/households/[^"]+/address-checked)"', flagged.group(0))
    assert action

    checked = await world.client.post(action.group(1), data={"_csrf_token": _csrf(letters)})
    assert checked.status_code == 303, checked.text
    cleared = await world.client.get(checked.headers["location"])
    assert "Address checked: 45 Cherry St, Apt 2, Waterbury, CT 06702 is no longer flagged." in _text(cleared.text)
    assert "No letter has come back" in _section(cleared, "addresses")
    async with world.factory() as s:
        home = await s.get_one(Household, world.ids["lopez"])
        assert (home.address_flagged_at, home.address_flag_note) == (None, None)
        actions = (await s.scalars(select(AuditEntry.action).where(AuditEntry.entity_type == "household"))).all()
    assert actions == ["household.address_flag_cleared"]


async def test_a_failed_batch_says_why_and_stops_refreshing(world: World) -> None:
    await _sign_in(world.client, "office")
    made = await _make_batch(world)
    batch_id = uuid.UUID(made.headers["location"].rsplit("/", 1)[1])
    async with world.factory() as s:
        await s.execute(
            update(LetterBatch)
            .where(LetterBatch.id == batch_id)
            .values(status="failed", error="CalledProcessError: typst exited 1")
        )
        await s.commit()
    page = await world.client.get(made.headers["location"])
    assert "http-equiv" not in page.text
    assert "CalledProcessError: typst exited 1" in page.text and 'role="alert"' in page.text
    pdf = await world.client.get(f"{made.headers['location']}/pdf")
    assert pdf.status_code == 409 and "text/html" in pdf.headers["content-type"]
    mailed = await world.client.post(f"{made.headers['location']}/mailed", data={"_csrf_token": _csrf(page)})
    assert mailed.status_code == 409 and "Nothing was marked mailed" in mailed.text


# --- a tired person's mistakes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("as_of", "message"),
    [
        ("2026-13-45", "not a date: give it as year-month-day, e.g. 2026-12-07"),
        ("12/7/2026", "not a date: give it as year-month-day, e.g. 2026-12-07"),
        ("", "give the letters' date"),
        ("2027-07-15", "2027-07-15 is in no school year on record: choose a day of the school year"),
    ],
)
async def test_a_wrong_date_comes_back_with_the_error_by_the_field(world: World, as_of: str, message: str) -> None:
    await _sign_in(world.client, "office")
    refused = await _make_batch(world, as_of=as_of, kinds=["truancy_notice"])
    assert refused.status_code == 400, refused.text
    assert _error(refused, "as_of-error") == message
    assert f'name="as_of" type="date" value="{html.escape(as_of)}"' in refused.text, "what was typed, kept"
    assert re.search(r'value="truancy_notice" checked', refused.text)
    assert not re.search(r'value="attendance_notice" checked', refused.text), "the ticks as they were"
    assert "No batch was made: 1 field to correct" in refused.text
    async with world.factory() as s:
        assert (await s.scalars(select(LetterBatch))).all() == []


async def test_no_kind_ticked_comes_back_with_the_error_by_the_kinds(world: World) -> None:
    await _sign_in(world.client, "office")
    refused = await _make_batch(world, kinds=[])
    assert refused.status_code == 400, refused.text
    assert _error(refused, "kinds-error") == "tick at least one kind of letter"
    assert 'class="kinds invalid"' in refused.text
    async with world.factory() as s:
        assert (await s.scalars(select(LetterBatch))).all() == []


async def test_a_batch_of_some_kinds_takes_only_those(world: World) -> None:
    await _sign_in(world.client, "office")
    batch_id = await _run(world, await _make_batch(world, kinds=["truancy_notice"]))
    assert set(await _letters_of(world, batch_id)) == {world.ids["ana"], world.ids["zoe"]}, "Jean is not truant"
    async with world.factory() as s:
        assert (await s.get_one(LetterBatch, batch_id)).kinds == ["truancy_notice"]
    page = await world.client.get(f"/console/letters/batches/{batch_id}")
    assert "<dt>Kinds</dt><dd>Truancy notice</dd>" in page.text


# --- who sees the Letters page -------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["cm", "sup"])
async def test_other_roles_have_no_letters_page_and_cannot_post_to_it(world: World, username: str) -> None:
    await _sign_in(world.client, username)
    home = await world.client.get("/console/cases")
    assert ">Letters</a>" not in home.text
    batch_id = uuid.uuid4()
    for path in (
        "/console/letters",
        f"/console/letters/batches/{batch_id}",
        f"/console/letters/batches/{batch_id}/pdf",
    ):
        refused = await world.client.get(path)
        assert refused.status_code == 403 and "text/html" in refused.headers["content-type"], path
    token = _csrf(home)
    posts = [
        ("/console/letters/batches", {"id": str(batch_id), "as_of": "2026-12-01", "kinds": "truancy_notice"}),
        (f"/console/letters/batches/{batch_id}/mailed", {}),
        (f"/console/letters/{uuid.uuid4()}/returned", {}),
        (f"/console/letters/households/{world.ids['lopez']}/address-checked", {}),
    ]
    for path, data in posts:
        refused = await world.client.post(path, data={"_csrf_token": token} | data)
        assert refused.status_code == 403, path
    async with world.factory() as s:
        assert (await s.scalars(select(LetterBatch))).all() == []


# --- on the case page --------------------------------------------------------------------------------


async def _case_form(w: World, case: str, **fields: str) -> tuple[httpx.Response, httpx.Response]:
    page = await w.client.get(f"/console/cases/{w.ids['case_' + case]}")
    form_id = re.search(r'<form class="stack letter-form".*?name="id" value="([^"]+)"', page.text, re.S)
    assert form_id, "no Make a letter form"
    data = {"_csrf_token": _csrf(page), "id": form_id.group(1)} | fields
    return page, await w.client.post(f"/console/cases/{w.ids['case_' + case]}/letters", data=data)


async def test_the_case_page_lists_its_letters_with_their_pdf_and_another_team_gets_404(world: World) -> None:
    await _sign_in(world.client, "cm")
    meeting_day = (clock.today(world.settings) + timedelta(days=9)).isoformat()
    _, made = await _case_form(
        world,
        "ana",
        kind="truancy_notice",
        meeting_date=meeting_day,
        meeting_time="15:30",
        meeting_place="Wilby Middle, room 12",
    )
    assert made.status_code == 303, made.text
    assert made.headers["location"] == f"/console/cases/{world.ids['case_ana']}#letters"
    _, custom = await _case_form(world, "jean", kind="custom", body="Please call me about Jean.")
    assert custom.status_code == 303, custom.text

    async with world.factory() as s:
        letter = await s.scalar(select(Letter).where(Letter.case_id == world.ids["case_ana"]))
    assert letter is not None
    assert (letter.kind, letter.language, letter.status, letter.meeting_place) == (
        "truancy_notice",
        "es",
        "ready",
        "Wilby Middle, room 12",
    )
    assert letter.meeting_at is not None
    local = letter.meeting_at.astimezone(ZoneInfo(world.settings.time_zone))
    assert local.isoformat()[:16] == f"{meeting_day}T15:30", "the time as the district's clock reads it"

    page = await world.client.get(f"/console/cases/{world.ids['case_ana']}")
    letters = _section(page, "letters")
    table = re.search(r'<table class="letters">.*?</table>', letters, re.S)
    assert table
    today = clock.today(world.settings).isoformat()
    assert _rows(table.group(0))[1:] == [
        f"Truancy notice meeting {local.strftime('%Y-%m-%d %H:%M %Z')}, Wilby Middle, room 12 made by cm {today} "
        f"Spanish Ready, not mailed PDF of the truancy notice dated {today}"
    ]
    link = f'href="/console/letters/{letter.id}/pdf"'
    assert link in letters
    pdf = await world.client.get(f"/console/letters/{letter.id}/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert "room 12" in " ".join(PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text().split())
    _labels_cover_inputs(page.text)

    jean = _section(await world.client.get(f"/console/cases/{world.ids['case_jean']}"), "letters")
    assert "Custom letter" in jean and FALLBACK in _text(jean)

    await _sign_in(world.client, "cm2")
    refused = await world.client.get(f"/console/letters/{letter.id}/pdf")
    assert refused.status_code == 404 and "text/html" in refused.headers["content-type"]
    assert "%PDF" not in refused.text
    async with world.factory() as s:
        refusals = (await s.scalars(select(AuditEntry.action).where(AuditEntry.action == "letter.pdf_refused"))).all()
        lists = (await s.scalars(select(AuditEntry.action).where(AuditEntry.action == "letter.list"))).all()
    assert refusals == ["letter.pdf_refused"]
    assert len(lists) >= 3, "every look at a case's letters is kept"


async def test_a_requested_letter_waits_for_the_next_batch(world: World) -> None:
    async with world.factory() as s:
        requested = Letter(
            id=uuid.uuid4(),
            case_id=world.ids["case_ana"],
            student_id=world.ids["ana"],
            kind="custom",
            status="requested",
            body="Call me, please.",
            version=1,
        )
        s.add(requested)
        await s.commit()
    await _sign_in(world.client, "sup")
    letters = _section(await world.client.get(f"/console/cases/{world.ids['case_ana']}"), "letters")
    assert "waits for the office's next batch" in letters
    assert f"/console/letters/{requested.id}/pdf" not in letters
    assert "Make a letter" in letters, "a supervisor may write one"
    early = await world.client.get(f"/console/letters/{requested.id}/pdf")
    assert early.status_code == 409 and "waits for the office's next batch" in _text(early.text)


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({}, {"letter-kind-error": "choose the kind of letter"}),
        ({"kind": "custom"}, {"letter-body-error": "write the letter's text"}),
        (
            {"kind": "attendance_notice", "body": "Hello", "meeting_place": "Room 4"},
            {
                "letter-meeting-error": "only a truancy notice invites the family to a meeting: "
                "clear these, or choose it",
                "letter-body-error": "only a custom letter takes your own text (the others have their own words): "
                "clear it",
            },
        ),
        (
            {"kind": "truancy_notice", "meeting_date": "2026-02-30", "meeting_place": "Room 4"},
            {
                "letter-meeting_date-error": "give the day as year-month-day, e.g. 2026-12-15",
                "letter-meeting_time-error": "give the meeting's time too",
            },
        ),
        (
            {"kind": "truancy_notice", "meeting_date": "2020-01-06", "meeting_time": "9"},
            {
                "letter-meeting_date-error": "2020-01-06 has passed: give the day of the meeting to come",
                "letter-meeting_time-error": "give the time as hours:minutes, e.g. 15:30",
            },
        ),
    ],
)
async def test_a_letter_asked_for_wrongly_comes_back_with_each_error_by_its_field(
    world: World, fields: dict[str, str], errors: dict[str, str]
) -> None:
    await _sign_in(world.client, "cm")
    _, refused = await _case_form(world, "ana", **fields)
    assert refused.status_code == 400, refused.text
    for error_id, message in errors.items():
        assert _error(refused, error_id) == message
    assert len(re.findall(r'<p class="error" id="letter-[a-z_]+-error">', refused.text)) == len(errors)
    for name in ("meeting_date", "meeting_place"):
        if name in fields:
            assert f'name="{name}" type="' in refused.text and f'value="{fields[name]}"' in refused.text, "kept"
    if "body" in fields:
        assert f">{fields['body']}</textarea>" in refused.text
    if "kind" in fields:
        assert f'<option value="{fields["kind"]}" selected>' in refused.text
    async with world.factory() as s:
        assert (await s.scalars(select(Letter))).all() == []


async def test_the_office_mails_a_letter_made_on_the_case_page_and_takes_it_back(world: World) -> None:
    """A letter made on its case page goes in no batch: office staff print its PDF, mark it mailed
    there (a letter_sent contact on the case) and, when it comes back, mark it returned."""
    await _sign_in(world.client, "office")
    _, made = await _case_form(world, "jean", kind="attendance_notice")
    assert made.status_code == 303, made.text
    async with world.factory() as s:
        letter = await s.scalar(select(Letter).where(Letter.case_id == world.ids["case_jean"]))
    assert letter is not None and letter.status == "ready"
    page = await world.client.get(f"/console/cases/{world.ids['case_jean']}")
    assert f'action="/console/letters/{letter.id}/mailed"' in page.text
    _labels_cover_inputs(page.text)
    mailed = await world.client.post(f"/console/letters/{letter.id}/mailed", data={"_csrf_token": _csrf(page)})
    assert (mailed.status_code, mailed.headers["location"]) == (303, f"/console/cases/{world.ids['case_jean']}#letters")
    page = await world.client.get(f"/console/cases/{world.ids['case_jean']}")
    assert f'action="/console/letters/{letter.id}/mailed"' not in page.text
    back = await world.client.post(
        f"/console/letters/{letter.id}/returned", data={"_csrf_token": _csrf(page), "note": "No such street"}
    )
    assert back.status_code == 303, back.text
    async with world.factory() as s:
        outcomes = sorted((await s.scalars(select(ContactAttempt.outcome))).all())
        stored = await s.get_one(Letter, letter.id)
    assert outcomes == ["letter_returned", "letter_sent"]
    assert (stored.status, stored.returned_note) == ("returned", "No such street")

    await _sign_in(world.client, "cm")  # the case manager sees the letter, but marks nothing
    page = await world.client.get(f"/console/cases/{world.ids['case_jean']}")
    assert "/mailed" not in page.text and f'action="/console/letters/{letter.id}/returned"' not in page.text
