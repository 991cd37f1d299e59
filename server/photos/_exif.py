"""The two EXIF facts Doorstep uses, the orientation and the GPS position, read from a TIFF
structure (what an EXIF block is) inside a file, touching only the few bytes they live in.

Bad EXIF is never an error: a field that is missing, malformed or out of range reads as absent.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import IO

from server.photos._binary import Malformed, read_at

_ASCII, _SHORT, _LONG, _RATIONAL, _SRATIONAL, _IFD = 2, 3, 4, 5, 10, 13
_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_ORIENTATION, _GPS_IFD = 0x0112, 0x8825
_GPS_LATITUDE_REF, _GPS_LATITUDE, _GPS_LONGITUDE_REF, _GPS_LONGITUDE = 1, 2, 3, 4
_MAX_VALUE = 256
"""The largest value read (a GPS coordinate is 24 bytes): nothing bigger is ever needed."""


@dataclass(frozen=True)
class ExifFacts:
    orientation: int = 1
    """EXIF orientation 1–8 (1, upright, when absent or invalid)."""
    latitude: float | None = None
    longitude: float | None = None


NO_EXIF = ExifFacts()


def read_exif(fp: IO[bytes], start: int, length: int) -> ExifFacts:
    """The facts of the TIFF structure at ``fp[start:start + length]`` (from its ``II*\\0`` or
    ``MM\\0*`` header). Reads the header, the entries of IFD0 and of the GPS IFD, and the few
    values needed; keeps nothing else. Errors of ``fp`` itself (I/O) are not caught."""
    try:
        tiff = _Tiff(fp, start, length)
        ifd0 = tiff.entries(tiff.ifd0)
    except Malformed:
        return NO_EXIF
    orientation = tiff.orientation(ifd0)
    latitude = longitude = None
    try:
        gps = tiff.gps(ifd0)
        if gps is not None:
            latitude = tiff.coordinate(gps, _GPS_LATITUDE_REF, _GPS_LATITUDE, b"N", b"S", 90.0)
            longitude = tiff.coordinate(gps, _GPS_LONGITUDE_REF, _GPS_LONGITUDE, b"E", b"W", 180.0)
    except Malformed:
        pass
    if latitude is None or longitude is None or (latitude == 0.0 and longitude == 0.0):
        # Half a position is none; 0°, 0° is what receivers without a fix write.
        return ExifFacts(orientation=orientation)
    return ExifFacts(orientation=orientation, latitude=latitude, longitude=longitude)


_Entry = tuple[int, int, bytes]  # type, count, the 4-byte value-or-offset field


class _Tiff:
    def __init__(self, fp: IO[bytes], start: int, length: int) -> None:
        self.fp, self.start, self.length = fp, start, length
        head = self.read(0, 8)
        if head[:4] == b"II*\x00":
            self.order = "<"
        elif head[:4] == b"MM\x00*":
            self.order = ">"
        else:
            raise Malformed("not a TIFF header")
        self.ifd0 = self.u32(head[4:8])

    def read(self, offset: int, n: int) -> bytes:
        if offset < 0 or offset + n > self.length:
            raise Malformed("EXIF offset out of its block")
        return read_at(self.fp, self.start + offset, n)

    def u32(self, field: bytes) -> int:
        value: int = struct.unpack(self.order + "I", field)[0]
        return value

    def entries(self, offset: int) -> dict[int, _Entry]:
        (count,) = struct.unpack(self.order + "H", self.read(offset, 2))
        raw = self.read(offset + 2, 12 * count)  # bounded by the block's length
        found: dict[int, _Entry] = {}
        for i in range(0, len(raw), 12):
            tag, type_, n = struct.unpack(self.order + "HHI", raw[i : i + 8])
            found.setdefault(tag, (type_, n, raw[i + 8 : i + 12]))
        return found

    def value(self, entry: _Entry) -> bytes:
        type_, count, field = entry
        size = _TYPE_SIZE.get(type_)
        if size is None or count > _MAX_VALUE // size:
            raise Malformed("EXIF value of an unknown type or too long")
        total = size * count
        return field[:total] if total <= 4 else self.read(self.u32(field), total)

    def orientation(self, ifd0: dict[int, _Entry]) -> int:
        entry = ifd0.get(_ORIENTATION)
        if entry is None or entry[0] != _SHORT or entry[1] != 1:
            return 1
        (value,) = struct.unpack(self.order + "H", entry[2][:2])
        return value if 1 <= value <= 8 else 1

    def gps(self, ifd0: dict[int, _Entry]) -> dict[int, _Entry] | None:
        entry = ifd0.get(_GPS_IFD)
        if entry is None or entry[0] not in (_LONG, _IFD) or entry[1] != 1:
            return None
        return self.entries(self.u32(entry[2]))

    def coordinate(
        self, gps: dict[int, _Entry], ref_tag: int, value_tag: int, positive: bytes, negative: bytes, limit: float
    ) -> float | None:
        """Signed decimal degrees from a Ref (N/S, E/W) and 1–3 rationals (degrees, minutes, seconds)."""
        ref, dms = gps.get(ref_tag), gps.get(value_tag)
        if ref is None or dms is None or ref[0] != _ASCII or dms[0] not in (_RATIONAL, _SRATIONAL):
            return None
        letter = self.value(ref)[:1].upper()
        if letter not in (positive, negative) or not 1 <= dms[1] <= 3:
            return None
        raw = self.value(dms)
        fmt = self.order + ("I" if dms[0] == _RATIONAL else "i") * (2 * dms[1])
        numbers = struct.unpack(fmt, raw)
        parts: list[float] = []
        for numerator, denominator in zip(numbers[::2], numbers[1::2], strict=True):
            if denominator <= 0 or numerator < 0:
                return None
            parts.append(numerator / denominator)
        degrees, minutes, seconds = (*parts, 0.0, 0.0)[:3]
        if minutes >= 60 or seconds >= 60:
            return None
        value = degrees + minutes / 60 + seconds / 3600
        if value > limit:
            return None
        return value if letter == positive else -value
