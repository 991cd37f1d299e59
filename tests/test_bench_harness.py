"""The benchmark package's shared harness (the benchmarks themselves are never run by the suite),
and the product's independence from it."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

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


def test_the_phones_talk_only_to_127_0_0_1() -> None:
    from bench.phones import _local

    assert _local("http://127.0.0.1:8123") == "http://127.0.0.1:8123"
    for url in ("http://localhost:8123", "http://10.0.0.1:80", "https://example.org"):
        with pytest.raises(SystemExit):
            _local(url)


def test_push_bodies_number_their_mutations_from_the_first_id() -> None:
    import msgspec

    from bench.phones import attempt, attempt_mutation, push_body

    case = uuid.uuid4()
    body = msgspec.json.decode(push_body(uuid.uuid4(), 7, [attempt_mutation(attempt([case], n)) for n in range(3)]))
    assert [m["id"] for m in body["mutations"]] == [7, 8, 9]
    assert {m["args"]["case_id"] for m in body["mutations"]} == {str(case)}


def test_server_times_come_from_the_request_log_by_request_id(tmp_path: Path) -> None:
    from bench.served import Served

    served = Served("postgresql://unused", tmp_path, "t")
    line = '{"request_id": "%s", "path": "/sync/push", "status": 200, "ms": %s, "event": "request"}\n'
    served.log.write_text("serving on …\n" + line % ("a", "12.5") + line % ("b", "3.0") + "not json {\n")
    assert served.server_seconds(["a", "b"]) == {"a": 0.0125, "b": 0.003}
    with pytest.raises(RuntimeError, match="1 requests missing"):
        served.server_seconds(["a", "c"])


def test_profile_samples_go_to_the_innermost_known_layer() -> None:
    from bench.profiles import layer_of

    loop = ["run_forever (loop.c:1)", "Litestar.__call__ (litestar/app.py:1)"]
    assert layer_of([*loop, "push (sync/engine.py:3)", "0x7f (libc.so.6)"]) == "sync engine and mutation handlers"
    assert layer_of([*loop, "Connection.fetch (asyncpg/connection.py:9)"]) == "asyncpg (protocol, codecs)"
    assert layer_of([*loop, "gc_collect_main (libpython3.11.so.1.0)"]) == "garbage collection"
    assert layer_of(loop) == "Litestar (routing, middleware, DI, response)"


def test_upload_photos_are_distinct_jpegs_the_server_accepts() -> None:
    import hashlib
    import io

    from PIL import Image

    from bench.uploads import photo_jpeg, variant
    from server.photos import inspect

    photo = photo_jpeg(40_000)
    variants = [variant(photo, n) for n in (1, 2, 252)]
    assert len({hashlib.sha256(v).digest() for v in [photo, *variants]}) == 4
    for data in variants:
        assert len(data) == len(photo)
        found = inspect.inspect(io.BytesIO(data), 80_000_000)
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # the payload still decodes
            assert (found.media_type, found.width, found.height) == ("image/jpeg", *image.size)


def test_upload_server_times_add_up_an_uploads_requests(tmp_path: Path) -> None:
    from bench.uploads import server_seconds

    log = tmp_path / "serve.log"
    line = '{"request_id": "%s", "path": "/uploads", "status": 204, "ms": %s, "event": "request"}\n'
    log.write_text(line % ("up-1", "2.5") + line % ("up-1", "40.0") + line % ("up-2", "3.0") + "not json {\n")
    assert server_seconds(log, {"up-1"}) == {"up-1": 0.0425}


def test_the_console_bench_times_every_page_of_the_navigation() -> None:
    from bench.console import pages_to_time
    from server.console.pages import SECTIONS

    case_id, visit_id, conflict_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    paths = {page.path for page in pages_to_time(case_id, visit_id, conflict_id)}
    assert {section.path for section in SECTIONS} <= paths, "a section of the console the benchmark never asks for"
    records = {f"/console/cases/{case_id}", f"/console/visits/{visit_id}", f"/console/conflicts/{conflict_id}"}
    assert records <= paths
    assert not {p.path for p in pages_to_time(None, None)} & records


async def test_the_console_bench_signs_in_with_the_token_of_the_real_sign_in_form(client: httpx.AsyncClient) -> None:
    from bench.console import csrf_token
    from tests.conftest import PASSWORD

    form = await client.get("/console/sign-in")
    done = await client.post(
        "/console/sign-in", data={"username": "sup1", "password": PASSWORD, "_csrf_token": csrf_token(form.text)}
    )
    assert done.status_code == 303
    with pytest.raises(RuntimeError, match="no CSRF token"):
        csrf_token("<form></form>")


def test_the_console_report_judges_each_page_by_its_server_p95() -> None:
    from bench.console import Figures, Options, Page, Timings, _report

    fast, slow = Page("cases list", "sup1", "/console/cases"), Page("dashboard", "office1", "/console/dashboard")
    later = [Page("conflicts", "sup1", "/console/conflicts"), Page("conflicts", "office1", "/console/conflicts")]
    f = Figures(postgres="18", demo_today="2026-12-01", counts={"students": 2000}, pages=[fast, slow], not_built=later)
    f.timings = {
        fast: Timings(wall=[0.012] * 20, server=[0.010] * 20),
        slow: Timings(wall=[0.05] * 20, server=[0.040] * 18 + [0.151, 0.2]),  # p95 is the 19th of 20
    }
    report = _report(f, Options(20, 1, 1, None, None), ("0.1, 0.1, 0.1", "0.2, 0.2, 0.2"), 60.0)
    assert report.startswith("## console:")
    assert "| **151.0 ms**, the slowest page's p95 (dashboard, `office1`) | **not met** |" in report
    assert "| cases list | `sup1` | `/cases` | 20 | 10.0 | **10.0** | 10.0 | 12.0 | 12.0 | **met** |" in report
    assert report.count("conflicts (`/console/conflicts`)") == 1
    f.timings[slow].server[-2] = 0.150
    assert "| **150.0 ms**, the slowest page's p95 (dashboard, `office1`) | **met** |" in _report(
        f, Options(20, 1, 1, None, None), ("", ""), 1.0
    )


def test_the_letters_bench_takes_only_sensible_options() -> None:
    import typer

    from bench.letters import Options, parse

    assert parse(2000, 50, 5, 1) == Options(letters=2000, singles=50, warmup=5, workers=1)
    assert parse(10, 1, 0, 2).warmup == 0
    for args in ((0, 50, 5, 1), (2000, 0, 5, 1), (2000, 50, -1, 1), (2000, 50, 5, 0)):
        with pytest.raises(typer.BadParameter):
            parse(*args)


def test_the_letters_bench_splits_a_batch_into_its_steps_by_its_progress() -> None:
    from bench.letters import Poll, steps

    polls = [
        Poll(10.5, "queued", 0, 0),
        Poll(11.0, "running", 0, 0),
        Poll(12.0, "running", 0, 300),
        Poll(13.0, "running", 200, 300),
        Poll(14.0, "running", 300, 300),
        Poll(15.0, "done", 300, 300),
    ]
    samples = [(10.2, 100), (11.9, 150), (12.5, 260), (13.9, 240), (14.5, 320), (15.5, 999)]
    found = [(s.name, s.start, s.end, s.rss) for s in steps(10.0, polls, samples)]
    assert found == [("taking", 0.0, 2.0, 150), ("printing", 2.0, 4.0, 260), ("merging", 4.0, 5.0, 320)]


def test_the_letters_report_judges_each_target() -> None:
    from bench.letters import Figures, Memory, Options, Single, Step, _report

    mb = 1024 * 1024
    singles = [Single("custom", create=0.06, pdf=0.04) for _ in range(9)] + [Single("custom", 0.15, 0.0501)]
    f = Figures(singles=singles, batch_letters=2000, batch_wall=59.9, due=236, kinds={"custom": 2000})
    f.memory = Memory(before=120 * mb, peak=320 * mb, hwm=319 * mb, after=300 * mb)
    f.steps = [Step("taking", 0.0, 3.0, 170 * mb)]
    o = Options(2000, 10, 1, 1)
    report = _report(f, o, ("1.00, 1.00, 1.00", "2.00, 2.00, 2.00"), 60.0)
    assert report.startswith("## letters: one letter and a batch of 2,000 ")
    assert "| one letter ≤ 200 ms | **100.0 ms** p90" in report  # the 9th of 10; the slowest is 200.1 ms
    assert "max 200.1 ms) | **PASS** |" in report
    assert "that said done | **PASS** |" in report
    assert "| **200.0 MB** (peak 320.0 MB − 120.0 MB before) | **PASS** |" in report
    f.memory.hwm = 320 * mb + 1
    f.batch_wall = 60.1
    report = _report(f, o, ("", ""), 1.0)
    assert "that said done | **FAIL** |" in report and "MB before) | **FAIL** |" in report
    f.batch_letters = 1999
    assert report.count("not judged") == 0 and _report(f, o, ("", ""), 1.0).count("not judged") == 2
