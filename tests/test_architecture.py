"""The floors of the code (docs/architecture.md): a module imports only from its own floor or
below, and no modules import one another in a circle.

Every import counts: at the top of a module, inside a function, under ``TYPE_CHECKING``. An import
inside a function still means the lower module knows the higher one, and it is how the last circle
hid (the queue imported the photo jobs inside its tasks, the photos imported the queue).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("schemas", "sync", "server")

INFRASTRUCTURE = frozenset(
    {
        "server",
        "server.audit",
        "server.blobs",
        "server.clock",
        "server.db",
        "server.errors",
        "server.imports",
        "server.inputs",
        "server.logging",
        "server.migrate",
        "server.orm",
        "server.orm_types",
        "server.overload",
        "server.pagination",
        "server.pdf",
        "server.queue",
        "server.security",
        "server.settings",
    }
)
"""Floor 2: what every feature uses and that knows no feature (exact modules)."""

DOMAIN = (
    "server.attendance",
    "server.auth",
    "server.cases",
    "server.conflicts",
    "server.dashboard",
    "server.letters",
    "server.models",
    "server.photos",
    "server.referrals",
    "server.reports",
    "server.resources",
    "server.rosters",
    "server.rules",
    "server.schools",
    "server.scope",
    "server.students",
    "server.sync",
    "server.uploads",
    "server.visits",
)
"""Floor 3: the features (packages, with their modules), ``server.scope`` (who may see each kind of
record: it reads every feature's models) and ``server.models`` (every feature's tables, for Alembic)."""

EDGES = (
    "server.api_docs",
    "server.app",
    "server.app_shell",
    "server.audit_routes",
    "server.cli",
    "server.console",
    "server.demo",
    "server.deps",
    "server.health",
    "server.jobs",
    "server.migrations",
    "server.openapi",
    "server.serving",
)
"""Floor 4: what assembles the features and meets the outside (and every ``routes`` module)."""

DELIBERATE: dict[tuple[str, str], str] = {}
"""Imports allowed to go up a floor, (importer, imported): why. Each must still exist and still
go up, so the list only shrinks. None today."""


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def floor(module: str) -> int:
    """0 schemas, 1 sync, 2 infrastructure, 3 domain, 4 edges; KeyError for a module with none."""
    top = module.split(".", 1)[0]
    if top == "schemas":
        return 0
    if top == "sync":
        return 1
    if module.rsplit(".", 1)[-1] == "routes" or _under(module, EDGES):
        return 4
    if module in INFRASTRUCTURE:
        return 2
    if _under(module, DOMAIN):
        return 3
    raise KeyError(module)


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int


def modules() -> dict[str, tuple[Path, bool]]:
    """Every module of ours: its dotted name, its file, and whether it is a package."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _known(name: str, known: set[str]) -> str | None:
    """The deepest of our modules that ``name`` names or lies in (``server.db.create_engine``:
    ``server.db``); None for anyone else's."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, source: str, is_package: bool, known: set[str]) -> list[Import]:
    """Every import in ``source`` of one of our modules, wherever it stands in the file."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            # ``from server import queue`` imports the module server.queue; ``from server.db import
            # create_engine`` imports server.db.
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        for name in names:
            imported = _known(name, known)
            if imported is not None and imported != module:
                found.append(Import(module, imported, node.lineno))
    return found


def import_graph() -> list[Import]:
    mods = modules()
    known = set(mods)
    return [
        found
        for name, (path, is_package) in mods.items()
        for found in imports_of(name, path.read_text(), is_package, known)
    ]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The circles a depth-first walk meets (one per edge back to a module still on its path),
    each as its path, first module repeated at the end; empty when there is none."""
    state: dict[str, str] = {}  # "open" while on the path, "done" after
    path: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


@pytest.fixture(scope="module")
def graph() -> list[Import]:
    return import_graph()


def test_every_module_has_a_floor() -> None:
    unplaced = []
    for name in modules():
        try:
            floor(name)
        except KeyError:
            unplaced.append(name)
    assert unplaced == [], f"place each in a floor in tests/test_architecture.py (docs/architecture.md): {unplaced}"


def test_no_import_goes_up_a_floor(graph: list[Import]) -> None:
    upward = sorted(
        f"{i.importer}:{i.line} (floor {floor(i.importer)}) imports {i.imported} (floor {floor(i.imported)})"
        for i in graph
        if floor(i.importer) < floor(i.imported) and (i.importer, i.imported) not in DELIBERATE
    )
    assert upward == [], "\n".join(upward)


def test_each_deliberate_edge_still_exists_and_goes_up(graph: list[Import]) -> None:
    present = {(i.importer, i.imported) for i in graph}
    stale = [edge for edge in DELIBERATE if edge not in present or floor(edge[0]) >= floor(edge[1])]
    assert stale == [], f"remove from DELIBERATE: {stale}"


def test_no_modules_of_the_server_import_one_another_in_a_circle(graph: list[Import]) -> None:
    """(``sync/`` has its registry's circle still: ``sync.handlers`` imports ``sync.casework`` and
    ``sync.letters`` at its end so that they register their handlers, and they import it.)"""
    edges: dict[str, set[str]] = {}
    for i in graph:
        if i.importer.startswith("server"):
            edges.setdefault(i.importer, set()).add(i.imported)
    assert cycles(edges) == []


def test_the_walk_sees_every_kind_of_import() -> None:
    """The checks above are only as good as the walk: a function-level import, one under
    TYPE_CHECKING, a relative one, and a module imported from its package are all seen."""
    known = {"server", "server.a", "server.a.jobs", "server.a.models", "server.queue", "server.db"}
    source = """
from typing import TYPE_CHECKING
import json
from server.db import create_engine
from . import models
if TYPE_CHECKING:
    from server.queue import defer
def run():
    from server.a import jobs
    import server.queue
"""
    seen = {(i.imported, i.line) for i in imports_of("server.a.x", source, False, known)}
    assert seen == {
        ("server.db", 4),
        ("server.a.models", 5),
        ("server.queue", 7),  # under TYPE_CHECKING
        ("server.a.jobs", 9),  # in a function, from its package
        ("server.queue", 10),
    }
    package = imports_of("server.a", "from .models import Case\nfrom .. import db\n", True, known)
    assert [(i.imported, i.line) for i in package] == [("server.a.models", 1), ("server.db", 2)]


def test_the_cycle_walk_finds_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_the_floors() -> None:
    assert [floor(m) for m in ("schemas.cases", "sync.engine", "server.queue", "server.rules.jobs")] == [0, 1, 2, 3]
    assert [floor(m) for m in ("server.cases.routes", "server.jobs", "server.console.letters")] == [4, 4, 4]
