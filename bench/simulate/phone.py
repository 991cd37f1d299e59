"""One simulated phone: a case manager working her caseload with the reference client.

Each round she does a few things, as on a day of home visits: contact attempts; a visit checked
in with its note, checked out later, the note submitted (and edited again once a supervisor
returns it); notes edited, some from a version she no longer holds (a conflict); addenda to
submitted notes; photos of signed forms registered and sent by tus; the casework (assessments,
referrals to resources and their updates, parent meetings, follow-ups scheduled and moved,
letters asked of the office, a household's phone number); now and then a referral to a resource
the directory no longer has (a rejection). Then she syncs, or stays offline that round and only
queues. Everything goes through ``sync.client.SyncClient`` (its queue in SQLite) over the faulty
network of ``bench.simulate.faults``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import random
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image

from bench.simulate.district import Case, Manager
from bench.simulate.faults import PULL, PUSH, TUS_CREATE, TUS_HEAD, TUS_PATCH, Answer, Faulty, Wire
from bench.simulate.session import Session
from schemas.casework import Factor
from schemas.sync import RecordType
from sync.client import PUSH_PATH, Reply, SyncClient, SyncFailed, TransportError

CHUNK = 4 * 1024
"""tus chunk size: a photo goes in five to ten PATCHes, so cuts land mid-upload."""
TUS = {"Tus-Resumable": "1.0.0"}
UPLOAD_TRIES = 40
STALE = 0.15
"""How often an edit is made from a version older than the one the phone holds."""
OUTCOMES = {
    "phone": ["reached", "no_answer", "left_message", "wrong_contact"],
    "letter": ["letter_sent"],
    "home_visit": ["family_met", "no_one_home", "refused"],
}


def jpeg(rng: random.Random) -> bytes:
    """A small real JPEG (noise, so every one differs): 20 to 40 KB."""
    width = rng.randint(72, 104)
    height = width * 3 // 4
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3)).save(out, "JPEG", quality=95)
    return out.getvalue()


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class Photo:
    case_id: uuid.UUID
    data: bytes
    sha256: str
    location: str | None = None
    sent: bool = False


@dataclass
class Phone:
    manager: Manager
    folder: Path
    wire: Faulty
    clean: Wire
    rng: random.Random
    offline_rate: float
    device_id: uuid.UUID = field(default_factory=uuid.uuid4)
    sent: dict[int, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    open_visits: list[tuple[uuid.UUID, Case, uuid.UUID]] = field(default_factory=list)
    """Visits checked in and not yet out: visit id, case, its note."""
    notes: dict[uuid.UUID, Case] = field(default_factory=dict)
    visits: dict[uuid.UUID, Case] = field(default_factory=dict)
    assessments: dict[uuid.UUID, Case] = field(default_factory=dict)
    referrals: list[uuid.UUID] = field(default_factory=list)
    follow_ups: list[uuid.UUID] = field(default_factory=list)
    photos: dict[uuid.UUID, Photo] = field(default_factory=dict)
    expect: dict[uuid.UUID, int] = field(default_factory=dict)
    """The version a record will have once this phone's queued edits apply (until the next pull)."""
    counts: Counter[str] = field(default_factory=Counter)
    moves: int = 0
    errors: list[str] = field(default_factory=list)
    """What stopped the phone's work (an answer the app could not go on from)."""

    def __post_init__(self) -> None:
        self.session = Session(self.manager.username, self.device_id, self.wire, self.clean)
        self.client = SyncClient(
            self.folder / f"{self.device_id}.sqlite",
            self.device_id,
            self._transport,
            retries=6,
            backoff=0.05,
            max_backoff=1.0,
            batch_size=25,
        )

    async def _transport(self, path: str, body: bytes) -> Reply:
        kind = PUSH if path == PUSH_PATH else PULL
        answer = await self.session.call(kind, "POST", path, {"Content-Type": "application/json"}, body)
        return Reply(answer.status, answer.body)

    # --- what the case manager does ---------------------------------------------------------------

    def enqueue(self, name: str, args: dict[str, Any], base_version: int | None = None) -> None:
        self.sent[self.client.enqueue(name, args, base_version)] = (name, args)
        self.counts[name] += 1

    def held(self, record_type: str, record_id: uuid.UUID) -> tuple[int, dict[str, Any]] | None:
        return self.client.records().get((record_type, record_id))

    def base(self, record_type: str, record_id: uuid.UUID) -> int:
        """The version the edit is made from: what the phone expects after its own queued edits,
        or, now and then, an older one (she edited a copy she had before the last change)."""
        held = self.held(record_type, record_id)
        version = self.expect.get(record_id, held[0] if held else 1)
        if version > 1 and self.rng.random() < STALE:
            return version - 1
        return version

    def edited(self, record_id: uuid.UUID, base: int) -> None:
        self.expect[record_id] = base + 1

    def case(self) -> Case:
        return self.rng.choice(self.manager.cases)

    def fix(self, case: Case) -> dict[str, float]:
        jitter = self.rng.uniform(-0.0004, 0.0004)
        return {"latitude": case.latitude + jitter, "longitude": case.longitude - jitter, "accuracy_m": 15.0}

    def act(self) -> None:
        actions: list[tuple[float, Callable[[], None]]] = [
            (3, self.contact),
            (2, self.check_in),
            (2 if self.open_visits else 0, self.check_out),
            (2 if self.notes else 0, self.edit_note),
            (1 if self.notes else 0, self.addendum),
            (1, self.photo),
            (1, self.assessment),
            (1, self.refer),
            (1 if self.referrals else 0, self.update_referral),
            (0.5, self.meeting),
            (1, self.schedule),
            (1 if self.follow_ups else 0, self.reschedule),
            (0.5, self.letter),
            (0.5, self.household),
            (0.2, self.refer_to_a_removed_resource),
        ]
        weights = [w for w, _ in actions]
        self.rng.choices([a for _, a in actions], weights)[0]()

    def contact(self) -> None:
        method = self.rng.choice(sorted(OUTCOMES))
        args = {"id": str(uuid.uuid4()), "case_id": str(self.case().id), "method": method, "at": _now()}
        self.enqueue("contact_attempt.create", args | {"outcome": self.rng.choice(OUTCOMES[method])})

    def check_in(self) -> None:
        case, visit, note = self.case(), uuid.uuid4(), uuid.uuid4()
        self.enqueue("visit_log.check_in", {"id": str(visit), "case_id": str(case.id), "at": _now()} | self.fix(case))
        body = f"Visited the family at home ({self.rng.randint(1, 9999)}). Talked about the mornings."
        self.enqueue(
            "visit_note.save", {"id": str(note), "case_id": str(case.id), "body": body, "visit_log_id": str(visit)}
        )
        self.expect[note] = 1
        self.open_visits.append((visit, case, note))
        self.visits[visit] = case
        self.notes[note] = case

    def check_out(self) -> None:
        visit, case, note = self.open_visits.pop(self.rng.randrange(len(self.open_visits)))
        outcome = self.rng.choice(["family_met", "no_one_home", "refused"])
        self.enqueue("visit_log.check_out", {"id": str(visit), "at": _now(), "outcome": outcome} | self.fix(case))
        if self.rng.random() < 0.8:
            base = self.base(RecordType.VISIT_NOTE, note)
            self.enqueue("visit_note.submit", {"id": str(note)}, base)
            self.edited(note, base)

    def edit_note(self) -> None:
        """Mostly drafts and returned notes (then submitted again); now and then a submitted or
        approved one, which the server keeps as a conflict."""
        note = self.rng.choice(list(self.notes))
        held = self.held(RecordType.VISIT_NOTE, note)
        status = held[1]["status"] if held else "draft"
        if status in ("submitted", "approved") and self.rng.random() < 0.7:
            return
        base = self.base(RecordType.VISIT_NOTE, note)
        body = f"Edited ({self.rng.randint(1, 99999)}): the family agreed on an alarm and the late bus."
        self.enqueue("visit_note.save", {"id": str(note), "case_id": str(self.notes[note].id), "body": body}, base)
        self.edited(note, base)
        if status == "returned" or self.rng.random() < 0.3:
            base = self.base(RecordType.VISIT_NOTE, note)
            self.enqueue("visit_note.submit", {"id": str(note)}, base)
            self.edited(note, base)

    def addendum(self) -> None:
        submitted = [
            n
            for n in self.notes
            if (held := self.held(RecordType.VISIT_NOTE, n)) and held[1]["status"] in ("submitted", "approved")
        ]
        if submitted:
            body = f"Addendum: the mother called back ({self.rng.randint(1, 9999)})."
            args = {"id": str(uuid.uuid4()), "note_id": str(self.rng.choice(submitted)), "body": body}
            self.enqueue("visit_note.add_addendum", args)

    def photo(self) -> None:
        case, pid = self.case(), uuid.uuid4()
        data = jpeg(self.rng)
        digest = hashlib.sha256(data).hexdigest()
        args: dict[str, Any] = {"id": str(pid), "case_id": str(case.id), "sha256": digest, "size": len(data)}
        args |= {"form_type": self.rng.choice(["consent", "release_of_information", "attendance_contract"])}
        args |= {"content_type": "image/jpeg", "taken_at": _now()}
        on_visit = [v for v, c, _ in self.open_visits if c == case]
        if on_visit:
            args["visit_log_id"] = str(on_visit[0])
        self.enqueue("form_photo.register", args)
        self.photos[pid] = Photo(case.id, data, digest)

    def assessment(self) -> None:
        factors = self.rng.sample(list(Factor), self.rng.randint(1, 3))
        if self.assessments and self.rng.random() < 0.4:
            aid = self.rng.choice(list(self.assessments))
            case = self.assessments[aid]
            base: int | None = self.base(RecordType.ASSESSMENT, aid)
        else:
            aid, case, base = uuid.uuid4(), self.case(), None
            self.assessments[aid] = case
        args = {"id": str(aid), "case_id": str(case.id), "at": _now(), "factors": [f.value for f in factors]}
        args |= {"primary_factor": factors[0].value, "notes": f"Assessed ({self.rng.randint(1, 9999)})"}
        self.enqueue("assessment.save", args, base)
        if base is not None:
            self.edited(aid, base)

    def refer(self) -> None:
        rid = uuid.uuid4()
        args: dict[str, Any] = {"id": str(rid), "case_id": str(self.case().id), "at": _now()}
        resources = [i for (t, i) in self.client.records() if t == RecordType.RESOURCE]
        if resources and self.rng.random() < 0.6:
            args["resource_id"] = str(self.rng.choice(sorted(resources)))
        else:
            args["resource_name"] = "The aunt's neighbour who drives to the school"
        args["factor"] = self.rng.choice(list(Factor)).value
        self.enqueue("service_referral.create", args)
        self.referrals.append(rid)

    def refer_to_a_removed_resource(self) -> None:
        """A resource the phone still lists but the directory no longer has: rejected."""
        args = {"id": str(uuid.uuid4()), "case_id": str(self.case().id), "at": _now()}
        self.enqueue("service_referral.create", args | {"resource_id": str(uuid.uuid4())})

    def update_referral(self) -> None:
        rid = self.rng.choice(self.referrals)
        status = self.rng.choice(["connected", "not_connected", "declined", "made"])
        self.moves += 1
        args = {"id": str(rid), "at": _now(), "status": status, "note": f"Update {self.moves}"}
        base = self.base(RecordType.SERVICE_REFERRAL, rid) if self.rng.random() < 0.7 else None
        self.enqueue("service_referral.update", args, base)
        if base is not None:
            self.edited(rid, base)

    def meeting(self) -> None:
        args: dict[str, Any] = {"id": str(uuid.uuid4()), "case_id": str(self.case().id), "held_at": _now()}
        args |= {"place": self.rng.choice(["home", "school", "phone"]), "attendees": ["Mother", "Student"]}
        args |= {"interpreter": False, "policy_discussed": True, "agreements": "Morning alarm, late bus."}
        self.enqueue("parent_meeting.record", args)

    def schedule(self) -> None:
        fid = uuid.uuid4()
        due = date.today() + timedelta(days=self.rng.randint(3, 20))
        args = {"id": str(fid), "case_id": str(self.case().id), "kind": "home_visit", "title": "Visit again"}
        self.enqueue("follow_up.schedule", args | {"due_on": due.isoformat()})
        self.follow_ups.append(fid)

    def reschedule(self) -> None:
        """Each move to a day no earlier move of any follow-up went to, so every move changes it."""
        fid = self.rng.choice(self.follow_ups)
        self.moves += 1
        due = date.today() + timedelta(days=30 + self.moves)
        args = {"id": str(fid), "due_on": due.isoformat(), "reason": "The family asked for another day"}
        base = self.base(RecordType.FOLLOW_UP, fid)
        self.enqueue("follow_up.reschedule", args, base)
        self.edited(fid, base)

    def letter(self) -> None:
        args: dict[str, Any] = {"id": str(uuid.uuid4()), "case_id": str(self.case().id)}
        if self.rng.random() < 0.5:
            args |= {"kind": "custom", "body": "Please call me about the school bus."}
        else:
            args |= {"kind": "attendance_notice", "note": "Before the meeting"}
        self.enqueue("letter.request", args)

    def household(self) -> None:
        case = self.case()
        base = self.base(RecordType.HOUSEHOLD, case.household_id)
        changes = {"phone": f"203-555-{self.rng.randint(0, 9999):04d}"}
        self.enqueue("household.update", {"id": str(case.household_id), "changes": changes}, base)
        self.edited(case.household_id, base)

    # --- the network's side -----------------------------------------------------------------------

    async def start(self) -> None:
        await self.session.login()
        await self.sync()

    async def work(self, rounds: int) -> None:
        for _ in range(rounds):
            for _ in range(self.rng.randint(2, 6)):
                self.act()
            if self.rng.random() < self.offline_rate:
                self.counts["offline rounds"] += 1
                continue
            await self.session.refresh()
            await self.sync()
            await self.upload_all()
            await asyncio.sleep(self.rng.uniform(0.0, 0.3))

    async def sync(self) -> bool:
        """Push and pull; ``False`` when the network never let it through (the queue waits)."""
        try:
            await self.client.sync()
        except SyncFailed as e:
            if e.code != "unavailable":
                raise
            self.counts["syncs that gave up"] += 1
            return False
        except TransportError:
            self.counts["syncs that gave up"] += 1
            return False
        self.expect.clear()
        return True

    async def settle(self) -> None:
        """The network heals: the late deliveries land, then the phone syncs until its queue is
        empty and every photo is sent, and pulls once more."""
        self.wire.enabled = False
        await self.wire.settle()
        for _ in range(10):
            if await self.sync() and not self.client.pending():
                break
        for _ in range(5):
            await self.upload_all()
            if all(p.sent for p in self.photos.values()):
                break
        await self.sync()

    async def upload_all(self) -> None:
        for pid, photo in self.photos.items():
            if not photo.sent:
                try:
                    await self.upload(pid, photo)
                except UploadRefused as e:
                    photo.sent = True  # nothing to retry: the photo check reports it
                    self.errors.append(str(e))

    async def upload(self, pid: uuid.UUID, photo: Photo) -> None:
        """tus as a phone does it: create once, then PATCH chunk by chunk from the server's offset;
        after a lost answer, a cut or a refusal of the offset, ask ``HEAD`` where to go on from."""
        data = photo.data
        offset: int | None = None
        for attempt in range(UPLOAD_TRIES):
            try:
                if photo.location is None:
                    photo.location = await self._create(pid, len(data))
                    offset = 0
                if offset is None:
                    offset = await self._head(photo)
                    if offset is None:
                        continue
                if offset >= len(data):
                    photo.sent = True
                    self.counts["photos sent"] += 1
                    return
                chunk = data[offset : offset + CHUNK]
                checksum = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
                headers = TUS | {
                    "Upload-Offset": str(offset),
                    "Content-Type": "application/offset+octet-stream",
                    "Upload-Checksum": f"sha256 {checksum}",
                }
                answer = await self.session.call(TUS_PATCH, "PATCH", photo.location, headers, chunk)
            except TransportError:
                offset = None
                await asyncio.sleep(0.05 * min(attempt, 6))
                continue
            if answer.status == 204:
                offset = int(answer.headers["upload-offset"])
            elif answer.status in (409, 423):
                offset = None  # someone else's bytes (a late copy) moved it, or hold the lease
                await asyncio.sleep(0.1)
            elif answer.status in BUSY:
                offset = None
                await _wait(answer)
            else:
                raise UploadRefused(f"PATCH {photo.location}: {answer.status} {answer.body[:200]!r}")
        self.counts["uploads left for later"] += 1

    async def _create(self, pid: uuid.UUID, length: int) -> str:
        meta = "form_photo_id " + base64.b64encode(str(pid).encode()).decode()
        headers = TUS | {"Upload-Length": str(length), "Upload-Metadata": meta}
        answer = await self.session.call(TUS_CREATE, "POST", "/uploads", headers)
        if answer.status in BUSY:
            await _wait(answer)
            raise TransportError(f"POST /uploads: {answer.status}")  # try again
        if answer.status != 201:
            raise UploadRefused(f"POST /uploads: {answer.status} {answer.body[:200]!r}")
        location = answer.headers["location"]
        return "/" + location.split("/", 3)[3] if location.startswith("http") else location

    async def _head(self, photo: Photo) -> int | None:
        assert photo.location is not None
        answer = await self.session.call(TUS_HEAD, "HEAD", photo.location, TUS)
        if answer.status in (404, 410):
            photo.location = None  # expired or gone: start again
            return None
        if answer.status in BUSY:
            await _wait(answer)
        if answer.status != 200:
            return None
        return int(answer.headers["upload-offset"])


BUSY = frozenset({429, 503, 507})
"""Answers that say "later" (``Retry-After``): the server is busy, or its blob store is."""


async def _wait(answer: Answer) -> None:
    """As long as ``Retry-After`` asks, up to 2 s (the run is a compressed day)."""
    try:
        seconds = float(answer.headers.get("retry-after", "1"))
    except ValueError:
        seconds = 1.0
    await asyncio.sleep(min(2.0, max(0.1, seconds)))


class UploadRefused(Exception):
    """The server refused an upload in a way no retry mends."""
