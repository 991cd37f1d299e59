"""Decisions about family letters: making one, reading and printing it, mailing it and taking it
back, and the office's batches (docs/letters.md).

A letter is made once, as of its date, and its content kept (``facts.gather``). Mailing it logs a
contact attempt under its case (method ``letter``, outcome ``letter_sent``), which the case
manager's phone pulls like any other; a letter that comes back logs ``letter_returned`` and flags
the household's address for the office to review. Who may see a letter is ``server.scope.letters``;
every read is audited, and a refused one kept (``letter.read_refused``), as for the case.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import io
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from typing import Any

import msgspec
import pypdfium2 as pdfium
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import Role
from schemas.cases import ContactMethod, ContactOutcome
from schemas.letters import (
    DEFAULT_KINDS,
    BatchStatus,
    LetterBatchCreate,
    LetterBatchOut,
    LetterContent,
    LetterCreate,
    LetterKind,
    LetterKindConfig,
    LetterKindOut,
    LetterOut,
    LetterStatus,
)
from server import audit, clock, scope
from server.audit import Actor
from server.auth.service import Principal
from server.blobs import Blobs
from server.cases.models import Case, ContactAttempt
from server.cases.service import visible_case
from server.db import SessionFactory, create_engine, create_session_factory, session_scope
from server.errors import Conflict, DuplicateWithDifferentContent, InvalidInput, InvalidTransition, NotFound
from server.letters import facts, kinds, language
from server.letters import repository as repo
from server.letters.models import Letter, LetterBatch, LetterKindSet
from server.letters.render import describe_kind, render_pdf
from server.pdf import LOCK as pdfium_lock
from server.rules import repository as rules_repo
from server.settings import Settings
from server.students.models import Household, Student

WRITERS = (Role.CASE_MANAGER, Role.SUPERVISOR, Role.OFFICE_STAFF, Role.ADMIN)
"""Who may ask for a letter on a case in reach (the office and the case's own people)."""
PRINTERS = (Role.OFFICE_STAFF, Role.ADMIN)
"""Who makes batches, marks letters mailed or returned, and clears an address flag."""
CHUNK = 50
"""Letters per typst compile in a batch: the progress moves every chunk, and memory stays bounded
(measured with bench/letters.py's 2,000 letters: one compile of 500 letters takes about 700 MB;
chunks of 100 on threads from ``asyncio.to_thread`` grew the worker by about 300 MB, chunks of 50
on ``_PRINTER``'s one thread, memory handed back after each, by about 90 MB)."""
_PRINTER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="letters-typst")
"""Every letter is typeset on this one thread: typst keeps a compiler (and its caches) per thread,
so a new thread each time costs one more."""
BATCH_TASK = "letters.batch"
"""The background task that runs a batch (``server.letters.jobs``); its versions name it."""
BATCH_LOCK = "letters.batch"


class NotReady(Conflict):
    code = "not_ready"
    title = "Not made yet"


def out(letter: Letter) -> LetterOut:
    return msgspec.convert(letter, LetterOut, from_attributes=True)


def _now() -> datetime:
    return datetime.now(UTC)


def _touch(letter: Letter) -> None:
    letter.version += 1
    letter.updated_at = _now()


# --- one letter ----------------------------------------------------------------------------------


def _check(body: LetterCreate) -> str | None:
    """The request's problems as one message (the language it names, normalised, when valid)."""
    if body.kind is LetterKind.CUSTOM and body.body is None:
        raise InvalidInput("body: a custom letter needs its text")
    if body.kind is not LetterKind.CUSTOM and body.body is not None:
        raise InvalidInput("body: only a custom letter takes its own text (the other kinds have their own words)")
    if body.kind is not LetterKind.TRUANCY_NOTICE and (body.meeting_at or body.meeting_place):
        raise InvalidInput("meeting_at, meeting_place: only a truancy_notice invites to the parent meeting")
    if body.meeting_at is not None and body.meeting_at.tzinfo is None:
        raise InvalidInput("meeting_at: give a time zone (e.g. 2026-10-14T15:30:00-04:00)")
    if body.language is None:
        return None
    code = language.normalise(body.language)
    if code is None:
        raise InvalidInput(f"language: {body.language!r} is not a language code or name we know (e.g. es, pt-BR)")
    return code


