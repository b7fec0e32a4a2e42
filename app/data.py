"""Cached access to the library for the pages (shared by all users, so keyed by inputs).

Runs are immutable, so a run's plan and details are cached by (database, run id) for the
life of the process, once for everyone (st.cache_resource: no copy per user; pages must
not change what they get). The database engine and the job board are shared resources.
"""

from __future__ import annotations

import json

import pydeck as pdk
import streamlit as st

from retrofit import views, workspace
from retrofit.errors import RetrofitError
from retrofit.geo import add_fill_colours, lsoa_feature_collection
from retrofit.jobs import JobBoard
from retrofit.paths import default_stock_path
from retrofit.store import database_url, open_database, read_plan
from retrofit.stock.schema import read_stock
from retrofit.stock.summary import summarise


@st.cache_data(show_spinner="Reading the housing stock...")
def stock_summary(path: str, signature: tuple | None = None) -> dict:
    return summarise(read_stock(path))


def default_stock() -> str:
    return str(default_stock_path())


@st.cache_data(show_spinner=False)
def map_layer(value: str, reverse: bool, cities: tuple[str, ...]) -> dict:
    """LSOA polygons with reference figures, coloured by ``value`` (cached per layer and cities)."""
    collection = lsoa_feature_collection(None, list(cities))
    return add_fill_colours(collection, value, reverse)


@st.cache_data(show_spinner=False)
def _synthetic_share(path: str, signature: tuple) -> float | None:
    return workspace.synthetic_share(path)


def synthetic_share(path: str | None) -> float | None:
    """Share of a stock's homes that are synthetic (cached per file version)."""
    import os

    if not path or not os.path.exists(path):
        return None
    stat = os.stat(path)
    return _synthetic_share(path, (stat.st_size, stat.st_mtime_ns))


@st.cache_data(show_spinner=False)
def package_ids(library: str | None) -> list[str]:
    """The package ids of a measure library version."""
    from retrofit.measures import load_library

    return list(load_library(workspace.library_dir(library)).packages.index)


# --- database and jobs --------------------------------------------------------------------

@st.cache_resource(show_spinner="Opening the database...")
def _engine(url: str):
    engine = open_database(url)
    workspace.seed_examples(engine)  # a fresh database offers the example scenarios at once
    return engine


def db_url() -> str:
    return database_url()


def engine():
    return _engine(db_url())


@st.cache_resource
def job_board() -> JobBoard:
    """One board for every user of this server: each user's solves run in their own thread."""
    return JobBoard()


# --- runs (immutable: cached for good) ---------------------------------------------------------

def runs():
    """Every stored run, newest first (a light query: no plans, no details)."""
    return workspace.run_table(engine())


@st.cache_resource(show_spinner="Reading the plan...", max_entries=16)
def _plan(url: str, run_id: int):
    return read_plan(_engine(url), run_id)


def plan(run_id: int):
    return _plan(db_url(), int(run_id))


@st.cache_resource(show_spinner="Reading the run...", max_entries=64)
def _run(url: str, run_id: int):
    return workspace.run_summary(_engine(url), run_id)


def run(run_id: int):
    """The stored run (cached: runs never change)."""
    return _run(db_url(), int(run_id))


@st.cache_data(show_spinner="Working out why this home is in or out...", max_entries=256)
def _explanation(url: str, run_id: int, home_id: str):
    return workspace.run_explanations(_engine(url), run_id, [home_id])


def explanation(run_id: int, home_id: str):
    """Why one home is in or out of a run (by home_id; recomputed from the run's prices, cached)."""
    return _explanation(db_url(), int(run_id), str(home_id))


@st.cache_data(show_spinner=False, max_entries=32)
def _city_year(url: str, run_id: int):
    return views.city_year(_plan(url, run_id))


def city_year(run_id: int):
    return _city_year(db_url(), int(run_id))


class _BuiltDeck(pdk.Deck):
    """A map whose JSON was built once and cached: Streamlit sends it without building it again."""

    def __init__(self, spec: str, tooltip: dict):
        super().__init__(layers=[], tooltip=tooltip, map_style=None)
        self._spec = spec

    def to_json(self) -> str:
        return self._spec


VIEW = pdk.ViewState(latitude=52.48, longitude=-1.75, zoom=9.2)


def _deck_spec(collection: dict) -> str:
    """The deck's JSON for an LSOA layer, compact (pydeck's own is indented: three times the size)."""
    layer = pdk.Layer("GeoJsonLayer", collection, pickable=True, stroked=True, filled=True,
                      get_fill_color="properties.fill_colour", get_line_color=[80, 80, 80, 80],
                      line_width_min_pixels=0.5)
    spec = pdk.Deck(layers=[layer], initial_view_state=VIEW, map_style=None).to_json()
    return json.dumps(json.loads(spec), separators=(",", ":"))


@st.cache_data(show_spinner="Drawing the map...", max_entries=64)
def _plan_deck(url: str, run_id: int, value: str, year: int | None, cities: tuple[str, ...]) -> str:
    return _deck_spec(views.plan_layer(_plan(url, run_id), value, year, list(cities)))


def plan_deck(run_id: int, value: str, year: int | None, cities: tuple[str, ...], tooltip: str) -> pdk.Deck:
    """The plan's LSOA map (built once per run, figure, year and cities)."""
    return _BuiltDeck(_plan_deck(db_url(), int(run_id), value, year, cities), {"html": tooltip})


@st.cache_data(show_spinner="Drawing the map...", max_entries=16)
def _reference_deck(value: str, reverse: bool, cities: tuple[str, ...]) -> str:
    return _deck_spec(map_layer(value, reverse, cities))


def reference_deck(value: str, reverse: bool, cities: tuple[str, ...], tooltip: str) -> pdk.Deck:
    """A reference layer's LSOA map (deprivation, fuel poverty, households)."""
    return _BuiltDeck(_reference_deck(value, reverse, cities), {"html": tooltip})


@st.cache_data(show_spinner="Preparing the file...", max_entries=8)
def _export(url: str, run_id: int, fmt: str) -> bytes:
    return views.export_bytes(_engine(url), run_id, fmt)


def export(run_id: int, fmt: str) -> bytes:
    return _export(db_url(), int(run_id), fmt)


__all__ = ["RetrofitError", "city_year", "default_stock", "engine", "export", "job_board", "map_layer",
           "explanation", "plan", "plan_deck", "reference_deck", "run", "runs", "stock_summary"]
