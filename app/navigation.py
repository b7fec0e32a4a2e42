"""Retrofit Programme Planner: every page's frame and the navigation (served by `app/main.py`).

Who is using the app decides what it shows: every page below reads home-level rows only
through `retrofit.access`, and the pages a role may not use are not offered.
"""

import streamlit as st

from app import auth
from retrofit import access

st.set_page_config(page_title="Retrofit Programme Planner", page_icon=":house:", layout="wide")

principal = auth.current_principal()  # the sign-in screen until signed in; the local manager without [auth]
auth.local_mode_banner()
auth.account_box(principal)

plan_pages = [st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True)]
if access.can(principal, "edit_scenarios"):
    plan_pages.append(st.Page("pages/builder.py", title="Scenario builder", icon=":material/tune:"))
plan_pages.append(st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"))

explore_pages = [st.Page("pages/map.py", title="Map", icon=":material/map:")]
if access.home_cities(principal):
    explore_pages.append(st.Page("pages/explorer.py", title="Plan explorer", icon=":material/table_view:"))
explore_pages.append(st.Page("pages/tradeoffs.py", title="Trade-offs", icon=":material/scatter_plot:"))

review_pages = [st.Page("pages/review.py", title="City review", icon=":material/rate_review:")]
if access.can(principal, "manage_users"):
    review_pages.append(st.Page("pages/admin.py", title="Admin", icon=":material/admin_panel_settings:"))

pages = {
    "Plan": plan_pages,
    "Explore": explore_pages,
    "Review": review_pages,
    "Inputs": [st.Page("pages/stock.py", title="Data", icon=":material/database:")],
}
st.navigation(pages).run()
