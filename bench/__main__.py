"""``python -m bench rules|sync|uploads|console|app|letters|devices [options]`` (``scripts/bench``)."""

from __future__ import annotations

import typer

from bench import app as field_app
from bench import console, devices, letters, rules, sync, uploads

app = typer.Typer(help="Doorstep benchmarks.", no_args_is_help=True)


@app.callback()
def benchmarks() -> None:
    """Doorstep benchmarks: one subcommand each."""


app.command("rules")(rules.rules)
app.command("sync")(sync.sync)
app.command("uploads")(uploads.uploads)
app.command("console")(console.console)
app.command("app")(field_app.app)
app.command("letters")(letters.letters)
app.command("devices")(devices.devices)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
