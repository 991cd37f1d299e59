"""Diffs of a conflict's texts, for the person who resolves it (``difflib``).

Only a reading aid: the person makes the merge. Each text field that ``mine`` carries is compared
with ``theirs`` word by word, from theirs (the server's) to mine (the phone's); and, where the
base is known, line by line from the base to each side (what the phone changed, what the server
changed since).
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from schemas.conflicts import DiffOp, DiffPart
from schemas.sync import RecordType

TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    RecordType.VISIT_NOTE: ("body", "review_comment"),
    RecordType.VISIT_NOTE_ADDENDUM: ("body",),
    RecordType.CONTACT_ATTEMPT: ("note",),
    RecordType.HOUSEHOLD: ("address", "phone", "alt_phone", "language"),
    RecordType.FOLLOW_UP: ("title", "note"),
}
"""The fields of each record type that hold text a person wrote."""

_WORD = re.compile(r"\s+|\S+\s*")
"""A word with the whitespace after it (or leading whitespace alone): joined, the tokens are the text."""


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def diff_text(theirs: str, mine: str) -> list[DiffPart]:
    """The parts that turn ``theirs`` into ``mine``, word by word; neighbouring words with the same
    op are one part."""
    a, b = words(theirs), words(mine)
    parts: list[DiffPart] = []

    def add(op: DiffOp, tokens: list[str]) -> None:
        if not tokens:
            return
        if parts and parts[-1].op is op:
            parts[-1] = DiffPart(op, parts[-1].text + "".join(tokens))
        else:
            parts.append(DiffPart(op, "".join(tokens)))

    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            add(DiffOp.EQUAL, a[i1:i2])
        else:  # replace, delete, insert
            add(DiffOp.DELETE, a[i1:i2])
            add(DiffOp.INSERT, b[j1:j2])
    return parts


def diff_lines(base: str, changed: str) -> list[DiffPart]:
    """The lines that turn ``base`` into ``changed``, one part a line (without its line break):
    ``equal`` and ``delete`` parts are the base's lines, ``equal`` and ``insert`` the changed's."""
    a, b = base.splitlines(), changed.splitlines()
    parts: list[DiffPart] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            parts += [DiffPart(DiffOp.EQUAL, line) for line in a[i1:i2]]
        else:  # replace, delete, insert
            parts += [DiffPart(DiffOp.DELETE, line) for line in a[i1:i2]]
            parts += [DiffPart(DiffOp.INSERT, line) for line in b[j1:j2]]
    return parts


def conflict_diff(record_type: str, mine: Any, theirs: Any) -> dict[str, list[DiffPart]]:
    """Per text field that ``mine`` sets, the diff from ``theirs`` to ``mine`` (a missing or null
    value is the empty text). Nothing for a conflict whose sides are not records."""
    if not isinstance(mine, dict):
        return {}
    theirs = theirs if isinstance(theirs, dict) else {}
    out: dict[str, list[DiffPart]] = {}
    for name in TEXT_FIELDS.get(record_type, ()):
        if name not in mine:
            continue
        new, old = mine[name], theirs.get(name)
        if (new is None or isinstance(new, str)) and (old is None or isinstance(old, str)):
            out[name] = diff_text(old or "", new or "")
    return out
