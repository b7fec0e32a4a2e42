"""Cached access to the library for the pages (shared by all users, so keyed by inputs).

Runs are immutable, so a run's plan, details and what the pages compute from them are
cached by (database, run id) for the life of the process, once for everyone
(st.cache_resource: no copy per user; pages must not change what they get). Home-level
rows are cached by the cities they hold: `plan_rows` checks the person's access rule
(`retrofit.service.access`) on every call and only then reads the cache for those cities. The
database engine and the job board are shared resources. `app.warmup` fills these caches
when the server starts and when a run is stored.
"""

from __future__ import annotations

import os

import streamlit as st

from retrofit import pipeline
from retrofit.appraisal import load_library
from retrofit.present import views
from retrofit.service import access, workspace
from retrofit.errors import RetrofitError
from retrofit.service.jobs import JobBoard
from retrofit.stock.calibration import calibration_summary, read_report_columns
from retrofit.stock.schema import read_stock
from retrofit.stock.summary import summarise
from retrofit.paths import default_stock_path
from retrofit.store import database_url, open_database, read_plan
from retrofit.store.actuals import runs_with_actuals as runs_with_actuals_of
from retrofit.store.compare import compare_runs


@st.cache_data(show_spinner="Reading the housing stock...")
def stock_summary(path: str, signature: tuple | None = None) -> dict:
    return summarise(read_stock(path))


@st.cache_data(show_spinner="Comparing the stock with metered energy...")
def stock_calibration(path: str, signature: tuple | None = None) -> dict:
    return calibration_summary(read_report_columns(path))


def default_stock() -> str:
    return str(default_stock_path())


@st.cache_data(show_spinner=False)
def _synthetic_share(path: str, signature: tuple) -> float | None:
    return workspace.synthetic_share(path)


def synthetic_share(path: str | None) -> float | None:
    """Share of a stock's homes that are synthetic (cached per file version)."""
    if not path or not os.path.exists(path):
        return None
    stat = os.stat(path)
    return _synthetic_share(path, (stat.st_size, stat.st_mtime_ns))


@st.cache_data(show_spinner=False)
def package_ids(library: str | None) -> list[str]:
    """The package ids of a measure library version."""
    return list(load_library(pipeline.library_dir(library)).packages.index)


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
def stored_plan(url: str, run_id: int):
    """A stored run's whole plan, every city: what this module's caches compute from. Pages never
    read it: they get home rows through `plan_rows`, and aggregates or withheld maps otherwise."""
    return read_plan(_engine(url), run_id)


@st.cache_resource(show_spinner=False, max_entries=32)
def _plan_rows(url: str, run_id: int, cities: tuple[str, ...]):
    whole = stored_plan(url, run_id)
    if set(cities) >= set(whole["city"].unique()):
        return whole  # every city the plan has: the same table, no copy
    return views.filter_plan(whole, cities=list(cities)).reset_index(drop=True)


def plan_rows(principal: access.Principal, run_id: int, cities: list[str] | None = None):
    """The plan's rows ``principal`` may read, of ``cities`` (default: all they may read).

    The access rule is checked for this person on every call (a RetrofitError for a city
    they may not read); the rows are cached per run and cities, shared by everyone.
    """
    allowed = access.allowed_home_cities(principal, cities)
    return _plan_rows(db_url(), int(run_id), tuple(sorted(allowed)))


@st.cache_resource(show_spinner="Reading the run...", max_entries=64)
def _run(url: str, run_id: int):
    return workspace.run_summary(_engine(url), run_id)


def run(run_id: int):
    """The stored run (cached: runs never change)."""
    return _run(db_url(), int(run_id))


@st.cache_data(show_spinner="Working out why this home is in or out...", max_entries=256)
def _explanation(url: str, principal: access.Principal, run_id: int, home_id: str):
    return workspace.run_explanations(_engine(url), principal, run_id, [home_id])


def explanation(principal: access.Principal, run_id: int, home_id: str):
    """Why one home ``principal`` may read is in or out of a run (recomputed from the run's prices, cached)."""
    return _explanation(db_url(), principal, int(run_id), str(home_id))


@st.cache_resource(show_spinner=False, max_entries=32)
def _city_year(url: str, run_id: int):
    return views.city_year(stored_plan(url, run_id))


def city_year(run_id: int):
    """The run's KPIs by city, and by year and city (cached: the programme's aggregates)."""
    return _city_year(db_url(), int(run_id))


@st.cache_resource(show_spinner="Finding the reserves...", max_entries=8)
def _reserves(url: str, run_id: int):
    return pipeline.run_reserves(_engine(url), run_id)


