"""Conflicts: the conflict queue, the three-way page (base, mine, theirs; a word diff theirs to
mine, and for texts a line diff from the base to each side), and its resolve forms, through the
same service and scope as ``GET /conflicts``, ``GET /conflicts/{id}`` and
``POST /conflicts/{id}/resolve``. Supervisors read their team's; office staff and admins read
everyone's and resolve."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from schemas.auth import Role
from schemas.conflicts import Choice, ConflictStatus, ResolveRequest
from schemas.sync import RecordType
from server.auth import repository as users
from server.conflicts import service
from server.conflicts.diff import TEXT_FIELDS, diff_lines
from server.console.pages import PAGE_SIZE, case_managers, choice, page
from server.console.session import PATH, signed_in
from server.deps import AuthRequest, Db, actor_of
from server.errors import Conflict as ConflictError
from server.errors import InvalidInput, StaleVersion
from server.pagination import decode_cursor, encode_cursor
from server.sync.models import Conflict
from sync.policies import RECORD_TYPES

READERS = (Role.OFFICE_STAFF, Role.SUPERVISOR, Role.ADMIN)
RESOLVERS = (Role.OFFICE_STAFF, Role.ADMIN)
MAX_NOTE = 4000
_NUMBER = re.compile(r"-?\d{1,12}(\.\d{1,15})?")
_FIELD_PATH = re.compile(r"\s*-\s*at\s*`\$\.data\.(\w+)`")

LABELS = {
    "body": "Note text",
    "phone": "Phone",
    "alt_phone": "Other phone",
    "language": "Language",
    "address": "Address",
    "latitude": "Latitude",
    "longitude": "Longitude",
}
NUMERIC = frozenset({"latitude", "longitude"})


@get("/conflicts", opt=signed_in(*READERS))
async def conflict_queue(
    request: AuthRequest,
    db: Db,
    status: FromQuery[str | None] = "open",
    record_type: FromQuery[str | None] = None,
    case_manager_id: FromQuery[str | None] = None,
    cursor: FromQuery[str | None] = None,
) -> Template:
    try:
        author = uuid.UUID(case_manager_id) if case_manager_id else None
    except ValueError as exc:
        raise InvalidInput("case_manager_id is not a case manager") from exc
    after = decode_cursor(cursor) if cursor else None
    rows = await service.page(
        db,
        request.user,
        status=choice(ConflictStatus, status),
        limit=PAGE_SIZE,
        after=after,
        record_type=choice(RecordType, record_type),
        case_manager_id=author,
        actor=actor_of(request),
    )
    items = rows[:PAGE_SIZE]
    chosen = {"status": status or "", "record_type": record_type or "", "case_manager_id": case_manager_id or ""}
    next_url = None
    if len(rows) > PAGE_SIZE:
        last = items[-1]
        next_url = f"{PATH}/conflicts?" + urlencode(chosen | {"cursor": encode_cursor(last.created_at, last.id)})
    return page(
        request,
        "conflicts.html",
        conflicts=items,
        managers=await case_managers(db, request.user),
        names={u.id: u.display_name for u in await users.list_users(db)},
        chosen=chosen,
        statuses=list(ConflictStatus),
        record_types=list(RecordType),
        next_url=next_url,
        paged=bool(cursor),
    )


@dataclass(frozen=True)
class Row:
    """One field of the record, side by side."""

    name: str
    base: Any
    mine: Any
    theirs: Any
    differs: bool
    diff: list[Any] | None


_MISSING = object()


def _side(value: Any, name: str) -> Any:
    return value.get(name, _MISSING) if isinstance(value, dict) else _MISSING


def _shown(value: Any, missing: str) -> dict[str, Any]:
    """A value as the template shows it: whole text, or JSON for anything else; ``missing`` says
    why a side has no such field."""
    if value is _MISSING:
        return {"kind": "missing", "text": missing}
    if value is None:
        return {"kind": "empty", "text": "empty"}
    if isinstance(value, str):
        return {"kind": "text", "text": value}
    return {"kind": "text", "text": msgspec.json.encode(value).decode()}


def _rows(conflict: Conflict, base: Any, diff: dict[str, Any]) -> list[Row]:
    """Every field any side holds, in the record type's order; a field differs when the phone sent
    a value other than the server's."""
    known = RECORD_TYPES[conflict.record_type].fields if conflict.record_type in RECORD_TYPES else ()
    names = list(known)
    for side in (conflict.theirs, conflict.mine, base):
        if isinstance(side, dict):
            names += [k for k in side if k not in names]
    no_base = "unknown" if not isinstance(base, dict) else "not on the record"
    rows = []
    for name in names:
        was, mine, theirs = (_side(s, name) for s in (base, conflict.mine, conflict.theirs))
        if was is _MISSING and mine is _MISSING and theirs is _MISSING:
            continue
        differs = mine is not _MISSING and mine != (None if theirs is _MISSING else theirs)
        shown = _shown(was, no_base), _shown(mine, "not sent"), _shown(theirs, "not on the record")
        rows.append(Row(name, *shown, differs, diff.get(name)))
    return rows


