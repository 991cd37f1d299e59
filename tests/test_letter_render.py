"""The family letter's PDF (server/letters/render.py) and the household's language
(server/letters/language.py): what the printed page says, in which language, on how many pages.

Pure: LetterContent is built here, the PDF read back with pypdf."""

from __future__ import annotations

import io
import re
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pypdf
import pytest
import textstat
from babel.dates import format_date
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from schemas.letters import LetterContent, Letterhead, LetterKind, Sibling
from server.letters import language, render

UNEXCUSED = [date(2026, 9, d) for d in (3, 8, 11, 15, 22, 29)] + [date(2026, 10, d) for d in (6, 13, 20, 27)]
UNEXCUSED += [date(2026, 11, 3), date(2026, 11, 10)]

TIPS_ES = (
    "Haga que llegar a la escuela a tiempo todos los días sea una prioridad en su familia.",
    "Desde pequeño, hable con su hijo sobre por qué la escuela es importante",
    "Cuando haga falta, cree un espacio seguro",
    "Tenga un plan de respaldo",
    "Siempre que pueda, haga las citas con el médico",
    "Esté pendiente de la asistencia de su hijo",
    "Comuníquese con la escuela de su hijo",
)


def letter(**changes: Any) -> LetterContent:
    """A typical letter: twelve unexcused days, two siblings, a meeting proposed."""
    fields: dict[str, Any] = {
        "kind": LetterKind.TRUANCY_NOTICE,
        "language": "en",
        "as_of": date(2026, 11, 20),
        "letterhead": Letterhead(
            name="Waterbury Public Schools",
            program="Truancy Prevention Program",
            address_lines=["236 Grand Street", "Waterbury, CT 06702"],
            phone="(203) 574-8000",
            website="waterbury.k12.ct.us",
        ),
        "guardian_name": "María López",
        "address_lines": ["123 East Main Street, Apt 4B", "Waterbury, CT 06702-1234"],
        "student_first_name": "Liam",
        "school": "Wilby High School",
        "grade": "07",
        "total_absences": 17,
        "unexcused_dates": UNEXCUSED,
        "classmates_median": 3.5,
        "classmates": 182,
        "enrolled_days": 58,
        "meeting_at": datetime(2026, 12, 1, 15, 30),
        "meeting_place": "Wilby High School, Room 112",
        "meeting_due_on": date(2026, 12, 4),
        "case_manager_name": "Ana Ribeiro",
        "case_manager_phone": "(203) 555-0142",
        "siblings": [
            Sibling(first_name="Sofía", school="Driggs School", absences=4),
            Sibling(first_name="Mateo", school="Carrington School", absences=1),
        ],
    }
    fields.update(changes)
    if fields["kind"] is LetterKind.CUSTOM and "body" not in changes:
        fields["body"] = "We miss Liam in class.\n\nPlease come to our open house on Friday. We would love to see you."
    return LetterContent(**fields)


