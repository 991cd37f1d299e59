"""``python -m bench uploads``: tus photo uploads through a real ``doorstep serve``.

A generated ~20 MB JPEG is uploaded to ``/uploads/`` with a stock tus client (tuspy) from the
benchmark's process, over TCP to a ``doorstep serve`` on 127.0.0.1 with one API worker: (1) the
API worker's peak RSS during an upload, over its RSS before, sent as one PATCH and in 5 MB
chunks; (2) the upload's throughput against a raw ``obstore.put`` of the same bytes into a
``LocalStore`` on the same disk (and a plain file write, and hashing then writing), timed in
alternation in the same run, and of a small photo's upload (the costs whatever the size);
(3) uploads in 1 MB chunks whose connection dies halfway through a chunk, resumed by a fresh
client from the URL at once or a second later: how much they send again. Results go to the
``uploads`` section of docs/benchmarks.md.
"""

# ruff: noqa: E501  (the report table reads best one row a line)
from __future__ import annotations

import asyncio
import hashlib
import io
import itertools
import json
import logging
import os
import random
import socket
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Any

import httpx
import obstore
import typer
from obstore.store import LocalStore
from PIL import Image
from sqlalchemy import text
from tusclient import client as tus_client
from tusclient.exceptions import TusUploadFailed

from bench.harness import load_average, machine, ms, temporary_postgres, write_section
from bench.phones import BENCH_PASSWORD, push_body
from bench.served import Served, request_log
from bench.sync import _create_database, _make_user, _one_manager, _py_spy, _scalar, _unit_sql
from schemas.auth import Role
from server.db import EmbeddedPostgres, create_engine, create_session_factory, session_scope
from server.photos import inspect

MB = 1024 * 1024
ONE_PATCH = 0
"""A chunk size of 0 here: the whole file in one PATCH (tuspy's default chunk size)."""
SAMPLE_SECONDS = 0.02
PRIME_BYTES = 64 * MB
RSS_TARGET = 16 * MB
THROUGHPUT_TARGET = 0.5
REQUEST_SECONDS = 120.0
SMALL_BYTES = 64 * 1024
RESUME_LATER_SECONDS = 1.0
BYTES_PER_PIXEL = 1.98
"""Of random noise as a quality-100 4:2:0 JPEG (Pillow), a first guess refined by one more encode."""

