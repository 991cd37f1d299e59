"""Reconciliation of a visit against the household's home and the case file: pure functions.

A visit made offline may arrive days later, on a case reassigned or closed meanwhile, from a phone
with a wrong clock or a poor fix. None of that rejects it: it is stored as sent, and what looks
wrong is named in ``flags`` (``schemas.cases.VisitFlag``), on the record and in the push result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.cases import VisitFlag

EARTH_RADIUS_M = 6_371_008.8
MATCH_RADIUS_M = 150.0
"""A check-in farther than this from home (less its accuracy) is a ``location_mismatch``."""
LOW_ACCURACY_M = 100.0
"""A fix whose accuracy is worse than this is ``location_low_accuracy``."""
FUTURE_TOLERANCE = timedelta(hours=24)
"""A device time further ahead of the server's receipt than this is ``time_in_future``."""


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float
    accuracy_m: float


@dataclass(frozen=True)
class CaseFile:
    """What reconciliation needs of the case: who has it now, and its period."""

    case_manager_id: str | None
    status: str
    opened_at: datetime | None
    closed_at: datetime | None


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def location_flags(
    fix: Location | None,
    home: tuple[float, float] | None,
    radius_m: float = MATCH_RADIUS_M,
    low_accuracy_m: float = LOW_ACCURACY_M,
) -> tuple[list[VisitFlag], float | None]:
    """The location flags of a fix against the home coordinates, and the distance (when known).

    The accuracy counts in the device's favour: a 500 m fix cannot prove a visit 100 m away, so
    only ``distance - accuracy > radius`` is a mismatch."""
    flags: list[VisitFlag] = []
    distance = None
    if fix is None:
        flags.append(VisitFlag.LOCATION_MISSING)
    elif fix.accuracy_m > low_accuracy_m:
        flags.append(VisitFlag.LOCATION_LOW_ACCURACY)
    if home is None:
        flags.append(VisitFlag.HOME_NOT_GEOCODED)
    elif fix is not None:
        distance = haversine_m(fix.latitude, fix.longitude, home[0], home[1])
        if distance - fix.accuracy_m > radius_m:
            flags.append(VisitFlag.LOCATION_MISMATCH)
    return flags, distance


def check_out_flags(
    fix: Location | None,
    home: tuple[float, float] | None,
    radius_m: float = MATCH_RADIUS_M,
    low_accuracy_m: float = LOW_ACCURACY_M,
) -> list[VisitFlag]:
    """The location flags a check-out adds: its fix, when it has one, against home, with the same
    thresholds as a check-in's and its accuracy counting in the device's favour. A check-out
    without a fix adds nothing (the check-in says whether the visit was located), nor does a home
    without coordinates (the check-in already named it ``home_not_geocoded``)."""
    if fix is None:
        return []
    found, _ = location_flags(fix, home, radius_m, low_accuracy_m)
    return [f for f in found if f in (VisitFlag.LOCATION_MISMATCH, VisitFlag.LOCATION_LOW_ACCURACY)]


def case_flags(case: CaseFile, sender_id: str, at: datetime) -> list[VisitFlag]:
    """The case-file flags of a visit at ``at`` by ``sender_id``. The server keeps no assignment
    history, so ``case_reassigned`` means the case is not the sender's now."""
    flags: list[VisitFlag] = []
    if case.case_manager_id != sender_id:
        flags.append(VisitFlag.CASE_REASSIGNED)
    closed_before = case.closed_at <= at if case.closed_at is not None else case.status == "closed"
    if closed_before:
        flags.append(VisitFlag.CASE_CLOSED)
    before = case.opened_at is not None and at < case.opened_at
    after = case.closed_at is not None and at > case.closed_at
    if before or after:
        flags.append(VisitFlag.OUTSIDE_CASE_PERIOD)
    return flags


def time_flags(at: datetime, received_at: datetime, tolerance: timedelta = FUTURE_TOLERANCE) -> list[VisitFlag]:
    return [VisitFlag.TIME_IN_FUTURE] if at - received_at > tolerance else []


def ordered(flags: list[VisitFlag] | list[str]) -> list[str]:
    """Flags as stored: each once, in ``VisitFlag`` order."""
    present = {str(f) for f in flags}
    return [f.value for f in VisitFlag if f.value in present]
