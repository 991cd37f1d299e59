"""The copies Doorstep serves of a stored file, made in the background worker (decoding is fine
there): the served copy, upright and with every metadata field stripped, and a thumbnail."""

from __future__ import annotations

from typing import IO

import pillow_heif
import pypdfium2
from PIL import Image, ImageOps

from server.photos.inspect import PDFIUM

THUMBNAIL_PX = 320
_PDF_THUMB_SCALE = 0.6


def _open(fp: IO[bytes], media_type: str) -> Image.Image:
    fp.seek(0)
    if media_type == "image/heic":
        return pillow_heif.open_heif(fp, convert_hdr_to_8bit=True).to_pillow()
    return Image.open(fp)


def _upright(image: Image.Image) -> Image.Image:
    """The pixels turned as the EXIF orientation says, with no metadata left on the image."""
    turned = ImageOps.exif_transpose(image)
    clean = Image.new(turned.mode, turned.size)
    clean.paste(turned)  # a new image carries none of the source's info (EXIF, XMP, ICC, text)
    return clean


def served_copy(fp: IO[bytes], media_type: str, out: IO[bytes]) -> str:
    """Write the copy Doorstep serves; returns its media type. A PDF is copied as it is; a HEIC
    photo becomes a JPEG (browsers cannot show HEIC); a JPEG or PNG is re-encoded without any
    EXIF, XMP, comment or text field."""
    if media_type == "application/pdf":
        fp.seek(0)
        while chunk := fp.read(1024 * 1024):
            out.write(chunk)
        return media_type
    with _open(fp, media_type) as image:
        clean = _upright(image)
    if media_type == "image/png":
        clean.save(out, "PNG", optimize=False)
        return "image/png"
    clean.convert("RGB").save(out, "JPEG", quality=90)
    return "image/jpeg"


def thumbnail(fp: IO[bytes], media_type: str, out: IO[bytes], size: int = THUMBNAIL_PX) -> None:
    """A JPEG at most ``size``×``size``, upright, without metadata; a PDF's first page."""
    if media_type == "application/pdf":
        fp.seek(0)
        with PDFIUM:
            document = pypdfium2.PdfDocument(fp)
            try:
                page = document[0]
                image = page.render(scale=_PDF_THUMB_SCALE).to_pil()
                page.close()
            finally:
                document.close()
    else:
        with _open(fp, media_type) as source:
            source.draft("RGB", (size * 2, size * 2))  # JPEG: decode at a reduced scale
            image = _upright(source)
    image = image.convert("RGB")
    image.thumbnail((size, size))
    image.save(out, "JPEG", quality=80)
