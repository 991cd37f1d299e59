"""What a file is, from its bytes: JPEG, PNG, HEIC or PDF, its size in pixels, the GPS its EXIF
carries. Headers only: nothing here decodes pixels, so a decompression bomb is refused before
anything is decoded, and memory stays bounded whatever the file's size (HEIC aside, see
``_heic``)."""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from typing import IO, Any

import pillow_heif
import pypdfium2
from PIL import Image, UnidentifiedImageError

MEDIA_TYPES = ("image/jpeg", "image/png", "image/heic", "application/pdf")
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
_GPS_IFD = 0x8825
PDFIUM = threading.Lock()
"""PDFium is not thread-safe: one call at a time in a process."""


class Refused(Exception):
    """The file is not one Doorstep keeps: ``code`` is ``unsupported_type``, ``decompression_bomb``
    or ``unreadable``."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Inspection:
    media_type: str
    width: int | None
    height: int | None
    pages: int | None
    exif_latitude: float | None
    exif_longitude: float | None


def sniff(prefix: bytes) -> str | None:
    """The media type its first bytes announce (of the four Doorstep keeps), or ``None``."""
    if prefix.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if prefix.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if prefix.startswith(b"%PDF-"):
        return "application/pdf"
    if len(prefix) >= 12 and prefix[4:8] == b"ftyp" and prefix[8:12] in _HEIF_BRANDS:
        return "image/heic"
    return None


def inspect(fp: IO[bytes], max_pixels: int) -> Inspection:
    """Inspect a seekable file; raises :class:`Refused`."""
    fp.seek(0)
    media_type = sniff(fp.read(32))
    fp.seek(0)
    if media_type is None:
        raise Refused("unsupported_type", "Only JPEG, PNG, HEIC and PDF files are accepted")
    if media_type == "application/pdf":
        return _pdf(fp)
    if media_type == "image/heic":
        return _heic(fp, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(fp, formats=["JPEG" if media_type == "image/jpeg" else "PNG"])
    except Image.DecompressionBombError as exc:
        raise Refused("decompression_bomb", str(exc)) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise Refused("unreadable", f"The {media_type} header cannot be read") from exc
    with image:
        width, height = image.size
        _check_pixels(width, height, max_pixels)
        latitude, longitude = _gps(image)
    return Inspection(media_type, width, height, None, latitude, longitude)


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise Refused("unreadable", "The image has no pixels")
    if width * height > max_pixels:
        raise Refused("decompression_bomb", f"{width}×{height} pixels is over the limit of {max_pixels}")


def _heic(fp: IO[bytes], max_pixels: int) -> Inspection:
    """pillow-heif reads the whole file to parse it (at most the upload limit, 25 MiB by default)."""
    try:
        heif = pillow_heif.open_heif(fp, convert_hdr_to_8bit=True)
        width, height = heif.size
        exif = heif.info.get("exif")
    except (ValueError, RuntimeError, OSError) as exc:
        raise Refused("unreadable", "The HEIC file cannot be read") from exc
    _check_pixels(width, height, max_pixels)
    latitude = longitude = None
    if exif:
        parsed = Image.Exif()
        try:
            parsed.load(exif[6:] if exif.startswith(b"Exif\x00\x00") else exif)
            latitude, longitude = _coordinates(parsed.get_ifd(_GPS_IFD))
        except (SyntaxError, ValueError, OSError, KeyError):
            pass
    return Inspection("image/heic", width, height, None, latitude, longitude)


def _pdf(fp: IO[bytes]) -> Inspection:
    with PDFIUM:
        try:
            document = pypdfium2.PdfDocument(fp)
        except pypdfium2.PdfiumError as exc:
            raise Refused("unreadable", "The PDF cannot be read") from exc
        try:
            pages = len(document)
        finally:
            document.close()
    if pages == 0:
        raise Refused("unreadable", "The PDF has no pages")
    return Inspection("application/pdf", None, None, pages, None, None)


def _gps(image: Image.Image) -> tuple[float | None, float | None]:
    try:
        return _coordinates(image.getexif().get_ifd(_GPS_IFD))
    except (SyntaxError, ValueError, OSError, KeyError, TypeError):
        return None, None


def _coordinates(gps: dict[int, Any]) -> tuple[float | None, float | None]:
    """EXIF GPS (degrees, minutes, seconds and a hemisphere letter) as signed decimal degrees;
    ``None`` for anything missing, malformed or out of range."""
    latitude = _degrees(gps.get(2), gps.get(1), "N", "S", 90.0)
    longitude = _degrees(gps.get(4), gps.get(3), "E", "W", 180.0)
    if latitude is None or longitude is None:
        return None, None
    return latitude, longitude


def _degrees(dms: Any, ref: Any, positive: str, negative: str, limit: float) -> float | None:
    try:
        degrees, minutes, seconds = (float(part) for part in dms)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if isinstance(ref, bytes):
        ref = ref.decode(errors="replace")
    ref = str(ref).strip("\x00 ").upper()
    if ref not in (positive, negative) or not (0 <= minutes < 60 and 0 <= seconds < 60):
        return None
    value = degrees + minutes / 60 + seconds / 3600
    if not 0 <= value <= limit:
        return None
    return round(-value if ref == negative else value, 7)