def _same(letter: Letter, body: LetterCreate, case_id: uuid.UUID) -> bool:
    return (
        letter.case_id == case_id
        and letter.kind == body.kind
        and letter.body == body.body
        and letter.meeting_place == body.meeting_place
        and letter.meeting_at == body.meeting_at
        and (body.language is None or letter.requested_language == language.normalise(body.language))
    )


async def create(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    actor: Actor,
    case_id: uuid.UUID,
    body: LetterCreate,
) -> tuple[Letter, bool]:
    """The letter, made now as of the district's today; ``False`` when the same request came
    before (a retry: nothing new is made). The same id with other content is ``duplicate_id``."""
    case = await visible_case(session, principal, case_id)
    code = _check(body)
    existing = await repo.any_with_id(session, body.id)
    if existing is not None:
        if _same(existing, body, case.id):
            return existing, False
        raise DuplicateWithDifferentContent(f"letter {body.id} was already made with other content")
    as_of = clock.today(settings)
    year = await facts.year_of(session, as_of)
    wanted = facts.Wanted(case.student_id, body.kind, case.id, code, body.meeting_at, body.meeting_place, body.body)
    (gathered,) = await facts.gather(session, settings, year, [wanted])
    letter = Letter(
        id=body.id,
        case_id=case.id,
        student_id=case.student_id,
        version=1,
        by_rule=False,
        meeting_at=body.meeting_at,
        meeting_place=body.meeting_place,
        body=body.body,
        created_by=principal.user_id,
    )
    _make(letter, gathered, year)
    session.add(letter)
    await session.flush()
    audit.record(
        session,
        actor,
        "letter.create",
        "letter",
        letter.id,
        student_id=case.student_id,
        case_id=str(case.id),
        kind=body.kind,
    )
    return letter, True


def _make(letter: Letter, gathered: facts.Gathered, year: facts.Year, batch_id: uuid.UUID | None = None) -> None:
    """Fill a letter with what it says (``ready``)."""
    content = gathered.content
    letter.kind = content.kind
    letter.status = LetterStatus.READY
    letter.language = content.language
    letter.requested_language = gathered.requested_language
    letter.fallback = gathered.fallback
    letter.as_of = content.as_of
    letter.school_year_id = year.row.id
    letter.content = msgspec.to_builtins(content)
    letter.batch_id = batch_id if batch_id is not None else letter.batch_id


async def read(
    session: AsyncSession, principal: Principal, actor: Actor, letter_id: uuid.UUID, what: str = "read"
) -> Letter:
    """The letter if the principal may see it (audited ``letter.<what>``), else 404 with the
    refusal kept."""
    letter = await repo.get(session, letter_id, scope.letters(scope.Reader.of(principal)))
    if letter is None:
        student_id = await session.scalar(select(Letter.student_id).where(Letter.id == letter_id))
        await audit.refuse_read(session, actor, "letter", letter_id, student_id=student_id, verb=what)
    audit.record(session, actor, f"letter.{what}", "letter", letter.id, student_id=letter.student_id)
    return letter


def content_of(letter: Letter) -> LetterContent:
    if letter.content is None:
        raise NotReady("This letter was asked for and waits for the office's next batch: it has no words yet")
    return msgspec.convert(letter.content, LetterContent)


async def pdf(session: AsyncSession, principal: Principal, actor: Actor, letter_id: uuid.UUID) -> bytes:
    letter = await read(session, principal, actor, letter_id, "pdf")
    content = content_of(letter)
    return await _typeset([content])


async def _typeset(contents: Sequence[LetterContent]) -> bytes:
    """``render_pdf`` on the printing thread; the memory its compile freed is then handed back to
    the system (glibc keeps freed memory in the process otherwise: a worker that printed a batch
    kept a hundred megabytes more than it needs)."""
    data = await asyncio.get_running_loop().run_in_executor(_PRINTER, render_pdf, contents)
    _release_memory()
    return data


