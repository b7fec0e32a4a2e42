"""The delivery side of the app (AppTest, real library, sample stock): a run planned for uptake,
its actuals, and a re-plan from them; the builder's delivery settings and its re-plan button."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from retrofit.present import scenario_form, views
from retrofit.scenario import parse_scenario
from retrofit.stock.schema import write_stock
from retrofit.store import open_database, read_plan
from tests.app.conftest import small_scenario
from tests.app.test_funding_screens import open_page, texts

UPTAKE = small_scenario(name="Uptake test") + """
[delivery]
uptake = { owner_occupied = 0.4 }
uptake_by_lsoa = { E01009000 = 0.7 }
confidence = 0.9
cost_confidence = 0.8
"""


@pytest.fixture(scope="session")
def delivery_var(tmp_path_factory, sample_stock) -> Path:
    """var/ with run #1 planned for uptake, its actuals (four homes done, two declined) and run #2,
    the re-plan from them as of April 2027."""
    from retrofit import pipeline
    from retrofit.store import add_scenario

    var = tmp_path_factory.mktemp("app-delivery")
    write_stock(sample_stock, var / "stock" / "default.parquet")
    before = os.environ.get("RETROFIT_VAR_DIR")
    os.environ["RETROFIT_VAR_DIR"] = str(var)
    try:
        engine = open_database()
        add_scenario(engine, UPTAKE)
        run = pipeline.run_scenario(engine, "Uptake test")
        plan = read_plan(engine, run.id).sort_values("home_id")
        first = plan[plan["year"] == 2026]
        rows = pd.DataFrame({"home_id": first["home_id"].iloc[:6].to_numpy(),
                             "status": ["completed"] * 3 + ["contracted"] + ["declined"] * 2,
                             "date": "2026-09-01"})
        rows.to_csv(var / "q1.csv", index=False)
        pipeline.import_actuals(engine, run.id, var / "q1.csv", today=date(2026, 12, 1))
        pipeline.run_scenario(engine, "Uptake test", from_run=run.id, today=date(2027, 4, 1))
        engine.dispose()
    finally:
        if before is None:
            os.environ.pop("RETROFIT_VAR_DIR")
        else:
            os.environ["RETROFIT_VAR_DIR"] = before
    return var


def frame(at, column: str) -> pd.DataFrame:
    """The page's first table with ``column``."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


@pytest.fixture
def delivery(delivery_var, monkeypatch) -> Path:
    monkeypatch.setenv("RETROFIT_VAR_DIR", str(delivery_var))
    monkeypatch.delenv("RETROFIT_DATABASE_URL", raising=False)
    return delivery_var


def test_overview_shows_expected_figures_their_range_and_planned_against_delivered(delivery):
    at = open_page("overview", 1)
    headings = texts(at.subheader)
    assert "Uptake and cost risk" in headings and "Planned and delivered" in headings
    assert "Contingency held back from the yearly budgets" in texts(at.markdown)
    risk = frame(at, "Homes to approach")
    assert list(risk.columns)[:4] == ["Year", "City", "Homes to approach", "Expected homes"]
    assert " to " in risk["Spend P10-P90"].iloc[0]
    assert "4 planned homes contracted, under way or done" in texts(at.markdown)
    assert len(at.get("vega_lite_chart")) == 4  # by city (two), by year, planned and delivered
    labels = {m.label for m in at.metric}
    assert "Homes to approach (so many expected to go ahead)" in labels
    engine = open_database()
    try:
        figures = views.run_delivery(engine, 1, read_plan(engine, 1))
    finally:
        engine.dispose()
    assert "home_id" not in figures["table"] and "home_id" not in figures["chart"]  # aggregates only
    assert figures["table"]["homes_delivered"].sum() == 4
    shaping = frame(at, "Shaped by (rules at their limit)")
    assert list(shaping["Year"]) == ["2026", "2027", "2028"]


def test_explorer_lists_reserves_of_an_lsoa_never_a_planned_home(delivery):
    at = open_page("explorer", 1)
    engine = open_database()
    try:
        plan = read_plan(engine, 1)
    finally:
        engine.dispose()
    busiest = plan["lsoa_code"].value_counts().index[0]
    at.selectbox(key="explore_reserves_lsoa").set_value(busiest).run()
    assert not at.exception, [e.value for e in at.exception]
    shown = frame(at, "Reserve home")
    assert len(shown) > 0 and not set(shown["Reserve home"]) & set(plan["home_id"])
    assert set(shown["Planned home"]) <= set(plan.loc[plan["lsoa_code"] == busiest, "home_id"])


def test_compare_says_what_the_replan_kept_from_its_run(delivery):
    at = AppTestRuns.open_compare([1, 2])
    assert "Run #2 re-planned run #1 from its actuals" in texts(at.subheader)
    said = texts(at.markdown)
    assert "4 homes contracted, under way or done" in said and "2 households declined or withdrew" in said
    table = frame(at, "Homes delivered")
    done = table[table["Year"] == "2026"]
    assert done["Homes delivered"].astype(int).sum() == 4


class AppTestRuns:
    @staticmethod
    def open_compare(runs: list[int]):
        at = open_page("compare")
        at.multiselect(key="compare_runs").set_value(runs).run()
        assert not at.exception, [e.value for e in at.exception]
        return at


def test_builder_keeps_delivery_and_offers_a_replan(delivery):
    at = open_page("builder")
    at.selectbox(key="builder_name").set_value("Uptake test").run()
    assert at.checkbox(key="f.delivery.on").value is True
    assert at.number_input(key="f.delivery.uptake.owner_occupied_pct").value == 40.0
    assert at.number_input(key="f.delivery.uptake.social_rented_pct").value is None  # the shipped figure
    assert "Re-plan from actuals" in texts(at.subheader)
    assert at.selectbox(key="builder_replan_run").options == ["#1 Uptake test v1 (actuals version 1)"]
    at.button(key="builder_replan").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["builder_job"]


def test_the_form_round_trips_a_delivery_scenario():
    scenario = parse_scenario(UPTAKE)
    again, errors = scenario_form.from_form(scenario_form.to_form(scenario))
    assert errors == {} and again == scenario
    values = scenario_form.to_form(scenario) | {"delivery.confidence_pct": 20.0}
    _, errors = scenario_form.from_form(values)
    assert "delivery.confidence_pct" in errors
    off = scenario_form.to_form(scenario) | {"delivery.on": False}
    assert scenario_form.from_form(off)[0].delivery is None


def test_the_form_round_trips_a_ramp():
    ramped = parse_scenario(UPTAKE + "max_ramp = 0.25\nramp_start = { Birmingham = 6000, Coventry = 2500 }\n")
    again, errors = scenario_form.from_form(scenario_form.to_form(ramped))
    assert errors == {} and again == ramped
    same = parse_scenario(UPTAKE + "max_ramp = 0.25\nramp_start = 900\n")
    assert scenario_form.from_form(scenario_form.to_form(same))[0] == same
