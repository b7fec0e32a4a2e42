"""Cached access to the library for the pages (shared by all users, so keyed by inputs)."""

from __future__ import annotations

import streamlit as st

from retrofit.paths import default_stock_path
from retrofit.stock.schema import read_stock
from retrofit.stock.summary import summarise


@st.cache_data(show_spinner="Reading the housing stock...")
def stock_summary(path: str) -> dict:
    return summarise(read_stock(path))


def default_stock() -> str:
    return str(default_stock_path())
