"""What a raster file's header says (size, orientation, EXIF position), read by walking its
segments, chunks or boxes by their headers: what is skipped is never read, and what is read is
small (an EXIF block, a HEIF meta box), so memory stays bounded whatever the file holds. The EXIF
block found is parsed by Pillow (``Image.Exif``).

Pillow's lazy ``Image.open`` is not used to find the block and the size, because it bounds
neither memory nor time on a hostile file of at most 25 MB (the default upload limit). Measured
2026-12-06 (Pillow 13.0.0, Python 3.11, 2 cores shared, load average 4 to 7; each case in a fresh
process after a warm-up on a small file, through a 256 KB ``io.BufferedReader`` as
``Blobs.reader`` gives; time the best of 3, or of 1 over 5 s, ranges over 3 runs; memory the peak
RSS over the RSS before, ``VmHWM`` reset by writing 5 to ``/proc/self/clear_refs``), these
walkers against Pillow's ``JpegImageFile``/``PngImageFile``:

- JPEG, 24 MB of 0xFF fill bytes after SOI: 0.7 ms (refused: over 1,000 markers) against 34 to
  66 s (one ``read(1)`` a byte);
- JPEG, 380 APP1 ``Exif`` segments of 64 KB: 3 ms, +0.0 MB against 0.9 to 11 s, +125 MB (each
  segment is appended to the ones before), then a ``SyntaxError``;
- JPEG, 380 APP5 segments of 64 KB: 3 to 12 ms, +0.0 MB against 33 to 92 ms, +25 MB (all kept);
- PNG, 1.5 million empty private chunks (18 MB): 1 to 2 ms (refused: over 1,000 chunks) against
  18 to 23 s, +181 MB;
- PNG, one 24 MB private chunk before IDAT: 0.1 to 0.3 ms, +0.1 MB against 100 to 155 ms, +50 MB.

The uploads benchmark holds the API worker to 16 MB over its RSS for a 20 MB upload. Pillow's
EXIF reader, given the block alone (at most MAX_EXIF), stays bounded: 31 ms and no measurable
RSS for a 64 KB block of 5,400 entries each claiming 64 KB (Pillow stops reading values past the
block's size; the hand-written TIFF reader this replaced took 3 ms).
"""

from __future__ import annotations

import struct
import threading
import warnings
import zlib
from dataclasses import dataclass
from typing import IO

from PIL import ExifTags, Image, TiffImagePlugin

from server.photos._binary import Malformed, file_size, read_at
from server.photos._heif import MAX_EXIF, read_heif

JPEG, PNG, HEIC = "image/jpeg", "image/png", "image/heic"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_MAX_JPEG_SEGMENTS = 1000
_MAX_PNG_CHUNKS = 1000
"""Legitimate files have a few dozen segments or chunks before the image data."""
_MAX_EXIF_SEGMENTS = 4
"""A camera writes one APP1 ``Exif`` segment (EXIF 2.3, 4.5.4: the Exif data fits in one); a few
more are tolerated. Past them the file is refused here: the photo processing job opens the file
with Pillow, which appends every Exif segment to the ones before (380 of them: 0.9 to 11 s and
+125 MB, measured above)."""
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # DHT, JPG and DAC are not frames
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_EXIF_LOCK = threading.Lock()


@dataclass(frozen=True)
class ExifFacts:
    orientation: int = 1
    """EXIF orientation 1–8 (1, upright, when absent or invalid)."""
    latitude: float | None = None
    longitude: float | None = None


NO_EXIF = ExifFacts()


@dataclass(frozen=True)
class Header:
    width: int
    height: int
    """The pixels as a decoder gives them: before EXIF orientation for JPEG and PNG; for HEIC as
    shown (the decoder applies ``clap`` and ``irot`` itself)."""
    pixels: int
    """What a decoder allocates: width × height (HEIC: of the coded image, before ``clap``)."""
    orientation: int
    """EXIF orientation (1–8) to apply to decoded pixels; 1 for HEIC."""
    exif: ExifFacts

    @property
    def upright(self) -> tuple[int, int]:
        """Width and height as shown, once the orientation is applied."""
        return (self.height, self.width) if self.orientation >= 5 else (self.width, self.height)


def read_header(fp: IO[bytes], media_type: str) -> Header:
    """Malformed if the bytes do not follow the format of ``media_type`` (JPEG, PNG or HEIC)."""
    if media_type == JPEG:
        return _jpeg(fp)
    if media_type == PNG:
        return _png(fp)
    if media_type == HEIC:
        heif = read_heif(fp, file_size(fp))
        exif = exif_facts(heif.exif)
        return Header(heif.width, heif.height, heif.coded_pixels, 1, ExifFacts(1, exif.latitude, exif.longitude))
    raise ValueError(f"no raster header for {media_type}")


def exif_facts(block: bytes) -> ExifFacts:
    """The orientation and GPS position of an EXIF block (a TIFF structure, after ``Exif\\0\\0``
    or not), read by Pillow. Bad EXIF is never an error: a field that is missing, malformed or out
    of range reads as absent, and a block over MAX_EXIF is not read (a JPEG's cannot be larger).

    Pillow warns (``UserWarning``, each with its own text) about every entry it skips as corrupt:
    10,798 warnings for one hostile 64 KB block, as many lines on stderr under Python's default
    filter. They are silenced while it reads; ``warnings.catch_warnings`` swaps the module's list
    of filters, which is not thread-safe before Python 3.14, so this runs under a lock (inspect and
    the background job call it from worker threads)."""
    if not block or len(block) > MAX_EXIF:
        return NO_EXIF
    try:
        with _EXIF_LOCK, warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"PIL\.")
            exif = Image.Exif()
            exif.load(block)
            value = exif.get(ExifTags.Base.Orientation)
            gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
            latitude = _degrees(gps.get(ExifTags.GPS.GPSLatitudeRef), gps.get(ExifTags.GPS.GPSLatitude), "NS", 90)
            longitude = _degrees(gps.get(ExifTags.GPS.GPSLongitudeRef), gps.get(ExifTags.GPS.GPSLongitude), "EW", 180)
    except Exception:  # Pillow's reader raises what it meets (SyntaxError, struct.error, ...)
        return NO_EXIF
    orientation = value if isinstance(value, int) and 1 <= value <= 8 else 1
    if latitude is None or longitude is None or (latitude == 0.0 and longitude == 0.0):
        # Half a position is none; 0°, 0° is what receivers without a fix write.
        return ExifFacts(orientation)
    return ExifFacts(orientation, latitude, longitude)


