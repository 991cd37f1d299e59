"""Routes of family letters: one made for a case, read, printed, mailed or returned; the kinds of a
school year; the office's batches (docs/letters.md). The paths and fields are a contract."""

from __future__ import annotations

import uuid
from datetime import date

from litestar import Response, Router, delete, get, post, put
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Stream

from schemas.auth import Role
from schemas.letters import (
    LetterBatchCreate,
    LetterBatchOut,
    LetterCreate,
    LetterKindConfig,
    LetterKindOut,
    LetterMailed,
    LetterOut,
    LetterReturned,
)
from server import clock
from server.auth.guards import ALL_ROLES, allow
from server.blobs import Blobs
from server.deps import AuthRequest, Config, Db, actor_of
from server.errors import NotFound
from server.letters import jobs, responses, service
from server.letters import repository as repo
from server.rules.rulesets import year_or_404


@post(
    "/cases/{case_id:uuid}/letters",
    opt=allow(*service.WRITERS),
    status_code=201,
    responses={200: ResponseSpec(LetterOut, description="The same id and content again (a retry): the letter")},
)
async def create_letter(
    request: AuthRequest, db: Db, settings: Config, case_id: FromPath[uuid.UUID], data: JSONBody[LetterCreate]
) -> Response[LetterOut]:
    """Make a letter for the case's student now, as of the district's today, in the household's
    language (or ``language``). Idempotent by ``id``."""
    letter, made = await service.create(db, settings, request.user, actor_of(request), case_id, data)
    return Response(service.out(letter), status_code=201 if made else 200)


@get("/cases/{case_id:uuid}/letters", opt=allow(*ALL_ROLES))
async def case_letters(request: AuthRequest, db: Db, case_id: FromPath[uuid.UUID]) -> list[LetterOut]:
    """The case's letters, newest first."""
    return [service.out(x) for x in await service.of_case(db, request.user, actor_of(request), case_id)]


@get("/letters/{letter_id:uuid}", opt=allow(*ALL_ROLES))
async def read_letter(request: AuthRequest, db: Db, letter_id: FromPath[uuid.UUID]) -> LetterOut:
    return service.out(await service.read(db, request.user, actor_of(request), letter_id))


@get("/letters/{letter_id:uuid}/pdf", opt=allow(*ALL_ROLES), media_type="application/pdf")
async def letter_pdf(request: AuthRequest, db: Db, letter_id: FromPath[uuid.UUID]) -> Response[bytes]:
    """The letter as a PDF (``application/pdf``), one page where it can be; 409 ``not_ready`` for
    a letter asked for and not made yet."""
    data = await service.pdf(db, request.user, actor_of(request), letter_id)
    return responses.letter_pdf(data, letter_id)


@post("/letters/{letter_id:uuid}/mailed", opt=allow(*service.PRINTERS), status_code=200)
async def letter_mailed(
    request: AuthRequest, db: Db, letter_id: FromPath[uuid.UUID], data: JSONBody[LetterMailed]
) -> LetterOut:
    """The letter went out: logs a contact attempt (``letter``, ``letter_sent``) under its case."""
    return service.out(await service.mailed(db, request.user, actor_of(request), letter_id, data.at))


@post("/letters/{letter_id:uuid}/returned", opt=allow(*service.PRINTERS), status_code=200)
async def letter_returned(
    request: AuthRequest, db: Db, letter_id: FromPath[uuid.UUID], data: JSONBody[LetterReturned]
) -> LetterOut:
    """The letter came back: logs ``letter_returned`` and flags the household's address."""
    letter = await service.returned(db, request.user, actor_of(request), letter_id, data.at, data.note)
    return service.out(letter)


@delete("/households/{household_id:uuid}/address-flag", opt=allow(*service.PRINTERS), status_code=204)
async def clear_address_flag(request: AuthRequest, db: Db, household_id: FromPath[uuid.UUID]) -> None:
    """The office fixed (or confirmed) the address of a household whose letter came back."""
    await service.clear_address_flag(db, request.user, actor_of(request), household_id)


@get("/letter-kinds", opt=allow(*ALL_ROLES))
async def letter_kinds(db: Db, settings: Config, as_of: FromQuery[date | None] = None) -> list[LetterKindOut]:
    """The kinds of the school year containing ``as_of`` (the district's today), with their rules."""
    return await service.kinds_of_year(db, as_of or clock.today(settings))


@put("/letter-kinds/{school_year_id:uuid}", opt=allow(Role.ADMIN), status_code=200)
async def change_letter_kinds(
    request: AuthRequest, db: Db, school_year_id: FromPath[uuid.UUID], data: JSONBody[list[LetterKindConfig]]
) -> list[LetterKindOut]:
    year = await year_or_404(db, school_year_id)
    await service.set_kinds(db, actor_of(request), school_year_id, data)
    return await service.kinds_of_year(db, year.starts_on)


@post(
    "/letter-batches",
    opt=allow(*service.PRINTERS),
    status_code=202,
    responses={200: ResponseSpec(LetterBatchOut, description="The same id and content again: the batch as it is")},
)
async def create_batch(request: AuthRequest, db: Db, data: JSONBody[LetterBatchCreate]) -> Response[LetterBatchOut]:
    """Queue a batch: every student newly due a letter as of ``as_of`` (of ``kinds``, or all) and
    every requested letter not yet printed. It runs as a background job; follow it with
    ``GET /letter-batches/{id}``."""
    batch, made = await service.create_batch(db, actor_of(request), data)
    if made:
        await jobs.enqueue_batch(db, batch.id)
    letters = await repo.ids_of_batch(db, batch.id)
    return Response(service.batch_out(batch, letters), status_code=202 if made else 200)


@get("/letter-batches/{batch_id:uuid}", opt=allow(*service.PRINTERS))
async def read_batch(db: Db, batch_id: FromPath[uuid.UUID]) -> LetterBatchOut:
    batch = await repo.batch(db, batch_id)
    if batch is None:
        raise NotFound("No such letter batch")
    return service.batch_out(batch, await repo.ids_of_batch(db, batch_id))


@get("/letter-batches/{batch_id:uuid}/pdf", opt=allow(*service.PRINTERS), media_type="application/pdf")
async def batch_pdf(request: AuthRequest, db: Db, batch_id: FromPath[uuid.UUID]) -> Stream:
    """Every letter of a done batch, one merged PDF (``application/pdf``) to print and fold; 409
    ``not_ready`` while it runs."""
    batch = await repo.batch(db, batch_id)
    if batch is None:
        raise NotFound("No such letter batch")
    if batch.status != "done":
        raise service.NotReady(f"The batch is {batch.status}; its PDF comes when it is done")
    blobs: Blobs = request.app.state.blobs
    return responses.batch_pdf(blobs, batch)


@post("/letter-batches/{batch_id:uuid}/mailed", opt=allow(*service.PRINTERS), status_code=200)
async def batch_mailed(
    request: AuthRequest, db: Db, batch_id: FromPath[uuid.UUID], data: JSONBody[LetterMailed]
) -> LetterBatchOut:
    """Every ready letter of the batch mailed, each logging its contact attempt."""
    batch = await service.batch_mailed(db, request.user, actor_of(request), batch_id, data.at)
    return service.batch_out(batch, await repo.ids_of_batch(db, batch_id))


router = Router(
    path="/",
    route_handlers=[
        create_letter,
        case_letters,
        read_letter,
        letter_pdf,
        letter_mailed,
        letter_returned,
        clear_address_flag,
        letter_kinds,
        change_letter_kinds,
        create_batch,
        read_batch,
        batch_pdf,
        batch_mailed,
    ],
)
