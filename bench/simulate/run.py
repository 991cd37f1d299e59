"""One simulation: the district, the phones' rounds with the office working beside them, the
settling, and the checks (``simulate``); and the server it runs against when none is given
(``own_server``: an embedded PostgreSQL and a real ``doorstep serve`` in a temporary folder)."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from bench.harness import temporary_postgres
from bench.served import Served
from bench.simulate import checks
from bench.simulate.district import District, make_district
from bench.simulate.faults import FAULTS, Faulty, Wire
from bench.simulate.phone import Phone
from bench.simulate.staff import Desk, create_resources, resolve, supervise
from server import migrate
from server.blobs import Blobs
from server.db import create_engine
from server.settings import Settings


@dataclass(frozen=True)
class Options:
    devices: int = 50
    rounds: int = 8
    cases: int = 4
    seed: int = 1
    faults: tuple[str, ...] = tuple(FAULTS)
    fault_rate: float = 0.25
    """The share of a phone's requests that meet a fault."""
    offline_rate: float = 0.2
    """The share of rounds a phone spends offline, queueing only."""


async def _guarded(who: Phone | Desk, work: Awaitable[None]) -> None:
    """A phone (or a desk) that meets an answer it cannot go on from stops, and the checks say
    so; the others go on."""
    try:
        await work
    except Exception as e:
        who.errors.append(f"{type(e).__name__}: {e}")


async def simulate(
    base_url: str, database_url: str, blobs: Blobs, district: District, o: Options, folder: Path
) -> checks.Report:
    """Run the phones of ``district`` (``make_district``) against the server at ``base_url``."""
    started = time.perf_counter()
    supervisor = Desk(district.supervisor, Wire(base_url))
    office = Desk(district.office, Wire(base_url))
    phones: list[Phone] = []
    for n, manager in enumerate(district.managers):
        wire = Wire(base_url)
        faulty = Faulty(wire, o.faults, o.fault_rate, random.Random(f"{o.seed}-faults-{n}"))
        phones.append(Phone(manager, folder, faulty, wire, random.Random(f"{o.seed}-phone-{n}"), o.offline_rate))
    try:
        await supervisor.login()
        await office.login()
        await create_resources(office)
        await asyncio.gather(*(_guarded(p, p.start()) for p in phones))
        phases = {"logins and first syncs": time.perf_counter() - started}
        stop = asyncio.Event()
        desks = [
            asyncio.create_task(_guarded(supervisor, supervise(supervisor, random.Random(f"{o.seed}-sup"), stop))),
            asyncio.create_task(_guarded(office, resolve(office, random.Random(f"{o.seed}-office"), stop))),
        ]
        await asyncio.gather(*(_guarded(p, p.work(o.rounds)) for p in phones if not p.errors))
        phases["rounds"] = time.perf_counter() - started - sum(phases.values())
        await asyncio.gather(*(p.wire.settle() for p in phones))
        stop.set()
        await asyncio.gather(*desks)
        await asyncio.gather(*(_guarded(p, p.settle()) for p in phones))
        phases["settling"] = time.perf_counter() - started - sum(phases.values())
        report = await _check(phones, [supervisor, office], database_url, blobs, o, folder, started)
        phases["checks"] = time.perf_counter() - started - sum(phases.values())
        report.phases = phases
        return report
    finally:
        for phone in phones:
            phone.client.close()
            await phone.clean.close()
        await supervisor.wire.close()
        await office.wire.close()


