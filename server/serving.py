"""``doorstep serve``'s processes, once the database is migrated and the demo loaded.

The serve process (the parent) keeps what exists once per machine: the embedded PostgreSQL it
started (stopped when it exits), and one background worker (``doorstep worker``, a child process,
restarted if it dies, unless ``DOORSTEP_WORKER=off``). The API runs in ``DOORSTEP_WORKERS``
uvicorn worker processes on one listening socket, each building its app with ``create_app()``
from the environment: the parent passes them the database's URL in ``DATABASE_URL`` and
``DOORSTEP_WORKER=off`` (the queue is the background worker's). Nothing a request needs lives in
one worker's memory (docs/deploy.md). With one worker the API runs in the serve process itself.

On SIGTERM or Ctrl-C uvicorn stops the API workers (each finishes its requests), then the
background worker is stopped (it finishes its job), then the serve process exits and stops the
embedded PostgreSQL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import structlog
from uvicorn.supervisors import multiprocess

from server.settings import Settings

APP = "server.app:create_app"
STOP_SECONDS = 30.0
"""How long the background worker may take to finish its job on stop before it is killed."""
RESTART_SECONDS = 5.0
"""How long to wait before restarting a background worker that died."""

log = structlog.get_logger("doorstep.serve")


class BackgroundWorker:
    """One ``doorstep worker`` child process for as long as serve runs, restarted if it dies."""

    def __init__(self, env: dict[str, str]) -> None:
        self._env = env
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._watcher = threading.Thread(target=self._watch, name="background-worker", daemon=True)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        with self._lock:
            self._proc = self._spawn()
        self._watcher.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "server.cli", "worker"], env=self._env)

    def _watch(self) -> None:
        while True:
            proc = self._proc
            assert proc is not None
            code = proc.wait()
            if self._stopping.wait(RESTART_SECONDS):  # at once when stopping
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                log.warning("background_worker_restarted", exit_code=code)
                self._proc = self._spawn()

    def stop(self) -> None:
        """Ask the worker to stop (SIGTERM: it finishes its job), kill it after ``STOP_SECONDS``."""
        with self._lock:
            self._stopping.set()
            proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._watcher.is_alive():
            self._watcher.join(timeout=1)


class _ApiWorker(multiprocess.Process):
    """uvicorn's API worker process, less one file descriptor in the supervisor.

    The supervisor pings each worker over a pipe and keeps both of its ends; its copy of the
    worker's end stays open, so a ping to a worker that died meanwhile waited out the whole health
    check (60 s, below) before the worker was replaced, instead of reading end-of-file at once.
    Closing that copy once the worker has started (the spawned worker holds its own) brought the
    longest replacement in a soak of 40 kills from 65.7 s to 4.4 s
    (tests/test_serving.py::test_a_worker_killed_while_pinged_is_found_dead_at_once)."""

    def start(self) -> None:
        super().start()
        self.child_conn.close()


def run(settings: Settings) -> None:
    """Serve the API with ``settings.workers`` processes until SIGTERM or Ctrl-C; then stop the
    background worker. ``settings.database_url`` is the database serve prepared."""
    import uvicorn

    if settings.database_url is None:
        raise ValueError("serve passes its database to the workers: database_url must be set")
    os.environ["DATABASE_URL"] = settings.database_url
    background = BackgroundWorker(dict(os.environ)) if settings.inline_worker else None
    os.environ["DOORSTEP_WORKER"] = "off"  # the API workers leave the queue to the background worker
    try:
        if background is not None:
            background.start()
        uvicorn_process = multiprocess.Process
        multiprocess.Process = _ApiWorker  # type: ignore[misc]  # the supervisor makes its workers by this name
        try:
            uvicorn.run(
                APP,
                factory=True,
                host=settings.host,
                port=settings.port,
                workers=settings.workers,
                access_log=False,
                log_level="warning",
                # The app finds the client's address itself (DOORSTEP_TRUSTED_PROXIES,
                # server/auth/clients.py); uvicorn's proxy headers would believe X-Forwarded-For from
                # 127.0.0.1 and rewrite the address first.
                proxy_headers=False,
                # uvicorn's supervisor kills a worker that misses its health check (5 s by default) and
                # spawns another: on a loaded machine a starting worker (importing the app, building its
                # routes) missed it every time, and serve never became ready (scripts/simulate found it).
                timeout_worker_healthcheck=60,
            )
        finally:
            multiprocess.Process = uvicorn_process  # type: ignore[misc]
    finally:
        if background is not None:
            background.stop()
