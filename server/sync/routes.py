"""``POST /sync/push`` and ``POST /sync/pull``: decode, hand to the sync engine, commit once.

A push is one transaction on the request's session. If another device changed a record the
batch read (``StaleWrite``), or PostgreSQL reports a serialization failure or deadlock, the whole
push is retried from the start in a new transaction (the client's row lock makes that safe);
after three tries the answer is 503 with ``last_mutation_id`` unchanged. A lost connection is
503 at once (``server.db.unavailable``, with ``Retry-After``): whether or not its commit got
through, the phone's retry is applied once, by its mutation ids. A request refused whole
(unreadable envelope, unsupported schema version, another user's device) is answered with a
problem document, and the refusal, with the body as sent, is kept in the audit log.

A pull page that delivers student records adds one audit row per student (``sync.pull.student``,
FERPA's record of access), in one statement; a page without students writes nothing. A page that
delivers visit logs carrying a student's truancy report adds one row per such student
(``sync.pull.truancy``); one that delivers assessments, service referrals or parent meetings adds
one row per case (``sync.pull.casework``).
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any, TypeVar

import msgspec
import structlog
from litestar import Router, post
from sqlalchemy.exc import DBAPIError, IntegrityError

from schemas.auth import Role
from schemas.sync import PullRequest, PullResponse, PushRequest, PushResponse, Put, RecordType
from schemas.text import scrub
from server import audit
from server import db as dbmod
from server.auth.guards import allow
from server.deps import AuthRequest, Db, actor_of
from server.errors import Unavailable
from server.inputs import BODY, SYNC
from server.sync.pg_store import PgStore, StaleWrite
from sync import engine
from sync.engine import SyncError
from sync.store import Principal

T = TypeVar("T")
SYNCING = allow(Role.CASE_MANAGER, Role.SUPERVISOR, Role.OFFICE_STAFF, Role.ADMIN) | {BODY: SYNC}
SYNCING |= {dbmod.NAMES_ITS_WRITER: True}  # the push names each version's mutation; a pull writes none
PUSH_TRIES = 3
KEEP_REFUSED_BYTES = 65_536
RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock
DETERMINISTIC_SQLSTATE_CLASSES = {"22": "invalid_data", "23": "constraint_violation"}
log = structlog.get_logger("doorstep.sync")


def sync_principal(request: AuthRequest) -> Principal:
    user = request.user
    return Principal(client_id=user.device_id, user_id=user.user_id, role=user.role)


_DECODERS: dict[type[Any], msgspec.json.Decoder[Any]] = {
    PushRequest: msgspec.json.Decoder(PushRequest),
    PullRequest: msgspec.json.Decoder(PullRequest),
}


def _decode(body: bytes, kind: type[T]) -> T:
    try:
        decoded: T = _DECODERS[kind].decode(body)
        return decoded
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError: both name the field path
        raise SyncError(400, "malformed", str(exc)) from exc
    except RecursionError as exc:
        raise SyncError(400, "malformed", "JSON nested too deeply") from exc


async def _refused(db: Db, request: AuthRequest, error: SyncError, body: bytes) -> None:
    """Keep a refused request (who, why, and what it said), then let the error answer."""
    await db.rollback()
    audit.record(
        db,
        actor_of(request),
        "sync.refused",
        "sync_client",
        request.user.device_id,
        path=request.url.path,
        code=error.code,
        detail=error.detail[:500],
        body_sha256=hashlib.sha256(body).hexdigest(),
        body=scrub(body[:KEEP_REFUSED_BYTES].decode("utf-8", "replace")),
    )
    await db.commit()


def _sqlstate(exc: Exception) -> str | None:
    code = getattr(getattr(exc, "orig", None), "sqlstate", None) or getattr(exc, "code", None)
    return code if isinstance(code, str) else None


def _retryable(exc: Exception) -> bool:
    return isinstance(exc, StaleWrite | IntegrityError) or _sqlstate(exc) in RETRYABLE_SQLSTATES


def _refusal(exc: Exception) -> str | None:
    """The rejection code for an error the same mutation would meet on every try (bad data, a
    check or foreign-key constraint), or ``None`` for one worth retrying. A unique violation is
    a concurrent insert of the same id, retried like a stale write."""
    code = _sqlstate(exc) or ""
    if code == "23505" or not isinstance(exc, DBAPIError):
        return None
    return DETERMINISTIC_SQLSTATE_CLASSES.get(code[:2])


def _cause(exc: Exception) -> dict[str, Any]:
    orig = getattr(exc, "orig", None) or exc
    return {"sqlstate": _sqlstate(exc), "error": type(orig).__name__, "message": str(orig).splitlines()[0][:300]}


@post("/sync/push", opt=SYNCING, status_code=200)
async def push(request: AuthRequest, db: Db) -> PushResponse:
    body = await request.body()
    principal = sync_principal(request)
    try:
        envelope = _decode(body, PushRequest)
        for attempt in range(1, PUSH_TRIES + 1):
            try:
                response = await engine.push(PgStore(db), principal, envelope)
                await db.commit()
                return response
            except (StaleWrite, DBAPIError) as exc:
                await db.rollback()
                if dbmod.unavailable(exc):
                    raise  # the connection is gone: 503 with Retry-After, the phone pushes again
                if _refusal(exc) is not None:
                    log.warning("sync_push_refused_by_database", **_cause(exc), client_id=str(principal.client_id))
                    response = await _one_by_one(db, principal, envelope)
                    await db.commit()
                    return response
                if not _retryable(exc) or attempt == PUSH_TRIES:
                    log.error("sync_push_unavailable", attempts=attempt, **_cause(exc))
                    raise Unavailable("The push met concurrent changes; retry it") from exc
                log.info("sync_push_retry", attempt=attempt, **_cause(exc))
    except SyncError as error:
        await _refused(db, request, error, body)
        raise
    raise AssertionError("unreachable")


async def _one_by_one(db: Db, principal: Principal, envelope: PushRequest) -> PushResponse:
    """The fallback when the database refused something in a batch for good: each mutation in a
    savepoint of its own; one the database refuses is stored as ``rejected`` with the reason, and
    the queue moves on (so a phone is never stuck behind it)."""
    results = []
    last = 0
    for raw in envelope.mutations:
        single = msgspec.structs.replace(envelope, mutations=[raw])
        try:
            async with db.begin_nested():
                answer = await engine.push(PgStore(db), principal, single)
        except DBAPIError as exc:
            if (code := _refusal(exc)) is None:
                raise
            log.warning("sync_mutation_refused_by_database", **_cause(exc), client_id=str(principal.client_id))
            detail = f"The database refused a value of this mutation: {_cause(exc)['message']}"
            answer = await engine.reject(PgStore(db), principal, single, code, detail)
        results += answer.results
        last = answer.last_mutation_id
        if answer.gap is not None:
            return PushResponse(last_mutation_id=last, results=results, gap=answer.gap)
    return PushResponse(last_mutation_id=last, results=results)


@post("/sync/pull", opt=SYNCING, status_code=200)
async def pull(request: AuthRequest, db: Db) -> PullResponse:
    body = await request.body()
    try:
        response = await engine.pull(PgStore(db), sync_principal(request), _decode(body, PullRequest))
    except SyncError as error:
        await _refused(db, request, error, body)
        raise
    students = [(c.id, c.version) for c in response.changes if type(c) is Put and c.type == RecordType.STUDENT]
    if students:
        await audit.record_students(db, actor_of(request), "sync.pull.student", students)
    _audit_truancy(db, request, response)
    _audit_casework(db, request, response)
    return response


CASEWORK = (RecordType.ASSESSMENT, RecordType.SERVICE_REFERRAL, RecordType.PARENT_MEETING)


def _audit_casework(db: Db, request: AuthRequest, response: PullResponse) -> None:
    """An assessment (why a child misses school: her health, her family, her fears), a referral
    and a meeting are a student's record too: one row per case whose casework a page delivers
    (``sync.pull.casework``), naming the records by type."""
    delivered: dict[uuid.UUID, dict[str, list[str]]] = {}
    for change in response.changes:
        if type(change) is Put and change.type in CASEWORK:
            case_id = uuid.UUID(change.data["case_id"])
            delivered.setdefault(case_id, {}).setdefault(change.type, []).append(str(change.id))
    for case_id, records in delivered.items():
        audit.record(db, actor_of(request), "sync.pull.casework", "case", case_id, records=records)


def _audit_truancy(db: Db, request: AuthRequest, response: PullResponse) -> None:
    """A visit log carries its student's truancy report (the as_of answer, every absence in it),
    which is her record like the report ``GET /students/{id}/truancy`` answers: one row per student
    whose report a page delivers (``sync.pull.truancy``), naming the visit logs."""
    delivered: dict[uuid.UUID, list[str]] = {}
    for change in response.changes:
        if type(change) is Put and change.type == RecordType.VISIT_LOG and change.data.get("truancy"):
            student_id = uuid.UUID(change.data["truancy"]["student_id"])
            delivered.setdefault(student_id, []).append(str(change.id))
    for student_id, visit_logs in delivered.items():
        audit.record(db, actor_of(request), "sync.pull.truancy", "student", student_id, visit_log_ids=visit_logs)


router = Router(path="/", route_handlers=[push, pull])
