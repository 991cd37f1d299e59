"""What must hold once the network healed and every phone settled, checked against the server's
own tables and a fresh pull, and the table that says so.

1. **Mutations**: each phone's mutations are on the server (``sync_mutation``) exactly once, ids
   1..n with none missing and none extra, with the outcome the phone stored; a rejection keeps its
   reason (``error.code``), a conflict its row in ``conflict``.
2. **Effects**: what each applied mutation makes is there exactly as often as it was applied: a
   record for every applied create (contact attempts, visits, notes, addenda, photos, assessments,
   referrals, meetings, follow-ups, letters) and none other; a visit checked out iff a check-out
   applied; a referral's ``updates`` and a follow-up's ``rescheduled`` one entry per update or
   move that applied (a replay that applied twice would show here).
3. **Convergence**: each phone holds exactly what a full pull from no cursor brings.
4. **Photos**: each registered photo was received, and the stored file's bytes hash to the sha256
   the phone registered (read back from the blob store).
5. **Sessions**: no phone was logged out by a fault.
6. **Server errors**: no answer was a 500 (a 503 with ``Retry-After`` is allowed).
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
from rich.console import Console
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.simulate.faults import PULL, Request
from bench.simulate.phone import Phone
from bench.simulate.session import JSON
from schemas.sync import MutationResult, RecordType, Status
from server.blobs import Blobs
from sync.client import Reply, SyncClient

EXAMPLES = 5
CREATES = {
    "contact_attempt.create": RecordType.CONTACT_ATTEMPT,
    "visit_log.check_in": RecordType.VISIT_LOG,
    "visit_note.save": RecordType.VISIT_NOTE,
    "visit_note.add_addendum": RecordType.VISIT_NOTE_ADDENDUM,
    "form_photo.register": RecordType.FORM_PHOTO,
    "assessment.save": RecordType.ASSESSMENT,
    "service_referral.create": RecordType.SERVICE_REFERRAL,
    "parent_meeting.record": RecordType.PARENT_MEETING,
    "follow_up.schedule": RecordType.FOLLOW_UP,
    "letter.request": RecordType.LETTER,
}
"""Each mutation that makes a record (the first applied save of a note or an assessment makes it)."""

Records = dict[tuple[str, uuid.UUID], tuple[int, dict[str, Any]]]


class Check(msgspec.Struct):
    name: str
    checked: int
    failed: int
    detail: str = ""
    examples: list[str] = msgspec.field(default_factory=list)


class Report(msgspec.Struct):
    ok: bool
    devices: int
    rounds: int
    seed: int
    faults: list[str]
    seconds: float
    checks: list[Check]
    outcomes: dict[str, int]
    """The server's outcome of every mutation, by status."""
    mutations: dict[str, int]
    """Mutations made, by name."""
    injected: dict[str, int]
    """Faults injected, by fault."""
    injected_in: dict[str, int]
    """Faults injected, by ``fault kind-of-request``."""
    activity: dict[str, int]
    """What else happened: offline rounds, photos sent, refreshes, supervisor decisions, resolutions."""
    logout_causes: dict[str, int]
    phases: dict[str, float] = {}
    """Seconds spent in each phase of the run."""


class _Tally:
    def __init__(self, name: str) -> None:
        self.name, self.checked = name, 0
        self.failures: list[str] = []

    def check(self, ok: bool, what: str) -> None:
        self.checked += 1
        if not ok:
            self.failures.append(what)

    def done(self, detail: str = "") -> Check:
        return Check(self.name, self.checked, len(self.failures), detail, self.failures[:EXAMPLES])


async def server_outcomes(engine: AsyncEngine, client_id: uuid.UUID) -> dict[int, tuple[str, MutationResult]]:
    async with engine.connect() as c:
        rows = await c.execute(
            text("SELECT mutation_id, name, result::text FROM sync_mutation WHERE client_id = :c"), {"c": client_id}
        )
        return {int(i): (str(n), msgspec.json.decode(r, type=MutationResult)) for i, n, r in rows}


