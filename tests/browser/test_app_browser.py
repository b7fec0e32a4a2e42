"""End to end in a real headless Chromium: the app as a user sees it.

Build a scenario (the example, scaled to the sample stock), run it twice with two budgets,
see the KPIs, compare the runs, open the map; a screenshot of each page lands in
test-output/screenshots/.
"""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
SOLVE_MS = 180_000


def open_page(page, title: str, heading: str) -> None:
    page.get_by_role("link", name=title, exact=True).click()
    page.get_by_role("heading", name=heading).wait_for(timeout=30_000)


def save_and_run(page, budget_m: str) -> None:
    budget = page.get_by_role("spinbutton", name="Total budget (£m)")
    budget.fill(budget_m)
    budget.press("Tab")
    page.get_by_role("textbox", name=re.compile(r"^Budget per year")).fill("")
    gap = page.get_by_role("spinbutton", name="Gap target (%)")
    gap.fill("1")
    gap.press("Tab")
    page.get_by_role("button", name="Save and run").click()


def test_build_run_compare_and_map(page, app_url, screenshots):
    # Streamlit's own scripts come from the app's memory (app/served.py), gzipped and cached for good
    with page.expect_response(lambda r: "/static/js/" in r.url) as script:
        page.goto(app_url)
    assert script.value.ok and script.value.headers.get("content-encoding") == "gzip"
    assert "immutable" in script.value.headers["cache-control"]
    page.get_by_role("heading", name="Programme overview").wait_for(timeout=30_000)
    page.get_by_text("No run yet").wait_for()
    page.screenshot(path=str(screenshots / "overview-empty.png"), full_page=True)

    # build: the example scenario is offered at once; scale it to the 5,000-home sample, then run
    open_page(page, "Scenario builder", "Scenario builder")
    page.screenshot(path=str(screenshots / "builder-start.png"), full_page=True)
    expect(page.get_by_role("textbox", name="Name", exact=True)).to_have_value("Balanced 2026-2035", timeout=60_000)
    page.get_by_role("button", name="Scale to this stock").click()
    expect(page.get_by_role("spinbutton", name="Total budget (£m)")).to_have_value(re.compile(r"^\d\.\d+$"))
    save_and_run(page, "8")
    page.get_by_text(re.compile(r"stored as run #1")).wait_for(timeout=SOLVE_MS)
    page.screenshot(path=str(screenshots / "builder.png"), full_page=True)

    save_and_run(page, "4")
    page.get_by_text(re.compile(r"stored as run #2")).wait_for(timeout=SOLVE_MS)

    # the KPIs of the new run
    open_page(page, "Overview", "Programme overview")
    page.get_by_text("Run #2").first.wait_for(timeout=30_000)
    spend = page.locator('[data-testid="stMetric"]', has_text="Spend").locator('[data-testid="stMetricValue"]')
    assert re.fullmatch(r"£[\d.]+m", spend.inner_text())
    page.locator("canvas, svg.marks").first.wait_for(timeout=30_000)
    page.screenshot(path=str(screenshots / "overview.png"), full_page=True)

    open_page(page, "Compare", "Compare runs")
    page.get_by_text("Headline figures").wait_for()
    page.get_by_text("Homes in common").wait_for()
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=30_000)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(screenshots / "compare.png"), full_page=True)

    # the map's polygons come beside the page (app/served.py), gzipped, from the app's own server
    with page.expect_response(lambda r: "/served/" in r.url and r.url.endswith(".json"), timeout=30_000) as polygons:
        open_page(page, "Map", "Map")
    assert polygons.value.ok and polygons.value.headers.get("content-encoding") == "gzip"
    assert '"lsoa_code":"E01' in polygons.value.text()
    page.locator("canvas").first.wait_for(timeout=30_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(screenshots / "map.png"), full_page=True)

    open_page(page, "Plan explorer", "Plan explorer")
    page.get_by_text("in the plan match").wait_for(timeout=30_000)
    page.screenshot(path=str(screenshots / "explorer.png"), full_page=True)

    open_page(page, "Trade-offs", "Trade-offs")
    page.get_by_text("What more budget or capacity would buy").wait_for(timeout=30_000)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(screenshots / "tradeoffs.png"), full_page=True)

    open_page(page, "Data", "Data")
    homes = page.locator('[data-testid="stMetricValue"]').first
    homes.wait_for(timeout=30_000)
    assert homes.inner_text() == "5,000"
    page.screenshot(path=str(screenshots / "data.png"), full_page=True)
