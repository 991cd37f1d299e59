"""The header of a HEIF (HEIC) file, from its ``meta`` box, without decoding anything.

ISO/IEC 23008-12 (HEIF) on ISO/IEC 14496-12 (ISOBMFF): the top-level boxes are walked by their
headers only (``mdat``, the pixels, is skipped), the ``meta`` box is read (it is small: a few KB
on phones, refused above ``MAX_META``), and from it: the primary item (``pitm``), its type
(``iinf``), its properties (``iprp``: ``ispe`` the coded size, ``clap`` a crop, ``irot`` a
rotation, applied in their order as libheif does) and the location (``iloc``) of the Exif item
that describes it (``iref`` ``cdsc``), which is then read alone (at most ``MAX_EXIF``) and handed
over as bytes (``_headers`` has Pillow read it).

EXIF orientation is not used: in HEIF the ``irot``/``imir`` properties orient the image (and
decoders apply them), so the width and height here are the image as shown.

pillow-heif is not used here: over a file object (``Blobs.reader``) it reads the whole file into
memory for libheif, which bounds neither the memory nor the bytes read from the store by the
header. Measured 2026-12-06 (pillow-heif 1.9.0, libheif 1.23.7; each case in a fresh process, peak
RSS over the RSS before, ``VmHWM`` reset by writing 5 to ``/proc/self/clear_refs``; through a 256
KB ``io.BufferedReader``), this reader against ``pillow_heif``'s ``HeifImageFile`` on the reader:

- a real 12-megapixel HEIC of 18.7 MB: 0.2 to 0.6 ms, +0.0 MB, 0.5 MB read, against 95 to 161
  ms, +37.7 MB (twice the file), 18.7 MB read;
- a meta box of 20 MB: 0.1 to 0.3 ms, refused (over MAX_META), against 83 to 190 ms, +42.3 MB.

pillow-heif reads lazily only a file of the operating system it opened by name (0.3 ms, +0.3 MB,
264 KB read for the 18.7 MB file), which an object in the blob store is not (copied to a temporary
file first: 16 ms, +2.3 MB, and the whole file read from the store again); and it gives the size
after ``clap`` only, not the coded size a decoder allocates (an ``ispe`` of 40000 × 40000 cropped
to 61 × 41 reads as 61 × 41, where this reader refuses 1.6 billion pixels).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from server.photos._binary import Cursor, Malformed, read_at

MAX_META = 4 * 1024 * 1024
MAX_EXIF = 64 * 1024
"""EXIF read at most, in any format (a JPEG's cannot be larger: one APP1 segment); a larger
block in a HEIC or PNG is ignored, which also bounds Pillow's reading of it."""
_MAX_TOP_LEVEL_BOXES = 64
_MAX_CHILDREN = 4096
_MAX_EXTENTS = 100_000
_MAX_EXIF_ITEMS = 16
_HEVC_ITEM_TYPES = frozenset({b"hvc1", b"grid", b"iden", b"iovl"})
"""A coded HEVC image, or one derived from such images (tiles, a crop/rotation, an overlay)."""


@dataclass(frozen=True)
class HeifHeader:
    width: int
    height: int
    """The primary image as shown: its ``ispe`` cropped by ``clap`` and turned by ``irot``."""
    coded_pixels: int
    """Width × height of the ``ispe``: what a decoder allocates for it."""
    exif: bytes
    """The Exif item's TIFF structure (after ``Exif\\0\\0`` or not); empty if none or unreadable."""


def read_heif(fp: IO[bytes], size: int) -> HeifHeader:
    meta = _meta_box(fp, size)
    boxes = _Meta(meta)
    return HeifHeader(*boxes.primary_size(), exif=boxes.exif(fp))


def _box_header(fp: IO[bytes], pos: int, end: int) -> tuple[bytes, int, int]:
    """(type, header length, box length) of the top-level box at ``pos``."""
    head = read_at(fp, pos, 8)
    length, type_ = int.from_bytes(head[:4], "big"), head[4:]
    header = 8
    if length == 1:
        length = int.from_bytes(read_at(fp, pos + 8, 8), "big")
        header = 16
    elif length == 0:
        length = end - pos
    if length < header or pos + length > end:
        raise Malformed(f"box {type_!r} at {pos} runs past the end of the file")
    return type_, header, length


def _meta_box(fp: IO[bytes], size: int) -> bytes:
    pos = 0
    for _ in range(_MAX_TOP_LEVEL_BOXES):
        if pos >= size:
            break
        type_, header, length = _box_header(fp, pos, size)
        if type_ == b"meta":
            if length > MAX_META:
                raise Malformed(f"meta box of {length} bytes (at most {MAX_META})")
            return read_at(fp, pos + header, length - header)
        pos += length
    raise Malformed("no meta box")


def _children(buf: bytes, pos: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) of each box in ``buf[pos:end]``."""
    for _ in range(_MAX_CHILDREN):
        if pos >= end:
            return
        c = Cursor(buf, pos, end)
        length, type_ = c.u32(), c.take(4)
        if length == 1:
            length = c.uint(8)
        elif length == 0:
            length = end - pos
        if length < c.pos - pos or pos + length > end:
            raise Malformed(f"box {type_!r} runs past the end of its parent")
        yield type_, c.pos, pos + length
        pos += length
    raise Malformed("too many boxes")


class _Meta:
    """The boxes of ``meta`` that concern the primary item and its Exif, and nothing else: a
    hostile meta box of many items, properties or references costs time bounded by its size
    (and the caps), not memory."""

    def __init__(self, meta: bytes) -> None:
        self.buf = meta
        boxes: dict[bytes, tuple[int, int]] = {}
        for type_, start, end in _children(meta, 4, len(meta)):  # 4: meta is a full box
            boxes.setdefault(type_, (start, end))
        if b"hdlr" not in boxes or Cursor(meta, boxes[b"hdlr"][0] + 8, boxes[b"hdlr"][1]).take(4) != b"pict":
            raise Malformed("not an image (meta handler is not pict)")
        if b"pitm" not in boxes:
            raise Malformed("no primary item")
        c = Cursor(meta, *boxes[b"pitm"])
        self.primary = c.uint(2 if c.u32() >> 24 == 0 else 4)
        self.primary_type, self.exif_items = self._iinf(*boxes.get(b"iinf", (0, 0)))
        self.primary_properties = self._iprp(*boxes.get(b"iprp", (0, 0)))
        self.described = self._iref(*boxes.get(b"iref", (0, 0)))
        self.iloc = boxes.get(b"iloc")
        self.idat = boxes.get(b"idat")

    def _iinf(self, start: int, end: int) -> tuple[bytes | None, list[int]]:
        """The primary item's type, and the Exif items (the first _MAX_EXIF_ITEMS)."""
        if start == end:
            return None, []
        c = Cursor(self.buf, start, end)
        version = c.u32() >> 24
        c.take(2 if version == 0 else 4)  # entry count: the boxes are counted as they come
        primary_type: bytes | None = None
        exif_items: list[int] = []
        for type_, entry_start, entry_end in _children(self.buf, c.pos, end):
            if type_ != b"infe":
                continue
            e = Cursor(self.buf, entry_start, entry_end)
            entry_version = e.u32() >> 24
            if entry_version < 2:
                continue  # versions 0 and 1 name no item type
            item = e.uint(2 if entry_version == 2 else 4)
            e.u16()  # protection index
            item_type = e.take(4)
            if item == self.primary and primary_type is None:
                primary_type = item_type
            elif item_type == b"Exif" and len(exif_items) < _MAX_EXIF_ITEMS:
                exif_items.append(item)
        return primary_type, exif_items

    def _iprp(self, start: int, end: int) -> list[tuple[bytes, int, int]]:
        """The primary item's properties (type, payload start, end), in their association order."""
        if start == end:
            return []
        ipco: tuple[int, int] | None = None
        indices: list[int] | None = None
        for type_, child_start, child_end in _children(self.buf, start, end):
            if type_ == b"ipco" and ipco is None:
                ipco = (child_start, child_end)
            elif type_ == b"ipma" and indices is None:
                indices = self._ipma(child_start, child_end)
        if ipco is None or not indices:
            return []
        properties = list(_children(self.buf, *ipco))  # at most _MAX_CHILDREN
        return [properties[index - 1] for index in indices if 1 <= index <= len(properties)]  # 0: none

    def _ipma(self, start: int, end: int) -> list[int] | None:
        c = Cursor(self.buf, start, end)
        version_flags = c.u32()
        version, wide_index = version_flags >> 24, version_flags & 1
        for _ in range(c.u32()):
            item = c.uint(2 if version < 1 else 4)
            indices = [c.u16() & 0x7FFF if wide_index else c.u8() & 0x7F for _ in range(c.u8())]
            if item == self.primary:
                return indices
        return None

    def _iref(self, start: int, end: int) -> set[int]:
        """The Exif items that describe (``cdsc``) the primary item."""
        if start == end:
            return set()
        c = Cursor(self.buf, start, end)
        id_size = 2 if c.u32() >> 24 == 0 else 4
        described: set[int] = set()
        for type_, ref_start, ref_end in _children(self.buf, c.pos, end):
            r = Cursor(self.buf, ref_start, ref_end)
            source = r.uint(id_size)
            if type_ == b"cdsc" and source in self.exif_items and self.primary in _targets(r, id_size):
                described.add(source)
        return described

    def _location(self, wanted: int) -> tuple[int, list[tuple[int, int]]] | None:
        """(construction method, extents (offset, length)) of one item, from iloc."""
        if self.iloc is None:
            return None
        c = Cursor(self.buf, *self.iloc)
        version = c.u32() >> 24
        if version > 2:
            raise Malformed(f"iloc version {version}")
        sizes = c.u16()
        offset_size, length_size, base_size = sizes >> 12, (sizes >> 8) & 15, (sizes >> 4) & 15
        index_size = sizes & 15 if version in (1, 2) else 0
        if any(s not in (0, 4, 8) for s in (offset_size, length_size, base_size, index_size)):
            raise Malformed("iloc field sizes")
        extent_count = 0
        for _ in range(c.uint(2 if version < 2 else 4)):
            item = c.uint(2 if version < 2 else 4)
            method = c.u16() & 15 if version in (1, 2) else 0
            c.u16()  # data reference index
            base = c.uint(base_size)
            count = c.u16()
            extent_count += count
            if extent_count > _MAX_EXTENTS:
                raise Malformed("too many iloc extents")
            extents = []
            for _ in range(count):
                c.uint(index_size)
                extent_offset = c.uint(offset_size)
                extents.append((base + extent_offset, c.uint(length_size)))
            if item == wanted:
                return method, extents
        return None

    def primary_size(self) -> tuple[int, int, int]:
        """(width, height) as shown, and the coded pixels, of the primary item."""
        if self.primary_type not in _HEVC_ITEM_TYPES:
            raise Malformed(f"primary item of type {self.primary_type!r}, not HEVC")
        size: tuple[int, int] | None = None
        width = height = 0
        for type_, start, end in self.primary_properties:
            c = Cursor(self.buf, start, end)
            if type_ == b"ispe" and size is None:
                c.u32()
                size = width, height = c.u32(), c.u32()
            elif type_ == b"clap" and size is not None:
                width = _rounded(c.u32(), c.u32(), width)
                height = _rounded(c.u32(), c.u32(), height)
            elif type_ == b"irot" and size is not None and c.u8() & 1:
                width, height = height, width
        if size is None or size[0] < 1 or size[1] < 1:
            raise Malformed("primary item without its size (ispe)")
        return width, height, size[0] * size[1]

    def exif(self, fp: IO[bytes]) -> bytes:
        """The Exif item describing the primary item (else the first Exif item), at most MAX_EXIF."""
        if not self.exif_items:
            return b""
        item = next((item for item in self.exif_items if item in self.described), self.exif_items[0])
        try:
            location = self._location(item)
            if location is None:
                return b""
            method, extents = location
            total = sum(length for _, length in extents)
            if method not in (0, 1) or not 0 < total <= MAX_EXIF or any(length == 0 for _, length in extents):
                return b""
            if method == 0:
                data = b"".join(read_at(fp, offset, length) for offset, length in extents)
            elif self.idat is None:
                return b""
            else:
                idat = Cursor(self.buf, *self.idat)
                data = b"".join(
                    Cursor(self.buf, idat.pos + offset, idat.end).take(length) for offset, length in extents
                )
        except Malformed:
            return b""
        # The item: a 4-byte offset from its end to the TIFF header (past an "Exif\0\0", if any).
        return data[4 + int.from_bytes(data[:4], "big") :]


def _targets(r: Cursor, id_size: int) -> list[int]:
    return [r.uint(id_size) for _ in range(r.u16())]


def _rounded(numerator: int, denominator: int, limit: int) -> int:
    """A clean-aperture dimension rounded as libheif does, kept only if it is a crop of ``limit``."""
    if denominator == 0 or numerator == 0:
        return limit
    value = (2 * numerator + denominator) // (2 * denominator)
    return value if 1 <= value <= limit else limit
