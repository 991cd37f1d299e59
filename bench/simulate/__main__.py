"""``python -m bench.simulate [options]`` (``scripts/simulate``): exits 1 on any loss."""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import msgspec
import typer
from rich.console import Console

from bench.simulate.checks import Report, print_report
from bench.simulate.district import make_district
from bench.simulate.faults import FAULTS
from bench.simulate.run import Options, own_server, simulate
from server.blobs import Blobs
from server.settings import Settings

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def main(
    devices: Annotated[int, typer.Option(min=1, help="Phones, one case manager each.")] = 50,
    rounds: Annotated[int, typer.Option(min=1, help="Rounds of work each phone does.")] = 8,
    cases: Annotated[int, typer.Option(min=1, help="Cases in each case manager's caseload.")] = 4,
    seed: Annotated[int, typer.Option(help="Seeds each phone's choices and faults.")] = 1,
    fault: Annotated[
        list[str] | None, typer.Option(help=f"A fault to inject (repeatable; default all): {', '.join(FAULTS)}.")
    ] = None,
    fault_rate: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of requests that meet a fault.")] = 0.25,
    offline_rate: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of rounds spent offline.")] = 0.2,
    url: Annotated[str | None, typer.Option(help="A running Doorstep; default: start one of its own.")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="With --url: the server's database (for the district and the checks).")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="With --url: the server's DOORSTEP_DATA_DIR (default: DOORSTEP_DATA_DIR/DOORSTEP_BLOB_URL)."),
    ] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="API workers of the server it starts.")] = None,
    server_env: Annotated[
        list[str] | None,
        typer.Option(help="KEY=VALUE for the server it starts (repeatable), e.g. DOORSTEP_WORKERS=1."),
    ] = None,
    server_log: Annotated[Path | None, typer.Option(help="Copy the log of the server it starts here.")] = None,
    json: Annotated[Path | None, typer.Option(help="Also write the report here, as JSON.")] = None,
) -> None:
    """Simulate a district's phones on a bad network against Doorstep, and check nothing was lost."""
    faults = tuple(fault or FAULTS)
    unknown = [f for f in faults if f not in FAULTS]
    if unknown:
        raise typer.BadParameter(f"unknown fault {unknown[0]!r}; known: {', '.join(FAULTS)}", param_hint="--fault")
    o = Options(devices, rounds, cases, seed, faults, fault_rate, offline_rate)
    if url is None:
        if any("=" not in item for item in server_env or []):
            raise typer.BadParameter("KEY=VALUE", param_hint="--server-env")
        env = dict(item.split("=", 1) for item in server_env or [])
        with own_server(o, workers, env) as s:
            try:
                report = asyncio.run(simulate(s.base_url, s.database_url, s.blobs, s.district, o, s.folder))
            finally:
                if server_log is not None and s.log is not None:
                    shutil.copyfile(s.log, server_log)
    else:
        if database_url is None:
            raise typer.BadParameter("--url needs --database-url too", param_hint="--database-url")
        settings = Settings.from_env() if data_dir is None else Settings(data_dir=data_dir)
        blobs = Blobs.from_settings(settings)
        district = asyncio.run(make_district(database_url, o.devices, o.cases))
        with tempfile.TemporaryDirectory(prefix="doorstep-simulate-") as folder:
            report = asyncio.run(simulate(url, database_url, blobs, district, o, Path(folder)))
    _finish(report, json)


def _finish(report: Report, json: Path | None) -> None:
    print_report(report, Console(width=160))
    if json is not None:
        json.write_bytes(msgspec.json.format(msgspec.json.encode(report)))
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    app()
