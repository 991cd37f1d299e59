"""server.photos: what an upload is by its bytes (inspect), and the copies served of it (process).

Every file is made here, by Pillow (pillow-heif for HEIC) where it can; a few are then damaged
or assembled by hand (the PNG bomb: Pillow would need its 1.6 GB of pixels to encode it).
"""

from __future__ import annotations

import io
import os
import random
import struct
import threading
import time
import tracemalloc
import zipfile
import zlib
from collections.abc import Mapping
from typing import BinaryIO, cast

import pillow_heif
import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageCms, ImageDraw, PngImagePlugin

from server.photos.inspect import MEDIA_TYPES, Inspection, Refused, inspect, sniff
from server.photos.process import served_copy, thumbnail

MAX_PIXELS = 50_000_000
RED, WHITE, BLUE = (220, 20, 20), (255, 255, 255), (20, 40, 200)
SOUTH_WEST = {1: "S", 2: (33.0, 51.0, 54.0), 3: "W", 4: (151.0, 12.0, 36.0)}
SOUTH_WEST_DEGREES = (-(33 + 51 / 60 + 54 / 3600), -(151 + 12 / 60 + 36 / 3600))
NORTH_EAST = {1: "N", 2: (48.0, 51.0, 29.5), 3: "E", 4: (2.0, 17.0, 40.0)}
NORTH_EAST_DEGREES = (48 + 51 / 60 + 29.5 / 3600, 2 + 17 / 60 + 40 / 3600)
LATITUDE_RATIONALS = (struct.pack("<6I", 33, 1, 51, 1, 54, 1), struct.pack(">6I", 33, 1, 51, 1, 54, 1))
"""SOUTH_WEST's latitude as EXIF stores it (either byte order): absent from every served copy."""
SOF_60_BY_40 = b"\xff\xc0\x00\x11\x08\x00\x28\x00\x3c"
"""The frame header of ``jpeg()``: SOF0, length 17, 8 bits, 40 lines of 60 pixels."""
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><secret>XMP-SECRET</secret></x:xmpmeta>'


# --- files -------------------------------------------------------------------------------------


def exif(orientation: int | None = None, gps: Mapping[int, object] | None = None) -> Image.Exif:
    tags = Image.Exif()
    if orientation is not None:
        tags[0x0112] = orientation
    if gps is not None:
        tags.get_ifd(0x8825).update(gps)
    return tags