async def _check(
    phones: list[Phone], desks: list[Desk], database_url: str, blobs: Blobs, o: Options, folder: Path, started: float
) -> checks.Report:
    engine = create_engine(database_url)
    mutations = checks._Tally("every mutation on the server once, or kept with its reason")
    effects = checks._Tally("what each applied mutation made, there exactly once")
    converged = checks._Tally("phones hold exactly what a fresh full pull brings")
    photos = checks._Tally("photos received, stored bytes match their sha256")
    sessions = checks._Tally("phones never logged out by a fault")
    worked = checks._Tally("phones and staff met no answer they could not go on from")
    outcomes: Counter[str] = Counter()
    try:
        for phone in phones:
            who = phone.manager.username
            server = await checks.server_outcomes(engine, phone.device_id)
            conflicts = await checks.conflict_rows(engine, phone.device_id)
            checks.check_mutations(mutations, phone, server, conflicts, outcomes)
            same, fresh = await checks.converged(phone, folder)
            held = phone.client.records()
            differ = sorted(str(k) for k in held.keys() ^ fresh.keys() | {k for k in held if fresh.get(k) != held[k]})
            converged.check(same, f"{who}: {len(differ)} records differ, e.g. {differ[:2]}")
            checks.check_effects(effects, phone, server, fresh)
            await checks.check_photos(photos, phone, server, fresh, blobs)
            causes = ", ".join(phone.session.logouts)
            sessions.check(not phone.session.logouts, f"{who}: logged out {len(phone.session.logouts)}x ({causes})")
            worked.check(not phone.errors, f"{who}: {'; '.join(phone.errors)[:300]}")
    finally:
        await engine.dispose()
    for desk in desks:
        worked.check(not desk.errors, f"{desk.username}: {'; '.join(desk.errors)[:300]}")
    wires = [p.clean for p in phones] + [d.wire for d in desks]
    errors: Counter[str] = sum((w.server_errors for w in wires), Counter())
    bugs = {k: v for k, v in errors.items() if not k.startswith(("503 ", "507 "))}
    busy = sum(v for k, v in errors.items() if k not in bugs)
    server_errors = checks.Check(
        "answers that were a server error (5xx but 503, 507)",
        sum(w.answers for w in wires),
        sum(bugs.values()),
        ", ".join([f"{k}: {v}" for k, v in sorted(bugs.items())] + ([f"busy (503/507): {busy}"] if busy else [])),
    )
    applied = ", ".join(f"{k} {v:,}" for k, v in sorted(outcomes.items()))
    found = [
        mutations.done(applied),
        effects.done(),
        converged.done(),
        photos.done(),
        sessions.done(f"{sum(len(p.session.logouts) for p in phones)} logouts"),
        worked.done(),
        server_errors,
    ]
    injected: Counter[str] = Counter()
    injected_in: Counter[str] = Counter()
    activity: Counter[str] = Counter()
    logout_causes: Counter[str] = Counter()
    made: Counter[str] = Counter()
    for phone in phones:
        for (fault, kind), n in phone.wire.injected.items():
            injected[fault] += n
            injected_in[f"{fault} {kind}"] += n
        for key, n in phone.counts.items():
            (made if "." in key else activity)[key] += n
        activity["token refreshes"] += phone.session.refreshes
        logout_causes.update(phone.session.logouts)
    for desk in desks:
        activity.update(desk.counts)
    return checks.Report(
        ok=all(c.failed == 0 for c in found),
        devices=o.devices,
        rounds=o.rounds,
        seed=o.seed,
        faults=list(o.faults),
        seconds=time.perf_counter() - started,
        checks=found,
        outcomes=dict(outcomes),
        mutations=dict(made),
        injected=dict(injected),
        injected_in=dict(injected_in),
        activity=dict(activity),
        logout_causes=dict(logout_causes),
    )


@dataclass(frozen=True)
class Server:
    base_url: str
    database_url: str
    blobs: Blobs
    folder: Path
    """Scratch space for the phones' SQLite files."""
    district: District
    log: Path | None = None
    """The server's log, when the run started the server."""


@contextmanager
def own_server(o: Options, workers: int | None, env: dict[str, str] | None = None) -> Iterator[Server]:
    """An embedded PostgreSQL with the district made in it, then a real ``doorstep serve`` on
    127.0.0.1 (which loads no demo: users exist), all in a temporary folder removed afterwards.
    ``env``: more of the server's settings (``DOORSTEP_…`` variables)."""
    with temporary_postgres() as (server, folder):
        url = server.url("simulate")
        district = asyncio.run(_prepare(server.url(), url, o))
        served = Served(url, folder, "simulate", workers)
        served.env |= env or {}
        with served:
            blobs = Blobs.from_settings(Settings(data_dir=served.folder / "var"))
            scratch = folder / "phones"
            scratch.mkdir()
            yield Server(served.base_url, url, blobs, scratch, district, served.log)


async def _prepare(admin_url: str, url: str, o: Options) -> District:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=None)
    try:
        async with admin.connect() as c:
            await c.execute(text('CREATE DATABASE "simulate"'))
    finally:
        await admin.dispose()
    await migrate.run(url)
    return await make_district(url, o.devices, o.cases)
