"""``python -m bench devices``: the concurrency curve (issue 20) through a real ``doorstep serve``.

A district shaped like a real one, built with set-based SQL (``doorstep demo load`` had no
``--case-managers`` yet when this was written): every simulated device a case manager of her own
with ``--cases`` cases (households, students, six contact attempts and a visit note each), eight
to a supervisor. The phones run in a process of their own (``bench.fleet``) against
``serve`` with its workers on this machine: levels of N devices doing push-pull cycles with a
think time, and a morning (every device logging in and syncing its caseload within a minute)
measured on its own. Results go to the ``devices`` section of docs/benchmarks.md, with a chart
(docs/benchmarks/devices.png, drawn with Pillow).
"""

# ruff: noqa: E501  (the report table reads best one row a line)
from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import msgspec
import typer
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import text

from bench.fleet import Device, FleetPlan, FleetResult
from bench.harness import DOCS, load_average, machine, pct, temporary_postgres, write_section
from bench.phones import BENCH_PASSWORD
from bench.served import Served
from bench.sync import _create_database, _unit_sql
from server.auth.passwords import hash_password
from server.db import EmbeddedPostgres, create_engine, create_session_factory, session_scope

CHART = DOCS.parent / "benchmarks" / "devices.png"
TEAM = 8


@dataclass
class Level:
    name: str
    devices: int
    sharing: int
    result: FleetResult
    expected_cycles: float
    load: str


def _manager(cases: int) -> Callable[[str], str]:
    return lambda n: f"md5('u' || (({n}) / {cases}))::uuid"


async def _district(server: EmbeddedPostgres, managers: int, cases: int) -> str:
    url = await _create_database(server, "bench_devices")
    engine = create_engine(url)
    factory = create_session_factory(engine)
    password = (await hash_password(BENCH_PASSWORD)).replace("'", "''")
    try:
        async with session_scope(factory) as s:
            await s.execute(
                text(
                    "INSERT INTO user_account (id, username, display_name, role, password_hash) "
                    f"SELECT md5('sup' || k)::uuid, 'dsup' || k, 'Supervisor ' || k, 'supervisor', '{password}' "
                    f"FROM generate_series(0, {(managers - 1) // TEAM}) AS k"
                )
            )
            await s.execute(
                text(
                    "INSERT INTO user_account (id, username, display_name, role, password_hash, supervisor_id) "
                    f"SELECT md5('u' || k)::uuid, 'dcm' || k, 'Case manager ' || k, 'case_manager', '{password}', "
                    f"md5('sup' || (k / {TEAM}))::uuid FROM generate_series(0, {managers - 1}) AS k"
                )
            )
        step = 5000
        for lo in range(0, managers * cases, step):
            async with session_scope(factory) as s:
                for statement in _unit_sql("d", lo, min(lo + step, managers * cases), _manager(cases), 6):
                    await s.execute(text(statement))
        async with engine.connect() as c:
            await (await c.execution_options(isolation_level="AUTOCOMMIT")).execute(text("VACUUM ANALYZE"))
    finally:
        await engine.dispose()
    return url


def _devices(count: int, sharing: int, cases: int) -> list[Device]:
    """``count`` devices, ``sharing`` of them on each case manager's caseload."""
    found = []
    for n in range(count):
        k = n // sharing
        ids = [uuid.UUID(hashlib.md5(f"dc{k * cases + i}".encode()).hexdigest()) for i in range(cases)]
        found.append(Device(f"dcm{k}", uuid.uuid4(), ids))
    return found


def _drive(plan: FleetPlan, stem: Path) -> FleetResult:
    plan_path, result_path = stem.with_suffix(".plan.json"), stem.with_suffix(".result.json")
    plan_path.write_bytes(msgspec.json.encode(plan))
    subprocess.run([sys.executable, "-m", "bench.fleet", str(plan_path), str(result_path)], check=True, timeout=3600)
    return msgspec.json.decode(result_path.read_bytes(), type=FleetResult)


