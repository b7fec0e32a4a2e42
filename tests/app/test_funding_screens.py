"""The funding side of the results pages (AppTest, real library, sample stock): a run paid for by
the council and three grant schemes, and a run stored before funding existed, which must still
open and look as it did."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from retrofit.errors import RetrofitError
from retrofit.present import views
from retrofit.present.format import gbp
from retrofit.paths import ROOT
from retrofit.service.access import CITY_PARTNER, VIEWER, Principal, local_principal
from retrofit.stock.schema import write_stock
from retrofit.store import get_run, open_database, read_plan
from tests.app.conftest import small_scenario

APP = str(ROOT / "app" / "navigation.py")

FUNDED = small_scenario(name="Funded test") + """
[funding.whlg]
use = "warm_homes_local_grant"
total_gbp = 400000
years = [2026, 2027]
stacks_with = ["bus"]
[funding.bus]
use = "boiler_upgrade_scheme"
total_gbp = 100000
years = [2026, 2027]
[funding.later]
use = "warm_homes_local_grant"
name = "Warm Homes: Local Grant, assumed round"
status = "assumed"
opens = 2028-04-01
closes = 2031-03-31
total_gbp = 2000000
years = [2028]
"""
BEFORE_KPIS = ("council_gbp", "grant_gbp", "co_funding_gbp", "grant_gbp_by_scheme", "grant_unused_gbp_by_scheme",
               "assumed_grant_gbp", "leverage")


@pytest.fixture(scope="session")
def funded_var(tmp_path_factory, sample_stock) -> Path:
    """var/ with the sample stock, run #1 stored as before funding existed (no funding columns,
    no funding KPIs) and run #2 of a scenario with two awarded schemes and an assumed round."""
    from retrofit import pipeline
    from retrofit.store import add_scenario

    var = tmp_path_factory.mktemp("app-funded")
    write_stock(sample_stock, var / "stock" / "default.parquet")
    before = os.environ.get("RETROFIT_VAR_DIR")
    os.environ["RETROFIT_VAR_DIR"] = str(var)
    try:
        engine = open_database()
        add_scenario(engine, small_scenario())
        old = pipeline.run_scenario(engine, "Small test")
        with engine.begin() as connection:  # what schema 0002 stored: no funding anywhere
            connection.execute(text("UPDATE plan_row SET council_gbp = NULL, grant_gbp = NULL, co_funding_gbp = NULL, "
                                    "funding = NULL, grants = NULL WHERE run_id = :run"), {"run": old.id})
            kpis = {k: v for k, v in old.kpis.items() if k not in BEFORE_KPIS}
            connection.execute(text("UPDATE run SET kpis = :kpis WHERE id = :run"),
                               {"kpis": json.dumps(kpis), "run": old.id})
        add_scenario(engine, FUNDED)
        pipeline.run_scenario(engine, "Funded test")
        engine.dispose()
    finally:
        if before is None:
            os.environ.pop("RETROFIT_VAR_DIR")
        else:
            os.environ["RETROFIT_VAR_DIR"] = before
    return var


@pytest.fixture
def funded(funded_var, monkeypatch) -> Path:
    monkeypatch.setenv("RETROFIT_VAR_DIR", str(funded_var))
    monkeypatch.delenv("RETROFIT_DATABASE_URL", raising=False)
    return funded_var


def stored(run_id: int):
    engine = open_database()
    try:
        return get_run(engine, run_id), read_plan(engine, run_id)
    finally:
        engine.dispose()


def open_page(name: str, run_id: int | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    if name != "overview":
        at.switch_page(f"screens/{name}.py").run()
    if run_id is not None:
        at.selectbox(key=f"{name}_run").set_value(run_id).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements) -> str:
    """The elements' text as read on the page (Markdown escapes of people's text undone)."""
    return re.sub(r"\\(.)", r"\1", " | ".join(str(e.value) for e in elements))


# --- overview -----------------------------------------------------------------------------------------

def test_overview_shows_money_by_source_leverage_and_unused_grant(funded):
    run, plan = stored(2)
    at = open_page("overview")  # the newest run: the funded one
    assert "How it is paid for" in texts(at.subheader)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Council money"] == gbp(run.kpis["council_gbp"])
    assert metrics["Co-funding (owners and landlords)"] == gbp(run.kpis["co_funding_gbp"])
    assert metrics["Leverage: total investment"] == f"£{run.kpis['leverage']:,.2f} per £1 of council money"
    later = run.kpis["grant_gbp_by_scheme"]["later"]
    assert metrics["Grants assumed (not yet awarded), used"] == f"{gbp(later)} of £2.0m"  # apart from awarded
    assert metrics["Grants awarded, used"].endswith(" of £500k")

    money = next(d.value for d in at.dataframe if "Council" in d.value.columns)
    unused = at.dataframe[-1].value
    assert list(money.columns)[:5] == ["City", "Council", "Boiler Upgrade Scheme", "Warm Homes: Local Grant",
                                       "Warm Homes: Local Grant, assumed round"]  # the assumed round last
    assert money.iloc[-1]["City"] == "All" and money.iloc[-1]["Total"] == gbp(plan["cost_gbp"].sum())
    assert set(unused["Scheme"]) == {"Warm Homes: Local Grant", "Boiler Upgrade Scheme",
                                     "Warm Homes: Local Grant, assumed round"}
    assert "Assumed (not yet awarded)" in set(unused["Money"])
    assert all(why for why in unused["Why any is left"])
    assert len(at.get("vega_lite_chart")) == 4  # by city (two), by year, then money by year

    at.segmented_control(key="overview_funding_city").set_value("Coventry").run()
    assert not at.exception, [e.value for e in at.exception]