def flat(text: str) -> str:
    """Extracted text with every run of whitespace (line ends, no-break spaces) one space."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def pages(pdf: bytes) -> list[str]:
    return [flat(page.extract_text()) for page in pypdf.PdfReader(io.BytesIO(pdf)).pages]


def one_page(content: LetterContent) -> str:
    texts = pages(render.render_pdf([content]))
    assert len(texts) == 1, f"{content.kind} in {content.language} runs to {len(texts)} pages"
    return texts[0]


# --- what the letter says --------------------------------------------------------------------------


def test_spanish_truancy_notice_says_the_facts_in_spanish() -> None:
    text = one_page(letter(language="es"))
    assert "Liam" in text
    assert "Liam ha faltado 17 días a la escuela este año." in text
    assert "12 de estos días fueron sin justificación:" in text
    for day in UNEXCUSED:
        assert flat(format_date(day, "long", locale="es")) in text
    assert "3 de septiembre de 2026" in text and "10 de noviembre de 2026" in text
    assert "Un estudiante típico en 7.º grado en Wilby High School ha faltado 3,5 días este año." in text
    assert "el martes, 1 de diciembre de 2026 a las 15:30, en Wilby High School, Room 112" in text
    assert "Consejos para padres y familias" in text
    positions = [text.index(f"{n}. {tip}") for n, tip in enumerate(TIPS_ES, start=1)]
    assert positions == sorted(positions)
    assert "Connecticut" in text and "10-198a" in text
    assert "Sofía (Driggs School): faltó 4 días este año" in text
    assert "Mateo (Carrington School): faltó 1 día este año" in text
    assert "Estimado(a) María López:" in text
    assert "Dear" not in text and "Tips for" not in text


def test_portuguese_letter_is_in_portuguese() -> None:
    text = one_page(letter(language="pt", kind=LetterKind.ATTENDANCE_NOTICE))
    assert "Prezado(a) María López," in text
    assert "20 de novembro de 2026" in text
    assert "Liam faltou 17 dias de aula este ano." in text
    assert "Um aluno típico no 7º ano na Wilby High School faltou 3,5 dias este ano." in text
    assert "1. Faça da chegada à escola no horário" in text and "7. Entre em contato com a escola" in text
    assert "Atenciosamente," in text
    for english in ("Dear", "Sincerely", "Tips for Parents", "days of school"):
        assert english not in text


def test_english_letter_is_in_english() -> None:
    text = one_page(letter(kind=LetterKind.ATTENDANCE_NOTICE))
    assert "Dear María López," in text
    assert "November 20, 2026" in text
    assert "Liam has missed 17 days of school this year." in text
    assert "12 of these days were unexcused: September 3, 2026 · September 8, 2026" in text
    assert "A typical student in 7th grade at Wilby High School has missed 3.5 days this year." in text
    assert "1. Make getting to school on time every day a high priority in your family." in text
    assert "call Ana Ribeiro at (203) 555-0142" in text
    assert "Sincerely," in text and "Atentamente" not in text


def test_a_region_of_a_catalog_language_is_written_in_it() -> None:
    assert "Atentamente," in one_page(letter(language="es-MX"))


@pytest.mark.parametrize("lang", language.CATALOGS)
@pytest.mark.parametrize("kind", list(LetterKind))
def test_each_kind_fits_one_page_for_a_typical_student(kind: LetterKind, lang: str) -> None:
    one_page(letter(kind=kind, language=lang))


def test_the_kinds_say_their_own_paragraph() -> None:
    truancy = one_page(letter())
    assert "Please meet with us on Tuesday, December 1, 2026 at 3:30 PM, at Wilby High School, Room 112." in truancy
    assert "If this time does not work for you, please call us." in truancy
    assert "A Connecticut law, General Statutes section 10-198a, says the school must meet with the parent." in truancy
    assert "fourth unexcused absence in a month, or tenth in a school year" in truancy

    habitual = one_page(letter(kind=LetterKind.HABITUAL_TRUANCY_NOTICE))
    assert "Please call us this week" in habitual
    assert "10-198a" not in habitual and "Please meet with us" not in habitual

    chronic = one_page(letter(kind=LetterKind.CHRONIC_ABSENCE_NOTICE))
    assert "So far this year, Liam has missed 17 of 58 school days." in chronic
    assert "it is called chronic absence" in chronic
    assert "10-198a" not in chronic

    attendance = one_page(letter(kind=LetterKind.ATTENDANCE_NOTICE))
    assert "We are writing early" in attendance
    assert "10-198a" not in attendance and "chronic" not in attendance


def test_custom_letter_prints_its_body_and_keeps_the_facts() -> None:
    text = one_page(letter(kind=LetterKind.CUSTOM))
    assert "We miss Liam in class. Please come to our open house on Friday." in text
    assert "Liam has missed 17 days of school this year." in text
    assert "A typical student in 7th grade" in text
    assert "1. Make getting to school on time" in text
    assert "We are writing" not in text and "10-198a" not in text


def test_meeting_without_a_time_says_we_will_call_before_the_deadline() -> None:
    text = one_page(letter(meeting_at=None, meeting_place=None))
    assert "We would like to meet with you. We will call you to set a time before December 4, 2026." in text
    assert "Please meet with us" not in text
    spanish = one_page(letter(language="es", meeting_at=None))
    assert "Nos gustaría reunirnos con usted en Wilby High School, Room 112." in spanish
    assert "antes del 4 de diciembre de 2026" in spanish


def test_without_a_guardian_or_a_case_manager() -> None:
    text = one_page(
        letter(kind=LetterKind.ATTENDANCE_NOTICE, guardian_name=None, case_manager_name=None, case_manager_phone=None)
    )
    assert "The family of Liam 123 East Main Street" in text
    assert "To the family of Liam," in text
    assert "please call us at (203) 574-8000" in text
    assert "If you need this letter in another language, please call (203) 574-8000." in text


def test_counts_take_the_right_plural_and_number_format() -> None:
    one = one_page(
        letter(total_absences=1, unexcused_dates=[date(2026, 10, 3)], classmates_median=1.0, grade="K", siblings=[])
    )
    assert "Liam has missed 1 day of school this year." in one
    assert "1 of these days was unexcused: October 3, 2026" in one
    assert "A typical student in kindergarten at Wilby High School has missed 1 day this year." in one
    assert "Your other children" not in one

    none = one_page(letter(kind=LetterKind.CHRONIC_ABSENCE_NOTICE, unexcused_dates=[], classmates_median=0.0))
    assert "None of these days were unexcused." in none
    assert "has not missed any days this year" in none

    spanish = one_page(letter(language="es", unexcused_dates=[date(2026, 10, 3)], classmates_median=1.0, grade=None))
    assert "1 de estos días fue sin justificación: 3 de octubre de 2026" in spanish
    assert "Un estudiante típico del mismo grado en Wilby High School ha faltado 1 día este año." in spanish
    assert "Liam estudia en Wilby High School." in spanish

    no_median = one_page(letter(classmates_median=None))
    assert "typical student" not in no_median.lower()


@pytest.mark.parametrize(
    ("grade", "lang", "words"),
    [
        ("1", "en", "in 1st grade"),
        ("02", "en", "in 2nd grade"),
        ("3", "en", "in 3rd grade"),
        ("11", "en", "in 11th grade"),
        ("12", "en", "in 12th grade"),
        ("KG", "en", "in kindergarten"),
        ("PK", "en", "in pre-kindergarten"),
        ("Ungraded", "en", "in grade Ungraded"),
        ("1", "es", "en 1.º grado"),
        ("PK", "es", "en prekínder"),
        ("9", "pt", "no 9º ano"),
        ("K", "pt", "no jardim de infância"),
    ],
)
def test_grade_in_words(grade: str, lang: str, words: str) -> None:
    assert render._Words(lang).in_grade(grade) == words


def test_names_in_several_scripts_print_as_written() -> None:
    names = ["Łucja", "Nguyễn Thị Ánh", "Σοφία", "Дмитрий", "José Ñúñez", "Şükrü Gümüşoğlu", "Zoë Ó Súilleabháin"]
    content = letter(
        student_first_name="Σοφία",
        guardian_name="Nguyễn Thị Ánh",
        school="Escola Łucja",
        case_manager_name="José Ñúñez",
        siblings=[
            Sibling(first_name="Дмитрий", school="Driggs", absences=2),
            Sibling(first_name="Şükrü Gümüşoğlu", school="Zoë Ó Súilleabháin Academy", absences=0),
        ],
    )
    text = one_page(content)
    for name in names:
        assert name in text, name
    assert "Σοφία has missed 17 days of school this year." in text
    assert "Şükrü Gümüşoğlu (Zoë Ó Súilleabháin Academy): no days missed this year" in text


def test_typst_markup_in_any_field_prints_literally() -> None:
    markup = "#exec *_$ `x` <y> @z [a] = b // c \\ d {e} **f**"
    body = '#set page(paper: "a4")\n\n= Heading\n\n- not a list'
    text = one_page(
        letter(
            kind=LetterKind.CUSTOM,
            student_first_name=markup,
            guardian_name='#import "x.typ"',
            address_lines=["$x^2$", '#read("/etc/passwd")'],
            school="_*Wilby*_",
            meeting_place="#pagebreak()",
            body=body,
        )
    )
    assert f"{markup} has missed 17 days of school this year." in flat(text)
    for literal in (
        '#import "x.typ"',
        "$x^2$",
        '#read("/etc/passwd")',
        "_*Wilby*_",
        '#set page(paper: "a4")',
        "= Heading",
    ):
        assert literal in text, literal
    assert "- not a list" in text


def test_three_letters_make_three_pages_one_each() -> None:
    names = ["Ava", "Ben", "Caio"]
    languages = ["en", "es", "pt"]
    pdf = render.render_pdf(
        [letter(student_first_name=n, language=lang) for n, lang in zip(names, languages, strict=True)]
    )
    texts = pages(pdf)
    assert len(texts) == 3
    for index, text in enumerate(texts):
        assert f"{names[index]} " in text
        assert all(f"{other} " not in text for other in names if other != names[index])
    assert "Dear" in texts[0] and "Estimado(a)" in texts[1] and "Prezado(a)" in texts[2]


def test_a_long_letter_numbers_its_own_pages_only() -> None:
    many = [date(2026, 9, d) for d in range(1, 31)] + [date(2026, 10, d) for d in range(1, 11)]
    long = letter(
        kind=LetterKind.CUSTOM,
        body="\n\n".join(["A long paragraph of news for the family. " * 8] * 6),
        unexcused_dates=many,
    )
    texts = pages(render.render_pdf([letter(student_first_name="Ava"), long, letter(student_first_name="Caio")]))
    assert len(texts) == 4
    assert "Page" not in texts[0] and "Page" not in texts[3]
    assert "Page 1 of 2" in texts[1] and "Page 2 of 2" in texts[2]
    assert "40 of these days were unexcused: September 2026: 1, 2, 3, 4," in texts[1]
    assert "29, 30 · October 2026: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 A typical student" in texts[1]
    assert "Caio" in texts[3]


def test_the_same_letter_makes_the_same_pdf() -> None:
    assert render.render_pdf([letter()]) == render.render_pdf([letter()])


def test_threads_render_at_once() -> None:
    """Renders run in ``asyncio.to_thread``: each thread compiles with its own compiler."""
    names = [f"Kid{i}" for i in range(6)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        texts = list(pool.map(lambda name: pages(render.render_pdf([letter(student_first_name=name)])), names))
    for name, text in zip(names, texts, strict=True):
        assert len(text) == 1 and f"Dear María López, We are writing because {name} has" in text[0]


# --- reading level ------------------------------------------------------------------------------


def prose(text: str, content: LetterContent) -> str:
    """The letter's sentences: from the greeting on, without the lists of facts (the dates, the
    siblings' lines, the chart's labels), the headings, the page labels and the tips' numbers."""
    text = text[text.index("Dear") :]
    drop = [flat(format_date(day, "long", locale="en")) for day in content.unexcused_dates]
    drop += [" · ", "Tips for Parents and Families", "Your other children", "Typical student", "Sincerely,"]
    drop += [f"{s.first_name} ({s.school}): {s.absences} day" for s in content.siblings]
    drop += ["days missed this year", "day missed this year"]
    for item in drop:
        text = text.replace(item, " ")
    text = re.sub(r"Page \d+ of \d+", " ", text)
    text = re.sub(r"(?<!\S)\d+\. ", " ", text)
    return " ".join(text.split())


