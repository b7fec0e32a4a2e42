"""The Map page's decks, built once and cached (pydeck is imported only by the Map page and the warm-up).

A deck is the plan's (or a reference layer's) LSOA polygons, filled by quantile class, with
the LSOA boundaries drawn over them as one image (`retrofit.geo.boundary_image`): a browser
without a graphics card draws thousands of outline segments slowly, one image at once.
Hovering a neighbourhood lights it up and shows its figures.
"""

from __future__ import annotations

import base64
import json
import re

import pydeck as pdk
import streamlit as st

from app import data
from retrofit import views
from retrofit.geo import MAP_DIGITS, add_fill_colours, boundary_image, lsoa_feature_collection

VIEW = pdk.ViewState(latitude=52.48, longitude=-1.75, zoom=9.2)
PLAN_TOOLTIP = ("<b>{lsoa_name}</b> ({ward})<br/>Homes in the plan: {homes}<br/>Spend: {spend_text}<br/>"
                "Carbon saved: {carbon_text}<br/>Fuel-poor households lifted: {fuel_poor_text}<br/>"
                "Households: {households}, fuel poor {fuel_poverty_pct}%<br/>IMD decile: {imd_decile}")
REFERENCE_TOOLTIP = ("<b>{lsoa_name}</b> ({ward})<br/>Households: {households}<br/>"
                     "Fuel poor: {fuel_poor_households} ({fuel_poverty_pct}%)<br/>IMD decile: {imd_decile}")


class _BuiltDeck(pdk.Deck):
    """A map whose JSON was built once and cached: Streamlit sends it without building it again."""

    def __init__(self, spec: str, tooltip: dict):
        super().__init__(layers=[], tooltip=tooltip, map_style=None)
        self._spec = spec

    def to_json(self) -> str:
        return self._spec


@st.cache_data(show_spinner=False, max_entries=8)
def _boundaries_layer(cities: tuple[str, ...]) -> dict:
    """The LSOA boundaries of ``cities`` as an image layer (JSON), drawn for the map's first view."""
    image, bounds = boundary_image(list(cities), zoom=VIEW.zoom)
    url = "data:image/png;base64," + base64.b64encode(image).decode("ascii")
    # a quoted string: pydeck would otherwise read the URL as an expression
    layer = pdk.Layer("BitmapLayer", None, id="boundaries", image=f'"{url}"', bounds=bounds)
    return json.loads(pdk.Deck(layers=[layer]).to_json())["layers"][0]


def _shown(collection: dict, tooltip: str) -> dict:
    """The features with only what the browser uses: the tooltip's fields, the LSOA code and the colour.

    The browser parses the whole deck on every visit to the page: figures it never shows
    (the plan's raw sums, the city) would only make that slower.
    """
    keep = set(re.findall(r"{(\w+)}", tooltip)) | {"lsoa_code", "fill_colour"}
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": feature["geometry"],
         "properties": {k: v for k, v in feature["properties"].items() if k in keep}}
        for feature in collection["features"]]}


def _deck_spec(collection: dict, cities: tuple[str, ...], tooltip: str) -> str:
    """The deck's JSON: filled polygons and the boundaries image, compact (pydeck's own is indented)."""
    fill = pdk.Layer("GeoJsonLayer", _shown(collection, tooltip), id="lsoas", pickable=True, auto_highlight=True,
                     highlight_color=[40, 40, 40, 90], stroked=False, filled=True,
                     get_fill_color="properties.fill_colour")
    spec = json.loads(pdk.Deck(layers=[fill], initial_view_state=VIEW, map_style=None).to_json())
    spec["layers"].append(_boundaries_layer(cities))
    return json.dumps(spec, separators=(",", ":"))


@st.cache_data(show_spinner="Drawing the map...", max_entries=64)
def _plan_deck(url: str, run_id: int, value: str, year: int | None, cities: tuple[str, ...]) -> str:
    collection = views.plan_layer(data.stored_plan(url, run_id), value, year, list(cities))
    return _deck_spec(collection, cities, PLAN_TOOLTIP)


def plan_deck(run_id: int, value: str, year: int | None, cities: tuple[str, ...]) -> pdk.Deck:
    """The plan's LSOA map, ``value`` of views.MAP_LAYERS in ``year`` (None: all) and ``cities``.

    Built once per run, figure, year and cities, for everyone; whoever may map which
    cities is the page's to decide (`retrofit.access`).
    """
    return _BuiltDeck(_plan_deck(data.db_url(), int(run_id), value, year, tuple(cities)), {"html": PLAN_TOOLTIP})


@st.cache_data(show_spinner="Drawing the map...", max_entries=16)
def _reference_deck(value: str, reverse: bool, cities: tuple[str, ...]) -> str:
    collection = lsoa_feature_collection(None, list(cities), digits=MAP_DIGITS)
    return _deck_spec(add_fill_colours(collection, value, reverse), cities, REFERENCE_TOOLTIP)


def reference_deck(value: str, reverse: bool, cities: tuple[str, ...]) -> pdk.Deck:
    """A reference layer's LSOA map (deprivation, fuel poverty, households): darker is higher, or lower
    when ``reverse``."""
    return _BuiltDeck(_reference_deck(value, reverse, tuple(cities)), {"html": REFERENCE_TOOLTIP})
