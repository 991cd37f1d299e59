"""The blob store: files on ``obstore``, a local folder by default or any S3-compatible bucket.

Keys (one flat namespace per deployment):

- ``uploads/<upload id>/<offset>-<writer>``: one PATCH's bytes, until its upload finishes;
- ``blobs/<sha256>``: a received file as it came, content-addressed (the same photo twice is one file);
- ``served/<sha256>``: the copy Doorstep serves, every EXIF field stripped;
- ``thumbs/<sha256>``: its thumbnail.

Writes stream (memory stays bounded whatever the size) and are atomic: an object exists whole or
not at all, so a writer that fails midway leaves nothing behind.

The store failing (a full disk, a permission, the bucket unreachable or refusing) is answered where
it happens, as :class:`~server.errors.StorageFull` (507) or :class:`~server.errors.Unavailable`
(503), both with ``Retry-After`` (:func:`store_failure`). A missing object stays
``FileNotFoundError`` for the caller to decide; a store used wrongly (a bad path) stays a bug.
"""

from __future__ import annotations

import errno
import io
import os
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import obstore
import structlog
from obstore import exceptions as store_errors
from obstore.store import LocalStore, ObjectStore, from_url

from server.errors import DoorstepError, StorageFull, Unavailable
from server.settings import Settings

LOCAL_CHUNK = 1024 * 1024
S3_CHUNK = 5 * 1024 * 1024
"""S3's smallest multipart part."""
READ_CHUNK = 256 * 1024
log = structlog.get_logger("doorstep.blobs")


_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_FULL = re.compile(r"os error (28|122)\b|no space left on device|quota exceeded|storagefull", re.IGNORECASE)
"""How obstore says a local write met a full disk or quota: a ``GenericError`` naming the OS error."""
_MISUSE = (
    store_errors.InvalidPathError,
    store_errors.NotSupportedError,
    store_errors.AlreadyExistsError,
    store_errors.PreconditionError,
    store_errors.NotModifiedError,
    store_errors.UnknownConfigurationKeyError,
    store_errors.NotFoundError,
)


def store_failure(exc: BaseException) -> DoorstepError | None:
    """What to answer for an error the blob store raised: 507 when it is full, 503 when it failed
    otherwise (I/O, permissions, the network, the service), or ``None`` for an error that is no
    outage (a missing object, a request the store refuses as malformed, not the store's at all)."""
    if isinstance(exc, (DoorstepError, FileNotFoundError, *_MISUSE)):
        return None
    if not isinstance(exc, OSError | store_errors.BaseError):
        return None
    if (isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS) or _FULL.search(str(exc)):
        return StorageFull("The file store is full: nothing of this request was kept")
    return Unavailable("The file store failed: nothing of this request was kept; retry later")


@contextmanager
def _answered() -> Iterator[None]:
    """Raise the store's failures as :func:`store_failure` says (the original as the cause)."""
    try:
        yield
    except Exception as exc:
        if (failure := store_failure(exc)) is None:
            raise
        error = str(exc).splitlines()[0][:300] if str(exc) else ""
        log.warning("blob_store_failed", status=failure.status, error=f"{type(exc).__name__}: {error}")
        raise failure from exc


class _Raw(io.RawIOBase):
    """obstore's reader as a plain binary file (its ``read`` answers ``obstore.Bytes``)."""

    def __init__(self, file: Any) -> None:  # obstore.ReadableFile (typed only in its stubs)
        self.file = file

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        with _answered():
            data = self.file.read(len(buffer))
        n = len(data)
        memoryview(buffer).cast("B")[:n] = memoryview(data)
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        with _answered():
            return int(self.file.seek(offset, whence))

    def tell(self) -> int:
        return int(self.file.tell())

    def close(self) -> None:
        if not self.closed:
            self.file.close()
        super().close()