@pytest.fixture
def offline_syllables(monkeypatch: pytest.MonkeyPatch) -> None:
    """textstat looks English words up in NLTK's CMU dictionary, which it downloads on first use;
    tests run offline, so every word takes textstat's own fallback (Pyphen's hyphenation points).
    That counts a few syllables fewer: with the CMU dictionary these letters measured 4.6-4.9 and
    the legal paragraph 5.4 (3.5-4.0 and 4.8 here)."""
    monkeypatch.setattr("textstat.backend.counts._count_syllables.get_cmudict", lambda lang: {})


@pytest.mark.usefixtures("offline_syllables")
@pytest.mark.parametrize("kind", list(LetterKind))
def test_english_reads_at_grade_six_or_below(kind: LetterKind) -> None:
    content = letter(kind=kind)
    text = prose(one_page(content), content)
    assert "Liam has missed 17 days" in text and "12 of these days were unexcused:" in text
    assert "September" not in text and "Driggs" not in text
    grade = textstat.flesch_kincaid_grade(text)
    assert grade <= 6, (kind, grade)


@pytest.mark.usefixtures("offline_syllables")
def test_the_legal_paragraph_is_plain_too() -> None:
    text = one_page(letter())
    law = text[text.index("What the law says.") : text.index("If you have questions")]
    assert "10-198a" in law
    assert textstat.flesch_kincaid_grade(law) <= 6


