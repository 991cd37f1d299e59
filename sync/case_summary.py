"""What a case carries for the phone besides its own fields (``sync.policies.SERVER_KEPT``).

- ``truancy``: the student's truancy as of the last evaluation (``schemas.truancy.TruancySummary``),
  written by the evaluation for every open case (on PostgreSQL ``server.rules.case_truancy``; in
  tests the seeder's ``evaluated``); ``None`` until the first one.
- ``follow_ups``: the case's open follow-ups (``schemas.cases.OpenFollowUp``), soonest due first,
  derived from the case's ``follow_up`` records whenever one is written (on PostgreSQL a trigger,
  migration 0011; in the memory store ``MemoryStore._refresh_cases``).

Either one changing is a change of the case: its version goes up and the next pull of every
device holding it brings it again. So a phone whose cursor is past the case's last own change
still hears of a new evaluation or a completed follow-up: the pull is change-based, and these
are changes. A summary that differs only in its ``as_of`` and ``absence_percent`` (the daily
evaluation found the same absences; only the enrolled days grew) is no change
(``summary_changed``): the case keeps the summary of the day it last changed, and is not sent to
every phone again each day.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sync.store import Data

DAILY = ("as_of", "absence_percent")
"""What moves every school day by itself, with no new absence."""


def summary_changed(old: Data | None, new: Data | None) -> bool:
    """Does a new evaluation's summary say anything the case's does not (``DAILY`` aside)?"""
    if old is None or new is None:
        return old is not new
    return {k: v for k, v in old.items() if k not in DAILY} != {k: v for k, v in new.items() if k not in DAILY}


def open_follow_ups(follow_ups: Iterable[tuple[str, Data]]) -> list[dict[str, Any]]:
    """The open follow-ups among ``(id, data)`` pairs of one case's ``follow_up`` records, as the
    case lists them: ``{id, kind, title, due_on}``, by due date, then id."""
    rows = [
        {"id": fid, "kind": data["kind"], "title": data["title"], "due_on": data["due_on"]}
        for fid, data in follow_ups
        if data.get("status") == "open"
    ]
    return sorted(rows, key=lambda row: (row["due_on"], row["id"]))