def test_a_run_stored_before_funding_opens_as_before(funded):
    run, plan = stored(1)
    assert "council_gbp" not in run.kpis and plan["grant_gbp"].sum() == 0
    at = open_page("overview", 1)
    assert "How it is paid for" not in texts(at.subheader)
    assert "All of this run's money is the council's" in texts(at.caption)
    labels = {m.label for m in at.metric}
    assert "Spend" in labels and not labels & {"Council money", "Grants awarded, used"}
    # the KPIs by city only (and what shapes each year): no money table
    assert len(at.table) == 1 and not [d for d in at.dataframe if "Council" in d.value.columns]


# --- plan explorer ------------------------------------------------------------------------------------

def test_explorer_shows_a_homes_funding_split_and_why_each_scheme_could_pay(funded):
    _, plan = stored(2)
    funded_home = plan[plan["grant_gbp"] > 0].sort_values("cost_gbp").iloc[0]
    at = open_page("explorer", 2)
    assert "Paid by: council" in texts(at.caption)
    table = at.dataframe[0]
    labels = {column: config.get("label") for column, config in json.loads(table.proto.columns).items()}
    assert labels["council_gbp"] == "Council (£)" and labels["grant_whlg_gbp"] == "Warm Homes: Local Grant (£)"
    at.text_input(key="explore_home").set_value(funded_home["home_id"]).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "How it is paid for, and which grants could fund it" in texts(at.markdown)
    assert "Paid for by " in texts(at.markdown)
    eligibility = at.dataframe[-1].value.set_index("Scheme")
    assert set(eligibility.index) == {"Warm Homes: Local Grant", "Boiler Upgrade Scheme",
                                      "Warm Homes: Local Grant, assumed round"}
    names = {"whlg": "Warm Homes: Local Grant", "bus": "Boiler Upgrade Scheme",
             "later": "Warm Homes: Local Grant, assumed round"}
    for key in funded_home["funding"].split(";"):  # each scheme that pays for it could
        assert eligibility.loc[names[key], "Can it pay?"] == "Yes", eligibility.loc[names[key]]
    assert "For the package and year the plan chose" in texts(at.caption)
    assert len(at.get("download_button")) == 4  # the page goes on below


def test_explorer_of_a_run_before_funding_shows_no_funding(funded):
    _, plan = stored(1)
    at = open_page("explorer", 1)
    assert "Paid by:" not in texts(at.caption)
    at.text_input(key="explore_home").set_value(plan["home_id"].iloc[0]).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "which grants could fund it" not in texts(at.markdown)
    assert f"Home {plan['home_id'].iloc[0]} is in the plan" in texts(at.success)


def test_a_homes_eligibility_is_behind_the_access_rule(funded):
    _, plan = stored(2)
    coventry = plan[plan["city"] == "Coventry"]["home_id"].iloc[0]
    engine = open_database()
    try:
        mine = views.home_funding_eligibility(engine, local_principal(), 2, coventry)
        assert len(mine) == 3 and "No package applies to this home." not in set(mine["Why"])
        partner = Principal(name="B", role=CITY_PARTNER, city="Birmingham", email="b@example.org")
        theirs = views.home_funding_eligibility(engine, partner, 2, coventry)  # another city's home: as if none
        assert set(theirs["Why"]) == {"No package applies to this home."}
        with pytest.raises(RetrofitError):
            views.home_funding_eligibility(engine, Principal(name="V", role=VIEWER, email="v@example.org"), 2,
                                           coventry)
    finally:
        engine.dispose()


# --- compare ------------------------------------------------------------------------------------------

def test_compare_shows_the_funding_mix_side_by_side(funded):
    funded_run, _ = stored(2)
    at = open_page("compare")
    assert "How each run is paid for" in texts(at.subheader)
    mix = at.dataframe[1].value
    assert list(mix.columns) == ["#2 Funded test v1", "#1 Small test v1"]
    assert list(mix.index) == ["Council", "Boiler Upgrade Scheme", "Warm Homes: Local Grant",
                               "Warm Homes: Local Grant, assumed round", "Co-funding (owners and landlords)",
                               "Total investment", "Investment per £1 of council money"]
    assert mix.loc["Council", "#2 Funded test v1"] == gbp(funded_run.kpis["council_gbp"])
    assert mix.loc["Warm Homes: Local Grant", "#1 Small test v1"] == "–"  # before funding: council money
    assert mix.loc["Investment per £1 of council money", "#1 Small test v1"] == "£1.00"