@dataclass(frozen=True)
class LineDiff:
    """A text field, line by line from the base to each side: what the phone changed (``mine``,
    ``None`` when it did not send the field) and what the server's record changed (``theirs``)."""

    name: str
    label: str
    mine: list[Any] | None
    theirs: list[Any] | None


def _text(value: Any) -> str | None:
    """A side's text field as text (missing or null: empty), or ``None`` if it is not text."""
    if value is _MISSING or value is None:
        return ""
    return value if isinstance(value, str) else None


def _line_diffs(conflict: Conflict, base: Any) -> list[LineDiff]:
    """For each text field of the record type (``server.conflicts.diff.TEXT_FIELDS``) that the
    phone sent or the server changed, the line diffs from the base; none without a base."""
    if not isinstance(base, dict):
        return []
    out = []
    for name in TEXT_FIELDS.get(conflict.record_type, ()):
        was = _text(_side(base, name))
        sent, theirs = _side(conflict.mine, name), _text(_side(conflict.theirs, name))
        mine = _text(sent) if sent is not _MISSING else None
        if was is None or (mine is None and (theirs is None or theirs == was)):
            continue
        label = LABELS.get(name, name.replace("_", " ").capitalize())
        mine_diff = diff_lines(was, mine) if mine is not None else None
        theirs_diff = diff_lines(was, theirs) if theirs is not None else None
        out.append(LineDiff(name, label, mine_diff, theirs_diff))
    return out


async def _editable(db: Db, conflict: Conflict) -> list[dict[str, Any]]:
    """The fields a "Resolve with my edit" may set (the service's ``APPLICABLE``), prefilled with
    the phone's value where it sent one, else the record's as it is now: the form is the record as
    it will be, so a field left alone is written with the value it has."""
    if conflict.record_type not in service.APPLICABLE:
        return []
    model, shape = service.APPLICABLE[conflict.record_type]
    record = await db.get(model, conflict.record_id)
    out = []
    for name in shape.__struct_fields__:
        value = _side(conflict.mine, name)
        if value is _MISSING:
            value = getattr(record, name) if record is not None else _side(conflict.theirs, name)
        text = "" if value is _MISSING or value is None else str(value)
        out.append({"name": name, "label": LABELS.get(name, name.replace("_", " ")), "value": text})
    return out


async def _conflict_page(
    request: AuthRequest, db: Db, conflict_id: uuid.UUID, status_code: int = 200, **context: Any
) -> Template:
    row = await service.get(db, request.user, actor_of(request), conflict_id)
    base = (await service.bases(db, [row])).get(row.id)
    detail = service.detail(row, base)
    people = {u.id: u.display_name for u in await users.list_users(db)}
    editable = await _editable(db, row)
    if context.get("edited"):  # a refused edit comes back as it was typed
        editable = [f | {"value": context["edited"].get(f["name"], f["value"])} for f in editable]
    theirs = row.theirs if isinstance(row.theirs, dict) else {}
    may_resolve = request.user.role in RESOLVERS and row.status == ConflictStatus.OPEN
    return page(
        request,
        "conflict.html",
        status_code,
        conflict=row,
        rows=_rows(row, base, detail.diff),
        has_base=isinstance(base, dict),
        line_diffs=_line_diffs(row, base),
        people=people,
        case_id=theirs.get("case_id"),
        may_resolve=may_resolve,
        applicable=row.record_type in service.APPLICABLE,
        editable=editable,
        **({"problem": None, "failed": None, "note_error": None, "field_errors": {}, "note": ""} | context),
    )


