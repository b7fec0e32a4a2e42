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


# Every page of the navigation (app/navigation.py), the navigation script itself, and a name that is none.
PAGE_PATHS = ["", "overview", "builder", "compare", "map", "explorer", "tradeoffs", "review", "admin", "stock",
              "navigation", "no-such-page"]


def test_every_page_url_opened_without_a_session_shows_the_sign_in_and_nothing_else(browser, signed_in_app):
    context = browser.new_context()
    try:
        for path in PAGE_PATHS:
            page = context.new_page()
            page.goto(f"{signed_in_app}/{path}")
            page.get_by_role("button", name="Sign in").wait_for(timeout=30_000)
            page.wait_for_timeout(300)  # anything a page drew after the gate would be here by now
            shown = page.inner_text("body")
            for secret in ("Run #", "Pilot", "pat@westmids.example", "BHM-", "COV-", "Spend", "Programme overview"):
                assert secret not in shown, f"/{path} shows {secret!r} before sign-in"
            page.close()
    finally:
        context.close()


def map_file(page, app_url: str) -> str:
    """Open the Map; the URL of the plan polygons file the page hands to the browser."""
    urls: list[str] = []
    page.on("response", lambda response: urls.append(response.url) if "/served/" in response.url
            and response.url.endswith(".json") else None)
    page.goto(f"{app_url}/map")
    page.locator("canvas").first.wait_for(timeout=60_000)
    page.wait_for_function("() => true")
    deadline = page.evaluate("Date.now()") + 30_000
    while not urls and page.evaluate("Date.now()") < deadline:
        page.wait_for_timeout(200)
    assert urls, "the Map fetched no polygons"
    return urls[-1]


def test_the_maps_files_are_served_to_signed_in_people_who_may_read_them(browser, signed_in_app, screenshots):
    manager, partner, nobody = (browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(3))
    try:
        managers_map = map_file(_signed_in(manager, signed_in_app, "pat@westmids.example"), signed_in_app)
        partners_page = _signed_in(partner, signed_in_app, "cora@coventry.example")
        partners_map = map_file(partners_page, signed_in_app)
        partners_page.wait_for_timeout(1_500)  # the polygons drawn
        partners_page.screenshot(path=str(screenshots / "map-coventry-partner.png"))
        assert managers_map != partners_map  # Coventry's partner sees Birmingham's small areas withheld
        assert manager.request.get(managers_map).status == 200
        assert partner.request.get(partners_map).status == 200
        # every neighbourhood's figures of three cities: not for Coventry's partner, whatever the URL
        assert partner.request.get(managers_map).status == 404
        for url in (managers_map, partners_map):  # nobody signed in: nothing, not even whether it exists
            answer = nobody.request.get(url)
            assert answer.status == 401 and "Sign in" in answer.text()
    finally:
        for context in (manager, partner, nobody):
            context.close()


def _signed_in(context, app_url: str, email: str):
    page = context.new_page()
    sign_in(page, app_url, email)
    page.get_by_text("Signed in as").wait_for(timeout=60_000)
    return page


def test_an_account_whose_email_the_provider_has_not_verified_is_refused(browser, signed_in_app):
    context = browser.new_context()
    page = context.new_page()
    try:
        sign_in(page, signed_in_app, "eve-1")  # claims bo@birmingham.example, a registered partner's email
        page.get_by_text("has not verified this account's email").wait_for(timeout=60_000)
        assert "BHM-" not in page.content() and "Signed in as" not in page.content()
    finally:
        context.close()
