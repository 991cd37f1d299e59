"""What an uploaded file is, by its bytes: checked in the API process before it is accepted.

Only headers are read, by offset, and only their small parts are kept, so memory stays bounded
(well under a few MB) whatever the file's size or content:

- JPEG: the markers up to the first scan (4 bytes each, the rest skipped), the frame header, and
  the first EXIF segment (at most 64 KB).
- PNG: the IHDR, then each chunk's 8-byte header up to the first IDAT, and the eXIf chunk (at
  most 64 KB).
- HEIC: each top-level box's header, the ``meta`` box (at most 4 MB; a few KB on phones), and the
  Exif item (at most 64 KB; a few KB on phones). pillow-heif (libheif) would want the whole file
  in memory, so it is left to the background job (``server.photos.process``).

Pillow reads the EXIF block (``Image.Exif``, its GPS IFD). Why the rest is not Pillow's lazy
``Image.open`` nor pillow-heif, with the measurements: ``server.photos._headers`` and ``_heif``.
- PDF: PDFium reads the trailer, cross-reference table and page tree by offset to count pages,
  not the page contents. Its memory grows with the number of objects, not with the file's bytes
  (a PDF whose cross-reference table is broken is scanned whole to rebuild it, still without
  keeping the bytes).

Pillow's decompression-bomb check (``Image.MAX_IMAGE_PIXELS``, a process-wide setting) is not
involved: the pixel limit is the caller's ``max_pixels``, checked on the header's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

from server.photos import _pdfium
from server.photos._binary import Malformed, read_prefix
from server.photos._headers import HEIC, JPEG, PNG, PNG_SIGNATURE, read_header

PDF = "application/pdf"
MEDIA_TYPES = (JPEG, PNG, HEIC, PDF)
REFUSAL_CODES = ("unsupported_type", "decompression_bomb", "unreadable")

SNIFF_LENGTH = 32
"""Bytes enough for ``sniff`` (the HEIF ``ftyp`` box with its first compatible brands)."""
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_HEIF_GENERIC_BRANDS = frozenset({b"mif1", b"msf1"})


class Refused(Exception):
    """The file is not accepted. ``code`` is one of ``REFUSAL_CODES``:

    - ``unsupported_type``: the bytes are none of JPEG, PNG, HEIC, PDF (whatever the name says);
    - ``decompression_bomb``: more pixels than the caller allows;
    - ``unreadable``: the bytes claim one of the four types but do not follow it."""

    def __init__(self, code: str, detail: str) -> None:
        if code not in REFUSAL_CODES:
            raise ValueError(f"unknown refusal code {code!r}")
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Inspection:
    media_type: str
    """One of MEDIA_TYPES, from the bytes."""
    width: int | None
    height: int | None
    """Pixels of the image as shown upright (EXIF orientation 5–8 swaps the stored width and
    height; HEIC's clean aperture and rotation are applied), i.e. of the served copy. None for PDF."""
    pages: int | None
    """PDF only."""
    exif_latitude: float | None
    exif_longitude: float | None
    """Signed decimal degrees (S and W negative) from EXIF GPS, when both are present and valid
    (0°, 0°, what receivers without a fix write, counts as absent)."""


def sniff(prefix: bytes) -> str | None:
    """The media type from the first bytes (at least SNIFF_LENGTH given when the file is that
    long), None if none of the four."""
    if prefix.startswith(b"\xff\xd8\xff"):
        return JPEG
    if prefix.startswith(PNG_SIGNATURE):
        return PNG
    if prefix.startswith(b"%PDF-"):
        return PDF
    if _is_heic(prefix):
        return HEIC
    return None


def _is_heic(prefix: bytes) -> bool:
    """An ISOBMFF ``ftyp`` box whose major brand is HEVC-coded HEIF, or the generic HEIF brand
    with an HEVC one among the compatible brands given (AVIF, also HEIF, is not HEIC)."""
    if len(prefix) < 12 or prefix[4:8] != b"ftyp":
        return False
    box_length = int.from_bytes(prefix[:4], "big")
    if box_length < 16:
        return False
    major = prefix[8:12]
    compatible = {prefix[i : i + 4] for i in range(16, min(box_length, len(prefix)) - 3, 4)}
    return major in _HEIC_BRANDS or (major in _HEIF_GENERIC_BRANDS and bool(compatible & _HEIC_BRANDS))


def inspect(fp: IO[bytes], max_pixels: int) -> Inspection:
    """Reads headers only; raises Refused. fp is seekable but may be a lazy reader over a remote
    object store, so it reads as little as possible (see the module's docstring for what, per
    type). Nothing is decoded: a file over ``max_pixels`` (width × height of what a decoder would
    allocate) is refused as ``decompression_bomb`` from its header alone. Bad EXIF is ignored.
    Errors of ``fp`` itself (I/O) are raised as they are."""
    media_type = sniff(read_prefix(fp, SNIFF_LENGTH))
    if media_type is None:
        raise Refused("unsupported_type", "not a JPEG, PNG, HEIC or PDF file")
    try:
        if media_type == PDF:
            pages = _pdfium.page_count(fp)
            return Inspection(PDF, None, None, pages, None, None)
        header = read_header(fp, media_type)
    except Malformed as e:
        raise Refused("unreadable", f"{media_type}: {e}") from e
    if header.pixels > max_pixels:
        raise Refused("decompression_bomb", f"{header.pixels} pixels (at most {max_pixels})")
    width, height = header.upright
    return Inspection(media_type, width, height, None, header.exif.latitude, header.exif.longitude)
