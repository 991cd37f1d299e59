"""The directory of resources in headless Chromium, as office staff use it on a laptop: a CSV file
uploaded, a resource added with a tired person's mistakes (no name, a latitude without its
longitude) corrected on the page, and an edit. With DOORSTEP_SCREENSHOTS=1 it retakes
docs/console/resources.png and docs/console/resource-form.png."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Page, expect
from sqlalchemy import select

from server.resources.models import Resource
from tests.browser.conftest import Live, screenshot, sign_in, watch_for_problems

DIRECTORY = "\n".join(
    (
        "name,factors,languages,address,phone,website,hours,latitude,longitude,active",
        'Riverside Food Pantry,food_insecurity;clothing_or_supplies,en;es,"14 Water St, Riverside",203-555-0110,'
        "https://pantry.example.org,Mon-Fri 9-5,41.551,-73.041,true",
        "Centro Comunitario Hispano,legal_or_immigration;family_work_schedule,es;en,210 Main St,203-555-0111,,"
        "Tue-Sat 10-6,41.556,-73.038,true",
        "Casa do Brasil,food_insecurity;caring_for_family,pt-BR;en,88 Bank St,203-555-0112,,,41.549,-73.045,true",
        "Safe Routes Walking School Bus,unsafe_route;transportation,en,,203-555-0113,,School days 7:30,,,true",
        "Youth Counseling Center,anxiety_or_mental_health;substance_use;bullying,en;es,5 Grove Ave,203-555-0114,"
        "https://youth.example.org,Mon-Thu 12-8,41.553,-73.05,true",
        "Homework Help Club,academic_difficulty;not_connected_to_learning;no_caring_adult,en,Riverside Library,"
        "203-555-0115,,Mon-Thu 3-5,41.552,-73.043,false",
        "",
    )
)


async def test_office_staff_upload_add_and_edit_resources(live: Live, page: Page, tmp_path: Path) -> None:
    problems = watch_for_problems(page)
    await sign_in(page, "office1")
    await page.get_by_role("link", name="Resources", exact=True).click()
    await expect(page.get_by_role("heading", name="Resources", exact=True)).to_be_visible()
    await expect(page.get_by_text("The directory is empty")).to_be_visible()

    csv_file = tmp_path / "resources.csv"
    csv_file.write_text(DIRECTORY, encoding="utf-8")
    await page.get_by_label("Resources file (CSV)").set_input_files(csv_file)
    await page.get_by_role("button", name="Import resources").click()
    await expect(page.locator("#count-added")).to_have_text("6")
    await expect(page.get_by_role("link", name="Casa do Brasil")).to_be_visible()

    await page.get_by_role("link", name="Add a resource").click()
    await page.get_by_label("Address").fill("40 Elm St, Riverside")
    await page.get_by_label("Languages").fill("en, es")
    await page.get_by_label("Not enough food at home").check()
    await page.get_by_label("Latitude").fill("41.554")
    await page.get_by_role("button", name="Add the resource").click()
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("Nothing was saved: 2 fields to correct")
    await expect(page.locator("#name-error")).to_have_text("a name is required")
    await expect(page.locator("#longitude-error")).to_contain_text("give the longitude too")
    await expect(page.get_by_label("Address")).to_have_value("40 Elm St, Riverside")
    await expect(page.get_by_label("Not enough food at home")).to_be_checked()
    await page.set_viewport_size({"width": 1280, "height": 1000})
    await screenshot(page, "resource-form")

    await page.get_by_label("Name").fill("Elm Street Community Fridge")
    await page.get_by_label("Longitude").fill("-73.039")
    await page.get_by_role("button", name="Add the resource").click()
    await expect(page.get_by_role("status")).to_have_text("Saved “Elm Street Community Fridge”.")

    await page.get_by_role("link", name="Homework Help Club").click()
    await page.get_by_label("Active: case managers may refer families to it").check()
    await page.get_by_label("Struggling with schoolwork").uncheck()
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.get_by_role("status")).to_have_text("Saved “Homework Help Club”.")

    async with live.factory() as session:
        club = await session.scalar(select(Resource).where(Resource.name == "Homework Help Club"))
        assert club is not None
        assert (club.active, club.factors, club.version) == (True, ["no_caring_adult", "not_connected_to_learning"], 2)
        fridge = await session.scalar(select(Resource).where(Resource.name == "Elm Street Community Fridge"))
        assert fridge is not None and (fridge.latitude, fridge.longitude) == (41.554, -73.039)

    await page.goto("/console/resources")
    await page.set_viewport_size({"width": 1280, "height": 800})
    await screenshot(page, "resources")
    refused = f"{live.url}/console/resources"  # the refused form was answered 400 on purpose (and Chromium logs it)
    assert f"400 {refused}" in problems
    assert [p for p in problems if not (p.endswith((refused, f"({refused})")) and "400" in p)] == []
