"""Every public function of the app's services that returns home-level rows takes the acting person
and gives them only the cities they may read: called here as Coventry's partner and as a viewer,
on a real run of a small stock (so the explanations are computed, not stubbed)."""

from __future__ import annotations

import inspect
import io

import pandas as pd
import pytest

from retrofit.present import views
from retrofit import pipeline
from retrofit.service import access, review, workspace
from retrofit.errors import RetrofitError
from retrofit.stock.schema import write_stock
from retrofit.stock.synthetic import generate_stock
from retrofit.store import add_scenario, open_database, read_plan
from tests.app.conftest import small_scenario
from tests.reviewing import COVENTRY, MANAGER, VIEWER

SERVICES = (access, workspace, views, review)
# Functions that read a run without a person: they return no home row (checked below).
AGGREGATES_ONLY = {"run_summary", "frontier_for_run", "sensitivity_for_run", "run_delivery"}


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A var/ folder with a 1,500-home stock of the three cities and one run of it; (engine, run, plan)."""
    var = tmp_path_factory.mktemp("home-rows")
    write_stock(generate_stock(seed=3, homes=1_500), var / "stock" / "default.parquet")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RETROFIT_VAR_DIR", str(var))
        patch.delenv("RETROFIT_DATABASE_URL", raising=False)
        engine = open_database()
        add_scenario(engine, small_scenario(budget=1_500_000))
        run = pipeline.run_scenario(engine, "Small test")
        plan = read_plan(engine, run.id)
        assert set(plan["city"]) == {"Birmingham", "Coventry", "Wolverhampton"}
        yield engine, run, plan
        engine.dispose()


def home_row_functions(engine, run, plan):
    """(name, call(principal) -> table of home rows): every public one of the services."""
    every_home = plan["home_id"].tolist()
    return [
        ("access.plan_rows_for", lambda who: access.plan_rows_for(engine, who, run.id)),
        ("access.filter_plan_for", lambda who: access.filter_plan_for(who, plan)),
        ("workspace.run_explanations",
         lambda who: workspace.run_explanations(engine, who, run.id, every_home).reset_index()),
        ("views.export_bytes",
         lambda who: pd.read_csv(io.BytesIO(views.export_bytes(engine, who, run.id, "csv")), comment="#")),
    ]


def cities_of(table: pd.DataFrame, plan: pd.DataFrame) -> set[str]:
    return set(plan.set_index("home_id").loc[table["home_id"].astype(str), "city"])


def test_a_coventry_partner_gets_coventrys_homes_only_and_a_viewer_none(stored):
    engine, run, plan = stored
    for name, call in home_row_functions(engine, run, plan):
        with pytest.raises(RetrofitError):  # a viewer reads the programme's aggregates only
            call(VIEWER)
        everything = call(MANAGER)
        assert cities_of(everything, plan) == {"Birmingham", "Coventry", "Wolverhampton"}, name
        if name == "views.export_bytes":  # a whole plan: for programme managers and analysts only
            with pytest.raises(RetrofitError, match="may not export a whole plan"):
                call(COVENTRY)
            continue
        coventry = call(COVENTRY)
        assert len(coventry) and cities_of(coventry, plan) == {"Coventry"}, name


def test_every_service_reading_a_run_takes_the_person_or_returns_no_home_row(stored):
    engine, run, plan = stored
    unguarded = sorted(f"{module.__name__}.{name}" for module in SERVICES
                       for name, function in inspect.getmembers(module, inspect.isfunction)
                       if function.__module__ == module.__name__ and not name.startswith("_")
                       and {"engine", "run_id"} <= set(inspect.signature(function).parameters)
                       and not {"principal", "actor"} & set(inspect.signature(function).parameters)
                       and name not in AGGREGATES_ONLY)
    assert unguarded == []
    summary = workspace.run_summary(engine, run.id)
    assert "homes" not in summary.details
    assert views.run_delivery(engine, run.id, plan) is None  # no actuals; with them: by city and year only
    sweep = workspace.sensitivity_for_run(engine, run.id, "carbon", [0.5])
    curve = workspace.frontier_for_run(engine, run.id, points=2)
    for table in (sweep, curve):
        assert not {"home_id", "lsoa_code"} & set(table.columns) and len(table) <= 2
