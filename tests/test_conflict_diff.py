"""The word-level diff of a conflict's texts: joined back, its parts give each side exactly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from schemas.conflicts import DiffOp, DiffPart
from server.conflicts.diff import conflict_diff, diff_text

TEXT = st.text(alphabet=st.sampled_from(list("ab c\n\t")), max_size=40)


@given(TEXT, TEXT)
def test_the_parts_rebuild_both_texts(theirs: str, mine: str) -> None:
    parts = diff_text(theirs, mine)
    assert "".join(p.text for p in parts if p.op is not DiffOp.INSERT) == theirs
    assert "".join(p.text for p in parts if p.op is not DiffOp.DELETE) == mine
    assert all(p.text for p in parts)
    assert all(a.op is not b.op for a, b in zip(parts, parts[1:], strict=False)), "neighbours are merged"


def test_words_are_replaced_whole() -> None:
    assert diff_text("the dog sat", "the cat sat") == [
        DiffPart(DiffOp.EQUAL, "the "),
        DiffPart(DiffOp.DELETE, "dog "),
        DiffPart(DiffOp.INSERT, "cat "),
        DiffPart(DiffOp.EQUAL, "sat"),
    ]


def test_only_the_text_fields_mine_sets_are_compared() -> None:
    mine = {"phone": "555-0199", "latitude": 41.5, "address": None}
    theirs = {"phone": "555-0100", "address": "1 Main St", "latitude": 40.0}
    assert conflict_diff("household", mine, theirs) == {
        "phone": [DiffPart(DiffOp.DELETE, "555-0100"), DiffPart(DiffOp.INSERT, "555-0199")],
        "address": [DiffPart(DiffOp.DELETE, "1 Main St")],
    }
    assert conflict_diff("visit_note", {"status": "submitted"}, {"status": "approved"}) == {}
    assert conflict_diff("case", {"status": "x"}, None) == {}
    assert conflict_diff("visit_note", None, None) == {}
    assert conflict_diff("visit_note", {"body": "new"}, None) == {"body": [DiffPart(DiffOp.INSERT, "new")]}
