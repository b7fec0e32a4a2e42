"""Runs go in whole and come back as they were, with their inputs' hashes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from retrofit.errors import RetrofitError
from retrofit.store import RunInputs, add_scenario, get_run, list_runs, list_scenarios, plan_hash, read_plan, save_run
from retrofit.store.runs import CHUNK_ROWS, plan_row_count
from tests.store.plans import make_plan, make_result

SCENARIO = 'name = "pilot"\n[budget]\ntotal_gbp = 1e9\n[years]\nstart = 2026\nend = 2028\n'
INPUTS = RunInputs(candidates_hash="c0ffee", stock_hash="5706c4", library_version="11b7a7",
                   stock_source="var/stock/default.parquet")


@pytest.fixture
def scenario(engine):
    return add_scenario(engine, SCENARIO).record


def test_a_run_comes_back_as_it_was_stored(engine, scenario):
    plan = make_plan(CHUNK_ROWS + 500)  # more than one bulk chunk
    homes = pd.DataFrame({"home_id": ["a", "b"], "in_plan": [True, False], "value_per_gbp": [0.5, float("inf")]})
    result = replace(make_result(plan), details={"note": "made up for a test", "homes": homes,
                                                 "solver": {"lp_iterations": np.int64(7)}})
    messages = []
    run = save_run(engine, scenario, result, INPUTS, who="ana", progress=lambda f, m: messages.append((f, m)))
    assert messages[-1] == (1.0, f"stored run {run.id}")
    assert [f for f, _ in messages] == sorted(f for f, _ in messages)

    stored = get_run(engine, run.id)
    assert (stored.scenario_name, stored.scenario_version, stored.scenario_id) == ("pilot", 1, scenario.id)
    assert (stored.stock_hash, stored.library_version, stored.candidates_hash) == ("5706c4", "11b7a7", "c0ffee")
    assert (stored.status, stored.objective, stored.gap, stored.solve_seconds) == ("OPTIMAL", 1.5, 0.0, 0.25)
    flat = {key: value for key, value in result.kpis.items() if not isinstance(value, dict)}
    assert {key: stored.kpis[key] for key in flat} == pytest.approx(flat)  # approx takes no nested dicts
    assert {key: value for key, value in stored.kpis.items() if key not in flat} == \
        {key: value for key, value in result.kpis.items() if key not in flat}
    assert stored.details == {"note": "made up for a test", "solver": {"lp_iterations": 7},
                              "homes": {"home_id": ["a", "b"], "in_plan": [True, False], "value_per_gbp": [0.5, None]}}
    assert stored.created_by == "ana" and stored.created_at.tzinfo is not None
    assert stored.plan_rows == len(plan) and stored.plan_hash == plan_hash(plan)

    back = read_plan(engine, run.id)
    council = plan.assign(council_gbp=plan["cost_gbp"], grant_gbp=0.0, co_funding_gbp=0.0, funding="")
    expected = council.sort_values("home_id").reset_index(drop=True)[back.columns]
    assert set(back.columns) == set(council.columns)  # a plan without funding reads as council money
    pd.testing.assert_frame_equal(back, expected, check_exact=True)
    assert plan_row_count(engine, run.id) == len(plan)


def test_optional_columns_may_be_missing_and_the_hash_is_the_decision(engine, scenario):
    plan = make_plan(50).drop(columns=["ward", "sap_before", "trade_days_glazing"])
    run = save_run(engine, scenario, make_result(plan), INPUTS)
    back = read_plan(engine, run.id)
    assert "ward" not in back.columns and "trade_days_glazing" not in back.columns
    # The plan hash covers home, package and year: changing a metric does not change it,
    # moving a home to another year does.
    assert plan_hash(plan.assign(cost_gbp=1.0)) == run.plan_hash
    moved = plan.copy()
    moved.loc[0, "year"] = 2099
    assert plan_hash(moved) != run.plan_hash
    assert plan_hash(plan.iloc[::-1]) == run.plan_hash


def test_runs_are_listed_in_order_and_counted_per_scenario(engine, scenario):
    first = save_run(engine, scenario, make_result(make_plan(10, seed=1)), INPUTS)
    second = save_run(engine, scenario, make_result(make_plan(20, seed=2)), INPUTS)
    assert [r.id for r in list_runs(engine)] == [first.id, second.id]
    assert [r.plan_rows for r in list_runs(engine, scenario="pilot")] == [10, 20]
    assert list_runs(engine, scenario="other") == []
    assert list_scenarios(engine)["runs"].tolist() == [2]


def test_an_empty_plan_is_a_run_too(engine, scenario):
    run = save_run(engine, scenario, make_result(make_plan(0)), INPUTS)
    assert get_run(engine, run.id).plan_rows == 0
    assert read_plan(engine, run.id).empty


def test_unknown_run_and_unstorable_plans_say_why(engine, scenario):
    with pytest.raises(RetrofitError, match="no run with id 4; no run is stored yet"):
        get_run(engine, 4)
    run = save_run(engine, scenario, make_result(make_plan(5)), INPUTS)
    with pytest.raises(RetrofitError, match=f"no run with id 99; stored runs have ids {run.id} to {run.id}"):
        read_plan(engine, 99)
    with pytest.raises(RetrofitError, match="column\\(s\\) year missing"):
        save_run(engine, scenario, make_result(make_plan(5).drop(columns=["year"])), INPUTS)
    twice = pd.concat([make_plan(3), make_plan(3)])
    with pytest.raises(RetrofitError, match="3 home\\(s\\) appear twice"):
        save_run(engine, scenario, make_result(twice), INPUTS)
    assert [r.id for r in list_runs(engine)] == [run.id]
    assert plan_row_count(engine) == 5


def test_a_plan_that_breaks_its_rules_is_never_stored(engine):
    """Whatever route a result comes by (`retrofit run`, the app's builder, a frontier point), it
    goes through `save_run`, which recomputes the rules from the plan against the stored
    scenario version: a plan over budget is refused and nothing is written."""
    tight = add_scenario(engine, SCENARIO.replace("total_gbp = 1e9", "total_gbp = 1e5")).record
    plan = make_plan(100)  # about £1.1m of work
    with pytest.raises(RetrofitError, match=r"not stored.*budget\.total_gbp") as error:
        save_run(engine, tight, make_result(plan), INPUTS)
    assert "\n" not in str(error.value)
    assert list_runs(engine) == [] and plan_row_count(engine) == 0


def test_a_result_whose_check_found_problems_is_never_stored(engine, scenario):
    """The plan itself looks fine here; the optimiser's own check (against the candidate table,
    which the store does not have) found a problem: that is enough to refuse it."""
    result = replace(make_result(make_plan(10)), details={"problems": ["3 plan rows are not candidate rows"]})
    with pytest.raises(RetrofitError, match="not candidate rows"):
        save_run(engine, scenario, result, INPUTS)
    assert list_runs(engine) == []
