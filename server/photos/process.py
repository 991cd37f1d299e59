"""The copies Doorstep serves of an accepted file, made in a background job (decoding is fine here).

Both functions take a file that ``server.photos.inspect.inspect`` accepted, with the media type it
found. They decode it with the decoder of that type directly (Pillow's JPEG and PNG plugins,
pillow-heif, PDFium), not through ``Image.open``: inspect already refused what is over the
caller's pixel limit, and Pillow's own limit (``Image.MAX_IMAGE_PIXELS``, a process-wide
setting) would refuse or warn about legitimate large photos (a 200-megapixel phone photo is over
it). Each decoder is checked to see the size the header gave before it allocates anything.

A file that cannot be decoded (e.g. truncated after its headers) raises
``Refused("unreadable", ...)``. HEIC is decoded from the whole file in memory (pillow-heif).
"""

from __future__ import annotations

import io
import shutil
import struct
from typing import IO, Any

import pillow_heif
from PIL import Image, ImageCms, JpegImagePlugin, PngImagePlugin

from server.photos import _pdfium
from server.photos._binary import Malformed
from server.photos._headers import HEIC, JPEG, PNG, read_header
from server.photos.inspect import MEDIA_TYPES, PDF, Refused

SERVED_JPEG_QUALITY = 90
THUMBNAIL_JPEG_QUALITY = 80
_KEPT_INFO = ("icc_profile", "transparency")
"""All that survives of a decoded image's metadata: its colour profile and PNG transparency."""
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, RuntimeError, struct.error)
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
"""EXIF orientation → the transposition that makes the pixels upright (as ImageOps.exif_transpose)."""


def served_copy(fp: IO[bytes], media_type: str, out: IO[bytes]) -> str:
    """Write the copy Doorstep serves: every EXIF (and XMP/IPTC/comment/text-chunk) field stripped,
    EXIF orientation applied to the pixels first so the form is upright; HEIC is converted to JPEG
    (browsers cannot show HEIC); a PDF is copied as is. Returns the served media type.

    JPEG and HEIC are (re-)encoded as JPEG (quality SERVED_JPEG_QUALITY), PNG as PNG; only the ICC
    colour profile (and a PNG's transparency) is kept."""
    _check_media_type(media_type)
    if media_type == PDF:
        fp.seek(0)
        shutil.copyfileobj(fp, out)
        return PDF
    image = _decode(fp, media_type)
    if media_type == PNG:
        image.save(out, "PNG")
        return PNG
    image = _flatten(image)
    image.save(out, "JPEG", quality=SERVED_JPEG_QUALITY, icc_profile=image.info.get("icc_profile"))
    return JPEG


def thumbnail(fp: IO[bytes], media_type: str, out: IO[bytes], size: int = 320) -> None:
    """A JPEG thumbnail at most size×size, upright, without metadata (colours converted to sRGB
    when the image has a profile, which is then dropped). A PDF's first page rendered."""
    _check_media_type(media_type)
    if size < 1:
        raise ValueError(f"thumbnail size {size}")
    image = _first_page(fp, size) if media_type == PDF else _to_srgb(_flatten(_decode(fp, media_type, size)))
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    image.info = {}
    image.save(out, "JPEG", quality=THUMBNAIL_JPEG_QUALITY)


def _check_media_type(media_type: str) -> None:
    if media_type not in MEDIA_TYPES:
        raise ValueError(f"not a media type Doorstep accepts: {media_type}")


def _decode(fp: IO[bytes], media_type: str, draft: int | None = None) -> Image.Image:
    """The pixels, upright, with no metadata but ``_KEPT_INFO``. ``draft``: a JPEG may be decoded
    at 1/2, 1/4 or 1/8 scale, no smaller than draft×draft (for thumbnails)."""
    try:
        header = read_header(fp, media_type)
    except Malformed as e:
        raise Refused("unreadable", f"{media_type}: {e}") from e
    fp.seek(0)
    try:
        if media_type == HEIC:
            heif = pillow_heif.open_heif(fp, convert_hdr_to_8bit=True)
            if heif.size[0] * heif.size[1] > header.pixels:
                raise Refused("unreadable", f"libheif sees {heif.size}, the header {header.upright}")
            image = heif.to_pillow()  # decodes; libheif applies clap, irot and imir
        else:
            plugin = JpegImagePlugin.JpegImageFile if media_type == JPEG else PngImagePlugin.PngImageFile
            image = plugin(fp)
            if image.size != (header.width, header.height):
                raise Refused("unreadable", f"Pillow sees {image.size}, the header {(header.width, header.height)}")
            if draft is not None:
                image.draft(None, (draft, draft))
            image.load()
    except _DECODE_ERRORS as e:
        raise Refused("unreadable", f"{media_type}: {e}") from e
    kept: dict[str | tuple[int, int], Any] = {
        key: image.info[key] for key in _KEPT_INFO if image.info.get(key) is not None
    }
    if header.orientation in _TRANSPOSE:
        image = image.transpose(_TRANSPOSE[header.orientation])
    image.info = kept
    return image


def _flatten(image: Image.Image) -> Image.Image:
    """RGB or L, what a JPEG holds: transparency over white, 16-bit grey scaled to 8 bits. The
    colour profile stays when the colour space does (RGB or grey), and goes when it does not."""
    icc = image.info.get("icc_profile")
    if image.mode in ("RGB", "L") and "transparency" not in image.info:
        flat = image
    elif image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", image.size, "white")
        flat.paste(rgba, mask=rgba.getchannel("A"))
    elif image.mode.startswith("I"):
        flat = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    elif image.mode in ("1", "P"):
        flat = image.convert("L" if image.mode == "1" else "RGB")
    else:  # CMYK, YCbCr, LAB, HSV, F: another colour space, so the profile is not this one's
        flat = image.convert("RGB")
        icc = None
    flat.info = {"icc_profile": icc} if icc else {}
    return flat


def _to_srgb(image: Image.Image) -> Image.Image:
    """Colours converted from the image's ICC profile to sRGB (unchanged if it has none, or one
    LittleCMS cannot use)."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode != "RGB":
        return image
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(image, profile, ImageCms.createProfile("sRGB"), outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image
    return converted if converted is not None else image


def _first_page(fp: IO[bytes], size: int) -> Image.Image:
    """Page 1 rendered (forms filled in drawn) so that its longer side is about ``size`` pixels."""
    try:
        with _pdfium.document(fp) as pdf:
            pdf.init_forms()
            page = pdf[0]
            width, height = page.get_size()
            if not (width > 0 and height > 0):
                raise Refused("unreadable", f"{PDF}: page 1 of {width}×{height}")
            bitmap = page.render(scale=size / max(width, height), may_draw_forms=True)
            image: Image.Image = bitmap.to_pil().convert("RGB")  # a copy: the bitmap is freed below
            bitmap.close()  # here, under the lock, rather than by a finalizer in any thread
            page.close()
    except (Malformed, RuntimeError) as e:  # pypdfium2's PdfiumError is a RuntimeError
        raise Refused("unreadable", f"{PDF}: {e}") from e
    return image