def _degrees(ref: object, dms: object, letters: str, limit: float) -> float | None:
    """Signed decimal degrees from a Ref (``letters``: positive then negative) and 1–3 rationals
    (degrees, minutes, seconds)."""
    letter = ref[:1].upper() if isinstance(ref, str) else ""
    parts = dms if isinstance(dms, tuple) else (dms,)
    if not letter or letter not in letters or not 1 <= len(parts) <= 3:
        return None
    values: list[float] = []
    for part in parts:
        if not isinstance(part, TiffImagePlugin.IFDRational):
            return None
        numerator, denominator = float(part.numerator), float(part.denominator)
        if denominator <= 0 or numerator < 0:
            return None
        values.append(numerator / denominator)
    degrees, minutes, seconds = (*values, 0.0, 0.0)[:3]
    value = degrees + minutes / 60 + seconds / 3600
    if minutes >= 60 or seconds >= 60 or value > limit:
        return None
    return value if letter == letters[0] else -value


def _jpeg(fp: IO[bytes]) -> Header:
    """Markers from SOI to SOS (ITU T.81 B.1): the frame header (SOFn) gives the size, the first
    APP1 ``Exif`` the EXIF; every other segment is skipped by its length."""
    if read_at(fp, 0, 2) != b"\xff\xd8":
        raise Malformed("no SOI marker")
    pos, frame, exif, exif_segments = 2, None, None, 0
    for _ in range(_MAX_JPEG_SEGMENTS):
        head = read_at(fp, pos, 4)
        if head[0] != 0xFF:
            raise Malformed(f"no marker at byte {pos}")
        marker = head[1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x00, 0x01) or 0xD0 <= marker <= 0xD7:  # a stray escaped 0xFF, TEM, RSTn: no length
            pos += 2
            continue
        if marker == 0xDA:  # SOS: the entropy-coded data follows
            if frame is None:
                raise Malformed("scan before any frame header")
            width, height = frame
            facts = exif_facts(exif or b"")
            return Header(width, height, width * height, facts.orientation, facts)
        if marker in (0xD8, 0xD9):
            raise Malformed("SOI or EOI before the first scan")
        length = int.from_bytes(head[2:4], "big")
        if length < 2:
            raise Malformed(f"segment length {length}")
        if marker in _JPEG_SOF:
            if frame is not None:
                raise Malformed("two frame headers")
            _, height, width, _ = struct.unpack(">BHHB", read_at(fp, pos + 4, 6))
            if width == 0 or height == 0:
                raise Malformed(f"frame of {width}×{height}")  # 0 lines: a DNL marker, not supported
            frame = width, height
        elif marker == 0xE1 and length > 8 and read_at(fp, pos + 4, 6) == b"Exif\x00\x00":
            exif_segments += 1
            if exif_segments > _MAX_EXIF_SEGMENTS:
                raise Malformed(f"more than {_MAX_EXIF_SEGMENTS} Exif segments (a camera writes one)")
            if exif is None:
                exif = read_at(fp, pos + 10, length - 8)
        pos += 2 + length
    raise Malformed(f"more than {_MAX_JPEG_SEGMENTS} segments before the image data")


def _png(fp: IO[bytes]) -> Header:
    """IHDR (checked by its CRC), then chunks to the first IDAT, skipped by their length but the
    first eXIf (before IDAT, where the PNG specification puts it)."""
    head = read_at(fp, 0, 33)
    if head[:8] != PNG_SIGNATURE or head[8:16] != b"\x00\x00\x00\x0dIHDR":
        raise Malformed("no IHDR chunk first")
    width, height, depth, color, compression, filter_, interlace = struct.unpack(">IIBBBBB", head[16:29])
    if zlib.crc32(head[12:29]) != int.from_bytes(head[29:33], "big"):
        raise Malformed("IHDR CRC mismatch")
    if not (0 < width < 2**31 and 0 < height < 2**31):
        raise Malformed(f"image of {width}×{height}")
    if depth not in _PNG_DEPTHS.get(color, ()) or compression != 0 or filter_ != 0 or interlace > 1:
        raise Malformed("IHDR fields out of range")
    pos, exif = 33, None
    for _ in range(_MAX_PNG_CHUNKS):
        length, type_ = struct.unpack(">I4s", read_at(fp, pos, 8))
        if length >= 2**31:
            raise Malformed(f"chunk length {length}")
        if type_ == b"IDAT":
            facts = exif_facts(exif or b"")
            return Header(width, height, width * height, facts.orientation, facts)
        if type_ in (b"IEND", b"IHDR"):
            raise Malformed(f"{type_.decode()} before the image data")
        if type_ == b"eXIf" and exif is None:
            exif = read_at(fp, pos + 8, length) if length <= MAX_EXIF else b""
        pos += 12 + length
    raise Malformed(f"more than {_MAX_PNG_CHUNKS} chunks before the image data")