def reserves(principal: access.Principal, run_id: int, lsoa: str):
    """The reserves of a run's planned homes in one LSOA, of the homes ``principal`` may read
    (checked on every call: reserves are residents' homes too)."""
    rows = plan_rows(principal, run_id)
    if not (rows["lsoa_code"].astype(str) == lsoa).any():
        raise RetrofitError(f"no planned home in {lsoa} that you may see")
    whole = _reserves(db_url(), int(run_id))
    return whole[whole["lsoa_code"] == str(lsoa)].reset_index(drop=True)


@st.cache_data(show_spinner="Comparing the re-plan with its run...", max_entries=32)
def _replan_comparison(url: str, parent: int, replan: int):
    return compare_runs(_engine(url), parent, replan).replan


def replan_comparison(principal: access.Principal, parent: int, replan: int) -> dict:
    """A re-plan against the run it came from (`retrofit.store.compare`), by city and year for the
    cities ``principal`` may read; the programme's money and home counts as they are."""
    allowed = access.allowed_home_cities(principal)
    whole = _replan_comparison(db_url(), int(parent), int(replan))
    return {**whole, "by_city_year": whole["by_city_year"][whole["by_city_year"]["city"].isin(allowed)]}


def runs_with_actuals() -> dict[int, int]:
    """Each run with delivery actuals, and its latest version (a light query, not cached: imports come any time)."""
    return runs_with_actuals_of(engine())


@st.cache_data(show_spinner="Reading what was delivered...", ttl=60, max_entries=32)
def _delivery(url: str, run_id: int):
    return views.run_delivery(_engine(url), run_id, stored_plan(url, run_id))


def delivery(run_id: int):
    """The run's latest actuals against its plan, as aggregates by city and year (None without
    actuals). Cached for a minute: a new actuals version shows soon after it is imported."""
    return _delivery(db_url(), int(run_id))


@st.cache_resource(show_spinner=False, max_entries=64)
def _plan_choices(url: str, run_id: int, cities: tuple[str, ...]) -> dict[str, list]:
    return views.filter_choices(_plan_rows(url, run_id, cities))


def plan_choices(principal: access.Principal, run_id: int) -> dict[str, list]:
    """The values the explorer's filters offer (cities, wards by city, packages, years, tenures)."""
    allowed = access.allowed_home_cities(principal)
    return _plan_choices(db_url(), int(run_id), tuple(sorted(allowed)))


@st.cache_resource(show_spinner="Comparing the runs...", max_entries=32)
def _comparison(url: str, labelled: tuple[tuple[int, str], ...], cities: tuple[str, ...]) -> dict:
    plans = {label: _plan_rows(url, run_id, cities) for run_id, label in labelled}
    return {"by_city": views.runs_by(plans, "city"), "by_year": views.runs_by(plans, "year"),
            "homes_in_common": views.homes_in_common(plans)}


def comparison(principal: access.Principal, labels: dict[int, str]) -> dict:
    """Runs side by side on the rows ``principal`` may read: by city, by year, homes in common.

    ``labels`` maps each run id to its label, the first run being the base.
    """
    allowed = access.allowed_home_cities(principal)
    return _comparison(db_url(), tuple((int(i), label) for i, label in labels.items()), tuple(sorted(allowed)))


@st.cache_resource(show_spinner=False, max_entries=64)
def _run_scenario(url: str, run_id: int):
    return views.run_scenario(_engine(url), _run(url, run_id))


def run_scenario(run_id: int):
    """The scenario version a run was planned with (cached: runs never change; pages must not change it)."""
    return _run_scenario(db_url(), int(run_id))


@st.cache_data(show_spinner="Checking which grants could fund this home...", max_entries=256)
def _funding_eligibility(url: str, principal: access.Principal, run_id: int, home_id: str,
                         package_id: str | None, year: int | None):
    return views.home_funding_eligibility(_engine(url), principal, run_id, home_id, package_id, year)


def funding_eligibility(principal: access.Principal, run_id: int, home_id: str, package_id: str | None = None,
                        year: int | None = None):
    """Whether each grant scheme of a run could fund one home ``principal`` may read, and why (cached)."""
    return _funding_eligibility(db_url(), principal, int(run_id), str(home_id), package_id,
                                None if year is None else int(year))


def export(principal: access.Principal, run_id: int, fmt: str) -> bytes:
    """A whole run as a file (csv, xlsx, geojson), for those who may export a plan."""
    return views.export_bytes(engine(), principal, int(run_id), fmt)


__all__ = ["RetrofitError", "city_year", "comparison", "default_stock", "engine", "explanation", "export",
           "funding_eligibility", "job_board", "plan_choices", "plan_rows", "run", "run_scenario", "runs",
           "stock_summary", "stored_plan"]