async def conflict_rows(engine: AsyncEngine, client_id: uuid.UUID) -> dict[uuid.UUID, int | None]:
    async with engine.connect() as c:
        rows = await c.execute(text("SELECT id, mutation_id FROM conflict WHERE client_id = :c"), {"c": client_id})
        return {uuid.UUID(str(i)): m for i, m in rows}


async def fresh_pull(phone: Phone, folder: Path) -> Records:
    """Every record of the phone's scope, as a full pull from no cursor brings them (the phone's
    own token, a clean network, a new local store)."""

    async def send(path: str, body: bytes) -> Reply:
        answer = await phone.clean(Request(PULL, "POST", path, JSON | phone.session.bearer(), body))
        return Reply(answer.status, answer.body)

    path = folder / f"fresh-{phone.device_id}-{uuid.uuid4().hex[:6]}.sqlite"
    client = SyncClient(path, phone.device_id, send, backoff=0.1)
    try:
        await client.pull()
        return client.records()
    finally:
        client.close()
        path.unlink(missing_ok=True)


async def converged(phone: Phone, folder: Path) -> tuple[bool, Records]:
    """The phone's records against a fresh pull; tried again a few times, since the server's
    background jobs may change a record between the two pulls."""
    fresh: Records = {}
    for _ in range(3):
        await phone.client.pull()
        fresh = await fresh_pull(phone, folder)
        if phone.client.records() == fresh:
            return True, fresh
    return False, fresh


def _status(result: MutationResult | None) -> str | None:
    return None if result is None else str(result.original or result.status)


def check_mutations(
    tally: _Tally,
    phone: Phone,
    server: dict[int, tuple[str, MutationResult]],
    conflicts: dict[uuid.UUID, int | None],
    outcomes: Counter[str],
) -> None:
    who = phone.manager.username
    for i in sorted(set(phone.sent) | set(server)):
        if i not in server:
            tally.check(False, f"{who} #{i} {phone.sent[i][0]}: not on the server (lost)")
            continue
        if i not in phone.sent:
            tally.check(False, f"{who} #{i}: on the server, never sent")
            continue
        name, result = server[i]
        status = _status(result)
        outcomes[str(status)] += 1
        mine = _status(phone.client.result(i))
        if mine is None:
            tally.check(False, f"{who} #{i} {name}: the phone never got its outcome")
        elif name != phone.sent[i][0] or mine != status:
            tally.check(False, f"{who} #{i}: phone says {phone.sent[i][0]} {mine}, server {name} {status}")
        elif status == Status.REJECTED:
            tally.check(bool(result.error and result.error.code), f"{who} #{i} {name}: rejected with no reason")
        elif status == Status.CONFLICT:
            ok = result.conflict_id is not None and conflicts.get(result.conflict_id) == i
            tally.check(ok, f"{who} #{i} {name}: conflict {result.conflict_id} has no row of its own")
        else:
            tally.check(True, "")