def devices(
    levels: Annotated[str, typer.Option(help="device counts, comma-separated")] = "50,200,500",
    duration: Annotated[float, typer.Option(help="seconds of cycles per level")] = 75.0,
    cases: Annotated[int, typer.Option(help="cases per case manager")] = 25,
    shared: Annotated[int, typer.Option(help="a last line with this many phones per caseload (0: none)")] = 5,
    morning: Annotated[int, typer.Option(help="phones opening the app within a minute (0: none)")] = 500,
    workers: Annotated[int, typer.Option(help="DOORSTEP_WORKERS of the real server")] = 2,
    write: Annotated[bool, typer.Option(help="write docs/benchmarks.md and the chart")] = True,
) -> None:
    """The concurrency curve: N phones in push-pull cycles (think 10 s, 5 contact attempts, an
    incremental pull) against a real `doorstep serve`, and a morning's first syncs."""
    counts = [int(x) for x in levels.split(",") if x.strip()]
    if not counts or min(counts) < 1 or cases < 1 or workers < 1:
        raise typer.BadParameter("levels, cases and workers must be at least 1")
    managers = max([*counts, morning])
    load_before = load_average()
    started = time.perf_counter()
    done: list[Level] = []
    morning_level: Level | None = None
    with temporary_postgres() as (server, folder):
        t = time.perf_counter()
        url = asyncio.run(_district(server, managers, cases))
        built = time.perf_counter() - t
        print(f"district: {managers} case managers x {cases} cases in {built:.1f} s", flush=True)
        lines = [(n, 1) for n in counts] + ([(max(counts), shared)] if shared > 1 else [])
        for n, sharing in lines:
            with Served(url, folder, f"devices-{n}-{sharing}", workers) as served:
                plan = FleetPlan(
                    served.base_url,
                    _devices(n, sharing, cases),
                    spread_seconds=10.0,
                    duration_seconds=duration,
                    signed_in=True,
                )
                result = _drive(plan, folder / f"fleet-{n}-{sharing}")
            level = Level(
                f"{n}" + (f", {sharing} a caseload" if sharing > 1 else ""),
                n,
                sharing,
                result,
                n / 10.0,
                load_average(),
            )
            print(_row(level), flush=True)
            done.append(level)
        if morning:
            with Served(url, folder, "morning", workers) as served:
                plan = FleetPlan(served.base_url, _devices(morning, 1, cases), spread_seconds=60.0, duration_seconds=0)
                result = _drive(plan, folder / "fleet-morning")
            morning_level = Level("morning", morning, 1, result, 0, load_average())
            print(_morning(morning_level), flush=True)
    report = _report(
        done,
        morning_level,
        managers,
        cases,
        workers,
        duration,
        (load_before, load_average()),
        time.perf_counter() - started,
    )
    print(report)
    if write:
        _chart(done, CHART)
        write_section("devices", report)


def _lat(result: FleetResult, kind: str) -> list[float]:
    return [r.seconds for r in result.requests if r.kind == kind and r.status == 200]


def _p(values: list[float]) -> str:
    if not values:
        return "-"
    return "/".join(f"{pct(values, q) * 1000:,.0f}" for q in (0.5, 0.95, 0.99))


def _shed(result: FleetResult) -> list[float]:
    return [r.seconds for r in result.requests if r.status in (503, 429) and r.retry_after]


def _errors(result: FleetResult) -> int:
    return sum(1 for r in result.requests if r.status != 200 and not (r.status in (503, 429) and r.retry_after))


def _steady_cycles(level: Level) -> float:
    return level.result.cycles / max(1e-9, level.result.wall - 10.0)


def _row(level: Level) -> str:
    r = level.result
    shed = _shed(r)
    shed_text = f"{len(shed)} (slowest {max(shed):.2f} s)" if shed else "0"
    return (
        f"| {level.name} | {_steady_cycles(level):.1f} ({level.expected_cycles:.0f}) | {_p(_lat(r, 'push'))} | "
        f"{_p(_lat(r, 'pull'))} | {_p(_lat(r, 'login'))} | {_errors(r)} of {len(r.requests):,} | {shed_text} | "
        f"{r.cpu_seconds / r.wall * 100:.0f}% | {level.load} |"
    )


