"""The casework in the field app at /app, in Chromium at a phone's size with touch: an offline
visit that assesses, refers to a suggested resource, records the parent meeting and schedules the
next follow-up survives a reload with no signal and reaches the server once, and the supervisor's
case page in the console then shows those very records; Done and Move on a
follow-up, an addendum and a household edit reach the server; the outbox says what the server
flagged; the directory of resources is searchable offline. Every field has a label and every
control is a finger's height. With DOORSTEP_SCREENSHOTS=1 it retakes docs/app/caseload.png,
case.png, assess.png, refer.png, meeting.png and resources.png."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, Locator, Page, expect
from sqlalchemy import select, update

from server.cases.models import Assessment, Case, FollowUp, ParentMeeting, ServiceReferral, VisitLog, VisitNoteAddendum
from server.resources.models import Resource
from server.students.models import Household, Student
from server.sync.models import SyncMutation
from tests.browser.conftest import Live, sign_in, watch_for_problems
from tests.browser.test_app_field import AT_HOME, count, evaluated, log_in, phone_context, shot
from tests.conftest import make_settings

TODAY = date.today()  # the phone's calendar and the test's are the same machine's
RULES_MEETING = "Parent meeting: 4 unexcused absences in one month"
HOME = (41.55, -73.04)  # where the factories put every household

# name, factors, languages, (latitude, longitude) or None, active, phone
RESOURCES: tuple[tuple[str, list[str], list[str], tuple[float, float] | None, bool, str], ...] = (
    ("Eastside Ride Program", ["transportation"], ["en", "es"], (41.555, -73.04), True, "203-555-0140"),
    (
        "Westside Family Transit",
        ["transportation", "family_work_schedule"],
        ["es"],
        (41.60, -73.04),
        True,
        "203-555-0141",
    ),
    ("Statewide Attendance Helpline", ["transportation", "unaware_of_law"], ["en", "es"], None, True, "800-555-0142"),
    ("Brass City Clinic", ["student_illness"], ["en", "es"], (41.551, -73.04), True, "203-555-0143"),
    ("Old Bus Voucher Office", ["transportation"], ["es"], (41.5505, -73.04), False, "203-555-0144"),
    ("Centro Familiar Português", ["transportation"], ["pt"], (41.552, -73.04), True, "203-555-0145"),
)
SUGGESTED = ["Eastside Ride Program", "Westside Family Transit", "Statewide Attendance Helpline"]
"""For Maya (transportation assessed, Spanish at home): nearest first, the one with no map position last;
not the clinic (another need), the inactive office, or the Portuguese-speaking centre."""


@pytest.fixture
async def phone(browser: Browser, live: Live) -> AsyncIterator[Page]:
    context = await phone_context(browser, live)
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def seed_resources(live: Live) -> dict[str, uuid.UUID]:
    ids: dict[str, uuid.UUID] = {}
    async with live.factory() as s:
        for name, factors, languages, where, active, phone in RESOURCES:
            row = Resource(
                id=uuid.uuid4(),
                name=name,
                factors=factors,
                languages=languages,
                address=f"{len(ids) + 1} Bank Street, Waterbury, CT",
                phone=phone,
                website=f"https://example.org/{len(ids) + 1}",
                hours="Mon-Fri 9-5",
                latitude=where[0] if where else None,
                longitude=where[1] if where else None,
                active=active,
            )
            s.add(row)
            ids[name] = row.id
        await s.commit()
    return ids


async def speaks_spanish_at_home(live: Live, case_id: uuid.UUID) -> None:
    async with live.factory() as s:
        student_id = await s.scalar(select(Case.student_id).where(Case.id == case_id))
        household_id = await s.scalar(select(Student.household_id).where(Student.id == student_id))
        await s.execute(
            update(Household).where(Household.id == household_id).values(language="es", version=Household.version + 1)
        )
        await s.commit()


async def follow_up(
    live: Live,
    case_id: uuid.UUID,
    kind: str,
    title: str,
    due_in: int,
    *,
    trigger_in: int | None = None,
    mine: bool = True,
) -> uuid.UUID:
    """A follow-up on the case: one the rules made (``trigger_in`` days from today the student became
    truant, no author) or one cm1 scheduled."""
    async with live.factory() as s:
        student_id = await s.scalar(select(Case.student_id).where(Case.id == case_id))
        assert student_id is not None
        row = FollowUp(
            id=uuid.uuid4(),
            student_id=student_id,
            case_id=case_id,
            kind=kind,
            title=title,
            due_on=TODAY + timedelta(days=due_in),
            trigger_day=TODAY + timedelta(days=trigger_in) if trigger_in is not None else None,
            created_by=live.seed.users["cm1"] if mine else None,
        )
        s.add(row)
        await s.commit()
        return row.id


async def assert_usable(page: Page) -> None:
    """Every field on the screen has a <label for> that names it, and every control a finger
    touches (buttons, links, fields, a checkbox's label) is at least 48 px high."""
    found = await page.evaluate(
        """() => {
            const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
            const unlabelled = [...document.querySelectorAll("main input, main select, main textarea")]
                .filter(visible)
                .filter((el) => ![...el.labels].some((l) => l.htmlFor === el.id && l.textContent.trim()))
                .map((el) => el.outerHTML.slice(0, 80));
            const touched = "main button, main a, main select, main textarea, nav a, main .check label, "
                + "main input:not([type=checkbox]):not([type=radio])";
            const small = [...document.querySelectorAll(touched)]
                .filter(visible)
                .filter((el) => el.getBoundingClientRect().height < 47.5)
                .map((el) => [el.tagName, el.textContent.trim().slice(0, 30), el.getBoundingClientRect().height]);
            const width = document.documentElement.scrollWidth;
            const wide = width > window.innerWidth ? [width] : [];
            return { unlabelled, small, wide };
        }"""
    )
    assert found == {"unlabelled": [], "small": [], "wide": []}, found


def script_errors(page: Page) -> list[str]:
    """Errors the app's scripts raise from now on (a test asserts there are none)."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def card(page: Page, kind: str, record_id: uuid.UUID | str) -> Locator:
    return page.locator(f'[data-{kind}-id="{record_id}"]')


async def test_an_offline_visit_assesses_refers_records_the_meeting_and_schedules_the_next_follow_up(
    phone: Page, live: Live, page: Page
) -> None:
    """``page`` is the supervisor's browser at her desk (conftest: a fresh context, laptop width)."""
    maya, jonah = live.seed.cases["Maya"], live.seed.cases["Jonah"]
    await evaluated(live, maya)
    resources = await seed_resources(live)
    await speaks_spanish_at_home(live, maya)
    deadline = await follow_up(live, maya, "parent_meeting", RULES_MEETING, -2, trigger_in=-12, mine=False)
    await follow_up(live, jonah, "phone_call", "Call Marcus about the bus", 3)

    errors = script_errors(phone)
    await log_in(phone)
    cases = phone.locator("a[data-case-id]")
    await expect(cases).to_have_count(2)
    # soonest follow-up first: Maya's meeting, overdue (said in words), then Jonah's call
    assert [await c.get_attribute("data-case-id") for c in await cases.all()] == [str(maya), str(jonah)]
    await expect(cases.nth(0)).to_contain_text("Overdue")
    await expect(cases.nth(1)).not_to_contain_text("Overdue")
    await expect(phone.get_by_text("· 1 overdue")).to_be_visible()
    await assert_usable(phone)
    await phone.wait_for_function("navigator.serviceWorker.controller !== null")
    await shot(phone, "caseload")

    context = phone.context
    await context.set_offline(True)
    await expect(phone.locator("#net")).to_have_text("Offline")
    await cases.nth(0).tap()
    await expect(phone.get_by_role("heading", name="Maya Alvarez")).to_be_visible()
    await expect(card(phone, "follow-up", deadline)).to_contain_text("Overdue")
    await phone.get_by_role("link", name="Start a home visit").tap()
    await context.set_geolocation(AT_HOME)
    await phone.get_by_role("button", name="Check in").tap()
    await expect(phone.get_by_text("location within 10 m")).to_be_visible()
    visit_id = phone.url.rsplit("/", 1)[1]
    await phone.get_by_role("link", name="← Case").tap()

    # Assess
    await phone.get_by_role("link", name="Assess", exact=True).tap()
    await expect(phone.get_by_role("heading", name="Assess: why the child misses school")).to_be_visible()
    await phone.get_by_label("No reliable way to get to school").check()
    await phone.get_by_label("Did not know the attendance law").check()
    await phone.get_by_label("Main factor").select_option("transportation")
    await phone.get_by_label("Strengths (what helps the child get to school)").fill("Maya likes her art class.")
    await phone.get_by_label("The student's own words").fill("The bus stop moved and I miss it.")
    await phone.get_by_label("Notes", exact=True).fill("Mother works early shifts.")
    await expect(phone.get_by_label("Visit", exact=True)).to_have_value(visit_id)  # the visit under way
    await assert_usable(phone)
    await shot(phone, "assess")
    await phone.get_by_role("button", name="Save assessment").tap()
    await expect(phone.get_by_text("Assessment saved.")).to_be_visible()
    assessment = phone.locator("[data-assessment-id]")
    await expect(assessment).to_contain_text("First assessment")
    await expect(assessment).to_contain_text("waiting to sync")
    await expect(assessment).to_contain_text("No reliable way to get to school")

    # Refer, to a suggested resource
    await phone.get_by_role("link", name="Refer", exact=True).tap()
    suggestions = phone.locator(".suggestion")
    await expect(suggestions).to_have_count(3)
    shown = [await s.get_attribute("data-resource-id") for s in await suggestions.all()]
    assert shown == [str(resources[n]) for n in SUGGESTED]
    await expect(suggestions.nth(0).locator('a[href="tel:2035550140"]')).to_have_text("Call 203-555-0140")
    await expect(suggestions.nth(0)).to_contain_text("0.3 mi from home")
    await expect(phone.get_by_label("Factor it answers")).to_have_value("transportation")  # the main one
    await phone.get_by_label("Eastside Ride Program").check()
    await phone.get_by_label("Note", exact=True).fill("Mother will call them on Monday.")
    await assert_usable(phone)
    await shot(phone, "refer", full_page=True)
    await phone.get_by_role("button", name="Refer").tap()
    await expect(phone.get_by_text("Referral made.")).to_be_visible()
    referral = phone.locator("[data-referral-id]")
    await expect(referral).to_contain_text("Eastside Ride Program")
    await expect(referral).to_contain_text("Referred")
    await expect(referral).to_contain_text("waiting to sync")

    # Record the meeting
    await phone.get_by_role("link", name="Record meeting").tap()
    await expect(phone.get_by_label("Language of the meeting")).to_have_value("es")  # the household's
    held = await phone.get_by_label("Held at").input_value()  # now, on the phone's clock: left as it is
    held_at = datetime.fromisoformat(await phone.evaluate("(v) => new Date(v).toISOString()", held))
    await phone.get_by_label("Place").select_option("home")
    await phone.get_by_label("Who attended (one a line)").fill("Rosa Alvarez (mother)\nMaya Alvarez")
    await phone.get_by_label("An interpreter was there").check()
    await expect(phone.get_by_label("The attendance policy was discussed")).to_be_checked()
    await phone.get_by_label("What was agreed").fill(
        "Maya takes the 7:10 bus; her mother calls the school when she is sick."
    )
    next_meeting = TODAY + timedelta(days=14)
    await phone.get_by_label("Next meeting on").fill(next_meeting.isoformat())
    await assert_usable(phone)
    await shot(phone, "meeting", full_page=True)
    await phone.get_by_role("button", name="Record meeting").tap()
    await expect(phone.get_by_text("Meeting recorded.")).to_be_visible()
    await expect(phone.locator("[data-meeting-id]")).to_contain_text("With Rosa Alvarez (mother), Maya Alvarez")
    await expect(card(phone, "follow-up", deadline)).to_contain_text("completes this deadline once it syncs")

    # Schedule the next follow-up: the form starts from the meeting's next date
    await phone.get_by_role("link", name="Schedule follow-up").tap()
    await expect(phone.get_by_label("Kind")).to_have_value("parent_meeting")
    await expect(phone.get_by_label("Due on")).to_have_value(next_meeting.isoformat())
    await phone.get_by_label("Title").fill("Follow-up meeting with Rosa")
    await assert_usable(phone)
    await phone.get_by_role("button", name="Schedule").tap()
    await expect(phone.get_by_text("Follow-up scheduled.")).to_be_visible()
    scheduled = phone.locator("[data-follow-up-id]", has_text="Follow-up meeting with Rosa")
    await expect(scheduled).to_contain_text("waiting to sync")
    await assert_usable(phone)

    # check-in, assessment, referral, meeting, follow-up
    await expect(phone.locator("#pending")).to_have_text("5 changes waiting")
    await phone.reload()  # still offline: nothing is lost, everything still waits
    await expect(phone.locator("#pending")).to_have_text("5 changes waiting")
    for kind in ("assessment", "referral", "meeting"):
        await expect(phone.locator(f"[data-{kind}-id]")).to_contain_text("waiting to sync")
    await expect(scheduled).to_be_visible()
    assert await count(live, Assessment, Assessment.case_id == maya) == 0

    await context.set_offline(False)
    await expect(phone.locator("#pending")).to_have_text("No changes waiting")
    # the server completed the meeting's deadline; the next pull took it off the open list
    await expect(card(phone, "follow-up", deadline)).to_have_count(0)
    await expect(phone.get_by_role("heading", name="Open follow-ups (1)")).to_be_visible()
    await expect(phone.get_by_text("waiting to sync")).to_have_count(0)

    cm1 = live.seed.users["cm1"]
    async with live.factory() as s:
        (a,) = (await s.scalars(select(Assessment).where(Assessment.case_id == maya))).all()
        assert (a.factors, a.primary_factor, a.author_id, a.flags) == (
            ["transportation", "unaware_of_law"],
            "transportation",
            cm1,
            [],
        )
        assert (a.student_voice, str(a.visit_log_id)) == ("The bus stop moved and I miss it.", visit_id)
        (r,) = (await s.scalars(select(ServiceReferral).where(ServiceReferral.case_id == maya))).all()
        assert (r.resource_id, r.resource_name, r.factor, r.status, r.flags) == (
            resources["Eastside Ride Program"],
            "Eastside Ride Program",
            "transportation",
            "made",
            [],
        )
        (m,) = (await s.scalars(select(ParentMeeting).where(ParentMeeting.case_id == maya))).all()
        assert (m.place, m.attendees, m.interpreter, m.policy_discussed, m.language, m.next_meeting_on, m.flags) == (
            "home",
            ["Rosa Alvarez (mother)", "Maya Alvarez"],
            True,
            True,
            "es",
            next_meeting,
            [],
        )
        (f,) = (await s.scalars(select(FollowUp).where(FollowUp.case_id == maya, FollowUp.created_by == cm1))).all()
        assert (f.kind, f.title, f.due_on, f.status) == (
            "parent_meeting",
            "Follow-up meeting with Rosa",
            next_meeting,
            "open",
        )
        rules = await s.get_one(FollowUp, deadline)
        assert (rules.status, rules.completed_by) == ("done", cm1)
        assert await count(live, VisitLog, VisitLog.case_id == maya) == 1
        done = (
            await s.execute(select(SyncMutation.name, SyncMutation.status).order_by(SyncMutation.mutation_id))
        ).all()
    assert [tuple(row) for row in done] == [
        ("visit_log.check_in", "applied"),
        ("assessment.save", "applied"),
        ("service_referral.create", "applied"),
        ("parent_meeting.record", "applied"),
        ("follow_up.schedule", "applied"),
    ]
    await shot(phone, "case", full_page=True)

    await phone.get_by_role("link", name="← Caseload").tap()
    await expect(cases.nth(0)).not_to_contain_text("Overdue")  # the meeting was held
    assert errors == []

    # cm1's supervisor, at her desk: the case page shows the very records the phone made
    problems = watch_for_problems(page)
    await sign_in(page, "sup1")
    await page.goto(f"/console/cases/{maya}")
    await expect(page.get_by_role("heading", name="Maya Alvarez")).to_be_visible()
    assessed = page.locator("section[aria-labelledby=assessments] article.assessment")
    await expect(assessed).to_have_count(1)
    await expect(assessed.locator("li.label")).to_have_text(
        ["No reliable way to get to school (primary)", "Did not know the attendance law"]
    )
    for said in ("Maya likes her art class.", "The bus stop moved and I miss it.", "Mother works early shifts."):
        await expect(assessed.get_by_text(said, exact=True)).to_be_visible()
    await expect(assessed.locator(f'a[href="/console/visits/{visit_id}"]')).to_have_text("a home visit")

    referred = page.locator("section[aria-labelledby=services] tbody tr")
    await expect(referred).to_have_count(1)
    await expect(referred.locator("td").nth(0)).to_have_text("Eastside Ride Program")
    await expect(referred.locator("td").nth(1)).to_have_text("No reliable way to get to school")
    await expect(referred.locator(".ref-status")).to_have_text("made")
    await expect(referred.locator("td").nth(4)).to_have_text("Mother will call them on Monday.")

    met = page.locator("section[aria-labelledby=meetings] article.meeting")
    await expect(met).to_have_count(1)
    shown_at = held_at.astimezone(ZoneInfo(make_settings().time_zone)).strftime("%Y-%m-%d %H:%M %Z")
    await expect(met.get_by_role("heading")).to_have_text(f"{shown_at}, at home")
    for said in (
        "Rosa Alvarez (mother), Maya Alvarez",
        "yes (in es)",
        "Maya takes the 7:10 bus; her mother calls the school when she is sick.",
        next_meeting.isoformat(),
    ):
        await expect(met.get_by_text(said, exact=True)).to_be_visible()

    follow_ups = page.locator("section[aria-labelledby=follow-ups] table.follow-ups")
    await expect(follow_ups).to_have_count(2)  # open, and done
    scheduled_row = follow_ups.nth(0).locator("tbody tr")
    await expect(scheduled_row).to_have_count(1)
    await expect(scheduled_row.locator("td").nth(0)).to_contain_text("Follow-up meeting with Rosa")
    await expect(scheduled_row.locator("td").nth(1)).to_have_text("Parent meeting")
    await expect(scheduled_row.locator("td").nth(2)).to_have_text(next_meeting.isoformat())
    await expect(follow_ups.nth(1).locator(f'tr[data-follow-up="{deadline}"]')).to_contain_text(RULES_MEETING)
    assert problems == []


async def test_done_move_an_addendum_and_a_household_edit_reach_the_server(phone: Page, live: Live) -> None:
    maya = live.seed.cases["Maya"]
    call = await follow_up(live, maya, "phone_call", "Call the school nurse", 1)
    visit = await follow_up(live, maya, "home_visit", "Bring the bus schedule", 4)
    other_phone = await live.device("cm1")
    _, note = await other_phone.submit_visit(maya, "Met the mother; the bus stop moved.")
    errors = script_errors(phone)
    await log_in(phone)
    await phone.context.set_offline(True)
    await phone.locator(f'a[data-case-id="{maya}"]').tap()

    await card(phone, "follow-up", call).get_by_role("button", name="Done").tap()
    await expect(card(phone, "follow-up", call)).to_have_count(0)

    await card(phone, "follow-up", visit).get_by_role("link", name="Move").tap()
    moved_to = TODAY + timedelta(days=9)
    await phone.get_by_label("New due date").fill(moved_to.isoformat())
    await phone.get_by_label("Why it moves").fill("The family is away this week.")
    await assert_usable(phone)
    await phone.get_by_role("button", name="Move").tap()
    await expect(card(phone, "follow-up", visit)).to_contain_text("Moved from")
    await expect(card(phone, "follow-up", visit)).to_contain_text("The family is away this week.")

    await card(phone, "note", note).get_by_role("link", name="Add addendum").tap()
    await expect(phone.get_by_text("Met the mother; the bus stop moved.")).to_be_visible()
    await phone.get_by_label("Addendum").fill("The mother called back: the new stop is on Elm Street.")
    await assert_usable(phone)
    await phone.get_by_role("button", name="Add addendum").tap()
    await expect(card(phone, "note", note)).to_contain_text("the new stop is on Elm Street")

    await phone.get_by_role("link", name="Edit household").tap()
    await expect(phone.get_by_label("Phone", exact=True)).to_have_value("555-0100")
    await phone.get_by_label("Phone", exact=True).fill("203-555-0199")
    await phone.get_by_label("Language at home").select_option("pt")
    await assert_usable(phone)
    await phone.get_by_role("button", name="Save household").tap()
    await expect(phone.get_by_role("link", name="Call 203-555-0199")).to_be_visible()
    await expect(phone.get_by_text("Language: Portuguese")).to_be_visible()
    await expect(phone.locator("#pending")).to_have_text("4 changes waiting")

    await phone.context.set_offline(False)
    await expect(phone.locator("#pending")).to_have_text("No changes waiting")
    cm1 = live.seed.users["cm1"]
    async with live.factory() as s:
        done = await s.get_one(FollowUp, call)
        assert (done.status, done.completed_by) == ("done", cm1)
        later = await s.get_one(FollowUp, visit)
        assert (later.status, later.due_on) == ("open", moved_to)
        assert later.rescheduled == [
            {
                "from": (TODAY + timedelta(days=4)).isoformat(),
                "to": moved_to.isoformat(),
                "reason": "The family is away this week.",
                "by": str(cm1),
            }
        ]
        (addendum,) = (await s.scalars(select(VisitNoteAddendum).where(VisitNoteAddendum.note_id == note))).all()
        assert addendum.body == "The mother called back: the new stop is on Elm Street."
        student_id = await s.scalar(select(Case.student_id).where(Case.id == maya))
        home = await s.scalar(
            select(Household).join(Student, Student.household_id == Household.id).where(Student.id == student_id)
        )
        assert home is not None and (home.phone, home.language, home.address) == ("203-555-0199", "pt", "14 Elm Street")
        statuses = (
            await s.execute(
                select(SyncMutation.name, SyncMutation.status).where(
                    SyncMutation.name.in_(
                        ["follow_up.complete", "follow_up.reschedule", "visit_note.add_addendum", "household.update"]
                    )
                )
            )
        ).all()
    assert sorted(tuple(row) for row in statuses) == [
        ("follow_up.complete", "applied"),
        ("follow_up.reschedule", "applied"),
        ("household.update", "applied"),
        ("visit_note.add_addendum", "applied"),
    ]
    await expect(phone.get_by_text("waiting to sync")).to_have_count(0)
    assert errors == []


async def test_the_outbox_shows_what_the_server_flagged_and_rejected_in_the_casework(phone: Page, live: Live) -> None:
    maya = live.seed.cases["Maya"]
    resources = await seed_resources(live)
    errors = script_errors(phone)
    await log_in(phone)
    await phone.locator(f'a[data-case-id="{maya}"]').click()
    # a meeting when none was due; a referral to a resource closed since (the app no longer offers
    # it, a phone that synced before did); a status change of a referral the server does not know
    await phone.get_by_role("link", name="Record meeting").click()
    await phone.get_by_label("Who attended (one a line)").fill("Rosa Alvarez")
    await phone.get_by_role("button", name="Record meeting").click()
    await expect(phone.get_by_text("Meeting recorded.")).to_be_visible()
    await phone.evaluate(
        """async ([caseId, closed]) => {
            const actions = await import("/app/js/actions.js");
            const db = await import("/app/js/db.js");
            await actions.refer(caseId, {resource_id: closed});
            const at = new Date().toISOString();
            await db.enqueue("service_referral.update", {id: crypto.randomUUID(), at, status: "connected"});
        }""",
        [str(maya), str(resources["Old Bus Voucher Office"])],
    )
    await phone.get_by_role("button", name="Sync now").click()
    await expect(phone.locator("#pending")).to_have_text("No changes waiting")
    await expect(phone.locator("[data-meeting-id]")).to_contain_text("No parent meeting was due")
    await expect(phone.locator("[data-referral-id]")).to_contain_text("The resource is no longer active")
    await phone.get_by_role("link", name="Outbox").click()
    await expect(phone.get_by_role("heading", name="Flags (2)")).to_be_visible()
    await expect(phone.get_by_role("link", name="Parent meeting · Maya Alvarez")).to_be_visible()
    await expect(phone.get_by_text("No parent meeting was due")).to_be_visible()
    await expect(phone.get_by_role("link", name="Referral · Maya Alvarez")).to_be_visible()
    await expect(phone.get_by_text("The resource is no longer active")).to_be_visible()
    await expect(phone.get_by_role("heading", name="Rejected (1)")).to_be_visible()
    await expect(phone.get_by_text("Rejected: unknown_record")).to_be_visible()
    async with live.factory() as s:
        (r,) = (await s.scalars(select(ServiceReferral).where(ServiceReferral.case_id == maya))).all()
        assert (r.resource_name, r.flags) == ("Old Bus Voucher Office", ["resource_inactive"])
    assert errors == []


async def test_the_directory_of_resources_is_searchable_offline(phone: Page, live: Live) -> None:
    await seed_resources(live)
    errors = script_errors(phone)
    await log_in(phone)
    await phone.wait_for_function("navigator.serviceWorker.controller !== null")
    await phone.context.set_offline(True)
    await phone.reload()
    await phone.get_by_role("link", name="Resources").tap()
    listed = phone.locator("[data-resource-id]")
    await expect(listed).to_have_count(len(RESOURCES))
    await expect(listed.last).to_contain_text("No longer active")  # the inactive one, last
    await expect(phone.get_by_text(f"{len(RESOURCES)} in the directory")).to_be_visible()
    eastside = listed.filter(has_text="Eastside Ride Program")
    await expect(eastside.get_by_role("link", name="Call 203-555-0140")).to_have_attribute("href", "tel:2035550140")
    await expect(eastside.get_by_role("link", name="Website: example.org")).to_have_attribute(
        "href", "https://example.org/1"
    )
    await assert_usable(phone)
    await shot(phone, "resources")

    search = phone.get_by_label("Search by name, need or language")
    expected: dict[str, list[str]] = {
        "attendance law": ["Statewide Attendance Helpline"],  # a factor's label
        "portuguese": ["Centro Familiar Português"],  # a language's name
        "clinic": ["Brass City Clinic"],
        "student illness": ["Brass City Clinic"],  # a factor's code, in words
    }
    for words, names in expected.items():
        await search.fill(words)
        await expect(listed).to_have_count(len(names))
        assert [(await item.locator("h3").text_content()) for item in await listed.all()] == names, words
    await search.fill("")
    await expect(listed).to_have_count(len(RESOURCES))
    assert errors == []
