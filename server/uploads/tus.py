"""The tus 1.0.0 protocol's headers: parsing what a client sends, naming what we answer.

https://tus.io/protocols/resumable-upload: core, creation, creation-with-upload, checksum,
termination and expiration. No creation-defer-length and no concatenation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from server.errors import DoorstepError

VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,checksum,termination,expiration"
CHECKSUMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}
CONTENT_TYPE = "application/offset+octet-stream"
EXPOSED = (
    "Location, Upload-Offset, Upload-Length, Upload-Metadata, Upload-Expires, Tus-Resumable, "
    "Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm"
)
_KEY = re.compile(r"^[!-+\--~]+$")  # printable ASCII but space and comma
_DIGITS = re.compile(r"[0-9]{1,15}")


class TusError(DoorstepError):
    """A request the protocol refuses; answered as a problem document with ``Tus-Resumable``."""

    def __init__(self, detail: str = "", **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.headers = {"Tus-Resumable": VERSION, "Tus-Version": VERSION}


class VersionUnsupported(TusError):
    status, code, title = 412, "tus_version_unsupported", "This server speaks tus 1.0.0"


class BadUploadHeader(TusError):
    status, code, title = 400, "bad_upload_header", "A tus header is missing or malformed"


class UploadTooLarge(TusError):
    status, code, title = 413, "upload_too_large", "The file is larger than this server accepts"


class WrongContentType(TusError):
    status, code, title = 415, "unsupported_media_type", f"A PATCH body must be {CONTENT_TYPE}"


class OffsetMismatch(TusError):
    status, code, title = 409, "offset_mismatch", "Upload-Offset is not the upload's offset"


class UploadLocked(TusError):
    status, code, title = 423, "upload_locked", "Another request is writing to this upload"


class ChecksumMismatch(TusError):
    status, code, title = 460, "checksum_mismatch", "The chunk's checksum does not match: it was not kept"


class ChecksumUnsupported(TusError):
    status, code, title = 400, "checksum_unsupported", "Unsupported Upload-Checksum algorithm (sha1, sha256)"


class BodyTooLong(TusError):
    status, code, title = 413, "upload_overflow", "The chunk runs past the Upload-Length: it was not kept"


class ClientGone(TusError):
    """The client hung up before its chunk was whole: nothing was kept. Nobody reads the answer;
    it keeps the request log honest (a phone losing its signal is not a server error)."""

    status, code, title = 400, "client_disconnected", "The connection closed before the chunk was whole"


class UploadGone(TusError):
    status, code, title = 404, "not_found", "No such upload"


class FileRefused(TusError):
    """The finished file is not what it must be: it is kept nowhere, and its record says why."""

    status, code, title = 422, "file_refused", "The uploaded file was refused"


class UnsupportedType(FileRefused):
    code = "unsupported_type"
    title = "Only JPEG, PNG, HEIC and PDF files are accepted (checked by content)"


class DecompressionBomb(FileRefused):
    code = "decompression_bomb"
    title = "The image has more pixels than this server decodes"


class Unreadable(FileRefused):
    code = "unreadable"
    title = "The file claims a type its bytes do not hold"


class Sha256Mismatch(FileRefused):
    code = "sha256_mismatch"
    title = "The file's sha256 is not the one its form photo registered"


REFUSALS: dict[str, type[FileRefused]] = {
    cls.code: cls for cls in (UnsupportedType, DecompressionBomb, Unreadable, Sha256Mismatch)
}


def check_version(headers: Mapping[str, str]) -> None:
    if headers.get("tus-resumable") != VERSION:
        raise VersionUnsupported(f"Tus-Resumable must be {VERSION}, got {headers.get('tus-resumable')!r}")


def non_negative(headers: Mapping[str, str], name: str) -> int:
    raw = headers.get(name.lower())
    if raw is None:
        raise BadUploadHeader(f"{name} is required", header=name)
    if not _DIGITS.fullmatch(raw):  # ASCII digits only (str.isdigit takes "²")
        raise BadUploadHeader(f"{name} must be a non-negative integer, got {raw[:40]!r}", header=name)
    return int(raw)


def parse_metadata(raw: str | None) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64value`` pairs (the value may be absent).
    Values are kept as text; one that is not UTF-8 is refused."""
    found: dict[str, str] = {}
    if not raw or not raw.strip():
        return found
    for pair in raw.split(","):
        key, _, value = pair.strip().partition(" ")
        if not _KEY.match(key) or key in found:
            raise BadUploadHeader(f"Upload-Metadata has a bad or repeated key {key[:40]!r}", header="Upload-Metadata")
        try:
            found[key] = base64.b64decode(value.strip(), validate=True).decode() if value.strip() else ""
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise BadUploadHeader(
                f"Upload-Metadata value of {key!r} is not base64 of UTF-8 text", header="Upload-Metadata"
            ) from exc
    if any("\x00" in value for value in found.values()):
        raise BadUploadHeader("Upload-Metadata values may not contain NUL", header="Upload-Metadata")
    return found


def encode_metadata(metadata: Mapping[str, str]) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}".rstrip() for k, v in metadata.items())


def parse_checksum(raw: str | None) -> tuple[str, bytes] | None:
    """``Upload-Checksum: <algorithm> <base64 digest>``, or ``None`` when the header is absent."""
    if raw is None:
        return None
    algorithm, _, encoded = raw.strip().partition(" ")
    if algorithm not in CHECKSUMS:
        raise ChecksumUnsupported(f"Upload-Checksum algorithm {algorithm[:20]!r} is not one of sha1, sha256")
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error as exc:
        raise BadUploadHeader("Upload-Checksum digest is not base64", header="Upload-Checksum") from exc
    if len(digest) != CHECKSUMS[algorithm]().digest_size:
        raise BadUploadHeader(f"Upload-Checksum {algorithm} digest has the wrong length", header="Upload-Checksum")
    return algorithm, digest


def http_date(at: datetime) -> str:
    """RFC 9110's date format, which ``Upload-Expires`` uses."""
    return format_datetime(at, usegmt=True)


def headers(**extra: Any) -> dict[str, str]:
    return {"Tus-Resumable": VERSION, "Cache-Control": "no-store", **{k: str(v) for k, v in extra.items()}}
