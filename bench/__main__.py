"""``python -m bench rules|sync|uploads|console [options]`` (``scripts/bench``)."""

from __future__ import annotations

import typer

from bench import console, rules, sync, uploads

app = typer.Typer(help="Doorstep benchmarks.", no_args_is_help=True)


@app.callback()
def benchmarks() -> None:
    """Doorstep benchmarks: one subcommand each."""


app.command("rules")(rules.rules)
app.command("sync")(sync.sync)
app.command("uploads")(uploads.uploads)
app.command("console")(console.console)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