def _release_memory() -> None:
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _libc() -> Any:
    """glibc, where it is the C library (it has ``malloc_trim``); None elsewhere."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


_LIBC = _libc()


async def of_case(session: AsyncSession, principal: Principal, actor: Actor, case_id: uuid.UUID) -> Sequence[Letter]:
    case = await visible_case(session, principal, case_id)
    letters = await repo.of_case(session, case.id, scope.letters(scope.Reader.of(principal)))
    audit.record(session, actor, "letter.list", "case", case.id, student_id=case.student_id, letters=len(letters))
    return letters


def _contact(letter: Letter, outcome: ContactOutcome, at: datetime, by: uuid.UUID | None, note: str) -> ContactAttempt:
    """The contact attempt a letter's mailing (or return) logs: its id follows from the letter's,
    so nothing can log it twice."""
    assert letter.case_id is not None
    return ContactAttempt(
        id=uuid.uuid5(letter.id, outcome.value),
        case_id=letter.case_id,
        method=ContactMethod.LETTER,
        outcome=outcome,
        at=at,
        note=note,
        created_by=by,
        version=1,
    )


def _label(letter: Letter) -> str:
    return letter.kind.replace("_", " ")


def _mark_mailed(session: AsyncSession, letter: Letter, at: datetime, by: uuid.UUID | None) -> None:
    letter.status = LetterStatus.MAILED
    letter.mailed_at = at
    _touch(letter)
    if letter.case_id is not None:
        session.add(
            _contact(letter, ContactOutcome.LETTER_SENT, at, by, f"Letter mailed: {_label(letter)} ({letter.language})")
        )


async def mailed(
    session: AsyncSession, principal: Principal, actor: Actor, letter_id: uuid.UUID, at: datetime | None
) -> Letter:
    """``ready`` → ``mailed``, logging the contact; mailed already: as it is (a retry)."""
    letter = await _for_change(session, principal, actor, letter_id)
    if letter.status == LetterStatus.MAILED:
        return letter
    if letter.status != LetterStatus.READY:
        raise InvalidTransition(f"A {letter.status} letter cannot be marked mailed (only a ready one)")
    _mark_mailed(session, letter, at or _now(), principal.user_id)
    await session.flush()
    audit.record(session, actor, "letter.mailed", "letter", letter.id, student_id=letter.student_id)
    return letter


async def returned(
    session: AsyncSession,
    principal: Principal,
    actor: Actor,
    letter_id: uuid.UUID,
    at: datetime | None,
    note: str | None,
) -> Letter:
    """``mailed`` → ``returned``: logs ``letter_returned`` and flags the household's address for
    review; returned already: as it is."""
    letter = await _for_change(session, principal, actor, letter_id)
    if letter.status == LetterStatus.RETURNED:
        return letter
    if letter.status != LetterStatus.MAILED:
        raise InvalidTransition(f"A {letter.status} letter cannot come back: it was not mailed")
    when = at or _now()
    letter.status = LetterStatus.RETURNED
    letter.returned_at = when
    letter.returned_note = note
    _touch(letter)
    if letter.case_id is not None:
        session.add(
            _contact(letter, ContactOutcome.LETTER_RETURNED, when, principal.user_id, note or "Letter returned")
        )
    household_id = await session.scalar(select(Student.household_id).where(Student.id == letter.student_id))
    if household_id is not None:
        home = await session.get(Household, household_id, with_for_update=True)
        assert home is not None
        home.address_flagged_at = when
        home.address_flag_note = f"A {_label(letter)} letter came back" + (f": {note}" if note else "")
    await session.flush()
    audit.record(session, actor, "letter.returned", "letter", letter.id, student_id=letter.student_id)
    return letter


async def _for_change(session: AsyncSession, principal: Principal, actor: Actor, letter_id: uuid.UUID) -> Letter:
    await read(session, principal, actor, letter_id)
    letter = await repo.get_for_update(session, letter_id)
    assert letter is not None
    return letter


async def clear_address_flag(
    session: AsyncSession, principal: Principal, actor: Actor, household_id: uuid.UUID
) -> Household:
    """Office staff fixed (or checked) the address: the flag goes, audited."""
    home = await session.scalar(
        select(Household)
        .where(Household.id == household_id, scope.households(scope.Reader.of(principal)))
        .with_for_update()
    )
    if home is None:
        await audit.refuse_read(session, actor, "household", household_id, student_id=None, verb="clear_flag")
    assert home is not None
    was = home.address_flag_note
    home.address_flagged_at = None
    home.address_flag_note = None
    audit.record(session, actor, "household.address_flag_cleared", "household", home.id, flag=was)
    return home


# --- kinds -----------------------------------------------------------------------------------------


async def kinds_of_year(session: AsyncSession, as_of: date) -> list[LetterKindOut]:
    year = await facts.year_of(session, as_of)
    found = await kinds.configured(session, year.row.id)
    return [
        LetterKindOut(
            kind=k.kind,
            rule=k.rule,
            rank=k.rank,
            active=k.active,
            description=describe_kind(k.kind),
            school_year=year.row.name,
        )
        for k in found
    ]


async def set_kinds(
    session: AsyncSession, actor: Actor, school_year_id: uuid.UUID, configs: list[LetterKindConfig]
) -> None:
    """An admin's kinds for the year: every kind once (``custom`` included)."""
    given = [c.kind for c in configs]
    if sorted(given) != sorted(k.kind for k in DEFAULT_KINDS):
        raise InvalidInput("kinds: list every kind once: " + ", ".join(k.kind for k in DEFAULT_KINDS))
    row = await session.get(LetterKindSet, school_year_id)
    if row is None:
        row = LetterKindSet(school_year_id=school_year_id, kinds=[])
        session.add(row)
    row.kinds = msgspec.to_builtins(configs)
    row.updated_by = actor.user_id
    row.updated_at = _now()
    audit.record(session, actor, "letter_kinds.update", "school_year", school_year_id)


