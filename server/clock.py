"""The district's calendar day. Stored times are UTC; a school day begins at midnight where the
district is (``DOORSTEP_TIME_ZONE``), so "today" and "the day a case opened" are read there, not
on the server's clock (a server in UTC is a day ahead of Waterbury every evening after 19:00)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from server.settings import Settings


def today(settings: Settings, now: datetime | None = None) -> date:
    """The district's date at ``now`` (the present by default)."""
    return day_of(now or datetime.now(ZoneInfo(settings.time_zone)), settings)


def day_of(moment: datetime, settings: Settings) -> date:
    """The district's date at ``moment`` (an aware datetime)."""
    return moment.astimezone(ZoneInfo(settings.time_zone)).date()
