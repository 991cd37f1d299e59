"""The district's day: read where the district is, not on the server's (UTC) clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

from server import clock
from server.settings import Settings


def test_an_evening_in_waterbury_is_still_that_day_there_though_utc_has_moved_on() -> None:
    settings = Settings()  # America/New_York
    evening = datetime(2026, 12, 2, 2, 30, tzinfo=UTC)  # 21:30 EST on December 1
    assert clock.today(settings, now=evening) == date(2026, 12, 1)
    assert clock.day_of(evening, settings) == date(2026, 12, 1)
    assert clock.day_of(datetime(2026, 12, 2, 5, 0, tzinfo=UTC), settings) == date(2026, 12, 2)
    summer = datetime(2026, 7, 1, 3, 59, tzinfo=UTC)  # 23:59 EDT on June 30
    assert clock.day_of(summer, settings) == date(2026, 6, 30)
    assert clock.day_of(summer, replace(settings, time_zone="UTC")) == date(2026, 7, 1)