def check_effects(tally: _Tally, phone: Phone, server: dict[int, tuple[str, MutationResult]], fresh: Records) -> None:
    who = phone.manager.username
    applied: dict[str, set[str]] = {t: set() for t in CREATES.values()}
    checked_out: set[str] = set()
    updates: Counter[str] = Counter()
    moves: Counter[str] = Counter()
    for i, (name, args) in phone.sent.items():
        status = _status(server[i][1]) if i in server else None
        if name in CREATES and status == Status.APPLIED:
            applied[CREATES[name]].add(args["id"])
        elif name == "visit_log.check_out" and status == Status.APPLIED:
            checked_out.add(args["id"])
        elif name == "service_referral.update" and status in (Status.APPLIED, Status.CONFLICT):
            updates[args["id"]] += 1  # field last-writer-wins: a stale update applies too
        elif name == "follow_up.reschedule" and status == Status.APPLIED:
            moves[args["id"]] += 1
    held: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in CREATES.values()}
    for (record_type, record_id), (_, data) in fresh.items():
        if record_type in held:
            held[record_type][str(record_id)] = data
    for record_type, made in applied.items():
        there = set(held[record_type])
        for missing in sorted(made - there):
            tally.check(False, f"{who}: {record_type} {missing} applied, not on the server")
        for extra in sorted(there - made):
            tally.check(False, f"{who}: {record_type} {extra} on the server, never applied")
        for _ in made & there:
            tally.check(True, "")
    for visit, data in held[RecordType.VISIT_LOG].items():
        out = data["status"] == "checked_out"
        tally.check(out == (visit in checked_out), f"{who}: visit {visit} checked out {out}, check-outs applied")
    for referral, data in held[RecordType.SERVICE_REFERRAL].items():
        n = len(data.get("updates") or [])
        tally.check(n == updates[referral], f"{who}: referral {referral} has {n} updates, {updates[referral]} applied")
    for follow_up, data in held[RecordType.FOLLOW_UP].items():
        n = len(data.get("rescheduled") or [])
        tally.check(n == moves[follow_up], f"{who}: follow-up {follow_up} moved {n} times, {moves[follow_up]} applied")


async def check_photos(
    tally: _Tally, phone: Phone, server: dict[int, tuple[str, MutationResult]], fresh: Records, blobs: Blobs
) -> None:
    registered = {
        args["id"]
        for i, (name, args) in phone.sent.items()
        if name == "form_photo.register" and i in server and _status(server[i][1]) == Status.APPLIED
    }
    for pid, photo in phone.photos.items():
        if str(pid) not in registered:
            continue
        what = f"{phone.manager.username}: photo {pid}"
        record = fresh.get((RecordType.FORM_PHOTO, pid))
        if record is None or record[1]["upload_status"] != "received" or record[1]["sha256"] != photo.sha256:
            state = record[1]["upload_status"] if record else "missing"
            tally.check(False, f"{what} is {state} ({record[1].get('upload_error') if record else ''})")
            continue
        stored = b"".join([chunk async for chunk in blobs.stream(f"blobs/{photo.sha256}")])
        ok = hashlib.sha256(stored).hexdigest() == photo.sha256 and stored == photo.data
        tally.check(ok, f"{what}: the stored file's bytes are not what the phone sent")


def print_report(report: Report, console: Console) -> None:
    checks = Table(title=f"Doorstep simulation: {report.devices} phones, {report.rounds} rounds, seed {report.seed}")
    for column in ("check", "checked", "failed", "detail"):
        checks.add_column(column, justify="right" if column in ("checked", "failed") else "left")
    for c in report.checks:
        checks.add_row(c.name, f"{c.checked:,}", f"[red]{c.failed:,}[/]" if c.failed else "0", c.detail)
    console.print(checks)
    for c in report.checks:
        for example in c.examples:
            console.print(f"  [red]{c.name}[/]: {example}")
    totals = Table(title="What happened")
    totals.add_column("what")
    totals.add_column("count", justify="right")
    for label, values in (
        ("outcome", report.outcomes),
        ("fault", report.injected),
        ("", report.activity),
        ("logout after", report.logout_causes),
    ):
        for key, value in sorted(values.items()):
            totals.add_row(f"{label} {key}".strip(), f"{value:,}")
    totals.add_row("mutations made", f"{sum(report.mutations.values()):,}")
    for phase, seconds in report.phases.items():
        totals.add_row(f"seconds: {phase}", f"{seconds:.1f}")
    totals.add_row("seconds", f"{report.seconds:.1f}")
    console.print(totals)
    console.print("[green]Nothing lost.[/]" if report.ok else "[red]LOSS: see the failed checks above.[/]")