NOTE = """
Reading the figures: the ratios matter, not the absolute numbers (the machine is shared; the load
average above says how busy it was). **Memory** meets its target with room to spare: a PATCH body
never exists whole in the API worker. uvicorn hands it over as it reads it from the socket, in
pieces of 256,000 bytes (uvloop's read buffer: 84 for the photo), `_Chunk.read` hashes each and
passes it on, and obstore gathers them into 1 MB parts, two in flight. The largest extra is the
first upload's and most of it stays (thread-pool threads, modules loaded on first use); later
uploads add about 2 MB. 5 MB chunks change nothing: the finish's second pass (below) streams too.

**Throughput** misses its target, and no server that hashes the file could meet it against this
baseline: a raw `obstore.put` of 20 MB into pages the kernel has just freed is a memory copy (~4
ms), while the server must compute the file's sha256 (a file is kept by it and checked against the
registration's), and `hashlib.sha256` of the same bytes alone takes 9.5 to 12 ms on this CPU:
hashing then writing reaches ~0.3 of raw (third line). In the runs of 2026-12-01 one PATCH reached
0.07 to 0.10 of raw (0.25 to 0.35 of hash-then-write), 43 to 60 ms as the machine's load came and
went. Where that time goes (timed inside the server by wrapping the service's functions, an
experiment not committed, and by parts in isolation, 2026-12-01): (1) 14 to 21 ms is what any upload
costs whatever its size (the small photo's line): two requests, each on a new connection (tuspy's
`requests`), authentication, the lease taken and committed, the part recorded, the finish (header
inspection in a thread, the photo's lock, the rename, the `photo_file` row, the job enqueued: ~4
ms), the lease released, the commit; ~15 ms of the server's CPU. (2) `hashlib.sha256` of each piece
on the event loop, ~10 ms. (3) obstore writing from an async iterator of 84 pieces, ~6 ms (4 ms for
one `put` of the bytes; with 64 KB pieces it would be ~12 ms). (4) The rest, ~10 ms, is receiving 20
MB over loopback: the client's send, the kernel's copy, uvloop's reads and the ASGI messages (a bare
Python socket pair moves 20 MB in 6 to 10 ms here). (2) to (4) take turns on one thread: uvicorn
stops reading the socket while more than 64 KB waits for the app, so nothing overlaps the hashing.
Worth doing, largest first: hash off the event loop (hashlib drops the GIL for large buffers; a
thread fed 1 MB at a time would hide most of (2) behind (3) and (4) on two cores, which saves ~10 ms
at best: ~0.12 of raw), and fewer commits per PATCH (lease, part and release are a round trip and a
commit each). **5 MB chunks** take three times as long as one PATCH: each of the four PATCHes pays
the per-request costs, and the finish reads every part back and writes them again as one file while
hashing it (a file in several parts has no running hash). In the server that second pass took ~90 ms
of wall time but ~16 ms of the event loop's CPU: it waits on obstore's threads for each 256 KB piece
read back and each 1 MB part written. The same pass in-process took 117 ms (median) through
`Blobs.stream` and `put_stream`, 74 ms with 8 MB pieces and parts, and 33 ms as plain file reads,
hashing and writes in one worker thread: for a `LocalStore` the finish should concatenate and hash
in one thread (better still, keep a running sha256 in the worker across consecutive PATCHes and
re-read only when another worker or a restart broke the chain). **Fresh pages.** This machine is a
virtual one whose host backs its memory lazily: 20 MB written into pages never touched before took
40 to 50 ms, into pages just freed ~4 ms. Each timed write therefore starts after a 64 MB scratch
file was written and deleted by a thread on each CPU, as freed pages wait in per-CPU lists: freed by
one thread only, they served the benchmark's own file writes (3.9 ms) but not obstore's writer
threads (27.8 ms), and one PATCH came out at 0.67 of raw, "met"; with `--no-prime`, at 0.78. Which
pages a write happened to get decided those, not the code.

**Resumption.** A new client resumes at the server's offset, the acknowledged chunks, and nothing of
the lost half chunk is kept (the folder holds the three acknowledged parts and the resumed one). One
that comes back a second later sends again only the half chunk it lost. One that comes back at once
(tus-js-client's documented retry delays start at 0 ms) may find the dead PATCH's lease still held:
the server lets go once it has read what came and seen the close (2 to 10 ms after the close when
the half chunk had been read already: timed inside the server, then probed with empty PATCHes).
Before, the new PATCH's chunk, sent whole before the answer, was refused with 423 and sent again:
1.5 chunks. Now a PATCH that finds the lease held polls for it for up to 2 s before answering 423,
sees the dead writer's release, and takes the chunk: 0.5. A PATCH whose client goes away is logged
as 400 `client_disconnected`, not as a server error.
"""


# --- the photo ----------------------------------------------------------------------------------


def photo_jpeg(size: int, seed: int = 1) -> bytes:
    """A real JPEG of about ``size`` bytes: 4:3 random noise (a seeded generator) at quality 100,
    which no encoder shrinks, so the file is as large as its pixels make it."""
    noise = random.Random(seed)

    def encode(width: int) -> bytes:
        height = width * 3 // 4
        image = Image.frombytes("RGB", (width, height), noise.randbytes(width * height * 3))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=100)
        return out.getvalue()

    width = max(16, int((size / BYTES_PER_PIXEL * 4 / 3) ** 0.5))
    first = encode(width)
    return encode(max(16, int(width * (size / len(first)) ** 0.5)))


def _scan_start(data: bytes) -> int:
    """The offset of the first byte of entropy-coded data (after the first SOS segment)."""
    at = 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker, length = data[at + 1], int.from_bytes(data[at + 2 : at + 4], "big")
        at += 2 + length
        if marker == 0xDA:
            return at
    raise ValueError("no scan in this JPEG")