S3_CLIENT: Any = {"connect_timeout": timedelta(seconds=5), "timeout": timedelta(seconds=30)}
"""A bucket that drops packets answers within bounds: obstore's defaults let one request (a tus
PATCH's part) hang for minutes, a phone holding its connection all that while."""
S3_RETRY: Any = {"max_retries": 3, "retry_timeout": timedelta(seconds=20)}
"""Transient S3 errors retried a few times within 20 s, then answered 503 (the phone retries)."""


@dataclass(frozen=True)
class Blobs:
    store: ObjectStore
    chunk_size: int
    folder: Path | None = None
    """The local folder, when the store is one (object stores have no folders to leave behind)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Blobs:
        if settings.blob_url is None:
            folder = (settings.data_dir / "blobs").absolute()
            folder.mkdir(parents=True, exist_ok=True)
            return cls(LocalStore(folder), LOCAL_CHUNK, folder)
        # Credentials, region and endpoint come from the environment (AWS_ACCESS_KEY_ID,
        # AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT, AWS_ALLOW_HTTP for a plain-HTTP endpoint).
        # Client options given here replace those obstore reads from the environment: keep its one.
        client = S3_CLIENT | {"allow_http": os.environ.get("AWS_ALLOW_HTTP", "").lower() == "true"}
        return cls(from_url(settings.blob_url, client_options=client, retry_config=S3_RETRY), S3_CHUNK)

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes]) -> None:
        """Write ``chunks`` to ``key``; if the iterator or the store fails, nothing is written."""
        with _answered():
            await obstore.put_async(self.store, key, chunks, chunk_size=self.chunk_size, max_concurrency=2)

    async def put_file(self, key: str, file: IO[bytes]) -> None:
        with _answered():
            await obstore.put_async(self.store, key, file, chunk_size=self.chunk_size, max_concurrency=2)

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        """The object's bytes in chunks; ``FileNotFoundError`` if there is none."""
        with _answered():
            result = await obstore.get_async(self.store, key)
            async for chunk in result.stream(min_chunk_size=READ_CHUNK):
                yield bytes(chunk)

    async def prefix(self, key: str, n: int) -> bytes:
        """The first ``n`` bytes (fewer if the object is shorter)."""
        with _answered():
            meta = await obstore.head_async(self.store, key)
            if meta["size"] == 0:
                return b""
            return bytes(await obstore.get_range_async(self.store, key, start=0, end=min(n, meta["size"])))

    async def size(self, key: str) -> int | None:
        try:
            with _answered():
                meta = await obstore.head_async(self.store, key)
            return int(meta["size"])
        except FileNotFoundError:
            return None

    def reader(self, key: str) -> IO[bytes]:
        """A seekable, buffered, lazily-fetching file over the object: for parsers that seek
        (from a worker thread; it blocks). Close it."""
        return io.BufferedReader(_Raw(obstore.open_reader(self.store, key, buffer_size=READ_CHUNK)), READ_CHUNK)

    async def rename(self, source: str, target: str) -> None:
        with _answered():
            await obstore.rename_async(self.store, source, target)

    async def delete(self, *keys: str) -> None:
        for key in keys:
            with suppress(FileNotFoundError), _answered():
                await obstore.delete_async(self.store, key)

    async def keys(self, prefix: str) -> list[str]:
        found: list[str] = []
        with _answered():
            async for batch in obstore.list(self.store, prefix):
                found += [meta["path"] for meta in batch]
        return found

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix`` (a folder: it ends with ``/``), and the folder."""
        keys = await self.keys(prefix)
        await self.delete(*keys)
        self.prune(prefix)
        return len(keys)

    def prune(self, prefix: str) -> None:
        """A local store keeps the folders of deleted objects: remove those left empty under
        ``prefix``, deepest first."""
        if self.folder is None or not (top := self.folder / prefix.strip("/")).is_dir():
            return
        for path in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            with suppress(OSError):
                path.rmdir()
        with suppress(OSError):
            top.rmdir()