def form(size: tuple[int, int] = (60, 40)) -> Image.Image:
    """White, with a red square in the stored top-left corner (to see which way it was turned)."""
    image = Image.new("RGB", size, WHITE)
    ImageDraw.Draw(image).rectangle((0, 0, size[0] // 4, size[1] // 4), fill=RED)
    return image


def jpeg(image: Image.Image | None = None, **params: object) -> bytes:
    out = io.BytesIO()
    (image or form()).save(out, "JPEG", quality=95, **params)
    return out.getvalue()


def png(image: Image.Image | None = None, **params: object) -> bytes:
    out = io.BytesIO()
    (image or form()).save(out, "PNG", **params)
    return out.getvalue()


def heic(image: Image.Image | None = None, exif_tags: Image.Exif | None = None, **params: object) -> bytes:
    image = (image or form()).copy()
    if exif_tags is not None:
        image.info["exif"] = exif_tags.tobytes()
    out = io.BytesIO()
    pillow_heif.from_pillow(image).save(out, quality=80, **params)
    return out.getvalue()


def pdf(*pages: Image.Image) -> bytes:
    out = io.BytesIO()
    pages = pages or (Image.new("RGB", (100, 200), BLUE),)
    pages[0].save(out, "PDF", save_all=True, append_images=list(pages[1:]))
    return out.getvalue()


def pdf_of_no_page() -> bytes:
    """A well-formed PDF whose page tree is empty (by hand: Pillow writes at least one page)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 3\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % at for at in offsets)
    return out + b"trailer\n<< /Size 3 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref


def gif() -> bytes:
    out = io.BytesIO()
    form().convert("P").save(out, "GIF")
    return out.getvalue()


def zip_file() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("form.jpg", jpeg())
    return out.getvalue()


def png_chunk(type_: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + type_ + data + struct.pack(">I", zlib.crc32(type_ + data))


def png_bomb(side: int = 40_000) -> bytes:
    """A real bomb: side×side 1-bit grey, all zero, ~200 KB compressed, 200 MB of rows inflated."""
    compressor = zlib.compressobj(9)
    row = bytes(1 + side // 8)  # filter byte, then the row's bits
    idat = b"".join([compressor.compress(row) for _ in range(side)] + [compressor.flush()])
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def with_segment(jpeg_bytes: bytes, segment: bytes, copies: int = 1) -> bytes:
    """The JPEG with raw segments inserted right after its SOI."""
    return jpeg_bytes[:2] + segment * copies + jpeg_bytes[2:]


def two_frames() -> bytes:
    """``jpeg()`` with a second frame header of 65535 × 65535 after its own: libjpeg refuses two,
    and Pillow's header-only open takes the last one's size."""
    data = jpeg()
    at = data.index(SOF_60_BY_40)
    frame = data[at : at + 19]
    return data[: at + 19] + b"\xff\xc1\x00\x11\x08\xff\xff\xff\xff" + frame[9:] + data[at + 19 :]


def app_segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def iptc_segment() -> bytes:
    record = b"\x1c\x02\x78" + struct.pack(">H", 11) + b"IPTC-SECRET"  # 2:120, the caption
    resource = b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(record)) + record
    return app_segment(0xED, b"Photoshop 3.0\x00" + resource)


Entry = tuple[int, int, int, bytes]


def tiff_gps(order: str, ifd0_extra: list[Entry], gps: list[Entry]) -> bytes:
    """An EXIF block by hand (for values Pillow will not write): IFD0 pointing to a GPS IFD, each
    entry (tag, type, count, value bytes), values over 4 bytes placed after the IFDs."""
    head = (b"II*\x00" if order == "<" else b"MM\x00*") + struct.pack(order + "I", 8)
    ifd0_at = 8
    ifd0_entries = [*ifd0_extra, (0x8825, 4, 1, b"")]
    gps_at = ifd0_at + 2 + 12 * len(ifd0_entries) + 4
    data_at = gps_at + 2 + 12 * len(gps) + 4
    data = b""

    def ifd(entries: list[Entry]) -> bytes:
        nonlocal data
        out = struct.pack(order + "H", len(entries))
        for tag, type_, count, value in entries:
            if tag == 0x8825:
                field = struct.pack(order + "I", gps_at)
            elif len(value) <= 4:
                field = value.ljust(4, b"\x00")
            else:
                field = struct.pack(order + "I", data_at + len(data))
                data += value
            out += struct.pack(order + "HHI", tag, type_, count) + field
        return out + b"\x00\x00\x00\x00"

    ifds = ifd(ifd0_entries) + ifd(gps)
    return b"Exif\x00\x00" + head + ifds + data


def rationals(order: str, *pairs: tuple[int, int]) -> bytes:
    return b"".join(struct.pack(order + "II", n, d) for n, d in pairs)


class Reader:
    """A seekable reader with only read, seek and tell (no readinto: a lazy remote reader may
    have no more), counting the bytes read; it can fail after ``fail_after`` bytes."""

    def __init__(self, data: bytes, fail_after: int | None = None) -> None:
        self._data = io.BytesIO(data)
        self.bytes_read = 0
        self.fail_after = fail_after

    def read(self, n: int = -1) -> bytes:
        chunk = self._data.read(n)
        self.bytes_read += len(chunk)
        if self.fail_after is not None and self.bytes_read > self.fail_after:
            raise OSError("the object store went away")
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._data.seek(offset, whence)

    def tell(self) -> int:
        return self._data.tell()


def reader(data: bytes, fail_after: int | None = None) -> tuple[Reader, BinaryIO]:
    r = Reader(data, fail_after)
    return r, cast(BinaryIO, r)


def inspected(data: bytes, max_pixels: int = MAX_PIXELS) -> Inspection:
    return inspect(io.BytesIO(data), max_pixels)


def refusal(data: bytes, max_pixels: int = MAX_PIXELS) -> Refused:
    with pytest.raises(Refused) as refused:
        inspect(io.BytesIO(data), max_pixels)
    return refused.value


def served(data: bytes, media_type: str) -> tuple[str, bytes]:
    out = io.BytesIO()
    served_type = served_copy(io.BytesIO(data), media_type, out)
    return served_type, out.getvalue()


def thumb(data: bytes, media_type: str, size: int = 320) -> bytes:
    out = io.BytesIO()
    thumbnail(io.BytesIO(data), media_type, out, size)
    return out.getvalue()


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def assert_no_metadata(data: bytes) -> None:
    image = opened(data)
    assert len(image.getexif()) == 0
    for key in ("exif", "xmp", "XML:com.adobe.xmp", "comment", "photoshop", "Comment", "Author"):
        assert key not in image.info
    for secret in (b"Exif\x00\x00", b"eXIf", b"XMP-SECRET", b"IPTC-SECRET", b"FORM-SECRET", *LATITUDE_RATIONALS):
        assert secret not in data


def is_red(pixel: object) -> bool:
    assert isinstance(pixel, tuple)
    r, g, b = pixel[:3]
    return bool(r > 180 and g < 80 and b < 80)


# --- sniff -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (jpeg, "image/jpeg"),
        (png, "image/png"),
        (heic, "image/heic"),
        (pdf, "application/pdf"),
        (gif, None),
        (zip_file, None),
        (lambda: b"Dear case manager, this is not a photo.\n" * 3, None),
        (lambda: random.Random(7).randbytes(64), None),
        (lambda: b"", None),
    ],
)
def test_sniff_reads_the_bytes(make: object, expected: str | None) -> None:
    data = cast("type[bytes]", make)()
    assert sniff(data[:32]) == expected
    assert expected is None or expected in MEDIA_TYPES


def test_sniff_heif_brands() -> None:
    def ftyp(major: bytes, *compatible: bytes) -> bytes:
        body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
        return (struct.pack(">I", 8 + len(body)) + b"ftyp" + body + b"\x00" * 32)[:32]

    assert sniff(ftyp(b"heic", b"mif1", b"heic")) == "image/heic"
    assert sniff(ftyp(b"heix", b"mif1")) == "image/heic"
    assert sniff(ftyp(b"mif1", b"miaf", b"heic")) == "image/heic"  # generic HEIF, HEVC-coded
    assert sniff(ftyp(b"avif", b"mif1", b"miaf")) is None  # AVIF is HEIF too, but not HEIC
    assert sniff(ftyp(b"mif1", b"avif", b"miaf")) is None
    assert sniff(ftyp(b"isom", b"mp41")) is None  # an MP4 video


# --- inspect -----------------------------------------------------------------------------------


def test_inspect_jpeg_south_west_turned() -> None:
    found = inspected(jpeg(exif=exif(6, SOUTH_WEST)))
    assert (found.media_type, found.width, found.height, found.pages) == ("image/jpeg", 40, 60, None)
    assert (found.exif_latitude, found.exif_longitude) == pytest.approx(SOUTH_WEST_DEGREES)


def test_inspect_jpeg_north_east_upright() -> None:
    found = inspected(jpeg(exif=exif(1, NORTH_EAST)))
    assert (found.width, found.height) == (60, 40)
    assert (found.exif_latitude, found.exif_longitude) == pytest.approx(NORTH_EAST_DEGREES)


def test_inspect_jpeg_without_exif() -> None:
    assert inspected(jpeg()) == Inspection("image/jpeg", 60, 40, None, None, None)


def test_inspect_png_with_and_without_exif() -> None:
    assert inspected(png()) == Inspection("image/png", 60, 40, None, None, None)
    found = inspected(png(exif=exif(8, NORTH_EAST)))
    assert (found.media_type, found.width, found.height) == ("image/png", 40, 60)
    assert (found.exif_latitude, found.exif_longitude) == pytest.approx(NORTH_EAST_DEGREES)


@pytest.mark.parametrize(
    ("size", "params"),
    [((60, 40), {}), ((61, 41), {}), ((151, 99), {"tile_size": 64})],  # odd: cropped (clap); a grid
)
def test_inspect_heic_size_as_libheif_sees_it(size: tuple[int, int], params: dict[str, object]) -> None:
    data = heic(form(size), exif(1, SOUTH_WEST), **params)
    found = inspected(data)
    assert (found.media_type, found.width, found.height, found.pages) == ("image/heic", *size, None)
    assert (found.width, found.height) == pillow_heif.open_heif(io.BytesIO(data)).size
    assert (found.exif_latitude, found.exif_longitude) == pytest.approx(SOUTH_WEST_DEGREES)


def test_inspect_heic_rotation_property() -> None:
    """pillow-heif writes an EXIF orientation as an irot property (after a clap): libheif applies
    them in order, and so does inspect, so both see the same size."""
    data = heic(form((61, 41)), exif(6))
    assert b"irot" in data and b"clap" in data
    found = inspected(data)
    assert (found.width, found.height) == pillow_heif.open_heif(io.BytesIO(data)).size
    assert (found.exif_latitude, found.exif_longitude) == (None, None)


def test_inspect_pdf_counts_pages() -> None:
    assert inspected(pdf()) == Inspection("application/pdf", None, None, 1, None, None)
    three = pdf(*[Image.new("RGB", (50, 70), colour) for colour in (RED, WHITE, BLUE)])
    assert inspected(three).pages == 3


@pytest.mark.parametrize(
    "make",
    [gif, zip_file, lambda: b"Dear case manager, this is not a photo.\n", lambda: random.Random(3).randbytes(4096)],
    ids=["gif", "zip", "text", "random"],
)
def test_inspect_refuses_other_types(make: object) -> None:
    data = cast("type[bytes]", make)()
    assert refusal(data).code == "unsupported_type"


def test_inspect_refuses_an_empty_file() -> None:
    assert refusal(b"").code == "unsupported_type"


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("truncated jpeg header", jpeg()[:20]),
        ("jpeg without a frame", b"\xff\xd8" + app_segment(0xE0, b"JFIF\x00" + bytes(9)) + b"\xff\xda\x00\x02"),
        ("jpeg of 0 pixels", jpeg().replace(SOF_60_BY_40, b"\xff\xc0\x00\x11\x08\x00\x00\x00\x3c")),
        ("jpeg with two frame headers", two_frames()),
        ("png with a bad IHDR", png()[:20] + b"\xff" + png()[21:]),
        ("png cut before its data", png()[:40]),
        ("heic cut in its meta box", heic()[:120]),
        ("pdf of garbage", b"%PDF-1.7\n" + random.Random(5).randbytes(2000)),
        ("pdf of no page", pdf_of_no_page()),
    ],
)
def test_inspect_refuses_what_claims_a_type_but_is_not(name: str, data: bytes) -> None:
    refused = refusal(data)
    assert refused.code == "unreadable", name
    assert refused.detail


def test_png_bomb_refused_from_its_header() -> None:
    bomb = png_bomb()
    assert len(bomb) < 400_000
    with pytest.raises(Image.DecompressionBombError):  # Pillow's header-only open agrees it is one
        Image.open(io.BytesIO(bomb))
    counting, fp = reader(bomb)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(Refused) as refused:
            inspect(fp, MAX_PIXELS)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.code == "decompression_bomb"
    assert elapsed < 0.5
    assert peak < 256 * 1024  # 200 MB of rows if anything inflated them
    assert counting.bytes_read < 1024


def test_pixel_limit_is_the_callers() -> None:
    data = jpeg()  # 60 × 40
    assert inspected(data, max_pixels=2400).width == 60
    assert refusal(data, max_pixels=2399).code == "decompression_bomb"
    assert refusal(heic(), max_pixels=1000).code == "decompression_bomb"
    assert refusal(png(), max_pixels=1000).code == "decompression_bomb"


def test_jpeg_bomb_refused_from_its_frame_header() -> None:
    data = jpeg()
    assert SOF_60_BY_40 in data
    bomb = data.replace(SOF_60_BY_40, b"\xff\xc0\x00\x11\x08\xff\xff\xff\xff")
    assert refusal(bomb).code == "decompression_bomb"


def test_inspect_memory_is_bounded_by_headers_not_metadata() -> None:
    """500 APP segments of 64 KB (32 MB) before the frame: Pillow's lazy open keeps them all;
    inspect skips them by their lengths."""
    padding = app_segment(0xE5, bytes(65_533))
    data = with_segment(jpeg(exif=exif(6, SOUTH_WEST)), padding, copies=500)
    counting, fp = reader(data)
    tracemalloc.start()
    try:
        found = inspect(fp, MAX_PIXELS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (found.width, found.height) == (40, 60)
    assert found.exif_latitude == pytest.approx(SOUTH_WEST_DEGREES[0])
    assert peak < 256 * 1024
    assert counting.bytes_read < 10_000


def test_a_jpeg_of_many_exif_segments_is_refused_before_pillow_opens_it() -> None:
    """The photo processing job opens an accepted JPEG with Pillow, which appends each Exif
    segment to the ones before (380 of 64 KB: up to 11 s and 125 MB): inspect refuses past four;
    the first one is the EXIF read."""
    extra = app_segment(0xE1, b"Exif\x00\x00" + bytes(65_000))
    photo = jpeg(exif=exif(6, SOUTH_WEST))
    found = inspected(photo[:2] + photo[2:].replace(b"\xff\xdb", extra * 3 + b"\xff\xdb", 1))
    assert found.exif_latitude == pytest.approx(SOUTH_WEST_DEGREES[0]), "four: the first one read"
    refused = refusal(with_segment(photo, extra, copies=380))
    assert (refused.code, "more than 4 Exif segments" in refused.detail) == ("unreadable", True)


def test_inspect_reads_a_pdfs_structure_not_its_pages() -> None:
    noise = Image.frombytes("RGB", (800, 800), random.Random(11).randbytes(800 * 800 * 3))
    data = pdf(noise, noise, noise)
    assert len(data) > 1_000_000
    counting, fp = reader(data)
    assert inspect(fp, MAX_PIXELS).pages == 3
    assert counting.bytes_read < 20_000


def test_inspect_reads_a_heics_meta_not_its_pixels() -> None:
    noise = Image.frombytes("RGB", (600, 400), random.Random(13).randbytes(600 * 400 * 3))
    data = heic(noise, exif(1, NORTH_EAST))
    assert len(data) > 100_000
    counting, fp = reader(data)
    tracemalloc.start()
    try:
        found = inspect(fp, MAX_PIXELS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (found.width, found.height) == (600, 400)
    assert found.exif_latitude == pytest.approx(NORTH_EAST_DEGREES[0])
    assert counting.bytes_read < 4096
    assert peak < 256 * 1024


def test_inspect_raises_the_readers_own_errors() -> None:
    for data in (pdf(), jpeg()):
        _, fp = reader(data, fail_after=40)
        with pytest.raises(OSError, match="went away"):
            inspect(fp, MAX_PIXELS)


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads the resident size from /proc")
def test_refusing_pdfs_leaks_nothing() -> None:
    """pypdfium2's PdfDocument(stream) leaves a PDF of no page loaded (~4 KB each): inspect
    loads and closes PDFs itself."""

    def resident() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    data = pdf_of_no_page()
    for _ in range(200):  # warm up allocator pools
        assert refusal(data).code == "unreadable"
    before = resident()
    for _ in range(3000):
        assert refusal(data).code == "unreadable"
    assert resident() - before < 4 * 1024 * 1024  # 3000 × 4 KB is 12 MB


def test_inspect_pdf_from_threads() -> None:
    """PDFium is not thread-safe: inspect serialises its use of it."""
    data = pdf(*[Image.new("RGB", (30, 30), RED)] * 4)
    results: list[int | None] = []

    def work() -> None:
        for _ in range(20):
            results.append(inspected(data).pages)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [4] * 80


def test_refused_codes_are_the_three() -> None:
    assert Refused("unreadable", "cut short").code == "unreadable"
    with pytest.raises(ValueError):
        Refused("too_big", "no such code")


# --- EXIF GPS that is not evidence -------------------------------------------------------------


@pytest.mark.parametrize("order", ["<", ">"])
def test_exif_gps_by_hand_both_byte_orders(order: str) -> None:
    block = tiff_gps(
        order,
        [(0x0112, 3, 1, struct.pack(order + "H", 6))],
        [
            (1, 2, 2, b"S\x00"),
            (2, 5, 3, rationals(order, (33, 1), (5130, 100), (0, 1))),
            (3, 2, 2, b"E\x00"),
            (4, 5, 3, rationals(order, (18, 1), (25, 1), (3015, 100))),
        ],
    )
    found = inspected(jpeg(exif=block))
    assert (found.width, found.height) == (40, 60)
    assert (found.exif_latitude, found.exif_longitude) == pytest.approx(
        (-(33 + 51.3 / 60), 18 + 25 / 60 + 30.15 / 3600)
    )


GOOD_LONGITUDE = [(3, 2, 2, b"E\x00"), (4, 5, 3, rationals("<", (18, 1), (25, 1), (30, 1)))]


@pytest.mark.parametrize(
    ("name", "latitude"),
    [
        ("zero denominator", [(1, 2, 2, b"N\x00"), (2, 5, 3, rationals("<", (33, 0), (51, 1), (54, 1)))]),
        ("minutes over 59", [(1, 2, 2, b"N\x00"), (2, 5, 3, rationals("<", (33, 1), (75, 1), (0, 1)))]),
        ("over 90 degrees", [(1, 2, 2, b"N\x00"), (2, 5, 3, rationals("<", (91, 1), (0, 1), (0, 1)))]),
        ("unknown reference", [(1, 2, 2, b"X\x00"), (2, 5, 3, rationals("<", (33, 1), (51, 1), (54, 1)))]),
        ("no reference", [(2, 5, 3, rationals("<", (33, 1), (51, 1), (54, 1)))]),
        ("not rationals", [(1, 2, 2, b"N\x00"), (2, 3, 3, struct.pack("<3H", 33, 51, 54))]),
        ("negative", [(1, 2, 2, b"N\x00"), (2, 10, 3, struct.pack("<6i", -33, 1, 51, 1, 54, 1))]),
        ("points outside the block", [(1, 2, 2, b"N\x00"), (2, 5, 3, b"\xff\xff\x00\x00")]),
        ("null island", [(1, 2, 2, b"N\x00"), (2, 5, 3, rationals("<", (0, 1), (0, 1), (0, 1)))]),
    ],
)
def test_bad_exif_gps_is_ignored(name: str, latitude: list[Entry]) -> None:
    longitude = GOOD_LONGITUDE
    if name == "null island":
        longitude = [(3, 2, 2, b"E\x00"), (4, 5, 3, rationals("<", (0, 1), (0, 1), (0, 1)))]
    found = inspected(jpeg(exif=tiff_gps("<", [], latitude + longitude)))
    assert (found.width, found.height, found.exif_latitude, found.exif_longitude) == (60, 40, None, None), name


def test_broken_exif_block_is_ignored() -> None:
    good = tiff_gps("<", [(0x0112, 3, 1, struct.pack("<H", 6))], [])
    broken = [
        b"Exif\x00\x00II*\x00\xff\xff\xff\x7f",  # IFD0 far outside the block
        good[:16],  # cut inside IFD0
        b"Exif\x00\x00XX*\x00\x08\x00\x00\x00",  # no byte order
    ]
    for block in broken:
        found = inspected(jpeg(exif=block))
        assert (found.width, found.height, found.exif_latitude) == (60, 40, None)
    assert inspected(jpeg(exif=good)).width == 40  # the same block whole: its orientation is read


def test_a_corrupt_exif_entry_costs_only_itself() -> None:
    """An entry whose value runs past the block: Pillow warns and skips it, and the orientation
    and position are read all the same (its warnings are silenced, here as in production, where
    pytest would have made them errors)."""
    block = tiff_gps(
        "<",
        [(0x010E, 2, 1000, b"\xff\xff\x00\x00"), (0x0112, 3, 1, struct.pack("<H", 6))],
        [
            (1, 2, 2, b"S\x00"),
            (2, 5, 3, rationals("<", (33, 1), (51, 1), (54, 1))),
            (3, 2, 2, b"W\x00"),
            (4, 5, 3, rationals("<", (151, 1), (12, 1), (36, 1))),
        ],
    )
    found = inspected(jpeg(exif=block))
    assert (found.width, found.height) == (40, 60)
    assert (found.exif_latitude, found.exif_longitude) == pytest.approx(SOUTH_WEST_DEGREES)


def test_exif_of_enormous_counts_and_a_looping_ifd_is_read_quickly() -> None:
    """A 64 KB block whose IFD0 has 5,000 entries each claiming 30 KB of it, and whose GPS IFD is
    IFD0 itself: values are read up to the block's size, each IFD once."""
    entries = [struct.pack("<HHIHH", 0x0112, 3, 1, 6, 0), struct.pack("<HHII", 0x8825, 4, 1, 8)]
    entries += [struct.pack("<HHII", 0x9000 + i, 7, 30_000, 0) for i in range(5000)]
    ifd0 = struct.pack("<H", len(entries)) + b"".join(entries) + bytes(4)
    block = (b"Exif\x00\x00II*\x00" + struct.pack("<I", 8) + ifd0).ljust(65_000, b"\x00")
    data = jpeg(exif=block)
    started = time.perf_counter()
    found = inspected(data)
    elapsed = time.perf_counter() - started
    tracemalloc.start()  # it slows Pillow's reading twentyfold: timed without it
    try:
        inspected(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (found.width, found.height, found.exif_latitude) == (40, 60, None)
    assert elapsed < 0.5
    assert peak < 1024 * 1024


# --- served copies -----------------------------------------------------------------------------


def test_served_jpeg_is_upright_and_bare() -> None:
    original = with_segment(
        jpeg(exif=exif(6, SOUTH_WEST), xmp=XMP, comment=b"FORM-SECRET"),
        iptc_segment(),
    )
    before = opened(original)
    assert before.getexif()[0x0112] == 6 and "xmp" in before.info and "photoshop" in before.info
    assert any(secret in original for secret in LATITUDE_RATIONALS)
    served_type, copy = served(original, "image/jpeg")
    assert served_type == "image/jpeg"
    image = opened(copy)
    assert image.format == "JPEG"
    assert image.size == (40, 60)  # orientation 6: turned a quarter clockwise
    assert is_red(image.getpixel((35, 4)))  # the stored top-left corner is now top-right
    assert not is_red(image.getpixel((4, 4)))
    assert_no_metadata(copy)


def test_served_jpeg_keeps_its_colour_profile_if_rgb() -> None:
    assert opened(served(jpeg(icc_profile=SRGB), "image/jpeg")[1]).info.get("icc_profile") == SRGB
    cmyk = opened(served(jpeg(Image.new("CMYK", (20, 10), (0, 255, 255, 0)), icc_profile=SRGB), "image/jpeg")[1])
    assert cmyk.mode == "RGB" and "icc_profile" not in cmyk.info  # a CMYK profile no longer applies
    assert is_red(cmyk.getpixel((5, 5)))


def test_served_png_is_upright_and_bare_and_keeps_its_profile() -> None:
    icc = SRGB
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "FORM-SECRET")
    text.add_text("Author", "FORM-SECRET", zip=True)
    text.add_itxt("XML:com.adobe.xmp", XMP.decode())
    original = png(exif=exif(6, SOUTH_WEST), pnginfo=text, icc_profile=icc)
    assert b"tEXt" in original and b"zTXt" in original and b"iTXt" in original and b"eXIf" in original
    served_type, copy = served(original, "image/png")
    assert served_type == "image/png"
    image = opened(copy)
    assert (image.format, image.size) == ("PNG", (40, 60))
    assert is_red(image.getpixel((35, 4)))
    assert image.info.get("icc_profile") == icc
    for chunk in (b"tEXt", b"zTXt", b"iTXt", b"eXIf"):
        assert chunk not in copy
    assert_no_metadata(copy)


def test_served_png_keeps_transparency() -> None:
    image = Image.new("RGBA", (20, 10), (0, 0, 0, 0))
    image.putpixel((1, 1), (*RED, 255))
    copy = opened(served(png(image), "image/png")[1])
    assert copy.mode == "RGBA"
    assert copy.getpixel((0, 0)) == (0, 0, 0, 0) and copy.getpixel((1, 1)) == (*RED, 255)


def test_served_heic_is_a_bare_jpeg() -> None:
    original = heic(form((64, 48)), exif(1, SOUTH_WEST))
    assert b"Exif\x00\x00" in original
    served_type, copy = served(original, "image/heic")
    assert served_type == "image/jpeg"
    image = opened(copy)
    assert (image.format, image.size) == ("JPEG", (64, 48))
    assert is_red(image.getpixel((4, 4)))
    assert_no_metadata(copy)


def test_served_pdf_is_the_same_bytes() -> None:
    original = pdf()
    assert served(original, "application/pdf") == ("application/pdf", original)


def test_served_copy_refuses_pixels_cut_short() -> None:
    noise = Image.frombytes("RGB", (300, 200), random.Random(2).randbytes(300 * 200 * 3))
    for data, media_type in ((jpeg(noise), "image/jpeg"), (png(noise), "image/png"), (heic(noise), "image/heic")):
        cut = data[: len(data) * 2 // 3]
        assert inspected(cut).media_type == media_type  # its headers are whole
        with pytest.raises(Refused) as refused:
            served(cut, media_type)
        assert refused.value.code == "unreadable"


def test_process_does_not_use_pillows_global_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """A photo the caller's limit allows is processed even over Pillow's process-wide limit (a
    200-megapixel phone photo is over it), without a DecompressionBombError or Warning."""
    files = ((jpeg(), "image/jpeg"), (png(), "image/png"), (heic(), "image/heic"))
    with monkeypatch.context() as patch:
        patch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 60 × 40 is over twice that: an error
        with pytest.raises(Image.DecompressionBombError):
            Image.open(io.BytesIO(jpeg()))
        made = [(inspected(data), served(data, media_type)[1], thumb(data, media_type)) for data, media_type in files]
    for found, copy, small in made:
        assert (found.width, found.height) == (60, 40)
        assert opened(copy).size == (60, 40)
        assert opened(small).size == (60, 40)


def test_process_rejects_unknown_media_types() -> None:
    with pytest.raises(ValueError):
        served_copy(io.BytesIO(gif()), "image/gif", io.BytesIO())
    with pytest.raises(ValueError):
        thumbnail(io.BytesIO(gif()), "image/gif", io.BytesIO())


# --- thumbnails --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("media_type", "make", "expected"),
    [
        ("image/jpeg", lambda: jpeg(form((2000, 1200)), exif=exif(6, SOUTH_WEST)), (192, 320)),  # drafted
        ("image/png", lambda: png(form((900, 300)).convert("RGBA"), exif=exif(1, NORTH_EAST)), (320, 107)),
        ("image/heic", lambda: heic(form((400, 300)), exif(1, SOUTH_WEST)), (320, 240)),
        ("image/jpeg", lambda: jpeg(form((100, 50))), (100, 50)),  # never enlarged
    ],
)
def test_thumbnails_are_small_upright_bare_jpegs(media_type: str, make: object, expected: tuple[int, int]) -> None:
    data = thumb(cast("type[bytes]", make)(), media_type)
    image = opened(data)
    assert image.format == "JPEG" and image.mode == "RGB"
    assert image.size == expected
    assert max(image.size) <= 320
    red_corner = (image.width - 3, 3) if media_type == "image/jpeg" and expected[0] < expected[1] else (3, 3)
    assert is_red(image.getpixel(red_corner))
    assert "icc_profile" not in image.info
    assert_no_metadata(data)


def test_thumbnail_of_16_bit_grey_is_scaled_not_clipped() -> None:
    data = thumb(png(Image.new("I;16", (30, 20), 40_000)), "image/png")
    image = opened(data)
    assert (image.format, image.mode) == ("JPEG", "L")
    assert image.getpixel((5, 5)) == pytest.approx(156, abs=2)  # 40000 / 256; clipped, it is 255


def test_thumbnail_size() -> None:
    assert max(opened(thumb(jpeg(form((1000, 600))), "image/jpeg", size=64)).size) == 64
    with pytest.raises(ValueError):
        thumb(jpeg(), "image/jpeg", size=0)


def test_pdf_thumbnail_renders_its_first_page() -> None:
    first = Image.new("RGB", (400, 800), BLUE)
    ImageDraw.Draw(first).rectangle((0, 0, 199, 399), fill=RED)  # top-left quarter
    data = thumb(pdf(first, Image.new("RGB", (800, 400), WHITE)), "application/pdf")
    image = opened(data)
    assert image.format == "JPEG"
    assert image.height == 320 and 155 <= image.width <= 165
    assert is_red(image.getpixel((20, 20)))
    r, g, b = cast(tuple[int, int, int], image.getpixel((image.width - 20, image.height - 20)))
    assert b > 150 and r < 80
    assert_no_metadata(data)


def test_pdf_thumbnail_of_a_turned_page_from_a_lazy_reader() -> None:
    document = pdfium.PdfDocument(pdf())  # one page, 100 × 200 pt
    document[0].set_rotation(90)
    turned = io.BytesIO()
    document.save(turned)
    document.close()
    counting, fp = reader(turned.getvalue())
    out = io.BytesIO()
    thumbnail(fp, "application/pdf", out)
    assert opened(out.getvalue()).size == (320, 160)
    assert counting.bytes_read > 0