# --- batches ---------------------------------------------------------------------------------------


def batch_out(batch: LetterBatch, letters: list[uuid.UUID]) -> LetterBatchOut:
    return LetterBatchOut(
        id=batch.id,
        as_of=batch.as_of,
        kinds=[LetterKind(k) for k in batch.kinds] if batch.kinds is not None else None,
        status=BatchStatus(batch.status),
        done=batch.done,
        total=batch.total,
        letters=letters,
        created_at=batch.created_at,
        created_by=batch.created_by,
        error=batch.error,
        mailed_at=batch.mailed_at,
    )


def pdf_key(batch_id: uuid.UUID) -> str:
    return f"letters/batches/{batch_id}.pdf"


def _part_key(batch_id: uuid.UUID, n: int) -> str:
    return f"letters/batches/{batch_id}/part-{n:05d}.pdf"


async def create_batch(session: AsyncSession, actor: Actor, body: LetterBatchCreate) -> tuple[LetterBatch, bool]:
    """A queued batch (the job is deferred in the same transaction); the same id and content again
    is the batch as it is, other content ``duplicate_id``."""
    kinds_given = sorted({k.value for k in body.kinds}) if body.kinds is not None else None
    existing = await session.get(LetterBatch, body.id)
    if existing is not None:
        if existing.as_of == body.as_of and existing.kinds == kinds_given:
            return existing, False
        raise DuplicateWithDifferentContent(f"letter batch {body.id} was already made with other content")
    if body.kinds is not None and not body.kinds:
        raise InvalidInput("kinds: name at least one kind, or leave kinds out for every kind")
    await facts.year_of(session, body.as_of)  # outside any school year: refused now, not in the job
    batch = LetterBatch(
        id=body.id, as_of=body.as_of, kinds=kinds_given, status=BatchStatus.QUEUED, created_by=actor.user_id
    )
    session.add(batch)
    await session.flush()
    audit.record(session, actor, "letter_batch.create", "letter_batch", batch.id, as_of=body.as_of.isoformat())
    return batch, True


Progress = Callable[[int, int], None]


