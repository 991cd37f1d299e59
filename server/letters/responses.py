"""The PDF answers of letters: one letter's and a done batch's, the same for the API
(server/letters/routes.py) and the console (server/console/letters.py). Each route checks what
it must first (scope, audit, the batch done); these only build the answer."""

from __future__ import annotations

import uuid

from litestar import Response
from litestar.response import Stream

from server.blobs import Blobs
from server.letters import service
from server.letters.models import LetterBatch

PDF_HEADERS = {"Cache-Control": "private, no-store"}
"""(nosniff and the other security headers: server/security.py, on every answer.)"""


def letter_pdf(data: bytes, letter_id: uuid.UUID) -> Response[bytes]:
    """One letter's PDF, shown in the browser."""
    return Response(
        data,
        media_type="application/pdf",
        headers=PDF_HEADERS | {"Content-Disposition": f'inline; filename="letter-{letter_id}.pdf"'},
    )


def batch_pdf(blobs: Blobs, batch: LetterBatch) -> Stream:
    """A done batch's merged PDF, streamed from the blob store, downloaded to print."""
    return Stream(
        blobs.stream(service.pdf_key(batch.id)),
        media_type="application/pdf",
        headers=PDF_HEADERS | {"Content-Disposition": f'attachment; filename="letters-{batch.as_of}.pdf"'},
    )
