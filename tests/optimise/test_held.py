"""A re-plan from actuals: held homes stay exactly as delivered, the rest is planned around them."""

from __future__ import annotations

import itertools
from datetime import date

import numpy as np
import pandas as pd
import pytest

from retrofit.errors import RetrofitError
from retrofit.optimise import InfeasibleScenario, optimise
from retrofit.optimise.held import from_actuals
from retrofit.plan import check_plan
from tests.optimise.helpers import candidates, scenario

TABLE = candidates([
    ("A", "p", 100, 10), ("A", "q", 300, 25),
    ("B", "p", 100, 8), ("B", "q", 200, 20),
    ("C", "p", 150, 9), ("C", "q", 400, 30),
    ("D", "p", 120, 12, {"city": "Coventry"}), ("D", "q", 250, 22, {"city": "Coventry"}),
    ("E", "p", 90, 7), ("E", "q", 260, 21),
])
PARENT = pd.DataFrame({"home_id": ["A", "B", "C"], "package_id": ["q", "q", "q"], "year": [2026, 2026, 2027],
                       "cost_gbp": [300.0, 200.0, 150.0]})


def actuals(rows: list[tuple]) -> pd.DataFrame:
    """(home_id, status, date, actual cost or None, package or None) -> a checked actuals table."""
    day = pd.to_datetime([r[2] for r in rows])
    return pd.DataFrame({"home_id": [r[0] for r in rows], "status": [r[1] for r in rows], "date": day,
                         "year": (day.year - (day.month < 4)).to_numpy(), "actual_cost_gbp": [
                             np.nan if r[3] is None else float(r[3]) for r in rows],
                         "package_id": pd.Series([r[4] for r in rows], dtype=object)})


def replan(scen, done: pd.DataFrame, today: date):
    plan = from_actuals(TABLE, scen, done, PARENT, today)
    return plan, optimise(plan.candidates, plan.scenario, held=plan.held)


def brute_force(scen, held: dict, dropped: set, first_open: int) -> float:
    """The best carbon of the whole programme with ``held`` homes fixed ({home: (package, year, cost)}):
    every other home not dropped takes any (package, open year) or nothing; every rule summed directly."""
    years = [y for y in scen.year_list if y >= first_open]
    open_homes = sorted(set(TABLE["home_id"]) - set(held) - dropped)
    options = [[None] + [(i, y) for i in np.flatnonzero(TABLE["home_id"] == h) for y in years] for h in open_homes]
    row_of = {(r.home_id, r.package_id): i for i, r in enumerate(TABLE.itertuples())}
    fixed = [(row_of[(h, p)], y, c) for h, (p, y, c) in held.items()]
    co2, cost, city = (TABLE[c].to_numpy() for c in ("lifetime_co2_t_saved", "cost_gbp", "city"))
    best = -np.inf
    for combo in itertools.product(*options):
        picks = [(i, y, cost[i]) for i, y in (c for c in combo if c is not None)] + fixed
        spend = sum(c for _, _, c in picks)
        ok = spend <= scen.budget.total_gbp + 1e-9
        if scen.budget.per_year_gbp is not None:
            ok &= all(sum(c for _, y, c in picks if y == year) <= b + 1e-9
                      for year, b in zip(scen.year_list, scen.budget.per_year_gbp))
        for name, rules in scen.cities.items():
            if rules.min_share:
                ok &= sum(c for i, _, c in picks if city[i] == name) >= rules.min_share * scen.budget.total_gbp - 1e-9
        if ok:
            best = max(best, sum(co2[i] for i, _, _ in picks))
    return best


YEARLY = scenario(900, years=(2026, 2028), budget={"per_year_gbp": [400, 300, 300]})