async def run_batch(
    factory: SessionFactory,
    settings: Settings,
    blobs: Blobs,
    batch_id: uuid.UUID,
    progress: Progress | None = None,
    *,
    via: str = f"job {BATCH_TASK}",
) -> LetterBatch:
    """Make and print a queued batch: every student newly due (the gravest kind due each, of the
    batch's kinds) and every requested letter waiting, as of the batch's day; one merged PDF.

    The letters are made in one transaction that commits only once the PDF is stored (a failure
    leaves no half batch: the batch is ``failed`` with the reason, and a new batch takes the same
    students); progress is committed apart, so ``GET /letter-batches/{id}`` shows it meanwhile.
    Batches run one at a time (an advisory lock), so two never take the same student. ``via``
    names the writer of the versions it keeps (``job letters.batch``, or the command)."""
    async with session_scope(factory, via=via) as s:
        batch = await s.get(LetterBatch, batch_id, with_for_update=True)
        if batch is None:
            raise NotFound(f"No such letter batch {batch_id}")
        if batch.status != BatchStatus.QUEUED:
            return batch  # a job delivered twice: it ran, or runs
        batch.status = BatchStatus.RUNNING
        batch.updated_at = _now()
    parts: list[str] = []
    try:
        async with session_scope(factory, via=via) as session:
            await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": BATCH_LOCK})
            batch = await session.get(LetterBatch, batch_id)
            assert batch is not None
            letters, contents = await _take(session, settings, batch)
            await _progress(factory, batch_id, 0, len(letters), progress, via)
            for n, start in enumerate(range(0, len(contents), CHUNK)):
                chunk = contents[start : start + CHUNK]
                data = await _typeset(chunk)
                parts.append(_part_key(batch_id, n))
                await blobs.put_file(parts[-1], io.BytesIO(data))
                await _progress(factory, batch_id, start + len(chunk), len(letters), progress, via)
            await blobs.put_file(pdf_key(batch_id), io.BytesIO(await _merge(blobs, parts)))
            batch.status = BatchStatus.DONE
            batch.done = batch.total = len(letters)
            batch.updated_at = _now()
            audit.record(
                session, Actor.system("letters"), "letter_batch.done", "letter_batch", batch_id, letters=len(letters)
            )
    except Exception as exc:
        async with session_scope(factory, via=via) as s:
            failed = await s.get(LetterBatch, batch_id)
            assert failed is not None
            failed.status = BatchStatus.FAILED
            failed.error = f"{type(exc).__name__}: {exc}"[:2000]
            failed.updated_at = _now()
        raise
    finally:
        await blobs.delete(*parts)
    return batch


async def run_queued(database_url: str, settings: Settings, batch_id: uuid.UUID) -> None:
    """The job: run the batch on an engine of its own."""
    engine = create_engine(database_url, pool_size=2, max_overflow=0)
    try:
        await run_batch(create_session_factory(engine), settings, Blobs.from_settings(settings), batch_id)
    finally:
        await engine.dispose()


async def _progress(
    factory: SessionFactory, batch_id: uuid.UUID, done: int, total: int, progress: Progress | None, via: str
) -> None:
    async with session_scope(factory, via=via) as s:
        await repo.progress(s, batch_id, done=done, total=total)
    if progress is not None:
        progress(done, total)


