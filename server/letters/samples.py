"""Sample letters, one of each kind, for the pictures in docs/letters.md (``scripts/letter-pictures``).

The people are invented; the numbers are a typical truant student's: twelve unexcused days by late
November, two siblings, classmates who missed three or four days."""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path

import pypdfium2 as pdfium

from schemas.letters import LetterContent, Letterhead, LetterKind, Sibling
from server.letters.render import render_pdf

HEAD = Letterhead(
    name="Waterbury Public Schools",
    program="Truancy Prevention Program",
    address_lines=["236 Grand Street", "Waterbury, CT 06702"],
    phone="(203) 574-8000",
)
UNEXCUSED = [date(2026, 9, d) for d in (14, 15, 28)] + [date(2026, 10, d) for d in (5, 6, 7, 8, 19)]
UNEXCUSED += [date(2026, 11, d) for d in (2, 9, 10, 16)]


def sample(kind: LetterKind, language: str = "en") -> LetterContent:
    return LetterContent(
        kind=kind,
        language=language,
        as_of=date(2026, 11, 20),
        letterhead=HEAD,
        guardian_name="María López",
        address_lines=["45 Cherry Street, Apt 2", "Waterbury, CT 06702"],
        student_first_name="Ana",
        school="Wilby High School",
        grade="7",
        total_absences=15,
        unexcused_dates=UNEXCUSED,
        classmates_median=3.5,
        classmates=182,
        enrolled_days=58,
        meeting_at=datetime(2026, 12, 1, 15, 30) if kind is LetterKind.TRUANCY_NOTICE else None,
        meeting_place="Wilby High School, Room 112" if kind is LetterKind.TRUANCY_NOTICE else None,
        meeting_due_on=date(2026, 12, 4) if kind is LetterKind.TRUANCY_NOTICE else None,
        case_manager_name="Demo Case Manager 1",
        case_manager_phone="(203) 555-0101",
        siblings=[Sibling(first_name="Luis", school="Driggs School", absences=4)],
        body="We miss Ana in class.\n\nPlease call me this week: I would like to visit you at home."
        if kind is LetterKind.CUSTOM
        else None,
    )


PICTURES: tuple[tuple[str, LetterKind, str], ...] = (
    *((k.value, k, "en") for k in LetterKind),
    ("truancy_notice.es", LetterKind.TRUANCY_NOTICE, "es"),
    ("attendance_notice.pt", LetterKind.ATTENDANCE_NOTICE, "pt"),
)


def write_pictures(folder: Path, scale: float = 1.2) -> list[Path]:
    """Each sample's first page as a PNG in ``folder`` (``<kind>[.<language>].png``)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, kind, language in PICTURES:
        document = pdfium.PdfDocument(render_pdf([sample(kind, language)]))
        try:
            image = document[0].render(scale=scale).to_pil()
        finally:
            document.close()
        path = folder / f"{name}.png"
        image.save(path, optimize=True)
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_pictures(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/letters")):
        print(path)
