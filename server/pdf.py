"""The one lock around PDFium (pypdfium2): it is not thread-safe, not even across documents, so
every use in the process holds ``LOCK`` (the photos' page counts and first pages, the letters'
merged batches)."""

from __future__ import annotations

import threading

LOCK = threading.Lock()