async def _take(
    session: AsyncSession, settings: Settings, batch: LetterBatch
) -> tuple[list[Letter], list[LetterContent]]:
    """The batch's letters, made (not yet committed), in print order: by school, then student."""
    year = await facts.year_of(session, batch.as_of)
    configured = await kinds.configured(session, year.row.id)
    statuses = await rules_repo.statuses(session, year.params)
    only = [LetterKind(k) for k in batch.kinds] if batch.kinds is not None else None
    due = await kinds.due(session, year.row.id, statuses, configured, only)
    waiting = list(await repo.waiting(session))
    due_ids = [d.student_id for d in due]
    open_cases: dict[uuid.UUID, uuid.UUID] = {}
    if due_ids:
        rows = await session.execute(
            select(Case.student_id, Case.id).where(
                Case.student_id.in_(due_ids), Case.status != "closed", Case.deleted_at.is_(None)
            )
        )
        open_cases = {student_id: case_id for student_id, case_id in rows}
    wanted = [facts.Wanted(d.student_id, d.kind, open_cases.get(d.student_id)) for d in due]
    wanted += [facts.Wanted(w.student_id, LetterKind(w.kind), w.case_id, body=w.body) for w in waiting]
    gathered = await facts.gather(session, settings, year, wanted, statuses)
    letters: list[Letter] = []
    for want, got in zip(wanted[: len(due)], gathered[: len(due)], strict=True):
        letter = Letter(id=uuid.uuid4(), case_id=want.case_id, student_id=want.student_id, version=1, by_rule=True)
        _make(letter, got, year, batch.id)
        session.add(letter)
        letters.append(letter)
    for letter, got in zip(waiting, gathered[len(due) :], strict=True):
        _make(letter, got, year, batch.id)
        _touch(letter)
        letters.append(letter)
    await session.flush()
    order = sorted(
        range(len(letters)),
        key=lambda i: (gathered[i].content.school, gathered[i].content.student_first_name, str(letters[i].id)),
    )
    return [letters[i] for i in order], [gathered[i].content for i in order]


async def _merge(blobs: Blobs, parts: list[str]) -> bytes:
    """The parts as one PDF, merged by PDFium (pypdf held every page's objects in Python: about
    100 MB for 2,000 letters, against PDFium's 20, and ten times the time)."""
    datas = [b"".join([chunk async for chunk in blobs.stream(key)]) for key in parts]
    return await asyncio.to_thread(_merge_pdfs, datas)


def _merge_pdfs(datas: list[bytes]) -> bytes:
    with pdfium_lock:
        merged = pdfium.PdfDocument.new()
        try:
            for data in datas:
                part = pdfium.PdfDocument(data)
                try:
                    merged.import_pages(part)
                finally:
                    part.close()
            out = io.BytesIO()
            merged.save(out)
        finally:
            merged.close()
    return out.getvalue()


async def batch_mailed(
    session: AsyncSession, principal: Principal, actor: Actor, batch_id: uuid.UUID, at: datetime | None
) -> LetterBatch:
    """Every ready letter of a done batch mailed, each logging its contact."""
    batch = await session.get(LetterBatch, batch_id, with_for_update=True)
    if batch is None:
        raise NotFound("No such letter batch")
    if batch.status != BatchStatus.DONE:
        raise NotReady(f"The batch is {batch.status}: only a done batch can be mailed")
    when = at or _now()
    for letter in await repo.of_batch(session, batch_id):
        if letter.status == LetterStatus.READY and letter.deleted_at is None:
            _mark_mailed(session, letter, when, principal.user_id)
    batch.mailed_at = batch.mailed_at or when
    await session.flush()
    audit.record(session, actor, "letter_batch.mailed", "letter_batch", batch_id)
    return batch


async def due_now(session: AsyncSession, as_of: date) -> dict[tuple[str, str], int]:
    """How many letters a batch made now would hold, by (kind, language): for the Letters page."""
    year = await facts.year_of(session, as_of)
    configured = await kinds.configured(session, year.row.id)
    statuses = await rules_repo.statuses(session, year.params)
    due = await kinds.due(session, year.row.id, statuses, configured)
    waiting = await session.execute(
        select(Letter.kind, Letter.student_id).where(
            Letter.status == LetterStatus.REQUESTED, Letter.deleted_at.is_(None)
        )
    )
    pairs = [(d.kind.value, d.student_id) for d in due] + [(k, s) for k, s in waiting]
    homes = (
        dict(
            (
                await session.execute(
                    select(Student.id, Household.language)
                    .join(Household, Household.id == Student.household_id)
                    .where(Student.id.in_([s for _, s in pairs]))
                )
            ).all()
        )
        if pairs
        else {}
    )
    counts: dict[tuple[str, str], int] = {}
    for kind, student_id in pairs:
        used, _fallback, _code = language.pick(homes.get(student_id))
        counts[(kind, used)] = counts.get((kind, used), 0) + 1
    return counts
