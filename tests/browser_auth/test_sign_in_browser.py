"""Sign in through a real OpenID Connect provider in headless Chromium, as Coventry's city partner."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def sign_in(page, app_url: str, email: str) -> None:
    page.goto(app_url)
    page.get_by_role("button", name="Sign in").click(timeout=30_000)
    page.get_by_placeholder("sub").fill(email)  # the provider's own sign-in form
    page.get_by_role("button", name="Authorize").click()


def test_a_coventry_partner_signs_in_and_sees_coventrys_homes_only(page, signed_in_app, screenshots):
    sign_in(page, signed_in_app, "cora@coventry.example")
    page.get_by_role("link", name="City review").click(timeout=60_000)
    page.get_by_role("heading", name="Coventry's part").wait_for(timeout=60_000)
    page.get_by_text("Signed in as Cora Partner (city partner, Coventry)").wait_for()
    page.get_by_text("4 homes in Coventry").wait_for()
    homes = page.locator('[data-testid="stDataFrame"]').last
    homes.scroll_into_view_if_needed()
    # The grid draws on a canvas; its accessible table holds the cells it shows.
    homes.locator('table[role="grid"]', has_text="COV-0").wait_for(state="attached", timeout=30_000)
    page.screenshot(path=str(screenshots / "review-coventry.png"))
    shown = homes.locator('table[role="grid"]').text_content()
    assert all(f"COV-{n}" in shown for n in range(4))
    html = page.content()
    assert "BHM-" not in html and "WLV-" not in html  # Birmingham's and Wolverhampton's homes never reach the page
    assert page.get_by_role("button", name="Submit for sign-off").is_visible()


def test_someone_not_registered_is_turned_away(browser, signed_in_app):
    context = browser.new_context()
    page = context.new_page()
    try:
        sign_in(page, signed_in_app, "mallory@example.org")
        page.get_by_text("mallory@example.org may not use the planner").wait_for(timeout=60_000)
        assert "City review and sign-off" not in page.content()
    finally:
        context.close()
