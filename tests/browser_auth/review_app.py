"""The app's entry as it looks with sign-in wired in: who is signed in, then the review page.

Used by the sign-in test until app/main.py registers the review page (then the test can
start app/main.py itself).
"""

import streamlit as st

from app import auth
from retrofit.paths import ROOT

st.set_page_config(page_title="Retrofit Programme Planner", layout="wide")
principal = auth.current_principal()
auth.local_mode_banner()
auth.account_box(principal)
st.navigation([st.Page(ROOT / "app" / "pages" / "review.py", title="City review", default=True)]).run()
