"""The family letter as a PDF: the words from the message catalogs, the layout from letter.typ.

Every word is Python's: ``locale/{en,es,pt}/LC_MESSAGES/letters.po`` (English msgids), dates,
numbers and plurals by Babel for the letter's language. The template only lays out what it is
given as JSON through ``sys.inputs``, never as markup, so a name such as ``#exec`` or ``*_$``
prints as written. A whole batch is one typst compile (one PDF, each letter from a new page).

The wording follows Lasky-Fink et al.: plain words, what the parent can do, how each day adds up;
the one legal paragraph is the truancy notice's. The English reads at US grade 6 or below
(tests/test_letter_render.py measures it).

Measured on the shared 2-core development machine (typst 0.15; a typical letter: 12 unexcused
dates, 2 siblings; kinds and languages mixed; three runs; peak RSS growth from ``ru_maxrss`` in a
fresh process, for the batches after its first letter):

========================================  ===========  ===============
call                                      seconds      peak RSS growth
========================================  ===========  ===============
1 letter, cold (first in the process)     0.04-0.06    +36 MB
1 letter, warm (median of 20, distinct)   0.009-0.014
100 letters in one call                   0.52-0.67    +115-140 MB
500 letters in one call                   2.9-3.5      +685 MB
500 letters as 5 calls of 100             2.8-3.8      +125 MB
========================================  ===========  ===============

(Importing the module takes 0.15 s more; the PDF is about 11 KB a letter.) Time grows linearly,
5-7 ms a letter; memory does not stay small: typst holds a compile's whole layout, about 1.4 MB a
letter, so 500 letters in one compile need 700 MB. Callers render a batch in chunks of about a
hundred (server/letters/service.py does) and keep the memory near 125 MB; after each chunk the
cache is aged out (``_FLUSH_AFTER``), so the process stays near 230 MB over any number of chunks
instead of keeping the last ten chunks' work.
"""

from __future__ import annotations

import functools
import io
import json
import re
import threading
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import typst
from babel import Locale
from babel.dates import format_date, format_skeleton, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

from schemas.letters import LetterContent, LetterKind
from server.letters.language import pick

_HERE = Path(__file__).parent
TEMPLATE = _HERE / "letter.typ"
LOCALE_DIR = _HERE / "locale"
DOMAIN = "letters"

NBSP = "\u00a0"
DATES_IN_FULL = 15
"""Up to this many unexcused days are listed one by one, each as a long date."""


def N_(message: str) -> str:
    """Marks a message for extraction (babel's default keyword) that is translated later."""
    return message


TIPS: tuple[str, ...] = (
    # "Tips For Parents and Families" 1-7 of the Truancy Prevention Program (after Every Student,
    # Every Day, U.S. Departments of Education, HHS, HUD and Justice, 2015), a few words made
    # plainer.
    N_("Make getting to school on time every day a high priority in your family."),
    N_("Talk with your child from an early age about why school matters, and about the harm of too many absences."),
    N_("When needed, create a safe space for your child to share what is keeping them from going to school."),
    N_(
        "Have a back-up plan for getting your child to school when there are problems with a ride, family "
        "illness, or other challenges."
    ),
    N_("Make doctor and other appointments for after school hours whenever you can."),
    N_("Keep track of your child's attendance to make sure your child is in class every day."),
    N_(
        "Contact your child's school to talk about supports and services that can help your child come to "
        "school every day."
    ),
)

KIND_DESCRIPTIONS: dict[LetterKind, str] = {
    LetterKind.ATTENDANCE_NOTICE: N_(
        "Sent early, when a student has a few unexcused absences, before the student is truant."
    ),
    LetterKind.CHRONIC_ABSENCE_NOTICE: N_(
        "Sent when a student has missed a tenth of the school days or more, for any reason."
    ),
    LetterKind.TRUANCY_NOTICE: N_(
        "Sent when a student becomes truant; it invites the parent to the meeting the law requires (CGS 10-198a)."
    ),
    LetterKind.HABITUAL_TRUANCY_NOTICE: N_("Sent when a student becomes a habitual truant."),
    LetterKind.CUSTOM: N_("A case manager's own letter, sent only when someone asks for it."),
}