def _morning(level: Level) -> str:
    r = level.result
    ok = [s for s in r.first_syncs if s.finished >= 0]
    last = max((s.finished for s in ok), default=float("nan"))
    each = [s.finished - s.started for s in ok]
    return (
        f"{len(ok)} of {level.devices} first syncs done, the last {last:.1f} s after the first phone opened the app; "
        f"login + first sync p50/p95/p99 {_p(each)} ms; login {_p(_lat(r, 'login'))} ms; a first-sync page "
        f"{_p(_lat(r, 'initial'))} ms; errors {_errors(r)}; shed {len(_shed(r))}; the phones' CPU "
        f"{r.cpu_seconds / r.wall * 100:.0f}% of a core"
    )


def _report(
    levels: list[Level],
    morning: Level | None,
    managers: int,
    cases: int,
    workers: int,
    duration: float,
    loads: tuple[str, str],
    total: float,
) -> str:
    rows = "\n".join(_row(level) for level in levels)
    top = next((lv for lv in reversed(levels) if lv.sharing == 1), None)
    verdicts = []
    if top is not None:
        r = top.result
        tail = max(pct(_lat(r, "push"), 0.99), pct(_lat(r, "pull"), 0.99)) if _lat(r, "push") else float("inf")
        ok = _errors(r) == 0 and tail <= 1.0
        verdicts.append(
            f"- {top.devices} devices, 0 errors and p99 <= 1 s: **{'PASS' if ok else 'FAIL'}** ({_errors(r)} errors, p99 {tail * 1000:,.0f} ms)."
        )
    if morning is not None:
        syncs = morning.result.first_syncs
        good = [s for s in syncs if s.finished >= 0]
        last = max((s.finished for s in good), default=float("inf"))
        ok = len(good) == morning.devices and _errors(morning.result) == 0 and last <= 60.0 + 5.0
        verdicts.append(
            f"- {morning.devices} first syncs within a minute, 0 errors: **{'PASS' if ok else 'FAIL'}** "
            f"(the last done {last:.1f} s after the first phone started; the phones start over 60 s)."
        )
    slow_shed = max((max(_shed(lv.result), default=0.0) for lv in levels), default=0.0)
    verdicts.append(
        f"- Past the knee a quick 503 with Retry-After, never a 30 s wait: slowest 503 {slow_shed:.2f} s, "
        f"timeouts (status 0) {sum(1 for lv in levels for q in lv.result.requests if q.status == 0)}."
    )
    morning_text = _morning(morning) if morning else "not run"
    return f"""## devices: the concurrency curve through a real `doorstep serve`

`scripts/bench devices` (issue 20), {time.strftime("%Y-%m-%d")}: {machine()}. Load average
before/after: {loads[0]} / {loads[1]} (the run's own load; the machine is shared, and a load
above it is others' work); the whole run took {total:.0f} s. `doorstep serve` with {workers} API workers and
its background worker on this machine, its PostgreSQL embedded (the same 2 cores); the phones in
a process of their own (`bench.fleet`, httpx over TCP, one keep-alive connection each). The
district: {managers} case managers (every device a case manager of her own, eight to a
supervisor), {cases} cases each ({managers * cases:,} households, students and cases, six contact
attempts and a visit note each), built with set-based SQL (`doorstep demo load --case-managers`
was not there yet). Each level: every device is signed in and holds its caseload before the
clock starts (logged in and synced eight at a time, not counted: a working day's phones are
signed in, a refresh token lasts 30 days; the morning below measures the logins); then the
devices start over 10 s and until {duration:.0f} s repeat an exponential think time (mean 10 s), a push of 5
`contact_attempt.create` and an incremental pull. Expected cycles/s: devices / 10 (the think
time). Latencies are of answered requests (ms, at the phone); a 503 (or 429) with Retry-After is
shedding, counted apart, and the phone sends the request again after it; an error is anything
else (no answer within 30 s included). Login rate limit raised for the benchmark (one address).

| devices | cycles/s (expected) | push p50/p95/p99 ms | pull p50/p95/p99 ms | login p50/p95/p99 ms | errors of requests | shed 503s | phones' CPU | load after |
|---|---|---|---|---|---|---|---|---|
{rows}

**A morning** ({morning.devices if morning else 0} phones opening the app within a minute, on its own): {morning_text}.

![the concurrency curve](benchmarks/devices.png)

Targets:

{chr(10).join(verdicts)}
"""


