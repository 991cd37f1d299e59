"""The ``doorstep`` command: serve, migrate, users, devices, demo data, the audit export."""

from __future__ import annotations

import asyncio
import csv
import getpass
import json
import os
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, TextIO, TypeVar

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import Role
from schemas.imports import ImportMode, ImportResult
from schemas.letters import LetterKind
from server import audit, clock, demo, jobs, migrate, queue
from server.audit import Actor
from server.auth import repository as repo
from server.auth import service as auth
from server.auth.models import User
from server.blobs import Blobs
from server.db import EmbeddedPostgres, create_engine, create_session_factory, session_scope
from server.errors import DoorstepError, NotFound
from server.letters.models import LetterBatch
from server.rules.jobs import enqueue_evaluation
from server.settings import Settings

T = TypeVar("T")

app = typer.Typer(
    help="Doorstep: the backend for truancy-prevention field casework.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
device_app = typer.Typer(help="Manage devices.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(device_app, name="device")
app.add_typer(demo_app, name="demo")
roster_app = typer.Typer(help="Student rosters.", no_args_is_help=True)
calendar_app = typer.Typer(help="School calendars.", no_args_is_help=True)
attendance_app = typer.Typer(help="Daily attendance.", no_args_is_help=True)
rules_app = typer.Typer(help="The truancy rules engine.", no_args_is_help=True)
app.add_typer(roster_app, name="roster")
app.add_typer(calendar_app, name="calendar")
app.add_typer(attendance_app, name="attendance")
app.add_typer(rules_app, name="rules")
resources_app = typer.Typer(help="The district's directory of community resources.", no_args_is_help=True)
app.add_typer(resources_app, name="resources")
letters_app = typer.Typer(help="Family letters (docs/letters.md).", no_args_is_help=True)
app.add_typer(letters_app, name="letters")
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
console = Console()
err_console = Console(stderr=True)
CLI_ACTOR = Actor(user_id=None, role="cli", request_id="cli")


def _database(settings: Settings) -> str:
    """The server's URL; with no DATABASE_URL, start (or join) the embedded server in the data dir."""
    if settings.database_url:
        return settings.database_url
    return EmbeddedPostgres(settings.data_dir / "pgdata").url()


def _via() -> str:
    """The writer a command names in the versions it keeps, e.g. ``cli doorstep rules evaluate``."""
    context = click.get_current_context(silent=True)
    return f"cli {context.command_path}" if context is not None else "cli"


def _with_session(fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``fn`` in one committed unit of work against the configured database."""
    settings = Settings.from_env()
    url = _database(settings)

    async def main() -> T:
        engine = create_engine(url)
        try:
            async with session_scope(create_session_factory(engine), via=_via()) as session:
                return await fn(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except DoorstepError as exc:
        console.print(f"[red]error:[/red] {escape(exc.detail)}")
        raise typer.Exit(1) from exc


def _progress(on: Console = console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=on,
    )


@app.command("migrate")
def migrate_cmd() -> None:
    """Apply all database migrations."""
    url = _database(Settings.from_env())
    asyncio.run(migrate.run(url))
    console.print("database is at the latest migration")


def _load_demo(
    session: AsyncSession, settings: Settings, today: date | None = None, case_managers: int = demo.CASE_MANAGERS
) -> Awaitable[demo.DemoResult]:
    async def run() -> demo.DemoResult:
        with _progress() as bar:
            tasks: dict[str, Any] = {}

            def progress(step: str, done: int, total: int) -> None:
                if step not in tasks:
                    tasks[step] = bar.add_task(f"demo {step}", total=total)
                bar.update(tasks[step], completed=done, total=total)

            password = demo.demo_password(settings.demo_password)
            day = today or clock.today(settings)  # the district's day, not the server's
            blobs = Blobs.from_settings(settings)
            return await demo.load(session, password, progress, today=day, blobs=blobs, case_managers=case_managers)

    return run()


def _announce_demo(result: demo.DemoResult, settings: Settings) -> None:
    if result.cases:
        console.print(f"opened {result.cases} demo cases")
    if result.photos:
        console.print(f"added {result.photos} photos of signed forms")
    if result.visits:
        console.print(f"logged {result.visits} demo home visits")
    if result.casework.resources:
        console.print(f"added {result.casework.resources} community resources to the directory")
    if result.casework.assessments:
        work = result.casework
        console.print(
            f"recorded the casework: {work.assessments} assessments, {work.referrals} referrals to resources, "
            f"{work.meetings} parent meetings, {work.follow_ups} follow-ups"
        )
    if result.created == 0:
        console.print("demo users already loaded")
        return
    console.print(f"created {result.created} demo users ({demo.describe_users(result.users)})")
    if result.students:
        through = f", attendance through {result.through}" if result.through else ""
        console.print(f"created the demo district: {result.students} students, school year {result.year}{through}")
    if settings.demo_password is None and result.password is not None:
        console.rule("demo password: shown once")
        console.print(f"  [bold]{result.password}[/bold]")
        console.print("  (set DOORSTEP_DEMO_PASSWORD to choose it; `doorstep user password NAME` resets one)")
        console.rule()


@demo_app.command("load")
def demo_load(
    today: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            help="The day to load the demo as of (default: today): its school year, attendance up to it",
        ),
    ] = None,
    case_managers: Annotated[
        int,
        typer.Option(
            min=demo.CASE_MANAGERS,
            help="Case managers, each with about 25 open cases; a supervisor for every 8, about 60 students each "
            "(the first load decides the district's size)",
        ),
    ] = demo.CASE_MANAGERS,
) -> None:
    """Load the demo district (idempotent): the school year containing today, live."""
    settings = Settings.from_env()
    day = today.date() if today else None
    result = _with_session(lambda s: _load_demo(s, settings, day, case_managers))
    _announce_demo(result, settings)


@user_app.command("create")
def user_create(
    username: str,
    role: Annotated[Role, typer.Option(help="The user's role")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    display_name: Annotated[str, typer.Option()] = "",
    supervisor: Annotated[str | None, typer.Option(help="Supervisor's username (case managers)")] = None,
) -> None:
    """Create a user."""

    async def run(session: AsyncSession) -> User:
        return await auth.create_user(
            session,
            CLI_ACTOR,
            username=username,
            password=password,
            role=role,
            display_name=display_name,
            supervisor_username=supervisor,
        )

    user = _with_session(run)
    console.print(f"created {user.username} ({user.role}) {user.id}")


@user_app.command("list")
def user_list(role: Annotated[Role | None, typer.Option()] = None) -> None:
    """List users."""

    async def run(session: AsyncSession) -> list[tuple[User, str]]:
        users = await repo.list_users(session, role.value if role else None)
        names = {u.id: u.username for u in (await session.scalars(select(User))).all()}
        return [(u, names.get(u.supervisor_id, "") if u.supervisor_id else "") for u in users]

    table = Table("username", "role", "display name", "supervisor", "disabled", "id")
    for user, sup in _with_session(run):
        table.add_row(user.username, user.role, user.display_name, sup, "yes" if user.disabled_at else "", str(user.id))
    console.print(table)


@user_app.command("disable")
def user_disable(username: str) -> None:
    """Disable a user: their tokens stop working at once."""
    _with_session(lambda s: auth.disable_user(s, CLI_ACTOR, username))
    console.print(f"disabled {username}")


@user_app.command("password")
def user_password(
    username: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
) -> None:
    """Set a user's password."""
    _with_session(lambda s: auth.set_password(s, CLI_ACTOR, username, password))
    console.print(f"password set for {username}")


@device_app.command("list")
def device_list() -> None:
    """List devices and whom they belong to."""

    async def run(session: AsyncSession) -> list[tuple[Any, str]]:
        names = {u.id: u.username for u in await repo.list_users(session)}
        return [(d, names.get(d.user_id, "?")) for d in await repo.list_devices(session)]

    table = Table("id", "user", "name", "platform", "app", "last seen", "revoked")
    for d, username in _with_session(run):
        table.add_row(
            str(d.id),
            username,
            d.name,
            d.platform,
            d.app_version,
            d.last_seen_at.isoformat(timespec="seconds") if d.last_seen_at else "",
            d.revoked_at.isoformat(timespec="seconds") if d.revoked_at else "",
        )
    console.print(table)


@device_app.command("revoke")
def device_revoke(device_id: uuid.UUID) -> None:
    """Revoke a device: its next request gets `device_revoked` and the app wipes its data."""
    _with_session(lambda s: auth.revoke_device(s, replace(CLI_ACTOR, role="admin"), device_id))
    console.print(f"revoked {device_id}")


ImportFn = Callable[..., Awaitable[ImportResult]]


def _import_file(kind: str, fn: ImportFn, path: Path, mode: ImportMode, *, evaluate: bool = True) -> None:
    """Read the file with a progress bar, apply it in one transaction, queue a re-evaluation
    (``evaluate``: the file holds school data the truancy rules read)."""
    with path.open("rb") as counting:
        total = max(sum(1 for _ in counting) - 1, 0)

    async def run(session: AsyncSession) -> ImportResult:
        with _progress() as bar, path.open(newline="", encoding="utf-8-sig") as lines:
            tasks: dict[str, Any] = {}

            def progress(step: str, done: int, of: int) -> None:
                if step not in tasks:
                    tasks[step] = bar.add_task(f"{kind} {step}", total=of)
                bar.update(tasks[step], completed=done, total=of)

            result = await fn(
                session, CLI_ACTOR, lines, mode=mode, source_name=path.name, progress=progress, total_rows=total
            )
        if evaluate and result.applied and (result.inserted or result.updated or result.deleted):
            result.evaluation_queued = await enqueue_evaluation(session)
        return result

    result = _with_session(run)
    for bad in result.bad_rows[:50]:
        console.print(f"  line {bad.line}: {escape(bad.reason)}")
    if len(result.bad_rows) > 50:
        console.print(f"  ... and {len(result.bad_rows) - 50} more bad rows")
    if not result.applied:
        console.print(f"[red]rejected:[/red] {result.rejected} bad row(s); nothing imported (use --mode good_rows)")
        raise typer.Exit(1)
    console.print(
        f"{kind}: {result.rows} rows, {result.inserted} inserted, {result.updated} updated, "
        f"{result.deleted} deleted, {result.unchanged} unchanged, {result.rejected} rejected"
        + ("; re-evaluation queued" if result.evaluation_queued else "")
    )


ModeOption = Annotated[ImportMode, typer.Option(help="all_or_nothing, or good_rows to apply the good rows")]


@roster_app.command("import")
def roster_import(file: Path, mode: ModeOption = ImportMode.ALL_OR_NOTHING) -> None:
    """Import students, households, guardians and enrollments from a CSV file (docs/imports.md)."""
    from server.rosters.imports import import_roster

    _import_file("roster", import_roster, file, mode)


@calendar_app.command("import")
def calendar_import(file: Path, mode: ModeOption = ImportMode.ALL_OR_NOTHING) -> None:
    """Import instructional days from a CSV file (docs/imports.md)."""
    from server.schools.calendar import import_calendar

    _import_file("calendar", import_calendar, file, mode)


@attendance_app.command("import")
def attendance_import(file: Path, mode: ModeOption = ImportMode.ALL_OR_NOTHING) -> None:
    """Import daily attendance from a CSV file (docs/imports.md)."""
    from server.attendance.imports import import_attendance

    _import_file("attendance", import_attendance, file, mode)


@resources_app.command("import")
def resources_import(file: Path, mode: ModeOption = ImportMode.ALL_OR_NOTHING) -> None:
    """Add and update the directory's resources from a CSV file (docs/imports.md)."""
    from server.resources.imports import import_resources

    _import_file("resources", import_resources, file, mode, evaluate=False)


@rules_app.command("evaluate")
def rules_evaluate(
    as_of: Annotated[str | None, typer.Option("--as-of", help="YYYY-MM-DD (default: today)")] = None,
) -> None:
    """Evaluate every student now: record truancy episodes, create parent meetings."""
    from server.rules.evaluate import evaluate_all

    day = date.fromisoformat(as_of) if as_of else clock.today(Settings.from_env())
    result = _with_session(lambda s: evaluate_all(s, day, CLI_ACTOR))
    console.print(
        f"{result.school_year or 'no school year'} as of {result.as_of}: {result.students} students, "
        f"{result.truant} truant, {result.habitual} habitual, {result.chronic} chronic; "
        f"episodes +{result.episodes_opened} / ended {result.episodes_ended}; "
        f"{result.meetings_created} parent meetings created ({result.seconds} s)"
    )


@letters_app.command("batch")
def letters_batch(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the merged PDF")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="YYYY-MM-DD (default: the district's today)")] = None,
    kind: Annotated[list[LetterKind] | None, typer.Option("--kind", help="Only this kind (repeat for more)")] = None,
) -> None:
    """Make a batch of letters as the console does: every student newly due (the gravest kind due)
    and every letter asked for and not yet printed; one PDF to print and fold."""
    from schemas.letters import LetterBatchCreate
    from server.letters import service as letters

    settings = Settings.from_env()
    day = date.fromisoformat(as_of) if as_of else clock.today(settings)
    url = _database(settings)
    batch_id = uuid.uuid4()

    async def main() -> LetterBatch:
        engine = create_engine(url)
        factory = create_session_factory(engine)
        blobs = Blobs.from_settings(settings)
        try:
            async with session_scope(factory, via=_via()) as session:
                await letters.create_batch(session, CLI_ACTOR, LetterBatchCreate(id=batch_id, as_of=day, kinds=kind))
            with _progress() as bar:
                task = bar.add_task("letters", total=None)

                def advance(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                batch = await letters.run_batch(factory, settings, blobs, batch_id, advance, via=_via())
            with output.open("wb") as out:
                async for chunk in blobs.stream(letters.pdf_key(batch_id)):
                    out.write(chunk)
            return batch
        finally:
            await engine.dispose()

    try:
        batch = asyncio.run(main())
    except DoorstepError as exc:
        console.print(f"[red]error:[/red] {escape(exc.detail)}")
        raise typer.Exit(1) from exc
    console.print(f"{batch.total} letters as of {day} in {output} (batch {batch_id})")


@app.command("worker")
def worker() -> None:
    """Run the background worker: every feature's tasks (server/jobs.py), e.g. re-evaluation after imports."""
    settings = Settings.from_env()
    url = _database(settings)
    console.print("worker started (Ctrl-C to stop)")
    queue.run_worker(jobs.make_app(url, settings))


sync_app = typer.Typer(help="Sync maintenance.", no_args_is_help=True)
app.add_typer(sync_app, name="sync")


@sync_app.command("purge")
def sync_purge(days: Annotated[int, typer.Option(min=0, help="Keep this many days of changes")] = 90) -> None:
    """Purge old entries of the sync change log; devices away longer than that refetch on their next pull."""
    from datetime import timedelta

    from server.sync.maintenance import purge_changes

    removed = _with_session(lambda s: purge_changes(s, timedelta(days=days)))
    console.print(f"purged {removed} change log entries older than {days} days")


EXPORT_PAGE = 1000
EXPORT_COLUMNS = (
    "id",
    "at",
    "actor_id",
    "actor_username",
    "actor_role",
    "device_id",
    "action",
    "entity_type",
    "entity_id",
    "student_id",
    "request_id",
    "detail",
)


def _os_user() -> str | None:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return None


async def _export_accesses(session: AsyncSession, student: uuid.UUID, out: TextIO, destination: str) -> int:
    """Write every audit row naming ``student`` to ``out`` as CSV, oldest first, a page at a time,
    all from one snapshot; then audit the export itself. Returns the number of rows written."""
    from server.auth.models import User
    from server.students.models import Student

    # One snapshot for every page: rows committed meanwhile are neither half in nor skipped.
    await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    which = audit.AccessFilter(student_id=student)
    total = await audit.count_accesses(session, which)
    if total == 0 and await session.scalar(select(Student.id).where(Student.id == student)) is None:
        raise NotFound(f"No student {student}, and no audit row names it")
    names: dict[uuid.UUID, str] = {}
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    written, after = 0, None
    with _progress(err_console) as bar:
        task = bar.add_task("audit export", total=total)
        while rows := await audit.accesses(session, which, after=after, limit=EXPORT_PAGE, newest_first=False):
            unknown = {r.actor_id for r in rows if r.actor_id is not None and r.actor_id not in names}
            if unknown:
                found = await session.execute(select(User.id, User.username).where(User.id.in_(unknown)))
                names.update((uid, name) for uid, name in found)
            writer.writerows(
                (
                    r.id,
                    r.at.isoformat(),
                    r.actor_id or "",
                    names.get(r.actor_id, "") if r.actor_id else "",
                    r.actor_role or "",
                    r.device_id or "",
                    r.action,
                    r.entity_type,
                    r.entity_id or "",
                    r.student_id or "",
                    r.request_id or "",
                    json.dumps(r.detail, sort_keys=True) if r.detail else "",
                )
                for r in rows
            )
            written += len(rows)
            after = rows[-1].id
            bar.update(task, completed=written)
    audit.record(
        session,
        CLI_ACTOR,
        "audit.export",
        "audit_log",
        student_id=student,
        rows=written,
        output=destination,
        os_user=_os_user(),
    )
    return written


@audit_app.command("export")
def audit_export(
    student: Annotated[uuid.UUID, typer.Option("--student", help="The student's id")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="CSV file (default: standard output)")] = None,
) -> None:
    """Every access to a student's records, oldest first, as CSV (a records request, 34 CFR 99.32)."""
    destination = str(output) if output else "standard output"
    # The file appears whole, and only once the export's own audit row is committed.
    partial = output.with_name(f".{output.name}.partial") if output else None
    try:
        with partial.open("w", newline="", encoding="utf-8") if partial else nullcontext(sys.stdout) as out:
            written = _with_session(lambda s: _export_accesses(s, student, out, destination))
        if partial and output:
            os.replace(partial, output)
    finally:
        if partial:
            partial.unlink(missing_ok=True)
    err_console.print(f"exported {written} audit rows for student {student} to {destination}")


@app.command("serve")
def serve() -> None:
    """Migrate, load the demo district on first run, and serve the API (DOORSTEP_WORKERS processes)."""
    from server import serving

    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again with the handler it
    # found: with the default one the process died there, before the embedded PostgreSQL it
    # started was stopped (at exit). A handler that exits normally lets that cleanup run, and
    # the background worker's stop before it. Installed first: a SIGTERM while migrating too.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    settings = Settings.from_env().with_secret()
    url = _database(settings)
    with console.status("migrating"):
        asyncio.run(migrate.run(url))

    async def first_run(session: AsyncSession) -> demo.DemoResult | None:
        if await session.scalar(select(User.id).limit(1)) is not None:
            return None
        return await _load_demo(session, settings)

    result = _with_session(first_run)
    if result is not None:
        _announce_demo(result, settings)
    settings = replace(settings, database_url=url)
    workers = f"{settings.workers} worker process{'es' if settings.workers > 1 else ''}"
    console.print(f"serving on http://{settings.host}:{settings.port} with {workers} (API docs at /schema)")
    serving.run(settings)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    app()


if __name__ == "__main__":  # serve's background worker: python -m server.cli worker
    main()
