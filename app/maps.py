"""The Map page's decks, built once and cached (pydeck is imported only by the Map page and the warm-up).

A deck is the plan's (or a reference layer's) LSOA polygons, filled by quantile class, with
the LSOA boundaries drawn over them as one image (`retrofit.geo.boundary_image`): a browser
without a graphics card draws thousands of outline segments slowly, one image at once.
Hovering a neighbourhood lights it up and shows its figures.

The polygons and the image travel beside the page, not inside it (`app.served`): the deck
the page sends names them by URL, and the browser fetches each once and keeps it.
"""

from __future__ import annotations

import json
import re

import pydeck as pdk
import streamlit as st

from app import data, served
from retrofit.present import views
from retrofit.service import access
from retrofit.geo import MAP_DIGITS, add_fill_colours, boundary_image, lsoa_feature_collection

VIEW = {"latitude": 52.48, "longitude": -1.75, "zoom": 9.2}
PLAN_TOOLTIP = ("<b>{lsoa_name}</b> ({ward})<br/>Homes in the plan: {homes}<br/>Spend: {spend_text}<br/>"
                "Carbon saved: {carbon_text}<br/>Fuel-poor households lifted: {fuel_poor_text}<br/>"
                "Households: {households}, fuel poor {fuel_poverty_pct}%<br/>IMD decile: {imd_decile}")
REFERENCE_TOOLTIP = ("<b>{lsoa_name}</b> ({ward})<br/>Households: {households}<br/>"
                     "Fuel poor: {fuel_poor_households} ({fuel_poverty_pct}%)<br/>IMD decile: {imd_decile}")


class _BuiltDeck(pdk.Deck):
    """A map whose JSON is written here: Streamlit sends it as it is."""

    def __init__(self, spec: str, tooltip: dict):
        super().__init__(layers=[], tooltip=tooltip, map_style=None)
        self._spec = spec

    def to_json(self) -> str:
        return self._spec


@st.cache_data(show_spinner=False, max_entries=8)
def _boundaries(cities: tuple[str, ...]) -> tuple[served.File, list[float]]:
    """The LSOA boundaries of ``cities`` as an image for the map's first view, and where it lies."""
    image, bounds = boundary_image(list(cities), zoom=VIEW["zoom"])
    return served.make_file(image, "png"), bounds


def _polygons(collection: dict, tooltip: str, cities: tuple[str, ...] = ()) -> served.File:
    """The features with only what the browser uses: the tooltip's fields, the LSOA code and the colour.

    The browser reads the whole file on its first visit: figures it never shows (the
    plan's raw sums, the city) would only make that slower. ``cities``: those whose every
    neighbourhood's figures it holds, served only to people who may read their homes.
    """
    keep = set(re.findall(r"{(\w+)}", tooltip)) | {"lsoa_code", "fill_colour"}
    shown = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": feature["geometry"],
         "properties": {k: v for k, v in feature["properties"].items() if k in keep}}
        for feature in collection["features"]]}
    return served.make_file(json.dumps(shown, separators=(",", ":")).encode(), "json", cities)


def _deck(polygons: served.File, cities: tuple[str, ...], tooltip: str) -> pdk.Deck:
    """The deck: the filled polygons and the boundaries image, both fetched by the browser by URL."""
    boundaries, bounds = _boundaries(cities)
    fill = {"@@type": "GeoJsonLayer", "id": "lsoas", "data": served.serve(polygons), "pickable": True,
            "autoHighlight": True, "highlightColor": [40, 40, 40, 90], "stroked": False, "filled": True,
            "getFillColor": "@@=properties.fill_colour"}
    lines = {"@@type": "BitmapLayer", "id": "boundaries", "image": served.serve(boundaries), "bounds": bounds}
    spec = {"initialViewState": VIEW, "views": [{"@@type": "MapView", "controller": True}], "layers": [fill, lines]}
    return _BuiltDeck(json.dumps(spec, separators=(",", ":")), {"html": tooltip})


@st.cache_data(show_spinner="Drawing the map...", max_entries=64)
def _plan_polygons(url: str, run_id: int, value: str, year: int | None, cities: tuple[str, ...],
                   open_cities: tuple[str, ...]) -> served.File:
    layer = views.plan_layer(data.stored_plan(url, run_id), value, year, list(cities), list(open_cities))
    return _polygons(layer, PLAN_TOOLTIP, tuple(c for c in cities if c in open_cities))


def plan_deck(principal: access.Principal, run_id: int, value: str, year: int | None,
              cities: tuple[str, ...]) -> pdk.Deck:
    """The plan's LSOA map, ``value`` of views.MAP_LAYERS in ``year`` (None: all) and ``cities``, as
    ``principal`` may see it: every figure in the cities whose homes they may read, small ones
    withheld elsewhere (`views.withheld_lsoas`).

    Built once per run, figure, year, cities and what is withheld, for everyone.
    """
    open_cities = tuple(access.home_cities(principal))
    polygons = _plan_polygons(data.db_url(), int(run_id), value, year, tuple(cities), open_cities)
    return _deck(polygons, tuple(cities), PLAN_TOOLTIP)


@st.cache_data(show_spinner="Drawing the map...", max_entries=16)
def _reference_polygons(value: str, reverse: bool, cities: tuple[str, ...]) -> served.File:
    collection = lsoa_feature_collection(None, list(cities), digits=MAP_DIGITS)
    return _polygons(add_fill_colours(collection, value, reverse), REFERENCE_TOOLTIP)


def reference_deck(value: str, reverse: bool, cities: tuple[str, ...]) -> pdk.Deck:
    """A reference layer's LSOA map (deprivation, fuel poverty, households): darker is higher, or lower
    when ``reverse``."""
    return _deck(_reference_polygons(value, reverse, tuple(cities)), tuple(cities), REFERENCE_TOOLTIP)
