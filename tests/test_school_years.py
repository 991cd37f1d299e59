"""GET /school-years: the ids the rules routes need, with each year's days and the rules in force."""

from __future__ import annotations

from typing import Any

from tests.helpers import Client, bearer, login
from tests.test_imports import CALENDAR, ROSTER, post


async def years(client: Client, who: str = "admin") -> Any:
    response = await client.get("/school-years", headers=bearer(await login(client, who)))
    assert response.status_code == 200, response.text
    return {y["name"]: y for y in response.json()}


async def test_school_years_are_listed_with_their_days_and_rules(client: Client) -> None:
    assert (await post(client, "office1", "/rosters/imports", ROSTER)).status_code == 200
    year = (await years(client))["2025-2026"]
    # Made by the roster: July to June, no calendar yet, the program's rules (nothing stored).
    assert (year["starts_on"], year["ends_on"]) == ("2025-07-01", "2026-06-30")
    assert (year["first_instructional_day"], year["last_instructional_day"]) == (None, None)
    assert year["rules"] == {
        "version": 0,
        "preset": "program",
        "values": {
            "monthly_threshold": 4,
            "yearly_threshold": 11,
            "habitual_threshold": 20,
            "chronic_percent": 10.0,
            "month_reading": "calendar",
            "documentation_window_days": 10,
            "tier_boundary": 10,
            "meeting_due_days": 10,
            "wellness_days": 2,
        },
    }
    assert (await post(client, "office1", "/calendars/imports", CALENDAR)).status_code == 200
    year = (await years(client, "office1"))["2025-2026"]
    assert (year["first_instructional_day"], year["last_instructional_day"]) == ("2025-09-02", "2025-09-15")
    assert (year["starts_on"], year["ends_on"]) == ("2025-09-02", "2025-09-15")
    # The id is the one the rules routes take; a change shows up as the version in force.
    admin = bearer(await login(client, "admin"))
    changed = await client.put(
        f"/school-years/{year['id']}/rules", json={"preset": "connecticut", "note": "state numbers"}, headers=admin
    )
    assert changed.status_code == 200, changed.text
    year = (await years(client, "sup1"))["2025-2026"]
    assert (year["rules"]["version"], year["rules"]["preset"]) == (1, "connecticut")
    assert year["rules"]["values"]["yearly_threshold"] == 10


async def test_school_years_are_read_by_the_roles_that_read_the_rules(client: Client) -> None:
    for who in ("cm1", "counselor1"):
        response = await client.get("/school-years", headers=bearer(await login(client, who)))
        assert response.status_code == 403, who
    for who in ("admin", "sup1", "office1"):
        await years(client, who)