def variant(data: bytes, n: int) -> bytes:
    """``data`` with a few bytes of its entropy-coded payload set from ``n``: a distinct file for
    each ``n`` (so content addressing never finds it stored already), with the same headers and
    no new marker (no byte becomes 0xFF, and no byte after an 0xFF is touched)."""
    start = _scan_start(data)
    out = bytearray(data)
    digits, stride = (n % 251, n // 251 % 251, n // 251**2 % 251, 7), (len(data) - start - 16) // 4
    for k, digit in enumerate(digits):
        at = start + 8 + k * stride
        while out[at] == 0xFF or out[at - 1] == 0xFF or out[at + 1] == 0xFF:
            at += 1
        out[at] = digit
    return bytes(out)


# --- the server's processes ---------------------------------------------------------------------


def status_bytes(pid: int, field_: str) -> int:
    """``VmRSS``, ``VmHWM``… of ``/proc/<pid>/status``, in bytes (0 if the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_ + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread of ``pid`` so far (``schedstat``, in nanoseconds: ``stat``'s ticks
    are 10 ms, as long as a third of an upload)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that ended meanwhile
    return total / 1e9


@dataclass
class Memory:
    """One API worker's memory over one upload: RSS before, the largest RSS sampled every
    ``SAMPLE_SECONDS``, the kernel's peak (``VmHWM``, reset to the RSS before), RSS after."""

    before: int
    sampled: int
    hwm: int
    after: int

    @property
    def extra(self) -> int:
        return max(self.sampled, self.hwm) - self.before


@contextmanager
def watched(pids: list[int]) -> Iterator[dict[int, Memory]]:
    """Sample the RSS of ``pids`` from a thread while the block runs; the kernel's high-water
    mark is reset first (``/proc/<pid>/clear_refs``), so ``VmHWM`` after is the block's peak."""
    found = {pid: Memory(0, 0, 0, 0) for pid in pids}
    for pid in pids:
        (Path("/proc") / str(pid) / "clear_refs").write_text("5")
        found[pid].before = found[pid].sampled = status_bytes(pid, "VmRSS")
    done = threading.Event()

    def sample() -> None:
        while not done.wait(SAMPLE_SECONDS):
            for pid in pids:
                found[pid].sampled = max(found[pid].sampled, status_bytes(pid, "VmRSS"))

    sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    sampler.start()
    try:
        yield found
    finally:
        done.set()
        sampler.join()
        for pid in pids:
            found[pid].hwm = status_bytes(pid, "VmHWM")
            found[pid].after = status_bytes(pid, "VmRSS")


def server_seconds(log: Path, request_ids: set[str]) -> dict[str, float]:
    """The request log's ``ms`` summed by request id (an upload's requests share one), in seconds."""
    found: dict[str, float] = {}
    for rid, spent in request_log(log):
        if rid in request_ids:
            found[rid] = found.get(rid, 0.0) + spent / 1000
    return found


# --- the phone ----------------------------------------------------------------------------------


class Counted(io.BytesIO):
    """A file whose reads are counted: what a tus client reads from it, it sends."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.sent = 0
        self.first: int | None = None

    def read(self, size: int | None = -1, /) -> bytes:
        if self.first is None:
            self.first = self.tell()
        data = super().read(size)
        self.sent += len(data)
        return data


@dataclass
class Phone:
    """A case manager's phone: logged in, registering photos of her case's forms, uploading them."""

    base_url: str
    case_id: uuid.UUID
    device_id: uuid.UUID = field(default_factory=uuid.uuid4)
    auth: dict[str, str] = field(default_factory=dict)
    next_id: int = 1

    def login(self) -> None:
        device = {"id": str(self.device_id), "name": "bench phone", "platform": "android", "app_version": "1.0.0"}
        body = {"username": "cm", "password": BENCH_PASSWORD, "device": device}
        r = httpx.post(f"{self.base_url}/auth/login", json=body, timeout=REQUEST_SECONDS, trust_env=False)
        assert r.status_code == 200, r.text
        self.auth = {"Authorization": f"Bearer {r.json()['access_token']}"}

    def register(self, data: bytes) -> uuid.UUID:
        """Push ``form_photo.register`` for ``data``; its id."""
        photo_id = uuid.uuid4()
        args = {
            "id": photo_id,
            "case_id": self.case_id,
            "form_type": "consent",
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "content_type": "image/jpeg",
            "taken_at": "2026-11-30T10:00:00Z",
        }
        body = push_body(self.device_id, self.next_id, [{"name": "form_photo.register", "args": args}])
        self.next_id += 1
        headers = self.auth | {"Content-Type": "application/json"}
        r = httpx.post(
            f"{self.base_url}/sync/push", content=body, headers=headers, timeout=REQUEST_SECONDS, trust_env=False
        )
        assert r.status_code == 200 and b'"applied"' in r.content, r.text
        return photo_id

    def uploader(
        self, stream: io.BytesIO, photo_id: uuid.UUID, chunk: int, request_id: str, url: str | None = None
    ) -> Any:
        client = tus_client.TusClient(f"{self.base_url}/uploads/", headers=self.auth | {"X-Request-ID": request_id})
        kw: dict[str, Any] = {"chunk_size": chunk} if chunk else {}
        return client.uploader(file_stream=stream, metadata={"form_photo_id": str(photo_id)}, url=url, **kw)

    def upload(self, data: bytes, chunk: int, request_id: str) -> float:
        """Register ``data``, then upload it (creation, then PATCHes of ``chunk`` bytes, or one):
        the wall time of the upload alone."""
        photo_id = self.register(data)
        started = time.perf_counter()
        self.uploader(io.BytesIO(data), photo_id, chunk, request_id).upload()
        elapsed = time.perf_counter() - started
        self.check(photo_id)
        return elapsed

    def check(self, photo_id: uuid.UUID) -> None:
        r = httpx.get(
            f"{self.base_url}/form-photos/{photo_id}", headers=self.auth, timeout=REQUEST_SECONDS, trust_env=False
        )
        assert r.status_code == 200 and r.json()["upload_status"] == "received", r.text


# --- the three measurements -----------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    size: int
    repeats: int
    memory_repeats: int
    chunk: int
    resume_chunk: int
    resume_repeats: int
    prime: bool
    workers: int
    profile: Path | None = None


@dataclass
class Figures:
    postgres: str = ""
    photo_bytes: int = 0
    photo_pixels: tuple[int, int] = (0, 0)
    small_bytes: int = 0
    workers: int = 0
    memory: dict[str, list[Memory]] = field(default_factory=dict)  # "one" or "chunks" → one per upload, in order
    walls: dict[str, list[float]] = field(default_factory=dict)  # path → one per round
    server: dict[str, list[float]] = field(default_factory=dict)  # upload path → request log time per upload
    server_cpu: dict[str, list[float]] = field(default_factory=dict)  # upload path → serve's CPU per upload
    resumed: list[Resumed] = field(default_factory=list)


async def _setup(server: EmbeddedPostgres) -> tuple[str, uuid.UUID, str]:
    """The database: a supervisor, her case manager ``cm`` and one case of his. Its URL, the case
    and PostgreSQL's version."""
    url = await _create_database(server, "bench_uploads")
    engine = create_engine(url)
    factory = create_session_factory(engine)
    try:
        await _make_user(factory, "sup", Role.SUPERVISOR)
        cm = await _make_user(factory, "cm", Role.CASE_MANAGER, "sup")
        async with session_scope(factory) as s:
            for statement in _unit_sql("u", 0, 1, _one_manager(cm), 0):
                await s.execute(text(statement))
        version = str(await _scalar(factory, "SHOW server_version"))
    finally:
        await engine.dispose()
    return url, uuid.UUID(hashlib.md5(b"uc0").hexdigest()), version


def _chunks(o: Options) -> dict[str, int]:
    """The two ways a photo is sent: its name → tus chunk size (``ONE_PATCH``: the whole file)."""
    return {"one": ONE_PATCH, "chunks": o.chunk}


def _memory(phone: Phone, served: Served, photos: Iterator[bytes], o: Options, f: Figures) -> None:
    """The first uploads of the server's life, one PATCH and chunked in alternation, each watched."""
    pids = served.workers()
    f.workers = len(pids)
    for n in range(o.memory_repeats):
        for way, chunk in _chunks(o).items():
            data = next(photos)
            with watched(pids) as found:
                phone.upload(data, chunk, f"memory-{way}-{n}")
            f.memory.setdefault(way, []).append(max(found.values(), key=lambda m: m.extra))


def settle(folder: Path, prime: bytes) -> None:
    """Before a timed write: ``os.sync()``, so that it does not start with another's dirty pages to
    write back; then, with ``prime``, a scratch file of it written and deleted by a thread on each
    CPU in turn, so that the write's page cache comes from pages the kernel has just had in use,
    whichever CPU the writing thread runs on (freed pages wait in per-CPU lists). This machine is a
    virtual one whose host backs its memory lazily: 20 MB written into pages never touched before
    took ~50 ms, into pages just freed ~4 ms; which kind a write got would otherwise decide."""
    os.sync()
    if not prime:
        return

    def free_on(cpu: int) -> None:
        os.sched_setaffinity(0, {cpu})  # this thread only
        scratch = folder / f"scratch-{cpu}"
        with scratch.open("wb") as out:
            out.write(prime)
        scratch.unlink()

    for cpu in sorted(os.sched_getaffinity(0)):
        thread = threading.Thread(target=free_on, args=(cpu,), name=f"settle-{cpu}")
        thread.start()
        thread.join()


def _throughput(
    phone: Phone, served: Served, folder: Path, photos: Iterator[bytes], small: Iterator[bytes], o: Options, f: Figures
) -> None:
    """Rounds of: a raw ``obstore.put``, a plain file write, ``hashlib.sha256`` then ``obstore.put``,
    an upload in one PATCH, one in chunks, and one of the small photo; each after ``settle``."""
    raw = folder / "raw"
    raw.mkdir()
    store = LocalStore(raw)
    prime = bytes(PRIME_BYTES) if o.prime else b""
    assert served.proc is not None
    serve = served.proc.pid
    ids: dict[str, list[str]] = {}
    for n in range(o.repeats):
        data = next(photos)

        def put(data: bytes = data, key: str = f"obstore-{n}") -> None:
            obstore.put(store, key, data)

        def write(data: bytes = data, path: Path = raw / f"file-{n}") -> None:
            with path.open("wb") as out:
                out.write(data)

        def hash_put(data: bytes = data, key: str = f"hashed-{n}") -> None:
            hashlib.sha256(data).hexdigest()
            obstore.put(store, key, data)

        for name, action in (("obstore", put), ("file", write), ("sha256+obstore", hash_put)):
            settle(folder, prime)
            started = time.perf_counter()
            action()
            f.walls.setdefault(name, []).append(time.perf_counter() - started)
        for way, chunk in (*_chunks(o).items(), ("small", ONE_PATCH)):
            data = next(small if way == "small" else photos)
            settle(folder, prime)
            request_id = f"throughput-{way}-{n}"
            cpu = cpu_seconds(serve)
            f.walls.setdefault(way, []).append(phone.upload(data, chunk, request_id))
            f.server_cpu.setdefault(way, []).append(cpu_seconds(serve) - cpu)
            ids.setdefault(way, []).append(request_id)
    time.sleep(0.5)  # the last request's log line
    for way, request_ids in ids.items():
        found = server_seconds(served.log, set(request_ids))
        f.server[way] = [found[rid] for rid in request_ids]


@dataclass
class Resumed:
    """One interrupted upload: what the server had acknowledged, what the client had sent, where
    the new client resumed, and everything it sent (refused attempts included)."""

    pause: float
    chunk: int
    length: int
    acknowledged: int
    transmitted: int
    resumed_at: int
    first_read: int | None
    resume_sent: int
    locked: int
    waited: float
    parts: int
    lost_status: int | None

    @property
    def resent(self) -> int:
        """Bytes sent more than once over the whole upload."""
        return self.transmitted + self.resume_sent - self.length

    @property
    def right_place(self) -> bool:
        return self.resumed_at == self.acknowledged == self.first_read


def _resume(phone: Phone, served: Served, data: bytes, o: Options, pause: float, trial: int) -> Resumed:
    """Three chunks sent and acknowledged (fewer for a small file), then a PATCH whose connection
    closes halfway through its chunk (a raw socket: headers announcing the whole chunk, half of it,
    then shut), then after ``pause`` a new client given the upload's URL, as a phone back on the
    network does: it asks the server where to go on from (``HEAD``) and sends the rest; if the
    server still holds the dead PATCH's lease (423), it waits 100 ms and asks again."""
    chunk = o.resume_chunk
    photo_id = phone.register(data)
    first = phone.uploader(Counted(data), photo_id, chunk, f"resume-first-{trial}")
    for _ in range(max(1, min(3, (len(data) - 1) // chunk - 1))):
        first.upload_chunk()
    acknowledged = int(first.offset)
    url: str = first.url
    path = url.split(f":{served.port}", 1)[1]
    lost_id = f"resume-lost-{trial}"
    head = (
        f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\nTus-Resumable: 1.0.0\r\n"
        f"Upload-Offset: {acknowledged}\r\nContent-Type: application/offset+octet-stream\r\n"
        f"Content-Length: {chunk}\r\nAuthorization: {phone.auth['Authorization']}\r\nX-Request-ID: {lost_id}\r\n\r\n"
    )
    lost = chunk // 2
    with socket.create_connection(("127.0.0.1", served.port), timeout=REQUEST_SECONDS) as s:
        s.sendall(head.encode() + data[acknowledged : acknowledged + lost])
        s.shutdown(socket.SHUT_RDWR)
    started = time.perf_counter()
    time.sleep(pause)
    folder = served.folder / "var" / "blobs" / "uploads" / url.rsplit("/", 1)[1]
    stream, locked = Counted(data), 0
    while True:
        second = phone.uploader(stream, photo_id, chunk, f"resume-second-{trial}", url=url)
        resumed_at = int(second.offset)
        try:
            second.upload_chunk()
            break
        except TusUploadFailed as exc:
            if exc.status_code != 423 or locked >= 100:
                raise
            locked += 1
            time.sleep(0.1)
    waited = time.perf_counter() - started
    parts = len(list(folder.iterdir())) if folder.exists() else 0
    second.upload()
    phone.check(photo_id)
    time.sleep(0.2)  # the lost PATCH's log line
    return Resumed(
        pause=pause,
        chunk=chunk,
        length=len(data),
        acknowledged=acknowledged,
        transmitted=acknowledged + lost,
        resumed_at=resumed_at,
        first_read=stream.first,
        resume_sent=stream.sent,
        locked=locked,
        waited=waited,
        parts=parts,
        lost_status=_status(served.log, lost_id),
    )


def _status(log: Path, request_id: str) -> int | None:
    """The status the request log gave ``request_id``."""
    with log.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if request_id in line and line.startswith("{"):
                entry = json.loads(line)
                if entry.get("event") == "request":
                    return int(entry["status"])
    return None


def _photos(photo: bytes) -> Iterator[bytes]:
    """Distinct variants of ``photo``, each checked as the server checks an upload."""
    for n in itertools.count(1):
        data = variant(photo, n)
        inspect.inspect(io.BytesIO(data), 80_000_000)
        yield data


def _uploads(server: EmbeddedPostgres, folder: Path, o: Options) -> Figures:
    f = Figures()
    url, case_id, f.postgres = asyncio.run(_setup(server))
    photo, tiny = photo_jpeg(o.size), photo_jpeg(SMALL_BYTES, seed=2)
    f.photo_bytes, f.small_bytes = len(photo), len(tiny)
    with Image.open(io.BytesIO(photo)) as image:
        f.photo_pixels = image.size
    found = inspect.inspect(io.BytesIO(variant(photo, 0)), 80_000_000)  # the server's own check
    assert (found.media_type, found.width, found.height) == ("image/jpeg", *f.photo_pixels), found
    with Image.open(io.BytesIO(variant(photo, 0))) as image:
        image.load()  # and the payload still decodes
    served = Served(url, folder, "uploads", o.workers)
    # The background worker would decode each photo (served copy, thumbnail) on the same two cores
    # while the next upload is timed; the uploads are what is measured here.
    served.env["DOORSTEP_WORKER"] = "off"
    photos, small = _photos(photo), _photos(tiny)
    with served:
        phone = Phone(served.base_url, case_id)
        phone.login()
        _memory(phone, served, photos, o, f)
        _throughput(phone, served, folder, photos, small, o, f)
        pauses = [0.0] * o.resume_repeats + [RESUME_LATER_SECONDS]
        f.resumed = [_resume(phone, served, next(photos), o, pause, n) for n, pause in enumerate(pauses)]
        if o.profile is not None:
            o.profile.mkdir(parents=True, exist_ok=True)
            for way, chunk in _chunks(o).items():
                with _py_spy(served, o.profile / f"upload-{way}.txt"):
                    for n in range(max(10, o.repeats)):
                        phone.upload(next(photos), chunk, f"profile-{way}-{n}")
    return f


# --- the command and the report -----------------------------------------------------------------


def uploads(
    size_mb: Annotated[float, typer.Option(help="the photo's size, MiB")] = 20.0,
    repeats: Annotated[int, typer.Option(help="throughput: rounds (medians)")] = 5,
    memory_repeats: Annotated[int, typer.Option(help="memory: uploads each way, watched")] = 3,
    chunk_mb: Annotated[int, typer.Option(help="the chunked uploads' chunk, MiB")] = 5,
    resume_chunk_mb: Annotated[int, typer.Option(help="the interrupted uploads' chunk, MiB")] = 1,
    resume_repeats: Annotated[int, typer.Option(help="interrupted uploads resumed at once (and one later)")] = 3,
    prime: Annotated[bool, typer.Option(help="throughput: each timed write into pages just freed (see settle)")] = True,
    workers: Annotated[int, typer.Option(help="DOORSTEP_WORKERS of the real server")] = 1,
    profile: Annotated[
        Path | None, typer.Option(help="more uploads under py-spy afterwards: their stacks into this folder")
    ] = None,
    write: Annotated[bool, typer.Option(help="write docs/benchmarks.md")] = True,
) -> None:
    """tus uploads of a ~20 MB JPEG through a real `doorstep serve`: memory, throughput, resumption."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    for count, name in (
        (repeats, "--repeats"),
        (memory_repeats, "--memory-repeats"),
        (chunk_mb, "--chunk-mb"),
        (resume_chunk_mb, "--resume-chunk-mb"),
        (resume_repeats, "--resume-repeats"),
        (workers, "--workers"),
    ):
        if count < 1:
            raise typer.BadParameter(f"{name} must be at least 1")
    o = Options(
        int(size_mb * MB),
        repeats,
        memory_repeats,
        chunk_mb * MB,
        resume_chunk_mb * MB,
        resume_repeats,
        prime,
        workers,
        profile,
    )
    load_before = load_average()
    started = time.perf_counter()
    with temporary_postgres() as (server, folder):
        f = _uploads(server, folder, o)
    report = _report(f, o, (load_before, load_average()), time.perf_counter() - started)
    print(report)
    if write:
        write_section("uploads", report)


def _met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def _mb(n: float) -> str:
    """Bytes in MB (MiB), one decimal."""
    return f"{n / MB:,.1f}"


def _report(f: Figures, o: Options, load: tuple[str, str], total_s: float) -> str:
    size = f.photo_bytes
    label = {"one": "one PATCH", "chunks": f"{o.chunk // MB} MB chunks"}
    med = {path: statistics.median(walls) for path, walls in f.walls.items()}
    raw, least = med["obstore"], med["sha256+obstore"]
    ratios = {way: raw / med[way] for way in label}
    worst = {way: max(m.extra for m in f.memory[way]) for way in label}
    memory_rows = "\n".join(
        f"| {label[way]} | {n} | {_mb(m.before)} | {_mb(m.sampled - m.before)} | {_mb(m.hwm - m.before)} | {_mb(m.after - m.before)} |"
        for way in label
        for n, m in enumerate(f.memory[way], 1)
    )
    paths = [
        (
            "obstore",
            "raw `obstore.put` of the bytes into a `LocalStore` (its defaults), in the benchmark's process",
            size,
            "baseline",
        ),
        ("file", "plain file write of the bytes (`open`, `write`, `close`), in the benchmark's process", size, ""),
        (
            "sha256+obstore",
            "`hashlib.sha256` of the bytes, then the raw `obstore.put` (the least the server must do: it keeps a file by its sha256)",
            size,
            "",
        ),
        (
            "one",
            "tus upload to `doorstep serve` in one PATCH (creation `POST`, PATCH, finish)",
            size,
            f"≥ {THROUGHPUT_TARGET:.2f} of raw",
        ),
        (
            "chunks",
            f"tus upload to `doorstep serve` in {label['chunks']} (creation `POST`, PATCHes, finish)",
            size,
            f"≥ {THROUGHPUT_TARGET:.2f} of raw",
        ),
        (
            "small",
            f"tus upload in one PATCH of a {f.small_bytes / 1024:,.0f} KB photo (what an upload costs whatever its size)",
            f.small_bytes,
            "",
        ),
    ]
    throughput_rows = []
    for key, what, nbytes, target in paths:
        walls = f.walls[key]
        server = ms(statistics.median(f.server[key])) if key in f.server else ""
        cpu = ms(statistics.median(f.server_cpu[key])) if key in f.server_cpu else ""
        vs_least = f"{least / med[key]:.2f}" if nbytes == size else ""
        vs_raw = f"{raw / med[key]:.2f}" if nbytes == size else ""
        throughput_rows.append(
            f"| {what} | {ms(med[key])} | {ms(min(walls))} | {ms(max(walls))} | {nbytes / med[key] / MB:,.0f} | "
            f"{vs_raw} | {vs_least} | {server} | {cpu} | {target} |"
        )
    rounds = ", ".join(f"{r / u:.2f}" for r, u in zip(f.walls["obstore"], f.walls["one"], strict=True))
    at_once = [r for r in f.resumed if r.pause == 0]
    later = [r for r in f.resumed if r.pause > 0]
    chunk_r = o.resume_chunk

    def resent(group: list[Resumed]) -> float:
        return max(r.resent for r in group) / chunk_r

    def resumed_ok(group: list[Resumed]) -> bool:
        return resent(group) <= 1 and all(r.right_place for r in group)

    resume_rows = "\n".join(
        f"| {n} | {ms(r.pause)} | {r.acknowledged:,} | {r.transmitted:,} | {r.lost_status} | {r.resumed_at:,} | {r.locked} | "
        f"{ms(r.waited)} | {r.parts} | {r.resume_sent:,} | {r.length - r.resumed_at:,} | {r.resent:,} | **{r.resent / chunk_r:.2f}** |"
        for n, r in enumerate(f.resumed, 1)
    )
    targets = f"""| target | measured | |
|---|---|---|
| the API worker's peak RSS during a {_mb(size)} MB upload ≤ {RSS_TARGET // MB} MB over its RSS before: one PATCH (worst of {o.memory_repeats}) | **{_mb(worst["one"])} MB** | {_met(worst["one"] <= RSS_TARGET)} |
| the same, {label["chunks"]} (worst of {o.memory_repeats}) | **{_mb(worst["chunks"])} MB** | {_met(worst["chunks"] <= RSS_TARGET)} |
| upload throughput over loopback ≥ {THROUGHPUT_TARGET:.2f} of a raw `obstore.put` of the same bytes, same run (medians of {o.repeats}): one PATCH | **{ratios["one"]:.2f}** (rounds: {rounds}) | {_met(ratios["one"] >= THROUGHPUT_TARGET)} |
| the same, {label["chunks"]} | **{ratios["chunks"]:.2f}** | {_met(ratios["chunks"] >= THROUGHPUT_TARGET)} |
| an upload interrupted mid-chunk re-sends at most one chunk ({chunk_r // MB} MB chunks): resumed at once (worst of {len(at_once)}) | **{resent(at_once):.2f}** of a chunk | {_met(resumed_ok(at_once))} |
| the same, resumed {RESUME_LATER_SECONDS:.0f} s later | **{resent(later):.2f}** of a chunk | {_met(resumed_ok(later))} |"""
    load_before, load_after = load
    workers = f"{f.workers} API worker process{'es' if f.workers > 1 else ''}"
    settled = (
        '`os.sync()` and a 64 MB scratch file written and deleted on each CPU (see `settle`, and\n"Fresh pages" below)'
        if o.prime
        else '`os.sync()` alone (`--no-prime`: see "Fresh pages" below)'
    )
    return f"""## uploads: a {_mb(size)} MB photo by tus through a real `doorstep serve`

Run {date.today().isoformat()} with `scripts/bench uploads` on {machine()}; embedded PostgreSQL {f.postgres};
load average (1, 5, 15 min) {load_before} at the start and {load_after} at the end; whole run {total_s / 60:.1f} min.
The server is a real `doorstep serve` (`python -m server.cli serve`) in its own process on 127.0.0.1 over TCP:
{workers} (`DOORSTEP_WORKERS={o.workers}`; with one the API runs in the serve process itself, uvicorn with uvloop and
httptools), JSON request log at INFO to a file, blobs in a local folder (`LocalStore`, the default) and no background
worker (`DOORSTEP_WORKER=off`: it would make each photo's served copy and thumbnail on the same two cores while the
next upload is timed). The client is the benchmark's own process: tuspy {tus_version()} (`requests`, a new connection
a request, no checksum), each photo registered first by a `form_photo.register` push. The photo is a real JPEG,
{f.photo_pixels[0]}×{f.photo_pixels[1]} random noise at quality 100 ({size:,} bytes), and each upload changes a few bytes of its
entropy-coded data (same headers, no new marker, still passing the server's checks), so none is stored already.

{targets}

### memory: the API worker's RSS over each upload

The first uploads of the server's life (after the login), one PATCH and {label["chunks"]} in alternation. `VmRSS` of
each API worker sampled every {SAMPLE_SECONDS * 1000:.0f} ms from a thread, and `VmHWM` (the kernel's own peak, reset to the RSS
before by writing 5 to `/proc/<pid>/clear_refs`); the target takes the larger. In MB.

| upload | n | RSS before | sampled peak, extra | `VmHWM`, extra | RSS after, extra |
|---|---:|---:|---:|---:|---:|
{memory_rows}

### throughput: {o.repeats} rounds, each the raw writes then the uploads

Each round writes fresh bytes into a folder beside the server's blobs (same disk): the raw writes from the
benchmark's process, then an upload in one PATCH, one in {label["chunks"]} and one of a small photo; each after
{settled}. An upload's time is the client's, from the creation `POST` to the last
PATCH's answer (the registration before it is not counted); server ms is the request log's `ms` of its requests
added up (first middleware to the response's start: the PATCH body is read inside it); server CPU is the serve
process's, all its threads (`/proc/<pid>/task/*/schedstat`).

| path | median ms | best ms | worst ms | MB/s | ratio to raw | ratio to sha256 + raw | server ms | server CPU ms | target |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---|
{chr(10).join(throughput_rows)}

### resumption: uploads in {chunk_r // MB} MB chunks whose connection dies halfway through a chunk

Chunks sent by tuspy and acknowledged, then a PATCH at the server's offset announcing a whole chunk on a raw
socket, half a chunk of it sent, and the socket shut ("lost PATCH": the status the server logged for it). Then,
at once or after a pause, a new tuspy client given the upload's URL asks the server (`HEAD`) where to go on from
and sends the rest; answered 423 (the server still holds the lost PATCH's lease), it waits 100 ms and asks again.
Bytes are counted as the clients read them from the file (tuspy sends what it reads, refused PATCHes included);
"sent again" is everything sent before and after the break less the file's length; "wait" runs from the socket's
close to the first chunk accepted; "parts" are the files in the upload's folder then.

| n | pause ms | acknowledged | sent before the break | lost PATCH | resumed at | 423s | wait ms | parts | sent by the resume | the server lacked | sent again | of a chunk |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
{resume_rows}
{NOTE}"""


def tus_version() -> str:
    return version("tuspy")
