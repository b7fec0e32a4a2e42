"""Retrofit Programme Planner: the Streamlit app's entry point and navigation."""

import streamlit as st

st.set_page_config(page_title="Retrofit Programme Planner", page_icon=":house:", layout="wide")

pages = [
    st.Page("pages/stock.py", title="Housing stock", icon=":material/home:", default=True),
    st.Page("pages/map.py", title="Map", icon=":material/map:"),
]
st.navigation(pages).run()
