"""The benchmark package's shared harness (the benchmarks themselves are never run by the suite),
and the product's independence from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.harness import Run, pct, ratio, write_section


def test_percentiles_are_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert pct(values, 0.5) == 50.0
    assert pct(values, 0.95) == 95.0
    assert pct([3.0], 0.95) == 3.0
    assert pct([2.0, 1.0], 0.0) == 1.0


def test_ratios_and_runs() -> None:
    assert ratio(1.0, 3.0) == 1 / 3
    assert ratio(1.0, 0.0) == 0.0
    run = Run(wall=2.0, latencies=[0.1] * 10, rows=500)
    assert (run.batches_per_s, run.rows_per_s) == (5.0, 250.0)


def test_write_section_rewrites_only_its_own_section(tmp_path: Path) -> None:
    docs = tmp_path / "benchmarks.md"
    write_section("rules", "## rules: first\n\nA.\n", docs)
    write_section("sync", "## sync: first\n\nB.\n", docs)
    write_section("rules", "## rules: again\n\nC.\n", docs)
    text = docs.read_text()
    assert text.startswith("# Benchmarks\n")
    assert "## rules: again\n\nC.\n" in text and "A." not in text
    assert text.index("## rules") < text.index("## sync: first\n\nB.\n")


def test_the_doorstep_command_never_imports_the_benchmarks() -> None:
    code = "import sys, server.cli, server.app; sys.exit(any(m.split('.')[0] == 'bench' for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
