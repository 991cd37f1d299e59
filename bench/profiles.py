"""``python -m bench.profiles STACKS``: where the API workers' time went, from py-spy's collapsed
stacks (``scripts/bench sync --profile DIR`` writes ``DIR/push-serve.txt``).

Only the API workers' event-loop threads count (uvicorn's health-check thread, the logging
queue's and idle thread-pool threads are left out), and of those only samples not waiting in
``epoll``; logins (the warm-up's password checks) are left out too. Each sample goes to the first
layer, from the innermost frame outwards, whose code it is in; "thread hops" are samples handing
work to a thread pool and back.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

PY_FRAME = re.compile(r"^(?P<fn>.*) \((?P<file>[^()]*\.py):\d+\)$")
NATIVE_FRAME = re.compile(r"^(?P<fn>.*) \((?P<file>[^()]*)\)$")

SYSCALLS = ("write", "writev", "read", "sendto", "sendmsg", "recvfrom", "recvmsg")

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("garbage collection", ("gc_collect", "gcmodule.c")),
    ("thread hops (sync_to_thread, run_in_executor)", ("run_in_executor", "litestar/concurrency.py")),
    ("logging (structlog, the request line)", ("structlog/", "server/logging.py")),
    ("asyncpg (protocol, codecs)", ("asyncpg/", "protocol.c", "asyncpg")),
    ("SQLAlchemy (building statements, session, pool)", ("sqlalchemy/", "greenlet")),
    ("msgspec (decode, encode)", ("msgspec",)),
    ("sync engine and mutation handlers", ("sync/engine.py", "sync/handlers.py", "sync/policies.py", "schemas/")),
    ("PgStore (SQL building, rows)", ("server/sync/",)),
    ("Jinja2 (console templates)", ("jinja2/", "markupsafe", "server/console/templates/")),
    ("auth (JWT, device and user)", ("server/auth/", "jwt/")),
    ("Doorstep middleware and deps", ("server/",)),
    ("Litestar (routing, middleware, DI, response)", ("litestar/",)),
    ("uvicorn (HTTP parsing, transport)", ("uvicorn/", "httptools", "llhttp")),
    ("event loop (uvloop, asyncio)", ("loop.c", "asyncio/", "_asynciomodule", "uv_", "uv__")),
]


def layer_of(frames: list[str]) -> str:
    leaf = NATIVE_FRAME.match(frames[-1]) if frames else None
    if leaf and leaf["file"].startswith("libc.so") and leaf["fn"] in SYSCALLS:
        return "socket system calls (send, receive)"
    for frame in reversed(frames):
        match = PY_FRAME.match(frame) or NATIVE_FRAME.match(frame)
        text = f"{match['fn']} {match['file']}" if match else frame
        for name, marks in LAYERS:
            if any(mark in text for mark in marks):
                return name
    return "other"


def summarise(path: Path) -> tuple[int, int, Counter[str]]:
    """(samples in the workers' loops, of which busy, busy samples by layer)."""
    loop_samples, layers = 0, Counter[str]()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if "Server.run (uvicorn/server.py" not in stack or not count.isdigit():
            continue
        frames, n = stack.split(";"), int(count)
        loop_samples += n
        if frames[-1].startswith("epoll_pwait") or "login (server/auth/routes.py" in stack:
            continue
        layers[layer_of(frames)] += n
    return loop_samples, sum(layers.values()), layers


def main() -> None:
    path = Path(sys.argv[1])
    loop_samples, busy, layers = summarise(path)
    print(f"{path}: {loop_samples} samples in the API workers' event loops, {busy} busy (not in epoll, not login)")
    print("| layer | share of busy samples |\n|---|---:|")
    for name, n in layers.most_common():
        print(f"| {name} | {n / busy * 100:.1f} % |")


if __name__ == "__main__":
    main()
