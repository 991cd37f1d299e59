"""Family letters in the console. Office staff and admins see what is due now, make a batch and
follow it until its PDF is printed, mark it mailed, and take back the letters that came back (the
household's address stays under Addresses to check until someone checks it). Every role that sees a
case sees its letters on the case page, and those who may write one make it there.

The same services as the API (``server.letters.routes``): ``/letter-batches``, ``/letters/{id}``,
``/households/{id}/address-flag`` and ``POST /cases/{id}/letters``, under the same scope and audit.
A form refused comes back with each problem next to its field and what was typed kept."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.letters import (
    DEFAULT_KINDS,
    BatchStatus,
    LetterBatchCreate,
    LetterCreate,
    LetterKind,
)
from server import audit, clock, scope
from server.auth import repository as users
from server.auth.guards import ALL_ROLES
from server.console.pages import page
from server.console.session import PATH, signed_in
from server.deps import AuthRequest, Db, actor_of
from server.errors import DuplicateWithDifferentContent, InvalidInput, InvalidTransition, NotFound, OutsideSchoolYear
from server.letters import jobs as letter_jobs
from server.letters import repository as repo
from server.letters import responses, service
from server.letters.models import Letter, LetterBatch
from server.letters.render import describe_kind
from server.schools.models import School
from server.students.models import Household, Student

PRINTERS = service.PRINTERS
KIND_NAMES = {
    LetterKind.ATTENDANCE_NOTICE: "Attendance notice",
    LetterKind.CHRONIC_ABSENCE_NOTICE: "Chronic absence notice",
    LetterKind.TRUANCY_NOTICE: "Truancy notice",
    LetterKind.HABITUAL_TRUANCY_NOTICE: "Habitual truancy notice",
    LetterKind.CUSTOM: "Custom letter",
}
KIND_ORDER = [k.kind for k in sorted(DEFAULT_KINDS, key=lambda k: (k.kind is LetterKind.CUSTOM, k.rank))]
"""Least grave first, the custom letter last: the order of every list of kinds."""
BATCH_KINDS = [k for k in KIND_ORDER if k is not LetterKind.CUSTOM]
"""The kinds a rule makes due, which a batch can be limited to (a custom letter is only asked for)."""
SHOWN_LETTERS = 200
"""A batch page lists at most this many letters; a search by name finds the others."""
MAX_PLACE = 300
MAX_BODY = 5000
_REFRESHING = (BatchStatus.QUEUED, BatchStatus.RUNNING)


def kind_name(kind: str) -> str:
    try:
        return KIND_NAMES[LetterKind(kind)]
    except ValueError:
        return kind


def language_name(code: str | None) -> str:
    """``es`` → "Spanish": the office reads names, the letters store codes."""
    if not code:
        return "not made yet"
    name = Locale("en").languages.get(code.split("-", 1)[0])
    return str(name) if name else code


def _kinds_text(kinds: Sequence[str] | None) -> str:
    return "every kind" if kinds is None else ", ".join(kind_name(k) for k in kinds)


def _form_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise InvalidInput("This form is not one the console gave out") from exc


def _refused(request: Request[Any, Any, Any], status: int, title: str, message: str) -> Template:
    return page(request, "error.html", status, title=title, message=message)


# --- the Letters page: due now, make a batch, recent batches, addresses to check -------------------


@dataclass
class BatchTyped:
    """The Make a batch form as typed, shown back as is when refused."""

    id: str
    as_of: str
    kinds: tuple[str, ...] = tuple(k.value for k in BATCH_KINDS)


@dataclass(frozen=True)
class Due:
    kind: str
    language: str
    count: int


@dataclass(frozen=True)
class Flagged:
    household: Household
    students: list[Student]


def _due_rows(counts: dict[tuple[str, str], int]) -> list[Due]:
    order = {k.value: n for n, k in enumerate(KIND_ORDER)}
    rows = [Due(kind, lang, n) for (kind, lang), n in counts.items() if n]
    return sorted(rows, key=lambda r: (order.get(r.kind, len(order)), language_name(r.language)))


async def _flagged(request: AuthRequest, db: AsyncSession) -> list[Flagged]:
    """Households whose letter came back (in the reader's scope), each with its students; every
    student named is an access kept, as the lists of cases keep theirs."""
    homes = await repo.flagged_households(db, scope.households(scope.Reader.of(request.user)))
    if not homes:
        return []
    rows = await db.scalars(
        select(Student)
        .where(Student.household_id.in_([h.id for h in homes]), Student.deleted_at.is_(None))
        .order_by(Student.last_name, Student.first_name, Student.id)
    )
    by_home: dict[uuid.UUID, list[Student]] = {}
    actor = actor_of(request)
    for student in rows:
        assert student.household_id is not None
        by_home.setdefault(student.household_id, []).append(student)
        audit.record(db, actor, "student.listed", "student", student.id, via="console_letters_addresses")
    return [Flagged(h, by_home.get(h.id, [])) for h in homes]


async def _letters_page(
    request: AuthRequest,
    db: AsyncSession,
    status_code: int = 200,
    *,
    typed: BatchTyped | None = None,
    errors: dict[str, str] | None = None,
    problem: str | None = None,
    checked: Household | None = None,
) -> Template:
    today = clock.today(request.app.state.settings)
    try:
        counts: dict[tuple[str, str], int] | None = await service.due_now(db, today)
    except OutsideSchoolYear:
        counts = None
    errors = errors or {}
    if errors and problem is None:
        n = len(errors)
        problem = f"No batch was made: {n} field{'s' if n != 1 else ''} to correct, marked below."
    due = _due_rows(counts or {})
    return page(
        request,
        "letters.html",
        status_code,
        today=today,
        outside=counts is None,
        due=due,
        due_total=sum(r.count for r in due),
        typed=typed or BatchTyped(id=str(uuid.uuid4()), as_of=today.isoformat()),
        errors=errors,
        problem=problem,
        batch_kinds=BATCH_KINDS,
        batches=await repo.batches(db, 20),
        flagged=await _flagged(request, db),
        checked=checked,
        kind_name=kind_name,
        kinds_text=_kinds_text,
        describe_kind=describe_kind,
        language_name=language_name,
    )


@get("/letters", opt=signed_in(*PRINTERS))
async def letters_page(request: AuthRequest, db: Db, checked: FromQuery[str | None] = None) -> Template:
    """What a batch made now would hold, the Make a batch form, the recent batches and the
    households whose letter came back."""
    home = None
    if checked:
        visible = scope.households(scope.Reader.of(request.user))
        home = await db.scalar(select(Household).where(Household.id == _form_id(checked), visible))
    return await _letters_page(request, db, checked=home)


@post("/letters/batches", opt=signed_in(*PRINTERS), status_code=303)
async def make_batch(request: AuthRequest, db: Db) -> Response[Any]:
    """Make a batch, as a plain form post: the same service as ``POST /letter-batches``, idempotent
    by the form's id (sent twice, one batch). Made, to the batch's page, which follows it."""
    form = await request.form()
    typed = BatchTyped(
        id=str(form.get("id", "")),
        as_of=str(form.get("as_of", "")).strip(),
        kinds=tuple(str(v) for v in form.getall("kinds", [])),
    )
    batch_id = _form_id(typed.id)
    errors: dict[str, str] = {}
    as_of = None
    if not typed.as_of:
        errors["as_of"] = "give the letters' date"
    else:
        try:
            as_of = date.fromisoformat(typed.as_of)
        except ValueError:
            errors["as_of"] = "not a date: give it as year-month-day, e.g. 2026-12-07"
    if any(k not in {b.value for b in BATCH_KINDS} for k in typed.kinds):
        raise InvalidInput("This form is not one the console gave out")
    if not typed.kinds:
        errors["kinds"] = "tick at least one kind of letter"
    if errors or as_of is None:
        return await _letters_page(request, db, 400, typed=typed, errors=errors)
    every = set(typed.kinds) == {k.value for k in BATCH_KINDS}
    body = LetterBatchCreate(id=batch_id, as_of=as_of, kinds=None if every else [LetterKind(k) for k in typed.kinds])
    try:
        batch, made = await service.create_batch(db, actor_of(request), body)
    except OutsideSchoolYear:
        await db.rollback()
        errors["as_of"] = f"{as_of.isoformat()} is in no school year on record: choose a day of the school year"
        return await _letters_page(request, db, 400, typed=typed, errors=errors)
    except DuplicateWithDifferentContent:
        await db.rollback()
        problem = (
            "This form was already used to make a batch, so no batch was made now. "
            "Find that batch under Recent batches, or make this one from the form below."
        )
        fresh = BatchTyped(str(uuid.uuid4()), typed.as_of, typed.kinds)
        return await _letters_page(request, db, 409, typed=fresh, problem=problem)
    if made:
        await letter_jobs.enqueue_batch(db, batch.id)
    return Redirect(f"{PATH}/letters/batches/{batch.id}", status_code=303)


@post("/letters/households/{household_id:uuid}/address-checked", opt=signed_in(*PRINTERS), status_code=303)
async def address_checked(request: AuthRequest, db: Db, household_id: FromPath[uuid.UUID]) -> Response[Any]:
    """The office fixed (or confirmed) the address: the same service as ``DELETE
    /households/{id}/address-flag``."""
    await service.clear_address_flag(db, request.user, actor_of(request), household_id)
    return Redirect(f"{PATH}/letters?checked={household_id}#addresses", status_code=303)


# --- a batch -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Listed:
    """A letter of a batch with the names the page shows."""

    letter: Letter
    first_name: str
    last_name: str
    school: str | None


async def _batch_letters(db: AsyncSession, batch_id: uuid.UUID, q: str) -> tuple[list[Listed], int]:
    """The batch's letters by school and student (those whose name holds ``q``), the first
    ``SHOWN_LETTERS``, and how many matched."""
    where: list[ColumnElement[bool]] = [Letter.batch_id == batch_id, Letter.deleted_at.is_(None)]
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append((Student.first_name + " " + Student.last_name).ilike(like, escape="\\"))
    rows = (
        await db.execute(
            select(Letter, Student.first_name, Student.last_name, School.name)
            .join(Student, Student.id == Letter.student_id)
            .outerjoin(School, School.id == Student.school_id)
            .where(*where)
            .order_by(School.name, Student.last_name, Student.first_name, Letter.id)
        )
    ).all()
    return [Listed(*r) for r in rows[:SHOWN_LETTERS]], len(rows)


async def _batch_or_404(db: AsyncSession, batch_id: uuid.UUID) -> LetterBatch:
    batch = await repo.batch(db, batch_id)
    if batch is None:
        raise NotFound("No such letter batch")
    return batch


@get("/letters/batches/{batch_id:uuid}", opt=signed_in(*PRINTERS))
async def batch_page(
    request: AuthRequest,
    db: Db,
    batch_id: FromPath[uuid.UUID],
    q: FromQuery[str | None] = None,
    returned: FromQuery[str | None] = None,
) -> Template:
    """A batch: its progress (the page refreshes itself while the batch is queued or running),
    then its PDF, Mark all mailed, and its letters, each mailed one with a Returned form."""
    batch = await _batch_or_404(db, batch_id)
    search = (q or "").strip()[:100]
    listed, matched = await _batch_letters(db, batch_id, search)
    if listed:  # one access kept per look: the batch's letters (and so its students) are fixed
        audit.record(
            db, actor_of(request), "letter_batch.read", "letter_batch", batch_id, letters=matched, q=search or None
        )
    just_returned = next((x for x in listed if returned and str(x.letter.id) == returned), None)
    names = {u.id: u.display_name for u in await users.list_users(db)}
    return page(
        request,
        "letter_batch.html",
        batch=batch,
        status=BatchStatus(batch.status),
        refresh=BatchStatus(batch.status) in _REFRESHING,
        listed=listed,
        matched=matched,
        shown=SHOWN_LETTERS,
        q=search,
        just_returned=just_returned,
        names=names,
        kinds_text=_kinds_text,
        kind_name=kind_name,
        language_name=language_name,
    )


@get("/letters/batches/{batch_id:uuid}/pdf", opt=signed_in(*PRINTERS))
async def batch_pdf(request: AuthRequest, db: Db, batch_id: FromPath[uuid.UUID]) -> Response[Any]:
    """Every letter of a done batch, one merged PDF to print (as ``GET /letter-batches/{id}/pdf``)."""
    batch = await _batch_or_404(db, batch_id)
    if batch.status != BatchStatus.DONE:
        return _refused(request, 409, "Not printed yet", f"The batch is {batch.status}: its PDF comes when it is done.")
    audit.record(db, actor_of(request), "letter_batch.pdf", "letter_batch", batch_id, letters=batch.total)
    return responses.batch_pdf(request.app.state.blobs, batch)


@post("/letters/batches/{batch_id:uuid}/mailed", opt=signed_in(*PRINTERS), status_code=303)
async def batch_mailed(request: AuthRequest, db: Db, batch_id: FromPath[uuid.UUID]) -> Response[Any]:
    """Mark all mailed: every ready letter of the batch, each logging its contact attempt (the same
    service as ``POST /letter-batches/{id}/mailed``)."""
    try:
        await service.batch_mailed(db, request.user, actor_of(request), batch_id, None)
    except service.NotReady as exc:
        await db.rollback()
        return _refused(request, 409, "Not printed yet", f"Nothing was marked mailed: {exc.detail}.")
    return Redirect(f"{PATH}/letters/batches/{batch_id}", status_code=303)


# --- one letter -------------------------------------------------------------------------------------


@get("/letters/{letter_id:uuid}/pdf", opt=signed_in(*ALL_ROLES))
async def letter_pdf(request: AuthRequest, db: Db, letter_id: FromPath[uuid.UUID]) -> Response[Any]:
    """One letter's PDF, for whoever may see its case (``GET /letters/{id}/pdf``: authorised and
    audited; out of scope is the 404 page)."""
    try:
        data = await service.pdf(db, request.user, actor_of(request), letter_id)
    except service.NotReady:
        return _refused(request, 409, "Not made yet", _WAITS)
    return responses.letter_pdf(data, letter_id)


@post("/letters/{letter_id:uuid}/mailed", opt=signed_in(*PRINTERS), status_code=303)
async def letter_mailed(request: AuthRequest, db: Db, letter_id: FromPath[uuid.UUID]) -> Response[Any]:
    """One letter went out (a letter made on its case page, printed from its PDF): the same service
    as ``POST /letters/{id}/mailed`` (logs ``letter_sent`` under its case), back to the case."""
    try:
        letter = await service.mailed(db, request.user, actor_of(request), letter_id, None)
    except InvalidTransition as exc:
        await db.rollback()
        return _refused(request, 409, "Not ready", f"Nothing was changed: {exc.detail}.")
    if letter.case_id is None:
        return Redirect(f"{PATH}/letters", status_code=303)
    return Redirect(f"{PATH}/cases/{letter.case_id}#letters", status_code=303)


@post("/letters/{letter_id:uuid}/returned", opt=signed_in(*PRINTERS), status_code=303)
async def letter_returned(request: AuthRequest, db: Db, letter_id: FromPath[uuid.UUID]) -> Response[Any]:
    """The letter came back: the same service as ``POST /letters/{id}/returned`` (logs
    ``letter_returned`` under its case and flags the household's address), back to its batch."""
    form = await request.form()
    note = str(form.get("note", "")).strip()[:1000] or None
    try:
        letter = await service.returned(db, request.user, actor_of(request), letter_id, None, note)
    except InvalidTransition as exc:
        await db.rollback()
        return _refused(request, 409, "Not mailed", f"Nothing was changed: {exc.detail}.")
    if letter.batch_id is None:
        return Redirect(f"{PATH}/letters#addresses", status_code=303)
    return Redirect(f"{PATH}/letters/batches/{letter.batch_id}?returned={letter.id}#letters", status_code=303)


# --- on the case page --------------------------------------------------------------------------------


@dataclass
class LetterTyped:
    """The Make a letter form as typed."""

    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    kind: str = ""
    meeting_date: str = ""
    meeting_time: str = ""
    meeting_place: str = ""
    body: str = ""


@dataclass
class Made:
    """What the Make a letter form did: nothing (``errors`` or ``problem`` say why, with
    ``status_code``), or the letter made."""

    typed: LetterTyped
    errors: dict[str, str] = field(default_factory=dict)
    problem: str | None = None
    status_code: int = 303

    @property
    def refused(self) -> bool:
        return bool(self.errors or self.problem)


async def on_case(
    request: AuthRequest, db: AsyncSession, case_id: uuid.UUID, made: Made | None = None
) -> dict[str, Any]:
    """The case page's Letters section: the case's letters newest first (read through
    ``service.of_case``, which audits) and, for those who may write one, the Make a letter form."""
    letters = await service.of_case(db, request.user, actor_of(request), case_id)
    made = made or Made(LetterTyped())
    problem = made.problem
    if made.errors and problem is None:
        n = len(made.errors)
        problem = f"No letter was made: {n} field{'s' if n != 1 else ''} to correct, marked below."
    return {
        "letters": letters,
        "may_write_letter": request.user.role in service.WRITERS,
        "may_mail_letters": request.user.role in service.PRINTERS,
        "letter_form": made.typed,
        "letter_errors": made.errors,
        "letter_problem": problem,
        "letter_kinds": [(k.value, KIND_NAMES[k]) for k in KIND_ORDER],
        "letter_kind_name": kind_name,
        "language_name": language_name,
    }


def _meeting(typed: LetterTyped, zone: ZoneInfo, today: date, errors: dict[str, str]) -> datetime | None:
    """The meeting's day and time (in the district's time), both or neither."""
    day = at = None
    if typed.meeting_date:
        try:
            day = date.fromisoformat(typed.meeting_date)
        except ValueError:
            errors["meeting_date"] = "give the day as year-month-day, e.g. 2026-12-15"
    if typed.meeting_time:
        try:
            at = time.fromisoformat(typed.meeting_time)
        except ValueError:
            errors["meeting_time"] = "give the time as hours:minutes, e.g. 15:30"
    if typed.meeting_date and not typed.meeting_time:
        errors["meeting_time"] = "give the meeting's time too"
    if typed.meeting_time and not typed.meeting_date:
        errors["meeting_date"] = "give the meeting's day too"
    if day is not None and day < today:
        errors["meeting_date"] = f"{day.isoformat()} has passed: give the day of the meeting to come"
    if day is None or at is None or errors.get("meeting_date") or errors.get("meeting_time"):
        return None
    return datetime.combine(day, at.replace(tzinfo=None), tzinfo=zone)


async def make_letter(request: AuthRequest, db: AsyncSession, case_id: uuid.UUID) -> Made:
    """Make a letter, as a plain form post: the same service as ``POST /cases/{id}/letters``
    (idempotent by the form's id), as of the district's today in the household's language."""
    form = await request.form()
    typed = LetterTyped(
        id=str(form.get("id", "")),
        kind=str(form.get("kind", "")),
        meeting_date=str(form.get("meeting_date", "")).strip(),
        meeting_time=str(form.get("meeting_time", "")).strip(),
        meeting_place=str(form.get("meeting_place", "")).strip(),
        body=str(form.get("body", "")).strip(),
    )
    letter_id = _form_id(typed.id)
    errors: dict[str, str] = {}
    kind = None
    if not typed.kind:
        errors["kind"] = "choose the kind of letter"
    else:
        try:
            kind = LetterKind(typed.kind)
        except ValueError as exc:
            raise InvalidInput("This form is not one the console gave out") from exc
    settings = request.app.state.settings
    meeting_at = None
    has_meeting = bool(typed.meeting_date or typed.meeting_time or typed.meeting_place)
    if kind is not None and kind is not LetterKind.TRUANCY_NOTICE and has_meeting:
        errors["meeting"] = "only a truancy notice invites the family to a meeting: clear these, or choose it"
    elif has_meeting:
        meeting_at = _meeting(typed, ZoneInfo(settings.time_zone), clock.today(settings), errors)
    if len(typed.meeting_place) > MAX_PLACE:
        errors["meeting_place"] = f"at most {MAX_PLACE} characters (this has {len(typed.meeting_place)})"
    if kind is LetterKind.CUSTOM and not typed.body:
        errors["body"] = "write the letter's text"
    elif kind is not None and kind is not LetterKind.CUSTOM and typed.body:
        errors["body"] = "only a custom letter takes your own text (the others have their own words): clear it"
    if len(typed.body) > MAX_BODY:
        errors["body"] = f"at most {MAX_BODY} characters (this has {len(typed.body)})"
    if errors or kind is None:
        return Made(typed, errors, status_code=400)
    body = LetterCreate(
        id=letter_id,
        kind=kind,
        meeting_at=meeting_at,
        meeting_place=typed.meeting_place or None,
        body=typed.body or None,
    )
    try:
        await service.create(db, settings, request.user, actor_of(request), case_id, body)
    except OutsideSchoolYear:
        problem = "No letter was made: today is outside any school year, and a letter counts the school year's days."
        return Made(typed, problem=problem, status_code=400)
    except DuplicateWithDifferentContent:
        fresh = LetterTyped(**{**typed.__dict__, "id": str(uuid.uuid4())})
        return Made(fresh, problem=_USED, status_code=409)
    return Made(typed)


_WAITS = "This letter was asked for and waits for the office's next batch: it has no PDF yet."
_USED = "This form was already used to make another letter, so no letter was made now. Check it and send it again."

HANDLERS = [
    letters_page,
    make_batch,
    address_checked,
    batch_page,
    batch_pdf,
    batch_mailed,
    letter_pdf,
    letter_mailed,
    letter_returned,
]
