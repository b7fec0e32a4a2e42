"""KPIs, breakdowns and the independent rule check, on plans small enough to add up by hand."""

import pytest

from retrofit.plan import breakdown, check_plan, check_plan_alone, plan_kpis

from tests.optimise.helpers import THREE_HOMES, candidates, scenario


def plan_of(table, picks):
    rows = [table.index[(table.home_id == h) & (table.package_id == p)][0] for h, p, _ in picks]
    plan = table.loc[rows].copy()
    plan.insert(2, "year", [y for _, _, y in picks])
    return plan.reset_index(drop=True)


def test_kpis_add_up():
    table = candidates(THREE_HOMES)
    plan = plan_of(table, [("A", "q", 2026), ("B", "p", 2027)])
    kpis = plan_kpis(plan)
    assert kpis["homes"] == 2 and kpis["spend_gbp"] == 400
    assert kpis["lifetime_co2_t_saved"] == 33 and kpis["gbp_per_lifetime_tco2"] == pytest.approx(400 / 33)
    assert kpis["jobs_per_gbp_million"] == pytest.approx(kpis["jobs_fte_years"] / 400e-6)
    assert kpis["peak_crews"] == pytest.approx(300 / 22000)  # A's year is the busiest
    by_year = breakdown(plan, "year")
    assert by_year["spend_gbp"].tolist() == [300, 100]
    assert plan_kpis(plan.iloc[:0])["homes"] == 0
    assert "modelled_annual_co2_t_saved" not in kpis  # a partner's table without it
    plan["modelled_annual_co2_t_saved"] = [2.5, 4.0]
    assert plan_kpis(plan)["modelled_annual_co2_t_saved"] == 6.5


def every_rule() -> tuple:
    """Three homes (C in Coventry, most deprived) and a scenario using every rule: (candidates, scenario)."""
    rows = [(*r, {"city": "Coventry", "imd_decile": 1}) if r[0] == "C" else r for r in THREE_HOMES]
    scen = scenario(300, years=(2026, 2027), budget={"per_year_gbp": [150, 150]},
                    cities={"Birmingham": {"max_share": 0.5, "homes_per_year": 1}, "Coventry": {"min_share": 0.5}},
                    rules={"equity_min_share": 0.5, "must_include": ["C"], "exclude": ["B"]})
    return candidates(rows), scen


def test_check_plan_finds_every_broken_rule():
    table, scen = every_rule()
    plan = plan_of(table, [("A", "q", 2026), ("B", "p", 2026)])
    problems = " | ".join(check_plan(plan, table, scen))
    for words in ["above budget.total_gbp", "spend in 2026", "Birmingham spend", "Coventry spend",
                  "Birmingham has 2 homes in 2026", "must_include", "excluded homes", "priority homes"]:
        assert words in problems
    good = plan_of(table, [("C", "p", 2027), ("A", "p", 2026)])
    assert check_plan(good, table, scen) == []


def test_the_plan_alone_shows_the_same_broken_rules():
    """What a store can check without the candidate table: the same rules, from the plan's own columns."""
    table, scen = every_rule()
    plan = plan_of(table, [("A", "q", 2026), ("B", "p", 2026)])
    assert check_plan_alone(plan, scen) == check_plan(plan, table, scen)
    assert check_plan_alone(plan_of(table, [("C", "p", 2026)]), scen) == []
    # without fuel-poverty probabilities a home's priority needs all its packages: equity is left to check_plan
    without = plan.drop(columns=["fuel_poverty_probability"])
    assert not any("priority homes" in p for p in check_plan_alone(without, scen))


def test_check_plan_rejects_rows_that_are_not_candidates():
    table = candidates(THREE_HOMES)
    plan = plan_of(table, [("A", "q", 2026)])
    plan.loc[0, "package_id"] = "z"
    assert "not candidate rows" in check_plan(plan, table, scenario(1000))[0]


def test_check_plan_uses_given_rows_only_when_they_hold_the_plan():
    table = candidates(THREE_HOMES)
    plan = plan_of(table, [("A", "q", 2026), ("B", "q", 2026)])  # £500 against a £300 budget
    right = [table.index[(table.home_id == h) & (table.package_id == "q")][0] for h in ("A", "B")]
    cheaper = [table.index[(table.home_id == h) & (table.package_id == "p")][0] for h in ("A", "B")]
    expected = check_plan(plan, table, scenario(300))
    assert any("above budget.total_gbp" in problem for problem in expected)
    assert check_plan(plan, table, scenario(300), right) == expected
    assert check_plan(plan, table, scenario(300), cheaper) == expected  # rows of other packages: not trusted
    assert check_plan(plan, table, scenario(300), [0]) == expected