def _chart(levels: list[Level], out: Path) -> None:
    """Two panels: cycles/s against expected, and push/pull p50/p99 by devices (log scale)."""
    import math

    lines = [lv for lv in levels if lv.sharing == 1]
    if not lines:
        return
    w, h, pad = 1000, 420, 60
    image = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    xs = [lv.devices for lv in lines]
    xmax = max(xs) * 1.1

    def panel(
        left: int, title: str, series: list[tuple[str, str, list[float]]], ymax: float, ylog: bool, unit: str
    ) -> None:
        x0, x1, y0, y1 = left + pad, left + w // 2 - 20, h - pad, 40
        draw.text((x0, 12), title, fill="black", font=font)
        draw.line([(x0, y0), (x1, y0)], fill="black")
        draw.line([(x0, y0), (x0, y1)], fill="black")

        def px(x: float) -> float:
            return x0 + (x1 - x0) * x / xmax

        def py(y: float) -> float:
            if ylog:
                lo, hi = math.log10(5), math.log10(ymax)
                f = (math.log10(max(y, 5)) - lo) / (hi - lo)
            else:
                f = y / ymax
            return y0 - (y0 - y1) * f

        for x in xs:
            draw.line([(px(x), y0), (px(x), y0 + 4)], fill="black")
            draw.text((px(x) - 10, y0 + 8), str(x), fill="black", font=font)
        draw.text(((x0 + x1) / 2 - 20, y0 + 24), "devices", fill="black", font=font)
        ticks = [10, 100, 1000, 10000] if ylog else [ymax * k / 4 for k in range(5)]
        for t in ticks:
            if t > ymax:
                continue
            draw.line([(x0 - 4, py(t)), (x1, py(t))], fill=(225, 225, 225))
            draw.text((x0 - 50, py(t) - 6), f"{t:,.0f}{unit}", fill="black", font=font)
        for k, (label, colour, ys) in enumerate(series):
            points = [(px(x), py(y)) for x, y in zip(xs, ys, strict=True)]
            if len(points) > 1:
                draw.line(points, fill=colour, width=3)
            for p in points:
                draw.ellipse([p[0] - 4, p[1] - 4, p[0] + 4, p[1] + 4], fill=colour)
            draw.line([(x0 + 10, y1 + 8 + 16 * k), (x0 + 30, y1 + 8 + 16 * k)], fill=colour, width=3)
            draw.text((x0 + 36, y1 + 2 + 16 * k), label, fill="black", font=font)

    cycles = [_steady_cycles(lv) for lv in lines]
    expected = [lv.expected_cycles for lv in lines]
    panel(
        0,
        "cycles/s: measured and expected (devices / 10 s)",
        [("measured", "#1f77b4", cycles), ("expected", "#999999", expected)],
        max(expected + cycles) * 1.15,
        False,
        "",
    )

    def q(kind: str, quantile: float) -> list[float]:
        return [pct(_lat(lv.result, kind), quantile) * 1000 if _lat(lv.result, kind) else 0.0 for lv in lines]

    series = [
        ("push p50", "#2ca02c", q("push", 0.5)),
        ("push p99", "#98df8a", q("push", 0.99)),
        ("pull p50", "#d62728", q("pull", 0.5)),
        ("pull p99", "#ff9896", q("pull", 0.99)),
    ]
    top = max(max(s[2]) for s in series)
    panel(w // 2, "latency at the phone, ms (log scale; target p99 <= 1,000)", series, max(2000.0, top * 1.5), True, "")
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out, optimize=True)
