"""PDFium (pypdfium2) on a file object, for inspect (page count) and process (first page).

PDFium is not thread-safe, not even across documents, so every use holds ``LOCK`` (the API may
inspect in worker threads while a background job renders). PDFium reads through a callback, by
offset and as it needs: a page count reads the trailer, the cross-reference table and the page
tree, not the pages' contents.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import pypdfium2 as pdfium

from server import pdf
from server.photos._binary import Malformed

LOCK = pdf.LOCK


class _Stream:
    """What pypdfium2 reads a stream through (seek, tell, read, readinto), over any ``fp``.

    Its reads happen in a ctypes callback, where an exception would be printed and lost: an
    error of ``fp`` is kept instead (the read fails, so PDFium gives up) and raised afterwards."""

    def __init__(self, fp: IO[bytes]) -> None:
        self.fp = fp
        self.error: Exception | None = None

    def seek(self, offset: int, whence: int = 0) -> int:
        if self.error is not None:
            return 0
        try:
            return self.fp.seek(offset, whence)
        except Exception as e:
            self.error = e
            return 0

    def tell(self) -> int:
        return self.fp.tell()

    def read(self, n: int = -1) -> bytes:
        return self.fp.read(n)

    def readinto(self, buffer: Any) -> int:
        if self.error is not None:
            return 0
        try:
            view = memoryview(buffer).cast("B")
            filled = 0
            while filled < len(view):
                chunk = self.fp.read(len(view) - filled)
                if not chunk:
                    break
                view[filled : filled + len(chunk)] = chunk
                filled += len(chunk)
            return filled
        except Exception as e:
            self.error = e
            return 0


@contextmanager
def document(fp: IO[bytes]) -> Iterator[Any]:
    """The open ``pdfium.PdfDocument``, under ``LOCK``; Malformed if PDFium cannot load it (not a
    PDF, encrypted) or it has no page. An error of ``fp`` itself is raised as it was.

    The document is loaded here rather than by ``PdfDocument(stream)``, which leaves a loaded
    document of no page unclosed (about 4 KB lost per such file, in the API process)."""
    stream = _Stream(fp)
    with LOCK:
        access, callbacks = pdfium.internal.get_bufreader(stream)
        raw = pdfium.raw.FPDF_LoadCustomDocument(access, None)
        if not raw:
            if stream.error is not None:
                raise stream.error
            reason = pdfium.internal.ErrorToStr.get(pdfium.raw.FPDF_GetLastError())
            raise Malformed(f"PDFium cannot load it ({reason})")
        pdf = pdfium.PdfDocument(raw)
        try:
            if len(pdf) < 1:
                if stream.error is not None:
                    raise stream.error
                raise Malformed("PDF of no page")
            yield pdf
        finally:
            pdf.close()
            del access, callbacks  # PDFium called back through them until the document closed
        if stream.error is not None:
            raise stream.error


def page_count(fp: IO[bytes]) -> int:
    with document(fp) as pdf:
        return int(len(pdf))
