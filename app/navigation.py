"""Retrofit Programme Planner: every page's frame and the navigation (served by `app/main.py`).

Streamlit runs this script first on every page run, whatever URL was opened, so the sign-in
gate here (`auth.current_principal`) is the one door to every page: nothing is drawn before
it lets the person in. Who they are decides what is offered: the pages a role may not use are not registered (their
URLs open the Overview), and every page reads home-level rows only through `retrofit.service.access`.
The pages live in `app/screens/`, not `pages/`: beside the entry script Streamlit would serve
a `pages/` folder's files by URL without running this script.
"""

import streamlit as st

from app import auth
from retrofit.service import access

st.set_page_config(page_title="Retrofit Programme Planner", page_icon=":house:", layout="wide")

principal = auth.current_principal()  # the gate: the sign-in screen until signed in (local mode: the manager)
auth.local_mode_banner()
auth.account_box(principal)

plan_pages = [st.Page("screens/overview.py", title="Overview", icon=":material/dashboard:", default=True)]
if access.can(principal, "edit_scenarios"):
    plan_pages.append(st.Page("screens/builder.py", title="Scenario builder", icon=":material/tune:"))
plan_pages.append(st.Page("screens/compare.py", title="Compare", icon=":material/compare_arrows:"))

explore_pages = [st.Page("screens/map.py", title="Map", icon=":material/map:")]
if access.home_cities(principal):
    explore_pages.append(st.Page("screens/explorer.py", title="Plan explorer", icon=":material/table_view:"))
explore_pages.append(st.Page("screens/tradeoffs.py", title="Trade-offs", icon=":material/scatter_plot:"))

review_pages = [st.Page("screens/review.py", title="City review", icon=":material/rate_review:")]
if access.can(principal, "manage_users"):
    review_pages.append(st.Page("screens/admin.py", title="Admin", icon=":material/admin_panel_settings:"))

pages = {
    "Plan": plan_pages,
    "Explore": explore_pages,
    "Review": review_pages,
    "Inputs": [st.Page("screens/stock.py", title="Data", icon=":material/database:")],
}
st.navigation(pages).run()
