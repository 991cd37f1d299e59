"""A tus upload in progress (or finished, until it is cleaned up)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from server.orm import Base


class Upload(Base):
    """One upload of one photo's file, by the user whose phone registered (or will register) it.

    Each PATCH is stored whole as one part (``uploads/<id>/<offset>-<writer>`` in the blob store:
    object stores cannot append), so a part exists only if its PATCH completed. A writer holds a short lease
    (``writer``, ``writer_until``) instead of a transaction, so no connection waits on a slow phone.
    """

    __tablename__ = "upload"
    __table_args__ = (
        CheckConstraint("upload_offset >= 0 AND upload_offset <= length", name="offset_in_range"),
        CheckConstraint("length >= 0", name="length_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    form_photo_id: Mapped[uuid.UUID] = mapped_column(nullable=False, index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"), nullable=False)
    length: Mapped[int] = mapped_column(BigInteger, nullable=False)
    upload_offset: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    parts: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list, server_default=text("'[]'::jsonb"))
    """The blob-store keys of the committed parts, in order. A part whose writer lost its lease
    is never listed, so its bytes count for nothing (the sweeper removes them)."""
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(nullable=False, server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(nullable=False)
    writer: Mapped[uuid.UUID | None] = mapped_column()
    writer_until: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    """The finished file's hash: its key in the blob store (``photo_file``)."""
    error: Mapped[str | None] = mapped_column(String(64))
    """Why the finished file was refused (``unsupported_type``, ``decompression_bomb``, …)."""
