"""Demo photos of signed forms: drawn here (a page of lines and a scribbled signature, no real
person's), stored as a phone's upload would leave them (``received``, with a served copy and a
thumbnail), on the cases' visit logs where there are some.

Deterministic and idempotent: the photo ids are derived from the case ids, and a photo that
exists is left alone.
"""

from __future__ import annotations

import hashlib
import io
import math
import uuid
from datetime import timedelta

from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.cases import CaseStatus, FormType, UploadStatus
from server.blobs import Blobs
from server.cases.models import Case, FormPhoto, VisitLog
from server.photos import files, inspect, processing
from server.students.models import Household, Student
from server.uploads import repository as uploads

PHOTOS = 12
_NAMESPACE = uuid.UUID("5f1c1d0e-8a4e-4c55-9d1b-0d0c0f0a7e11")
_TITLES = {
    FormType.CONSENT: "CONSENT FOR HOME VISITS",
    FormType.RELEASE_OF_INFORMATION: "RELEASE OF INFORMATION",
    FormType.ATTENDANCE_CONTRACT: "ATTENDANCE CONTRACT",
    FormType.OTHER: "FAMILY RESOURCE PLAN",
}


def form_page(form_type: FormType, seed: int) -> Image.Image:
    """A photographed form: a slightly grey page, a title, ruled lines of 'text', a signature."""
    page = Image.new("RGB", (900, 1200), (236 - seed % 9, 234 - seed % 7, 228))
    draw = ImageDraw.Draw(page)
    draw.rectangle((60, 60, 840, 1140), fill=(250, 250, 246))
    draw.text((110, 100), "Truancy Prevention Program", fill=(40, 40, 40), font=ImageFont.load_default(24))
    draw.text((110, 140), _TITLES[form_type], fill=(10, 10, 10), font=ImageFont.load_default(38))
    for n in range(16):
        y = 230 + n * 38
        width = 560 + (seed * 37 + n * 53) % 160
        draw.line((110, y, 110 + width, y), fill=(120, 120, 120), width=3)
    draw.text((110, 900), "Parent/guardian signature", fill=(40, 40, 40), font=ImageFont.load_default(22))
    draw.line((110, 1000, 600, 1000), fill=(60, 60, 60), width=2)
    points = [(140 + x * 4, 975 - 22 * math.sin((x + seed) / 6.0) * math.cos(x / 17.0)) for x in range(100)]
    draw.line(points, fill=(20, 30, 120), width=4)
    return page


def _jpeg(image: Image.Image, gps: tuple[float, float] | None) -> bytes:
    exif = Image.Exif()
    if gps is not None:
        exif[0x8825] = {
            1: "N" if gps[0] >= 0 else "S",
            2: _dms(gps[0]),
            3: "E" if gps[1] >= 0 else "W",
            4: _dms(gps[1]),
        }
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, exif=exif.tobytes())
    return out.getvalue()


def _dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    return (float(degrees), float(minutes), round((value - degrees - minutes / 60) * 3600, 2))


async def load_photos(session: AsyncSession, blobs: Blobs) -> int:
    """Photos on the first demo cases with a case manager (those with a home visit first, on their
    first visit); returns how many were added."""
    visited = (
        select(VisitLog.case_id, func.min(VisitLog.checked_in_at).label("first_visit"))
        .group_by(VisitLog.case_id)
        .subquery()
    )
    cases = (
        await session.execute(
            select(Case, Household.latitude, Household.longitude)
            .join(Student, Student.id == Case.student_id)
            .outerjoin(Household, Household.id == Student.household_id)
            .outerjoin(visited, visited.c.case_id == Case.id)
            .where(Case.case_manager_id.is_not(None), Case.status != CaseStatus.CLOSED.value)
            .order_by(visited.c.first_visit.is_(None), Case.opened_at, Case.id)  # visited cases first
            .limit(PHOTOS)
        )
    ).all()
    added = 0
    for n, (case, latitude, longitude) in enumerate(cases):
        photo_id = uuid.uuid5(_NAMESPACE, str(case.id))
        if await session.get(FormPhoto, photo_id) is not None:
            continue
        visit = await session.scalar(
            select(VisitLog).where(VisitLog.case_id == case.id).order_by(VisitLog.checked_in_at).limit(1)
        )
        form_type = list(FormType)[n % len(FormType)]
        page = form_page(form_type, n)
        if n % 6 == 5:
            out = io.BytesIO()
            page.save(out, "PDF")
            data, media_type = out.getvalue(), "application/pdf"
        else:
            home = (latitude + 0.0002, longitude - 0.0001) if latitude is not None and longitude is not None else None
            data, media_type = _jpeg(page, home if n % 3 else None), "image/jpeg"
        sha256 = hashlib.sha256(data).hexdigest()
        found = await _store(session, blobs, sha256, data)
        taken = visit.checked_in_at + timedelta(minutes=20) if visit else case.opened_at + timedelta(days=3)
        session.add(
            FormPhoto(
                id=photo_id,
                case_id=case.id,
                visit_log_id=visit.id if visit else None,
                form_type=form_type.value,
                sha256=sha256,
                size=len(data),
                content_type=media_type,
                taken_at=taken,
                created_by=case.case_manager_id,
                upload_status=UploadStatus.RECEIVED.value,
                exif_latitude=found.exif_latitude,
                exif_longitude=found.exif_longitude,
            )
        )
        await session.flush()
        added += 1
    return added


async def _store(session: AsyncSession, blobs: Blobs, sha256: str, data: bytes) -> inspect.Inspection:
    """What an upload's finish leaves: the file, its row, its served copy and thumbnail."""
    found = inspect.inspect(io.BytesIO(data), 80_000_000)
    if await uploads.photo_file(session, sha256) is None:
        await blobs.put_file(files.blob_key(sha256), io.BytesIO(data))
        values = {"sha256": sha256, "size": len(data), "media_type": found.media_type, "width": found.width}
        values |= {"height": found.height, "pages": found.pages}
        values |= {"exif_latitude": found.exif_latitude, "exif_longitude": found.exif_longitude}
        await uploads.add_photo_file(session, values)
        await processing.make_copies(session, blobs, sha256)
    return found
