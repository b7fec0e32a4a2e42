"""Comparing two runs, on plans small enough to check by hand."""

from __future__ import annotations

import pytest

from retrofit.plan import plan_kpis
from retrofit.store import RunInputs, add_scenario, save_run
from retrofit.store.compare import compare_plans, compare_runs
from tests.store.plans import make_plan, make_result


def tiny(rows: list[tuple[str, str, int, str, float]]):
    """A plan of (home, city, year, package, cost) rows."""
    plan = make_plan(len(rows))
    for column, values in zip(("home_id", "city", "year", "package_id", "cost_gbp"), zip(*rows)):
        plan[column] = list(values)
    return plan


A = tiny([("h1", "Birmingham", 2026, "x", 100.0), ("h2", "Coventry", 2026, "x", 200.0),
          ("h3", "Coventry", 2027, "y", 300.0)])
B = tiny([("h1", "Birmingham", 2026, "x", 100.0), ("h2", "Coventry", 2027, "x", 200.0),
          ("h4", "Birmingham", 2027, "y", 500.0)])


def test_homes_spend_and_city_years_by_hand():
    comparison = compare_plans(A, B, plan_kpis(A), plan_kpis(B), a=1, b=2)
    assert comparison.homes == {"both": 2, "only_a": 1, "only_b": 1, "same_package_and_year": 1,
                                "package_changed": 0, "year_changed_only": 1}
    spend = comparison.spend_by_city.set_index("city")
    assert spend.loc["Birmingham"].tolist() == [100.0, 600.0, 500.0]
    assert spend.loc["Coventry"].tolist() == [500.0, 200.0, -300.0]
    assert comparison.spend_moved_gbp == 300.0  # Coventry's £300 went to Birmingham; £200 more was new money
    table = comparison.by_city_year.set_index(["city", "year"])
    assert table["homes_delta"].to_dict() == {("Birmingham", 2026): 0, ("Birmingham", 2027): 1,
                                              ("Coventry", 2026): -1, ("Coventry", 2027): 0}
    assert table.loc[("Coventry", 2027), ["spend_gbp_a", "spend_gbp_b", "spend_gbp_delta"]].tolist() == [300, 200, -100]
    assert comparison.kpis.loc["spend_gbp"].tolist() == [600.0, 800.0, 200.0]
    assert comparison.kpis.loc["homes", "delta"] == 0
    as_json = comparison.to_json()
    assert as_json["homes"]["only_b"] == 1 and len(as_json["by_city_year"]) == 4


def test_compare_stored_runs(engine):
    scenario = add_scenario(engine, 'name = "s"\n[budget]\ntotal_gbp = 1e6\n[years]\nstart = 2026\nend = 2027\n').record
    a = save_run(engine, scenario, make_result(A), RunInputs(candidates_hash="a"))
    b = save_run(engine, scenario, make_result(B), RunInputs(candidates_hash="b"))
    comparison = compare_runs(engine, a.id, b.id)
    assert (comparison.a, comparison.b, comparison.spend_moved_gbp) == (a.id, b.id, 300.0)
    assert comparison.homes["only_a"] == 1
    assert comparison.kpis.loc["spend_gbp", "delta"] == pytest.approx(200.0)
