"""End to end in a real headless Chromium: the app as a user sees it."""

import pytest

pytestmark = pytest.mark.browser


def test_stock_page_and_map(page, app_url, screenshots):
    page.goto(app_url)
    page.get_by_role("heading", name="Housing stock").wait_for(timeout=30_000)
    page.get_by_text("synthetic", exact=False).first.wait_for()
    homes = page.locator('[data-testid="stMetricValue"]').first
    homes.wait_for()
    assert homes.inner_text() == "5,000"
    page.screenshot(path=str(screenshots / "stock.png"), full_page=True)

    page.get_by_role("link", name="Map").click()
    page.get_by_role("heading", name="Map").wait_for(timeout=30_000)
    page.locator("canvas").first.wait_for(timeout=30_000)
    page.screenshot(path=str(screenshots / "map.png"), full_page=True)