@get("/conflicts/{conflict_id:uuid}", opt=signed_in(*READERS))
async def conflict_page(request: AuthRequest, db: Db, conflict_id: FromPath[uuid.UUID]) -> Template:
    return await _conflict_page(request, db, conflict_id)


def _edit_value(name: str, raw: str) -> Any:
    """A typed value as the API would receive it: empty clears the field, a decimal number is a
    number, anything else stays text (and the service's validation names the field)."""
    if raw == "":
        return None
    if name in NUMERIC and _NUMBER.fullmatch(raw.strip()):
        return float(raw)
    return raw


@post("/conflicts/{conflict_id:uuid}/resolve", opt=signed_in(*RESOLVERS), status_code=303)
async def resolve_conflict(request: AuthRequest, db: Db, conflict_id: FromPath[uuid.UUID]) -> Response[Any]:
    """Keep theirs, keep mine, or my edit, as a plain form post: the same service as
    ``POST /conflicts/{id}/resolve``. Done, back to the conflict; refused, the page again with the
    reason, nothing changed."""
    form = await request.form()
    picked, note = str(form.get("choice", "")), str(form.get("note", ""))
    edited = {k.removeprefix("data."): str(v) for k, v in form.items() if k.startswith("data.")}
    again: dict[str, Any] = {"failed": picked, "note": note, "edited": edited}
    try:
        chosen = Choice(picked)
        expected = int(str(form.get("expected_version", "")))
    except ValueError as exc:
        raise InvalidInput("This form is not one the console gave out") from exc
    if any("\x00" in v for v in (note, *edited.values())):
        problem = "A NUL character cannot be stored: remove it and try again. Nothing was changed."
        return await _conflict_page(request, db, conflict_id, 400, problem=problem, **again)
    if not note.strip():
        message = "Write a note: say why you chose this. Nothing was changed."
        return await _conflict_page(request, db, conflict_id, 400, note_error=message, **again)
    data = {k: _edit_value(k, v) for k, v in edited.items()} if chosen is Choice.CUSTOM else None
    try:
        body = msgspec.convert(
            {"choice": chosen.value, "note": note.strip(), "data": data, "expected_version": expected},
            ResolveRequest,
        )
    except msgspec.ValidationError as exc:
        if "$.note" in str(exc):
            message = f"The note is too long: at most {MAX_NOTE} characters. Nothing was changed."
            return await _conflict_page(request, db, conflict_id, 400, note_error=message, **again)
        raise InvalidInput("This form is not one the console gave out") from exc
    try:
        await service.resolve(db, request.user, actor_of(request), conflict_id, body)
    except InvalidInput as exc:
        await db.rollback()
        found = _FIELD_PATH.search(exc.detail)
        reason = _FIELD_PATH.sub("", exc.detail).replace("`", "")
        if found:
            field = found.group(1)
            message = f"{LABELS.get(field, field)}: {reason}. Nothing was changed."
            return await _conflict_page(
                request, db, conflict_id, 400, problem=message, field_errors={field: reason}, **again
            )
        return await _conflict_page(request, db, conflict_id, 400, problem=f"{reason}. Nothing was changed.", **again)
    except StaleVersion:
        await db.rollback()
        current = await service.get(db, request.user, actor_of(request), conflict_id)
        if current.status == ConflictStatus.RESOLVED:
            problem = "This conflict was already resolved, so nothing was changed. Here it is as it is now."
        else:
            problem = "This conflict changed since you opened it, so nothing was changed. Read it again."
        return await _conflict_page(request, db, conflict_id, 409, problem=problem, **again)
    except ConflictError as exc:
        await db.rollback()
        problem = f"{exc.detail.rstrip('.')}. Nothing was changed."
        return await _conflict_page(request, db, conflict_id, 409, problem=problem, **again)
    return Redirect(f"{PATH}/conflicts/{conflict_id}", status_code=303)


HANDLERS = [conflict_queue, conflict_page, resolve_conflict]
