"""Reading exact byte ranges of a file, and of bytes in memory, for the header parsers."""

from __future__ import annotations

import struct
from typing import IO


class Malformed(Exception):
    """The bytes do not follow the format they claim (short, out of range, inconsistent)."""


def read_at(fp: IO[bytes], offset: int, n: int) -> bytes:
    """Exactly ``n`` bytes of ``fp`` from ``offset``; Malformed if the file ends first.

    Loops on short reads (a raw or remote reader may return fewer bytes than asked)."""
    if offset < 0 or n < 0:
        raise Malformed("offset out of range")
    fp.seek(offset)
    chunks: list[bytes] = []
    left = n
    while left > 0:
        chunk = fp.read(left)
        if not chunk:
            raise Malformed(f"the file ends before byte {offset + n}")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_prefix(fp: IO[bytes], n: int) -> bytes:
    """The first ``n`` bytes of ``fp``, or all of them if it is shorter."""
    fp.seek(0)
    data = b""
    while len(data) < n:
        chunk = fp.read(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def file_size(fp: IO[bytes]) -> int:
    return fp.seek(0, 2)


class Cursor:
    """Big-endian fields of ``buf[pos:end]``, read in order; Malformed past ``end``."""

    __slots__ = ("buf", "end", "pos")

    def __init__(self, buf: bytes, pos: int = 0, end: int | None = None) -> None:
        self.buf = buf
        self.pos = pos
        self.end = len(buf) if end is None else end

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise Malformed("a field runs past the end of its box")
        data = self.buf[self.pos : self.pos + n]
        self.pos += n
        return data

    def uint(self, size: int) -> int:
        """An unsigned integer of ``size`` bytes (0 bytes reads as 0, as ISOBMFF's iloc wants)."""
        return int.from_bytes(self.take(size), "big")

    def u8(self) -> int:
        return self.uint(1)

    def u16(self) -> int:
        return self.uint(2)

    def u32(self) -> int:
        return self.uint(4)

    def i32(self) -> int:
        value: int = struct.unpack(">i", self.take(4))[0]
        return value