# --- the catalogs ------------------------------------------------------------------------------------


def _source_messages() -> set[str]:
    """Every msgid render.py marks (gettext, ngettext, N_)."""
    found = set()
    for _lineno, message, _comments, _context in extract_from_file("python", str(render.__file__)):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def _strings(value: object) -> tuple[str, ...]:
    """A catalog message's id or string: one text, or a plural's several."""
    if isinstance(value, str):
        return (value,)
    assert isinstance(value, tuple | list)
    return tuple(str(item) for item in value)


def _markers(text: str) -> tuple[list[str], int]:
    return sorted(re.findall(r"\{\w+\}", text)), text.count("**")


@pytest.mark.parametrize("lang", language.CATALOGS)
def test_each_catalog_translates_every_message_keeping_its_placeholders(lang: str) -> None:
    source = _source_messages()
    assert len(source) > 50
    with (render.LOCALE_DIR / lang / "LC_MESSAGES" / "letters.po").open("rb") as po:
        catalog = read_po(po)
    ids = {_strings(m.id)[0]: m for m in catalog if m.id}
    assert set(ids) == source
    if lang == "en":
        return
    for msgid, message in ids.items():
        assert not message.fuzzy, msgid
        for string in _strings(message.string):
            assert string, msgid
            assert _markers(string) == _markers(msgid), (lang, msgid, string)