def test_held_homes_keep_package_year_and_actual_cost_and_the_rest_is_best():
    done = actuals([("A", "completed", "2026-06-01", 340, None),        # planned q at £300: £340 spent
                    ("C", "contracted", "2027-05-10", None, "p"),       # another package than planned
                    ("B", "declined", "2026-05-01", None, None),
                    ("E", "surveyed", "2026-05-01", None, None)])       # no commitment: still open
    plan, result = replan(YEARLY, done, date(2027, 6, 1))
    got = result.plan.set_index("home_id")
    assert got.loc["A", ["package_id", "year", "cost_gbp"]].tolist() == ["q", 2026, 340.0]
    assert got.loc["C", ["package_id", "year", "cost_gbp"]].tolist() == ["p", 2027, 150.0]
    assert "B" not in got.index                            # declined: left out, though worth 20 t at £200
    assert (got.drop(index=["A"])["year"] >= 2027).all()   # 2026 is over: nothing new there
    assert plan.summary["closed_years"] == [2026] and plan.summary["first_open_year"] == 2027
    assert plan.summary["unspent_in_closed_years_gbp"] == {2026: 60.0}
    # the whole programme, held homes included, keeps every rule and is the best there is
    assert check_plan(result.plan, pd.concat([TABLE[TABLE.home_id != "A"], plan.held.candidates()[
        plan.held.candidates().home_id == "A"]], ignore_index=True), YEARLY) == []
    best = brute_force(YEARLY, {"A": ("q", 2026, 340.0), "C": ("p", 2027, 150.0)}, {"B"}, 2027)
    assert result.objective == pytest.approx(best) and result.status == "OPTIMAL"
    assert result.bound >= result.objective - 1e-9
    assert result.kpis["spend_gbp"] == pytest.approx(got["cost_gbp"].sum())


def test_held_spend_counts_towards_a_citys_minimum_share():
    scen = scenario(700, years=(2026, 2027), cities={"Coventry": {"min_share": 0.3}})
    # D (Coventry) done at £250 covers most of Coventry's £210 minimum by itself
    done = actuals([("D", "completed", "2026-07-01", 250, "q")])
    _, result = replan(scen, done, date(2027, 4, 2))
    assert result.plan.set_index("home_id").loc["D", "cost_gbp"] == 250.0
    assert result.objective == pytest.approx(brute_force(scen, {"D": ("q", 2026, 250.0)}, set(), 2027))


@pytest.mark.parametrize("as_of", [date(2026, 5, 1), date(2026, 12, 31), date(2027, 3, 31)])
def test_the_first_year_stays_open_until_its_31_march(as_of):
    done = actuals([("A", "completed", "2026-04-20", None, None)])
    plan, result = replan(YEARLY, done, as_of)
    assert plan.summary["closed_years"] == [] and plan.scenario.years.start == 2026
    assert result.objective == pytest.approx(brute_force(YEARLY, {"A": ("q", 2026, 300.0)}, set(), 2026))


def test_a_year_that_is_over_and_overspent_is_refused_in_words():
    done = actuals([("A", "completed", "2026-06-01", 350, None), ("B", "completed", "2026-06-02", 100, None)])
    plan = from_actuals(TABLE, YEARLY, done, PARENT, date(2027, 6, 1))
    with pytest.raises(InfeasibleScenario, match=r"already break 'budget 2026' .* by £50, in a year that is over"):
        optimise(plan.candidates, plan.scenario, held=plan.held)


def test_held_homes_over_an_open_years_budget_are_refused_in_words():
    done = actuals([("C", "contracted", "2027-05-10", None, "q")])  # £400 against 2027's £300
    plan = from_actuals(TABLE, YEARLY, done, PARENT, date(2027, 6, 1))
    with pytest.raises(InfeasibleScenario, match=r"already break 'budget 2027' .* by £100; record"):
        optimise(plan.candidates, plan.scenario, held=plan.held)


def test_what_cannot_be_re_planned_says_why():
    done = actuals([("E", "completed", "2026-06-01", None, None)])  # not in the parent plan, no package
    with pytest.raises(RetrofitError, match="not in run's plan and have no package_id .* E"):
        from_actuals(TABLE, YEARLY, done, PARENT, date(2027, 6, 1))
    with pytest.raises(RetrofitError, match="the programme \\(2026-2028\\) is over"):
        from_actuals(TABLE, YEARLY, actuals([("A", "completed", "2026-06-01", None, None)]), PARENT, date(2029, 4, 1))
    with pytest.raises(RetrofitError, match="after the re-plan's date"):
        from_actuals(TABLE, YEARLY, actuals([("A", "completed", "2027-06-01", None, None)]), PARENT, date(2027, 5, 1))
