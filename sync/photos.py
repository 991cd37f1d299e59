"""Where a form photo's registration meets its file: a pure decision, made on whichever side
arrives second (the push of ``form_photo.register``, or the upload's last PATCH)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from schemas.cases import UploadStatus

SHA256_MISMATCH = "sha256_mismatch"


def meet(registered_sha256: str, uploads: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A form photo's upload fields, given its sender's finished uploads (newest first): each is
    ``{"sha256", "error", "exif_latitude", "exif_longitude"}``.

    An accepted file with the registered hash makes the photo ``received``; otherwise the newest
    upload says why it is ``refused`` (the file's own refusal, or a hash that differs); with no
    finished upload it stays ``pending``."""
    for upload in uploads:
        if upload.get("error") is None and upload.get("sha256") == registered_sha256:
            return {
                "upload_status": UploadStatus.RECEIVED.value,
                "upload_error": None,
                "exif_latitude": upload.get("exif_latitude"),
                "exif_longitude": upload.get("exif_longitude"),
            }
    if not uploads:
        return {"upload_status": UploadStatus.PENDING.value, "upload_error": None, **_NO_GPS}
    error = uploads[0].get("error") or SHA256_MISMATCH
    return {"upload_status": UploadStatus.REFUSED.value, "upload_error": error, **_NO_GPS}


_NO_GPS = {"exif_latitude": None, "exif_longitude": None}
