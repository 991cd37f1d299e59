"""A photo's file, stored once per content (its sha256), whoever registered it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Float, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from server.orm import Base


class PhotoFile(Base):
    """What Doorstep knows of one stored file (``blobs/<sha256>`` in the blob store): what its bytes
    are, the GPS its EXIF carried, and whether its served copy and thumbnail are made yet.

    A form photo whose ``upload_status`` is ``received`` points here through its ``sha256``; the
    same bytes under two registrations are this one row and one stored file."""

    __tablename__ = "photo_file"
    __table_args__ = (CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),)

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    media_type: Mapped[str] = mapped_column(String(32), nullable=False)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    pages: Mapped[int | None] = mapped_column(Integer)
    exif_latitude: Mapped[float | None] = mapped_column(Float)
    exif_longitude: Mapped[float | None] = mapped_column(Float)
    served_media_type: Mapped[str | None] = mapped_column(String(32))
    processed_at: Mapped[datetime | None] = mapped_column()
    """When the served copy (``served/<sha256>``) and the thumbnail (``thumbs/<sha256>``) were made."""
    created_at: Mapped[datetime] = mapped_column(nullable=False, server_default=func.now())
