"""The review and admin pages (AppTest, real library and database): what each person sees and may do."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from retrofit.service import access, review
from retrofit.paths import ROOT
from retrofit.store import open_database
from tests.app_review import provider
from tests.reviewing import MANAGER

REVIEW = str(ROOT / "app" / "screens" / "review.py")
ADMIN = str(ROOT / "app" / "screens" / "admin.py")


def open_as(path: str, email: str | None = None, signed_in: bool = True) -> AppTest:
    """The page as ``email`` sees it after signing in (None: no identity provider configured)."""
    at = AppTest.from_file(path, default_timeout=60)
    if email is not None or not signed_in:
        at.secrets = provider.secrets_toml()
        at.user = provider.claims(email) if email and signed_in else {"is_logged_in": signed_in}
    return at.run()


def texts(elements) -> str:
    return " | ".join(str(e.value) for e in elements)


def table_with(at: AppTest, column: str):
    """The first table on the page with ``column`` (AppTest does not expose a dataframe's key), or None."""
    return next((d.value for d in at.dataframe if column in d.value.columns), None)


def home_ids(at: AppTest) -> set[str]:
    return set(table_with(at, "home_id")["home_id"])


def test_a_coventry_partner_sees_coventrys_homes_and_every_citys_aggregates(review_var):
    at = open_as(REVIEW, "cora@coventry.example")
    assert not at.exception, [e.value for e in at.exception]
    assert home_ids(at) == {"COV-0", "COV-1", "COV-2", "COV-3"}
    assert not [s for s in at.get("segmented_control") if s.key == "review_city"]  # no other city to pick
    assert set(table_with(at, "spend")["city"]) == {"Birmingham", "Coventry", "Wolverhampton"}
    assert "Coventry's part" in texts(at.subheader)


def test_a_partner_approves_their_city_once_it_is_submitted(review_var):
    at = open_as(REVIEW, "cora@coventry.example")
    labels = [b.label for b in at.button]
    assert "Submit for sign-off" in labels and "Approve" not in labels and "Final approval (locks the run)" not in labels
    at.button(key="review_submit").click().run()
    at.button(key="review_approve").click().run()
    assert not at.exception, [e.value for e in at.exception]
    engine = open_database()
    status = review.review_status(engine, MANAGER, 1)
    assert status.cities["Coventry"].state == "approved" and status.cities["Coventry"].by == "cora@coventry.example"
    assert status.cities["Birmingham"].state == "draft"
    engine.dispose()


def test_the_local_programme_manager_sees_every_city_and_gives_the_final_approval(review_var):
    engine = open_database()
    for city in ("Birmingham", "Coventry", "Wolverhampton"):
        review.submit(engine, MANAGER, 1, city)
        review.approve(engine, access.Principal(city, "city_partner", city, email=f"p@{city}.example"), 1, city)
    engine.dispose()
    at = open_as(REVIEW)
    assert at.segmented_control(key="review_city").options == ["Birmingham", "Coventry", "Wolverhampton"]
    at.segmented_control(key="review_city").set_value("Birmingham").run()
    assert home_ids(at) == {"BHM-0", "BHM-1", "BHM-2", "BHM-3"}
    at.button(key="review_final").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Locked" in texts(at.success)
    engine = open_database()
    assert review.review_status(engine, MANAGER, 1).final.by == "desk-7"
    engine.dispose()


def test_comments_are_posted_and_shown_as_plain_text(review_var):
    at = open_as(REVIEW, "cora@coventry.example")
    at.radio(key="review_comment_subject").set_value("A home")
    at.text_input(key="review_comment_target").set_value("COV-2")
    at.text_area(key="review_comment_text").set_value("<b>Listed</b> building <script>x()</script>")
    at.button[-1].click().run()  # the form's submit button
    assert not at.exception, [e.value for e in at.exception]
    assert "<b>Listed</b> building <script>x()</script>" in [t.value for t in at.text]
    meta = texts(at.text)  # who and on what: plain text too (an author or a home id is never Markdown)
    assert "cora@coventry.example" in meta and "home:COV-2" in meta


def test_a_partner_commenting_on_another_citys_home_is_refused_on_the_page(review_var):
    at = open_as(REVIEW, "cora@coventry.example")
    at.radio(key="review_comment_subject").set_value("A home")
    at.text_input(key="review_comment_target").set_value("BHM-1")
    at.text_area(key="review_comment_text").set_value("What about this one?")
    at.button[-1].click().run()
    assert "home BHM-1 is not among Coventry's homes" in texts(at.error)
    engine = open_database()
    assert review.comments_for(engine, MANAGER, 1).empty
    engine.dispose()


def test_a_viewer_sees_aggregates_only(review_var):
    at = open_as(REVIEW, "vic@westmids.example")
    assert not at.exception
    assert "aggregates only" in texts(at.info)
    assert table_with(at, "home_id") is None
    assert len(table_with(at, "spend")) == 3


def test_sign_in_screen_and_unknown_people(review_var):
    at = open_as(REVIEW, signed_in=False)
    assert at.button(key="auth.sign_in").label == "Sign in" and not at.dataframe
    at = open_as(REVIEW, "mallory@example.org")
    assert "mallory@example.org may not use the planner" in texts(at.error) and not at.dataframe
    engine = open_database()
    assert access.audit_events(engine, MANAGER, action="sign_in")["action"].tolist() == ["sign_in.refused"]
    engine.dispose()


def test_a_signed_in_session_audits_its_sign_in_once(review_var):
    at = open_as(REVIEW, "cora@coventry.example")
    at.run()
    engine = open_database()
    assert access.audit_events(engine, MANAGER, action="sign_in")["who"].tolist() == ["cora@coventry.example"]
    access.deactivate_user(engine, MANAGER, "cora@coventry.example")
    engine.dispose()
    at.run()  # deactivation counts at the next interaction
    assert "may no longer use the planner" in texts(at.error)


def test_the_admin_page_is_for_programme_managers(review_var):
    at = open_as(ADMIN, "cora@coventry.example")
    assert "Only a programme manager" in texts(at.error) and not at.dataframe
    at = open_as(ADMIN, "pat@westmids.example")
    assert set(table_with(at, "email")["email"]) == {
        "cora@coventry.example", "vic@westmids.example", "pat@westmids.example"}
    actions = table_with(at, "action")["action"].tolist()
    assert actions[0] == "sign_in" and "run.store" in actions
    assert at.get("download_button")[0].label == "Export the audit log (CSV)"


def test_a_programme_manager_adds_a_partner_on_the_admin_page(review_var):
    at = open_as(ADMIN)  # the local programme manager
    assert "No sign-in is configured" in texts(at.info)
    at.text_input(key="admin_add_email").set_value("wyn@wolverhampton.example")
    at.selectbox(key="admin_add_role").set_value("city_partner")
    at.selectbox(key="admin_add_city").set_value("Wolverhampton")
    at.button[0].click().run()
    assert not at.exception and not at.error, texts(at.error)
    engine = open_database()
    users = access.list_users(engine, MANAGER).set_index("email")
    assert users.loc["wyn@wolverhampton.example", "city"] == "Wolverhampton"
    assert access.audit_events(engine, MANAGER, action="user.add")["who"].iloc[0] == "desk-7"
    engine.dispose()


def test_the_banner_says_when_no_sign_in_is_configured(review_var):
    def page():
        from app import auth

        auth.local_mode_banner()
        auth.account_box(auth.current_principal())

    at = AppTest.from_function(page).run()
    assert "No sign-in is configured" in texts(at.warning) and "desk-7" in texts(at.warning)
    at = AppTest.from_function(page)
    at.secrets = provider.secrets_toml()
    at.user = provider.claims("cora@coventry.example")
    at.run()
    assert not at.warning
    assert "Signed in as **Cora** (city partner, Coventry)" in texts(at.sidebar.caption)


def test_the_example_secrets_configure_entra_id_and_are_refused_until_filled_in(review_var):
    import secrets
    import tomllib

    example = tomllib.loads((ROOT / ".streamlit" / "secrets.example.toml").read_text(encoding="utf-8"))
    microsoft = example["auth"]["microsoft"]
    assert microsoft["server_metadata_url"].startswith("https://login.microsoftonline.com/TENANT-ID/v2.0/")
    assert microsoft["client_secret"].startswith("REPLACE") and example["auth"]["cookie_secret"].startswith("REPLACE")

    def page():
        from app import auth

        import streamlit as st

        st.caption(f"provider: {auth.provider()}")
        auth.current_principal()
        raise AssertionError("signed in without the identity provider")

    at = AppTest.from_function(page)
    at.secrets = example
    at.user = {"is_logged_in": False}
    at.run()
    assert not at.exception and not at.button  # the example as it is opens nothing, not even a sign-in
    assert "cookie_secret is the example file's placeholder" in texts(at.error)

    tenant = "9d2c6a4e-1b7f-4c3a-8e5d-2f6b0a9c7e13"
    example["auth"].update(redirect_uri="https://planner.wmca.gov.uk/oauth2callback",
                           cookie_secret=secrets.token_urlsafe(48))
    microsoft.update(client_id="5b1e8f3a-7c2d-4e9b-a6f0-3d8c1b7e4a29", client_secret=secrets.token_urlsafe(30),
                     server_metadata_url=f"https://login.microsoftonline.com/{tenant}/v2.0/"
                                         ".well-known/openid-configuration")
    at = AppTest.from_function(page)
    at.secrets = example
    at.user = {"is_logged_in": False}
    at.run()
    assert not at.exception and at.button(key="auth.sign_in").label == "Sign in"
    assert "provider: microsoft" in texts(at.caption)  # st.login("microsoft"): the [auth.microsoft] settings


def test_a_programme_manager_forgets_the_account_a_person_signed_in_with(review_var):
    engine = open_database()
    access.sign_in(engine, "cora@coventry.example", subject="oid:old-account")
    at = open_as(ADMIN, "pat@westmids.example")
    assert table_with(at, "account_bound").set_index("email").loc["cora@coventry.example", "account_bound"]
    at.selectbox(key="admin_change_email").set_value("cora@coventry.example")
    at.selectbox(key="admin_change_role").set_value("city_partner")
    at.selectbox(key="admin_change_city").set_value("Coventry")
    at.checkbox(key="admin_change_forget").check()
    at.button(key="FormSubmitter:admin_change-Save").click().run()
    assert not at.exception and not at.error, texts(at.error)
    assert access.sign_in(engine, "cora@coventry.example", subject="oid:new-account").city == "Coventry"
    engine.dispose()
