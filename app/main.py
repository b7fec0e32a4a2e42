"""Retrofit Programme Planner: the Streamlit app's entry point and navigation."""

import streamlit as st

st.set_page_config(page_title="Retrofit Programme Planner", page_icon=":house:", layout="wide")

pages = {
    "Plan": [
        st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page("pages/builder.py", title="Scenario builder", icon=":material/tune:"),
        st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    ],
    "Explore": [
        st.Page("pages/map.py", title="Map", icon=":material/map:"),
        st.Page("pages/explorer.py", title="Plan explorer", icon=":material/table_view:"),
        st.Page("pages/tradeoffs.py", title="Trade-offs", icon=":material/scatter_plot:"),
    ],
    "Inputs": [
        st.Page("pages/stock.py", title="Data", icon=":material/database:"),
    ],
}
st.navigation(pages).run()
