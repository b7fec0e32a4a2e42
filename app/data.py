"""Cached access to the library for the pages (shared by all users, so keyed by inputs)."""

from __future__ import annotations

import streamlit as st

from retrofit.geo import add_fill_colours, lsoa_feature_collection
from retrofit.paths import default_stock_path
from retrofit.stock.schema import read_stock
from retrofit.stock.summary import summarise


@st.cache_data(show_spinner="Reading the housing stock...")
def stock_summary(path: str) -> dict:
    return summarise(read_stock(path))


def default_stock() -> str:
    return str(default_stock_path())


@st.cache_data(show_spinner=False)
def map_layer(value: str, reverse: bool, cities: tuple[str, ...]) -> dict:
    """LSOA polygons with reference figures, coloured by ``value`` (cached per layer and cities)."""
    collection = lsoa_feature_collection(None, list(cities))
    return add_fill_colours(collection, value, reverse)
