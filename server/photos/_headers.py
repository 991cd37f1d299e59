"""What a raster file's header says (size, orientation, EXIF position), read by walking its
segments, chunks or boxes by their headers: what is skipped is never read, and what is read is
small (EXIF values, a HEIF meta box), so memory stays bounded whatever the file holds.

Pillow's lazy ``Image.open`` is not used here because it is not bounded for a hostile file: it
keeps every JPEG APPn/COM segment (a thousand 64 KB segments are 64 MB in memory before a single
pixel) and every PNG chunk before the image data, whole.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import IO

from server.photos._binary import Malformed, file_size, read_at
from server.photos._exif import NO_EXIF, ExifFacts, read_exif
from server.photos._heif import read_heif

JPEG, PNG, HEIC = "image/jpeg", "image/png", "image/heic"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_MAX_JPEG_SEGMENTS = 1000
_MAX_PNG_CHUNKS = 1000
"""Legitimate files have a few dozen segments or chunks before the image data."""
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # DHT, JPG and DAC are not frames
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}


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
        return Header(heif.width, heif.height, heif.coded_pixels, 1, heif.exif)
    raise ValueError(f"no raster header for {media_type}")


def _jpeg(fp: IO[bytes]) -> Header:
    """Markers from SOI to SOS (ITU T.81 B.1): the frame header (SOFn) gives the size, the first
    APP1 ``Exif`` the EXIF; every other segment is skipped by its length."""
    if read_at(fp, 0, 2) != b"\xff\xd8":
        raise Malformed("no SOI marker")
    pos, frame, exif = 2, None, NO_EXIF
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
            return Header(width, height, width * height, exif.orientation, exif)
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
        elif marker == 0xE1 and exif is NO_EXIF and length > 8 and read_at(fp, pos + 4, 6) == b"Exif\x00\x00":
            exif = read_exif(fp, pos + 10, length - 8)
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
    pos, exif = 33, NO_EXIF
    for _ in range(_MAX_PNG_CHUNKS):
        length, type_ = struct.unpack(">I4s", read_at(fp, pos, 8))
        if length >= 2**31:
            raise Malformed(f"chunk length {length}")
        if type_ == b"IDAT":
            return Header(width, height, width * height, exif.orientation, exif)
        if type_ in (b"IEND", b"IHDR"):
            raise Malformed(f"{type_.decode()} before the image data")
        if type_ == b"eXIf" and exif is NO_EXIF:
            exif = read_exif(fp, pos + 8, length)
        pos += 12 + length
    raise Malformed(f"more than {_MAX_PNG_CHUNKS} chunks before the image data")
