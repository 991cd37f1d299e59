"""A Hypothesis state machine of 3–10 phones syncing against one server, over a faulty network.

Random edits (some stale, some out of scope, some malformed; contacts, household edits, notes
(some linked to a visit) and their addenda, visit check-ins on any case (a case not hers is
applied and flagged) and check-outs (some with a fix), photos of signed forms registered (some on
a visit), follow-ups completed (some from a stale version)), offline periods, dropped, duplicated
and replayed (reordered) requests and responses, crashes before send, after the server's commit
and before the answer is saved, clocks skewed by up to ±72 h, office edits (a household, a
follow-up's title) and case reassignment. After every step: exactly-once, per-client order, no
lost mutation, rejections stored with their data; a record exists (a contact attempt, a visit log,
an addendum, a form photo), is checked out (a visit) or done (a follow-up) iff a mutation that
makes it so was applied; replays are no-ops (each record's version is the number of changes made
to it, whatever was replayed); a visit's flags are each stored once. At quiescence (``settle``,
and at the end of every run): every device holds exactly the server's records for its scope, and
exactly what a full resync from scratch brings.

Reusable over any backend and transport: ``device_machine(new_backend, transport_for)`` where
``new_backend`` is an async factory of ``tests.sync.world.Backend`` (a fresh database) and
``transport_for(backend, principal)`` the device's transport (the engine directly, or HTTP).
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from schemas.sync import PushResponse, RecordType, Status
from sync import flags
from sync.client import SyncClient, SyncFailed, Transport, TransportError
from sync.store import Data, Principal, Ref
from tests.sync.transport import Crash, Network
from tests.sync.world import Backend, World, case_data, follow_up_data, household_data

FAULTS = ["drop_request", "drop_response", "duplicate", "crash_before_send", "crash_after_commit", "crash_before_save"]
NOW = datetime(2025, 3, 4, 12, tzinfo=UTC)


class _Client(SyncClient):
    crash_before_save = False

    def _save_push(self, response: PushResponse) -> None:
        if self.crash_before_save:
            self.crash_before_save = False
            raise Crash("before the answer is saved")
        super()._save_push(response)


class Phone:
    def __init__(self, who: Principal, folder: Path, transport: Transport) -> None:
        self.who, self.path = who, folder / f"{who.client_id}.sqlite"
        self.net = Network(transport)
        self.offline = False
        self.sent: dict[int, tuple[str, Any]] = {}  # every mutation enqueued, by id
        self.notes: list[uuid.UUID] = []
        self.visits: list[uuid.UUID] = []
        self.photos: list[uuid.UUID] = []
        self.client = self._open()

    def _open(self) -> _Client:
        async def no_sleep(_: float) -> None:
            return None

        return _Client(self.path, self.who.client_id, self._send, sleep=no_sleep, retries=3, batch_size=7)

    async def _send(self, path: str, body: bytes) -> Any:
        if self.offline:
            raise TransportError("offline")
        return await self.net(path, body)

    def restart(self) -> None:
        self.client.close()
        self.client = self._open()

    def enqueue(self, name: str, args: Any, base_version: int | None = None) -> None:
        self.sent[self.client.enqueue(name, args, base_version)] = (name, args)


TITLES = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=8)
"""What office staff can retitle a follow-up to: no NUL, no lone surrogate (below)."""


def device_machine(
    new_backend: Callable[[], Awaitable[Backend]], transport_for: Callable[[Backend, Principal], Transport]
) -> type[RuleBasedStateMachine]:
    class Devices(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.loop = asyncio.new_event_loop()
            self.folder = Path(tempfile.mkdtemp(prefix="doorstep-devices-"))
            self.phones: list[Phone] = []
            self.last_seen: dict[uuid.UUID, int] = {}
            self.follow_ups: dict[uuid.UUID, int] = {}  # id → office edits made to it

        def run(self, coro: Awaitable[Any]) -> Any:
            return self.loop.run_until_complete(coro)

        @initialize(owners=st.lists(st.sampled_from(["a", "a", "b", "sup"]), min_size=3, max_size=10))
        def start(self, owners: list[str]) -> None:
            self.backend = self.run(new_backend())
            self.world: World = self.run(World.create(self.backend))
            for case, student in (
                (self.world.c1, self.world.s1),
                (self.world.c2, self.world.s2),
                (self.world.c3, self.world.s3),
            ):
                fid = uuid.uuid4()
                self.run(self.backend.seed.put(Ref(RecordType.FOLLOW_UP, fid), follow_up_data(case, student)))
                self.follow_ups[fid] = 0
            for owner in owners:
                user: Principal = getattr(self.world, owner)
                who = Principal(uuid.uuid4(), user.user_id, user.role)
                self.phones.append(Phone(who, self.folder, transport_for(self.backend, who)))

        def teardown(self) -> None:
            try:
                if self.phones:
                    self.settle()
            finally:
                for phone in self.phones:
                    phone.client.close()
                self.loop.close()
                shutil.rmtree(self.folder, ignore_errors=True)

        # --- edits on a phone ---------------------------------------------------------------------

        @precondition(lambda self: self.phones)
        @rule(data=st.data(), skew=st.integers(-72, 72), case=st.sampled_from(["c1", "c2", "c3", "nowhere"]))
        def contact(self, data: st.DataObject, skew: int, case: str) -> None:
            phone = data.draw(st.sampled_from(self.phones))
            case_id = getattr(self.world, case) if case != "nowhere" else uuid.uuid4()
            at = (NOW + timedelta(hours=skew)).isoformat()
            args = {"id": str(uuid.uuid4()), "case_id": str(case_id), "method": "home_visit", "outcome": "family_met"}
            phone.enqueue("contact_attempt.create", args | {"at": at})

        @precondition(lambda self: self.phones)
        @rule(data=st.data(), household=st.sampled_from(["h1", "h2"]), phone_no=st.text("0123456789", max_size=5))
        def household(self, data: st.DataObject, household: str, phone_no: str) -> None:
            phone = data.draw(st.sampled_from(self.phones))
            hid = getattr(self.world, household)
            held = phone.client.records().get((RecordType.HOUSEHOLD, hid))
            changes = data.draw(st.sampled_from([{"phone": phone_no}, {"alt_phone": None}, {"language": phone_no}]))
            phone.enqueue("household.update", {"id": str(hid), "changes": changes}, held[0] if held else 1)

        @precondition(lambda self: self.phones)
        @rule(data=st.data(), body=st.text(max_size=20), case=st.sampled_from(["c1", "c2", "c3"]))
        def save_note(self, data: st.DataObject, body: str, case: str) -> None:
            phone = data.draw(st.sampled_from(self.phones))
            case_id = getattr(self.world, case)
            known = [n for n in phone.notes if (RecordType.VISIT_NOTE, n) in phone.client.records()]
            edit_one: bool = data.draw(st.booleans())
            if known and edit_one:
                note = data.draw(st.sampled_from(known))
                version, held = phone.client.records()[(RecordType.VISIT_NOTE, note)]
                phone.enqueue("visit_note.save", {"id": str(note), "case_id": held["case_id"], "body": body}, version)
            else:
                note = uuid.uuid4()
                phone.notes.append(note)
                args = {"id": str(note), "case_id": str(case_id), "body": body}
                link: bool = data.draw(st.booleans())
                if link and phone.visits:  # maybe a visit of another case: case_mismatch
                    args["visit_log_id"] = str(data.draw(st.sampled_from(phone.visits)))
                phone.enqueue("visit_note.save", args)

        @precondition(lambda self: any(p.notes for p in self.phones))
        @rule(data=st.data())
        def submit_note(self, data: st.DataObject) -> None:
            phone = data.draw(st.sampled_from([p for p in self.phones if p.notes]))
            note = data.draw(st.sampled_from(phone.notes))
            held = phone.client.records().get((RecordType.VISIT_NOTE, note))
            phone.enqueue("visit_note.submit", {"id": str(note)}, held[0] if held else 1)

        @precondition(lambda self: any(p.notes for p in self.phones))
        @rule(data=st.data(), body=st.text(min_size=1, max_size=20))
        def add_addendum(self, data: st.DataObject, body: str) -> None:
            phone = data.draw(st.sampled_from([p for p in self.phones if p.notes]))
            note = data.draw(st.sampled_from(phone.notes))
            phone.enqueue("visit_note.add_addendum", {"id": str(uuid.uuid4()), "note_id": str(note), "body": body})

        @precondition(lambda self: self.phones)
        @rule(
            data=st.data(),
            skew=st.integers(-72, 72),
            case=st.sampled_from(["c1", "c2", "c3", "nowhere"]),
            fix=st.none() | st.tuples(st.floats(-95, 95), st.floats(-185, 185), st.floats(-5, 600)),
        )
        def check_in(self, data: st.DataObject, skew: int, case: str, fix: tuple[float, float, float] | None) -> None:
            """Some fixes are out of range (malformed); a case not hers is applied and flagged."""
            phone = data.draw(st.sampled_from(self.phones))
            case_id = getattr(self.world, case) if case != "nowhere" else uuid.uuid4()
            visit = uuid.uuid4()
            args: dict[str, Any] = {"id": str(visit), "case_id": str(case_id)}
            args["at"] = (NOW + timedelta(hours=skew)).isoformat()
            if fix is not None:
                args |= {"latitude": fix[0], "longitude": fix[1], "accuracy_m": fix[2]}
            phone.visits.append(visit)
            phone.enqueue("visit_log.check_in", args)

        @precondition(lambda self: any(p.visits for p in self.phones))
        @rule(
            data=st.data(),
            outcome=st.sampled_from(["family_met", "no_one_home", "refused", "moved"]),
            fix=st.none() | st.tuples(st.floats(-95, 95), st.floats(-185, 185), st.floats(-5, 600)),
        )
        def check_out(self, data: st.DataObject, outcome: str, fix: tuple[float, float, float] | None) -> None:
            """Some fixes out of range (malformed); the others are checked against home."""
            phone = data.draw(st.sampled_from([p for p in self.phones if p.visits]))
            visit = data.draw(st.sampled_from(phone.visits))
            at = (NOW + timedelta(hours=73)).isoformat()
            args: dict[str, Any] = {"id": str(visit), "at": at, "outcome": outcome}
            if fix is not None:
                args |= {"latitude": fix[0], "longitude": fix[1], "accuracy_m": fix[2]}
            phone.enqueue("visit_log.check_out", args)

        @precondition(lambda self: self.phones)
        @rule(
            data=st.data(),
            case=st.sampled_from(["c1", "c2", "c3", "nowhere"]),
            form_type=st.sampled_from(["consent", "release_of_information", "attendance_contract", "other", "selfie"]),
            on_a_visit=st.booleans(),
        )
        def register_photo(self, data: st.DataObject, case: str, form_type: str, on_a_visit: bool) -> None:
            """Some on a visit (maybe of another case: case_mismatch), some of an unknown form type."""
            phone = data.draw(st.sampled_from(self.phones))
            case_id = getattr(self.world, case) if case != "nowhere" else uuid.uuid4()
            photo = uuid.uuid4()
            args: dict[str, Any] = {"id": str(photo), "case_id": str(case_id), "form_type": form_type}
            args |= {"sha256": hashlib.sha256(photo.bytes).hexdigest(), "size": 1 + photo.int % 90_000}
            args |= {"content_type": "image/jpeg", "taken_at": NOW.isoformat()}
            if on_a_visit and phone.visits:
                args["visit_log_id"] = str(data.draw(st.sampled_from(phone.visits)))
            phone.photos.append(photo)
            phone.enqueue("form_photo.register", args)

        @precondition(lambda self: self.phones)
        @rule(data=st.data(), from_held=st.booleans(), guess=st.integers(1, 3))
        def complete_follow_up(self, data: st.DataObject, from_held: bool, guess: int) -> None:
            """From the version the phone holds, or a guessed one (stale or ahead: a conflict)."""
            phone = data.draw(st.sampled_from(self.phones))
            fid = data.draw(st.sampled_from(sorted(self.follow_ups)))
            held = phone.client.records().get((RecordType.FOLLOW_UP, fid))
            base = held[0] if held and from_held else guess
            phone.enqueue("follow_up.complete", {"id": str(fid), "at": NOW.isoformat(), "note": "done"}, base)

        @precondition(lambda self: self.phones)
        @rule(
            data=st.data(),
            name=st.sampled_from(
                ["visit_log.check_in", "contact_attempt.create", "form_photo.register", "follow_up.complete"]
            ),
        )
        def malformed(self, data: st.DataObject, name: str) -> None:
            data.draw(st.sampled_from(self.phones)).enqueue(name, {"id": "not a uuid"})

        # --- the network and the phones' lives ----------------------------------------------------

        @precondition(lambda self: self.phones)
        @rule(data=st.data(), faults=st.lists(st.sampled_from(FAULTS), max_size=3))
        def sync(self, data: st.DataObject, faults: list[str]) -> None:
            phone = data.draw(st.sampled_from(self.phones))
            phone.net.faults = [f for f in faults if f != "crash_before_save"]
            phone.client.crash_before_save = "crash_before_save" in faults
            try:
                self.run(phone.client.sync())
            except Crash:
                phone.restart()
            except SyncFailed as e:
                assert e.code == "unavailable", e
            phone.client.crash_before_save = False

        @precondition(lambda self: self.phones)
        @rule(data=st.data())
        def toggle_offline(self, data: st.DataObject) -> None:
            phone = data.draw(st.sampled_from(self.phones))
            phone.offline = not phone.offline

        @precondition(lambda self: any(p.net.delivered for p in self.phones))
        @rule(data=st.data())
        def replay_an_old_request(self, data: st.DataObject) -> None:
            """The network delivers an old request again, after newer ones (reordering)."""
            phone = data.draw(st.sampled_from([p for p in self.phones if p.net.delivered]))
            path, body = data.draw(st.sampled_from(phone.net.delivered))
            reply = self.run(phone.net.inner(path, body))
            assert reply.status == 200, reply

        # --- the office ---------------------------------------------------------------------------

        @precondition(lambda self: self.phones)
        @rule(phone_no=st.text("0123456789", min_size=1, max_size=5))
        def office_edits_household(self, phone_no: str) -> None:
            self.run(self.backend.seed.put(Ref(RecordType.HOUSEHOLD, self.world.h1), household_data(phone_no)))

        @precondition(lambda self: self.phones)
        # Office edits come through the server's own validated routes, which refuse a NUL (and
        # PostgreSQL cannot store one in text) and a lone surrogate (no UTF-8 for it): the seeder
        # writes as they would.
        @rule(data=st.data(), title=TITLES)
        def office_retitles_follow_up(self, data: st.DataObject, title: str) -> None:
            """A stale version for the phones that hold the follow-up."""
            fid = data.draw(st.sampled_from(sorted(self.follow_ups)))
            ref = Ref(RecordType.FOLLOW_UP, fid)
            _, current = self.run(self.backend.seed.snapshot(self.world.office.user_id))[ref]
            self.run(self.backend.seed.put(ref, current | {"title": title}))
            self.follow_ups[fid] += 1

        @precondition(lambda self: self.phones)
        @rule(to=st.sampled_from(["a", "b"]))
        def reassign_c2(self, to: str) -> None:
            owner: Principal = getattr(self.world, to)
            self.run(
                self.backend.seed.put(Ref(RecordType.CASE, self.world.c2), case_data(self.world.s2, owner.user_id))
            )

        # --- what must always hold ----------------------------------------------------------------

        @invariant()
        def exactly_once_in_order_nothing_lost(self) -> None:
            if not self.phones:
                return
            created: set[str] = set()
            visited: set[str] = set()
            made: dict[str, set[str]] = {"visit_log.check_out": set(), "follow_up.complete": set()}
            made |= {"visit_note.add_addendum": set(), "form_photo.register": set()}
            versions: dict[tuple[str, str], set[int | None]] = {}
            for phone in self.phones:
                outcomes = self.run(self.backend.seed.outcomes(phone.who.client_id))
                last = max(outcomes, default=0)
                assert sorted(outcomes) == list(range(1, last + 1)), "each id once, none skipped"
                assert last >= self.last_seen.get(phone.who.client_id, 0), "last_mutation_id never goes back"
                self.last_seen[phone.who.client_id] = last
                assert last <= max(phone.sent, default=0), "nothing the phone did not send"
                pending = phone.client.pending()
                assert all(i > last or i in outcomes for i in pending)
                for i in phone.sent:
                    assert i in outcomes or i in pending, f"mutation {i} lost"
                    mine = phone.client.result(i)
                    if mine is not None:
                        assert (mine.original or mine.status) == outcomes[i].result.status
                for i, outcome in outcomes.items():
                    name, args = phone.sent[i]
                    if outcome.result.status is Status.REJECTED:
                        assert outcome.raw is not None, "a rejection keeps what was sent"
                        raw = msgspec.json.decode(outcome.raw)
                        assert (raw["id"], raw["name"], raw["args"]) == (i, name, msgspec.to_builtins(args))
                    elif name == "contact_attempt.create":
                        created.add(args["id"])
                    elif name == "visit_log.check_in":
                        visited.add(args["id"])
                    if outcome.result.status is Status.APPLIED and name in made:
                        made[name].add(args["id"])
                    if outcome.result.status is Status.APPLIED and name != "follow_up.complete":
                        versions.setdefault((name, args["id"]), set()).add(outcome.result.version)
            everything = self.run(self.backend.seed.snapshot(self.world.office.user_id))
            contacts = {str(ref.id) for ref in everything if ref.type == RecordType.CONTACT_ATTEMPT}
            assert contacts == created, "a contact attempt exists iff its create was applied"
            visits = {str(ref.id) for ref in everything if ref.type == RecordType.VISIT_LOG}
            assert visits == visited, "a visit log exists iff its check-in was applied"
            self._new_records_hold(everything, made, versions)

        def _new_records_hold(
            self,
            everything: dict[Ref, tuple[int, Data]],
            made: dict[str, set[str]],
            versions: dict[tuple[str, str], set[int | None]],
        ) -> None:
            """Nothing lost and replays no-ops, for the field records."""

            def of(kind: str) -> dict[str, tuple[int, Data]]:
                return {str(ref.id): held for ref, held in everything.items() if ref.type == kind}

            visits, photos = of(RecordType.VISIT_LOG), of(RecordType.FORM_PHOTO)
            addenda, follow_ups = of(RecordType.VISIT_NOTE_ADDENDUM), of(RecordType.FOLLOW_UP)
            out = {i for i, (_, d) in visits.items() if d["status"] == "checked_out"}
            assert out == made["visit_log.check_out"], "a visit is checked out iff a check-out was applied"
            assert set(addenda) == made["visit_note.add_addendum"], "an addendum exists iff it was applied"
            assert set(photos) == made["form_photo.register"], "a form photo exists iff its register was applied"
            done = {i for i, (_, d) in follow_ups.items() if d["status"] == "done"}
            assert done == made["follow_up.complete"], "a follow-up is done iff a completion was applied"
            # Replays are no-ops: a record's version counts its changes, whatever was sent again.
            for i, (version, data) in visits.items():
                assert version == (2 if data["status"] == "checked_out" else 1), i
                assert data["flags"] == flags.ordered(data["flags"]), "each flag once, in order"
            assert all(version == 1 for version, _ in [*photos.values(), *addenda.values()])
            for i, (version, data) in follow_ups.items():
                assert version == 1 + self.follow_ups[uuid.UUID(i)] + (data["status"] == "done"), i
            once = {"visit_log.check_in": 1, "visit_log.check_out": 2, "visit_note.add_addendum": 1}
            once["form_photo.register"] = 1
            for (name, record_id), seen in versions.items():
                if name in once:
                    assert seen == {once[name]}, (name, record_id, seen)

        @precondition(lambda self: self.phones)
        @rule()
        def settle(self) -> None:
            """Quiescence: the network heals, every phone syncs, every phone holds the server's records."""
            for phone in self.phones:
                phone.offline, phone.net.faults = False, []
            for _ in range(2):  # a second round brings each phone what the others pushed
                for phone in self.phones:
                    self.run(phone.client.sync())
            for phone in self.phones:
                assert phone.client.pending() == []
                held = {Ref(t, i): v for (t, i), v in phone.client.records().items()}
                assert held == self.run(self.backend.seed.snapshot(phone.who.user_id)), phone.who.role
                anew = Principal(uuid.uuid4(), phone.who.user_id, phone.who.role)
                resync, _ = self.run(self.world.pull_all(anew))
                assert held == resync, "the phone's state is what a full resync brings"

    return Devices