def test_describe_kind_in_each_language() -> None:
    for kind in LetterKind:
        english = render.describe_kind(kind)
        assert english.endswith(".") and len(english.split()) >= 6
        assert render.describe_kind(kind, "es") != english
        assert render.describe_kind(kind, "Português") != english
        assert render.describe_kind(kind, "ht") == english
    assert "10-198a" in render.describe_kind(LetterKind.TRUANCY_NOTICE, "es")


# --- the household's language ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("Spanish", "es"),
        ("spanish", "es"),
        ("  SPANISH ", "es"),
        ("es", "es"),
        ("ES-mx", "es-MX"),
        ("es_MX", "es-MX"),
        ("Español", "es"),
        ("espanol", "es"),
        ("Spanish (Mexico)", "es-MX"),
        ("Mexican Spanish", "es-MX"),
        ("spa", "es"),
        ("Portuguese", "pt"),
        ("pt-BR", "pt-BR"),
        ("Português", "pt"),
        ("Brazilian Portuguese", "pt-BR"),
        ("English", "en"),
        ("Haitian Creole", "ht"),
        ("Kreyòl Ayisyen", "ht"),
        ("Creole", "ht"),
        ("ht", "ht"),
        ("Vietnamese", "vi"),
        ("Tiếng Việt", "vi"),
        ("中文", "zh"),
        ("Chinese", "zh"),
        ("zh_hant_tw", "zh-Hant-TW"),
        ("Farsi", "fa"),
        ("Arabic", "ar"),
        ("es-XX", "es"),
        (None, None),
        ("", None),
        ("   ", None),
        ("xx", None),
        ("Klingonese", None),
        ("und", None),
        ("NA", None),
    ],
)
def test_normalise(raw: str | None, code: str | None) -> None:
    assert language.normalise(raw) == code


@pytest.mark.parametrize(
    ("raw", "picked"),
    [
        ("es-MX", ("es", False, "es-MX")),
        ("Spanish", ("es", False, "es")),
        ("Português", ("pt", False, "pt")),
        ("en-US", ("en", False, "en-US")),
        ("ht", ("en", True, "ht")),
        ("Vietnamese", ("en", True, "vi")),
        (None, ("en", False, None)),
        ("unknown", ("en", False, None)),
    ],
)
def test_pick(raw: str | None, picked: tuple[str, bool, str | None]) -> None:
    assert language.pick(raw) == picked


def test_docs_show_every_kind_as_a_picture(tmp_path: Path) -> None:
    """docs/letters.md shows each kind (scripts/letter-pictures makes the pictures from the samples)."""
    from server.letters.samples import PICTURES, write_pictures

    assert {kind for _, kind, _ in PICTURES} == set(LetterKind)
    docs = Path(__file__).parent.parent / "docs"
    text = (docs / "letters.md").read_text()
    for name, _, _ in PICTURES:
        assert (docs / "letters" / f"{name}.png").is_file(), f"run scripts/letter-pictures ({name})"
        assert f"letters/{name}.png" in text, f"docs/letters.md does not show {name}"
    written = write_pictures(tmp_path, scale=0.3)
    assert [p.name for p in written] == [f"{name}.png" for name, _, _ in PICTURES]