@functools.cache
def translations(language: str) -> Translations:
    """The catalog of one language, compiled in memory from its .po (no .mo files to keep in step)."""
    with (LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    mo = io.BytesIO()
    write_mo(mo, catalog)
    mo.seek(0)
    return Translations(mo, domain=DOMAIN)


def describe_kind(kind: LetterKind, language: str = "en") -> str:
    """When a kind of letter is sent, in one sentence (``GET /letter-kinds``)."""
    return translations(pick(language)[0]).gettext(KIND_DESCRIPTIONS[kind])


# --- the words of one letter ---------------------------------------------------------------------

Run = dict[str, Any]
Block = dict[str, Any]


def _runs(template: str, **values: object) -> list[Run]:
    """A translated sentence as runs of text, ``**`` marking the bold ones. The markers are read in
    the catalog's text before the values go in, so a name holding ``**`` prints as written."""
    pieces = template.split("**")
    return [{"t": piece.format(**values), "b": index % 2 == 1} for index, piece in enumerate(pieces) if piece]


def _p(template: str, **values: object) -> Block:
    return {"kind": "p", "runs": _runs(template, **values)}


class _Words:
    """The letter's language: its catalog and Babel's formats."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.t = translations(language)
        self.locale = Locale.parse(language)

    def long_date(self, day: date) -> str:
        """The long date, never broken across lines ("3 de octubre de 2026")."""
        return format_date(day, "long", locale=self.locale).replace(" ", NBSP)

    def dates(self, days: list[date]) -> list[str]:
        """Each day in full while they are few; past that, by month ("September 2026: 3, 8, 11"),
        so that a habitual truant's forty days keep the letter to one page."""
        if len(days) <= DATES_IN_FULL:
            return [self.long_date(day) for day in days]
        months: dict[tuple[int, int], list[date]] = {}
        for day in days:
            months.setdefault((day.year, day.month), []).append(day)
        return [
            format_skeleton("yMMMM", group[0], locale=self.locale).replace(" ", NBSP)
            + ": "
            + ", ".join(self.number(day.day) for day in group)
            for group in months.values()
        ]

    def number(self, value: float) -> str:
        return format_decimal(value, locale=self.locale)

    def ngettext(self, singular: str, plural: str, n: float) -> str:
        """``ngettext`` by the catalog's plural rule; a median such as 3.5 takes the plural form,
        as it does in English, Spanish and Portuguese."""
        return self.t.ngettext(singular, plural, int(n) if float(n).is_integer() else 2)

    def in_grade(self, grade: str | None) -> str | None:
        """ "in 7th grade" / "en 7.º grado" / "no 7º ano", by CLDR's ordinal rule of the language."""
        t = self.t
        raw = (grade or "").strip()
        if not raw:
            return None
        code = re.sub(r"[\s.-]", "", raw).upper()
        if code in {"K", "KG", "KF", "KH", "0", "00", "KINDERGARTEN"}:
            return t.gettext("in kindergarten")
        if code in {"PK", "PREK", "P3", "P4", "PREKINDERGARTEN"}:
            return t.gettext("in pre-kindergarten")
        if code.isdigit() and 1 <= int(code) <= 12:
            n = int(code)
            form = {
                "one": t.gettext("in {n}st grade"),
                "two": t.gettext("in {n}nd grade"),
                "few": t.gettext("in {n}rd grade"),
            }.get(self.locale.ordinal_form(n), t.gettext("in {n}th grade"))
            return form.format(n=n)
        return t.gettext("in grade {grade}").format(grade=raw)


def _opening(w: _Words, c: LetterContent) -> list[Block]:
    """Why we write, first; a custom letter's own text takes its place."""
    t, name = w.t, c.student_first_name
    if c.kind is LetterKind.CUSTOM:
        body = (c.body or "").strip()
        return [
            {"kind": "p", "runs": [{"t": part.strip(), "b": False}]}
            for part in re.split(r"\n\s*\n", body)
            if part.strip()
        ]
    opening = {
        LetterKind.ATTENDANCE_NOTICE: N_(
            "We are writing to tell you how many days of school {name} has missed this year. Every school "
            "day counts, and you can help."
        ),
        LetterKind.CHRONIC_ABSENCE_NOTICE: N_(
            "We are writing because {name} has missed a lot of school this year. We want to help {name} get "
            "back on track."
        ),
        LetterKind.TRUANCY_NOTICE: N_(
            "We are writing because {name} has missed too many school days without an excuse. We would like "
            "to meet with you, so that we can help {name} together."
        ),
        LetterKind.HABITUAL_TRUANCY_NOTICE: N_(
            "We are writing because {name} has missed many school days without an excuse, and we are "
            "worried. We want to work with you to help {name}."
        ),
    }[c.kind]
    return [_p(t.gettext(opening), name=name)]


def _facts(w: _Words, c: LetterContent) -> Block:
    """The student, every absence (parents undercount them), the unexcused days by date, and the
    classmates' median (Rogers & Feller 2018)."""
    t, name = w.t, c.student_first_name
    in_grade = w.in_grade(c.grade)
    blocks: list[Block] = []
    if in_grade:
        blocks.append(_p(t.gettext("{name} is {in_grade} at {school}."), name=name, in_grade=in_grade, school=c.school))
    else:
        blocks.append(_p(t.gettext("{name} goes to {school}."), name=name, school=c.school))
    if c.total_absences == 0:
        blocks.append(_p(t.gettext("**{name} has not missed any school this year.**"), name=name))
    else:
        blocks.append(
            _p(
                w.ngettext(
                    "**{name} has missed {count} day of school this year.** This counts every absence, with "
                    "or without an excuse.",
                    "**{name} has missed {count} days of school this year.** This counts every absence, with "
                    "or without an excuse.",
                    c.total_absences,
                ),
                name=name,
                count=w.number(c.total_absences),
            )
        )
    unexcused = sorted(c.unexcused_dates)
    if unexcused:
        label = w.ngettext(
            "{count} of these days was unexcused:", "{count} of these days were unexcused:", len(unexcused)
        ).format(count=w.number(len(unexcused)))
        blocks.append({"kind": "dates", "label": label, "items": w.dates(unexcused)})
    elif c.total_absences:
        blocks.append(_p(t.gettext("None of these days were unexcused.")))
    if c.classmates_median is not None:
        median = c.classmates_median
        if in_grade:
            who = t.gettext("A typical student {in_grade} at {school}").format(in_grade=in_grade, school=c.school)
        else:
            who = t.gettext("A typical student in the same grade at {school}").format(school=c.school)
        if median == 0:
            sentence = t.gettext("{who} has not missed any days this year.")
        else:
            sentence = w.ngettext(
                "{who} has missed {median} day this year.", "{who} has missed {median} days this year.", median
            )
        blocks.append(_p(sentence, who=who, median=w.number(median)))
        if c.total_absences or median:
            blocks.append(
                {
                    "kind": "bars",
                    "rows": [
                        {"label": name, "value": c.total_absences, "shown": w.number(c.total_absences)},
                        {"label": t.gettext("Typical student"), "value": median, "shown": w.number(median)},
                    ],
                }
            )
    return {"kind": "box", "blocks": blocks}


def _why(w: _Words) -> list[Block]:
    t = w.t
    return [
        _p(
            t.gettext(
                "**Every day counts.** Missed days add up fast. Just two days a month adds up to almost 20 "
                "days in a school year. Students who miss school can fall behind in reading and math. Even "
                "excused days add up."
            )
        ),
        _p(
            t.gettext(
                "**You can help.** You make a big difference in getting your child to school every day. Here "
                "are seven tips:"
            )
        ),
    ]


def _tips(w: _Words) -> Block:
    return {
        "kind": "tips",
        "title": w.t.gettext("Tips for Parents and Families"),
        "items": [w.t.gettext(tip) for tip in TIPS],
    }


def _meeting(w: _Words, c: LetterContent) -> Block:
    """The parent meeting CGS 10-198a requires, then the law in one plain paragraph."""
    t, name = w.t, c.student_first_name
    blocks: list[Block] = []
    due = w.long_date(c.meeting_due_on) if c.meeting_due_on else None
    if c.meeting_at is not None:
        when = {
            "date": format_date(c.meeting_at.date(), "full", locale=w.locale),
            "time": format_time(c.meeting_at.time(), "short", locale=w.locale),
        }
        if c.meeting_place:
            blocks.append(
                _p(t.gettext("**Please meet with us on {date} at {time}, at {place}.**"), place=c.meeting_place, **when)
            )
        else:
            blocks.append(_p(t.gettext("**Please meet with us on {date} at {time}.**"), **when))
        blocks.append(_p(t.gettext("If this time does not work for you, please call us. We will find another time.")))
    elif c.meeting_place and due:
        blocks.append(
            _p(
                t.gettext(
                    "**We would like to meet with you at {place}.** We will call you to set a time before {due}."
                ),
                place=c.meeting_place,
                due=due,
            )
        )
    elif c.meeting_place:
        blocks.append(
            _p(
                t.gettext("**We would like to meet with you at {place}.** We will call you to set a time."),
                place=c.meeting_place,
            )
        )
    elif due:
        blocks.append(
            _p(t.gettext("**We would like to meet with you.** We will call you to set a time before {due}."), due=due)
        )
    else:
        blocks.append(_p(t.gettext("**We would like to meet with you.** We will call you to set a time.")))
    blocks.append(
        _p(
            t.gettext(
                "At the meeting, we will talk about what makes it hard for {name} to get to school. Then we "
                "will make a plan together."
            ),
            name=name,
        )
    )
    blocks.append(
        {
            "kind": "law",
            "runs": _runs(
                t.gettext(
                    "**What the law says.** A Connecticut law, General Statutes section 10-198a, says the "
                    "school must meet with the parent. The meeting must be held within ten school days of a "
                    "child's fourth unexcused absence in a month, or tenth in a school year."
                )
            ),
        }
    )
    return {"kind": "box", "blocks": blocks}


def _kind_paragraph(w: _Words, c: LetterContent) -> list[Block]:
    t, name = w.t, c.student_first_name
    if c.kind is LetterKind.TRUANCY_NOTICE:
        return [_meeting(w, c)]
    if c.kind is LetterKind.HABITUAL_TRUANCY_NOTICE:
        return [
            _p(
                t.gettext(
                    "{name} has now missed many more days without an excuse. This worries us, and we need to "
                    "act together now. **Please call us this week** so that we can make a plan with you. We "
                    "want to help {name} be in class every day."
                ),
                name=name,
            )
        ]
    if c.kind is LetterKind.CHRONIC_ABSENCE_NOTICE:
        runs = []
        if c.enrolled_days:
            so_far = t.gettext("So far this year, {name} has missed {count} of {days} school days.")
            runs += _runs(so_far + " ", name=name, count=w.number(c.total_absences), days=w.number(c.enrolled_days))
        chronic = t.gettext(
            "When a student misses one day in ten or more, for any reason, it is called chronic absence. "
            "Students who miss this much school often fall behind. Even excused days count."
        )
        return [{"kind": "p", "runs": [*runs, *_runs(chronic)]}]
    if c.kind is LetterKind.ATTENDANCE_NOTICE:
        return [_p(t.gettext("We are writing early, so that together we can fix small problems before they grow."))]
    return []


def _contact(w: _Words, c: LetterContent, phone: str | None) -> Block:
    """Whom to call: the case manager, else the program's number, else the school."""
    t = w.t
    manager = c.case_manager_name
    if manager and phone:
        sentence = t.gettext(
            "If you have questions, or if something makes it hard for {name} to get to school, please call "
            "{manager} at {phone}. We are here to help."
        )
    elif phone:
        sentence = t.gettext(
            "If you have questions, or if something makes it hard for {name} to get to school, please call "
            "us at {phone}. We are here to help."
        )
    elif manager:
        sentence = t.gettext(
            "If you have questions, or if something makes it hard for {name} to get to school, please "
            "contact {manager}. We are here to help."
        )
    else:
        sentence = t.gettext(
            "If you have questions, or if something makes it hard for {name} to get to school, please "
            "contact {school}. We are here to help."
        )
    return _p(sentence, name=c.student_first_name, manager=manager, phone=phone, school=c.school)


def _siblings(w: _Words, c: LetterContent) -> dict[str, Any] | None:
    """The student's brothers and sisters on the district's rolls, each with her own total."""
    if not c.siblings:
        return None
    lines = []
    for sibling in c.siblings:
        if sibling.absences == 0:
            line = w.t.gettext("{name} ({school}): no days missed this year")
        else:
            line = w.ngettext(
                "{name} ({school}): {count} day missed this year",
                "{name} ({school}): {count} days missed this year",
                sibling.absences,
            )
        lines.append(line.format(name=sibling.first_name, school=sibling.school, count=w.number(sibling.absences)))
    return {"title": w.t.gettext("Your other children"), "items": lines}


def _phone(number: str | None) -> str | None:
    """A phone number never broken across lines."""
    return number.strip().replace(" ", NBSP) if number and number.strip() else None


def _letter(c: LetterContent) -> dict[str, Any]:
    """One letter as the template reads it."""
    w = _Words(pick(c.language)[0])
    t = w.t
    name = c.student_first_name
    head = c.letterhead
    phone = _phone(c.case_manager_phone) or _phone(head.phone)
    if c.guardian_name:
        addressee = c.guardian_name
        greeting = t.gettext("Dear {name},").format(name=c.guardian_name)
    else:
        addressee = t.gettext("The family of {name}").format(name=name)
        greeting = t.gettext("To the family of {name},").format(name=name)
    blocks: list[Block] = [
        {"kind": "greeting", "text": greeting},
        *_opening(w, c),
        _facts(w, c),
        *_why(w),
        _tips(w),
        *_kind_paragraph(w, c),
        _contact(w, c, phone),
    ]
    return {
        "lang": w.language,
        "letterhead": {
            "name": head.name,
            "program": head.program,
            "lines": [*head.address_lines, *(x for x in (_phone(head.phone), head.website) if x)],
        },
        "address": [addressee, *c.address_lines],
        "date": w.long_date(c.as_of),
        "blocks": blocks,
        "siblings": _siblings(w, c),
        "closing": t.gettext("Sincerely,"),
        "signature": [line for line in (c.case_manager_name, head.program or head.name) if line],
        "note": t.gettext("If you need this letter in another language, please call {phone}.").format(phone=phone)
        if phone
        else "",
        "page_label": t.gettext("Page {n} of {total}"),
    }


# typst memoizes its work in a process-wide cache, and typst-py evicts after each compile only what
# the last 10 compiles did not use (``comemo::evict(10)``, src/compiler.rs): a batch's hundred
# letters would stay in memory (about a megabyte each) until ten more compiles ran. After a compile
# of more than a few letters, ten compiles of an empty document (about 1 ms each) age them out.
_FLUSH_AFTER = 10
_FLUSH_COMPILES = 10

_local = threading.local()


def _compiler() -> typst.Compiler:
    """This thread's compiler: its fonts (the ones typst embeds, never the system's) are loaded
    once. A Compiler is not to be shared by threads (a call borrows it), and renders run in
    ``asyncio.to_thread``."""
    compiler: typst.Compiler | None = getattr(_local, "compiler", None)
    if compiler is None:
        compiler = _local.compiler = typst.Compiler(ignore_system_fonts=True)
    return compiler


def render_pdf(letters: Sequence[LetterContent]) -> bytes:
    """The letters as one PDF, each from a new page, in one typst compile. The same letters make
    the same bytes (no creation date is written)."""
    if not letters:
        raise ValueError("render_pdf: no letters")
    data = json.dumps({"letters": [_letter(c) for c in letters]}, ensure_ascii=False)
    compiler = _compiler()
    pdf = compiler.compile(input=TEMPLATE, sys_inputs={"data": data})
    if len(letters) > _FLUSH_AFTER:
        for _ in range(_FLUSH_COMPILES):
            compiler.compile(input=b" ", sys_inputs=None)
    assert isinstance(pdf, bytes)
    return pdf
