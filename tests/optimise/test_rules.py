"""Each rule on three homes and two packages, with the answer worked out by hand."""

import pytest

from retrofit.optimise import InfeasibleScenario, optimise
from retrofit.plan import check_plan

from tests.optimise.helpers import THREE_HOMES, candidates, chosen, scenario


def solve(table, scen):
    result = optimise(table, scen)
    assert check_plan(result.plan, table, scen) == []
    assert result.details["problems"] == []
    return result


def test_budget_picks_the_best_combination():
    # £400: A.q + B.p = 25 + 8 = 33 beats C.q (30), A.p + B.q (30), B.q + C.p (29), all p (27)
    result = solve(candidates(THREE_HOMES), scenario(400))
    assert chosen(result) == {"A": ("q", 2026), "B": ("p", 2026)}
    assert result.objective == pytest.approx(33)
    assert result.status == "OPTIMAL" and result.gap == pytest.approx(0, abs=1e-9)
    assert result.plan["cost_gbp"].sum() == 400


def test_yearly_budgets_spread_the_work():
    # £250 in each of two years: B.q (200) in one year, A.p or C.p... best: B.q + A.p + ? -> B.q(20) y1, A.p(10)+? y2
    # year budgets 250/250: options per year: {B.q}, {A.p, B.p}, {A.p, C.p}, {B.p, C.p}; best pair of disjoint
    # sets: B.q (20) + A.p + C.p (19) = 39
    scen = scenario(500, years=(2026, 2027), budget={"per_year_gbp": [250, 250]})
    result = solve(candidates(THREE_HOMES), scen)
    assert result.objective == pytest.approx(39)
    assert set(chosen(result)) == {"A", "B", "C"}
    by_year = result.plan.groupby("year")["cost_gbp"].sum()
    assert (by_year <= 250).all()


def test_city_min_share_forces_spend_in_coventry():
    rows = [(*r, {"city": "Coventry"}) if r[0] == "C" else r for r in THREE_HOMES]
    # £400 with Coventry (home C) at least 35%: C.p (150) at least; C.p + B.q = 29 ... C.p + A.p + B.p = 27,
    # C.q alone = 30 (400): best is C.q (30) vs C.p + B.q (350, 29) -> C.q
    scen = scenario(400, cities={"Coventry": {"min_share": 0.35}})
    result = solve(candidates(rows), scen)
    assert chosen(result) == {"C": ("q", 2026)}


def test_city_max_share_caps_birmingham():
    rows = [(*r, {"city": "Coventry"}) if r[0] == "C" else r for r in THREE_HOMES]
    # Birmingham (A, B) at most 50% of £400 = £200 rules out the best plan A.q + B.p (33);
    # then C.q (30) beats B.q + C.p (29) and A.p + B.p + C.p (27)
    scen = scenario(400, cities={"Birmingham": {"max_share": 0.5}})
    result = solve(candidates(rows), scen)
    assert chosen(result) == {"C": ("q", 2026)}


def test_homes_per_year_capacity():
    # one home a year for two years, plenty of money: the two best single homes, C.q (30) and A.q (25)
    scen = scenario(10_000, years=(2026, 2027), cities={"Birmingham": {"homes_per_year": 1}})
    result = solve(candidates(THREE_HOMES), scen)
    assert {h: p for h, (p, _) in chosen(result).items()} == {"C": "q", "A": "q"}
    assert sorted(y for _, y in chosen(result).values()) == [2026, 2027]


def test_trade_days_capacity():
    rows = [(h, p, c, co2, {"trade_days_insulation": c / 100}) for h, p, c, co2 in THREE_HOMES]
    # 5 insulation days a year (£500 of work): A.q (3 days) + B.q (2 days) = 45 beats C.q (4) + B.p? (5, 38)
    scen = scenario(10_000, cities={"Birmingham": {"trade_days_per_year": {"insulation": 5}}})
    result = solve(candidates(rows), scen)
    assert chosen(result) == {"A": ("q", 2026), "B": ("q", 2026)}


def test_equity_share_of_spend():
    rows = [(*r, {"imd_decile": 1}) if r[0] == "B" else r for r in THREE_HOMES]
    # £400 and at least 60% of the spend on B (deprived): B.q (200) + A.p (100) = 30 (67% on B);
    # A.q + B.p (33) has only 25% on B
    scen = scenario(400, rules={"equity_min_share": 0.6})
    result = solve(candidates(rows), scen)
    assert chosen(result) == {"A": ("p", 2026), "B": ("q", 2026)}


def test_equity_share_of_homes_counts_fuel_poor():
    rows = [(*r, {"fuel_poverty_probability": 0.8}) if r[0] == "C" else r for r in THREE_HOMES]
    # at least half of the homes fuel poor: with two homes one must be C. Budget £400: C.p + B.q (29)
    scen = scenario(400, rules={"equity_min_share": 0.5, "equity_basis": "homes"})
    result = solve(candidates(rows), scen)
    assert "C" in chosen(result)
    assert result.objective == pytest.approx(30)  # C.q alone (30) also meets it and is better


def test_eligible_tenures_and_packages():
    rows = [(*r, {"tenure": "social_rented"}) if r[0] == "A" else r for r in THREE_HOMES]
    scen = scenario(10_000, rules={"eligible_tenures": ["social_rented"]})
    assert set(chosen(solve(candidates(rows), scen))) == {"A"}
    scen = scenario(10_000, rules={"eligible_packages": ["p"]})
    assert {p for p, _ in chosen(solve(candidates(THREE_HOMES), scen)).values()} == {"p"}


def test_min_band_after():
    rows = [(h, p, c, co2, {"band_after": "B" if p == "q" else "D"}) for h, p, c, co2 in THREE_HOMES]
    scen = scenario(300, rules={"min_band_after": "C"})
    # only q packages reach C or better: with £300, A.q (25) beats B.q (20)
    assert chosen(solve(candidates(rows), scen)) == {"A": ("q", 2026)}


def test_must_include_and_exclude():
    scen = scenario(400, rules={"must_include": ["C"], "exclude": ["A"]})
    # C must be in; A out: C.p (150) + B.q (200) = 29 beats C.q alone (30)? no: 30 > 29 -> C.q
    result = solve(candidates(THREE_HOMES), scen)
    assert chosen(result) == {"C": ("q", 2026)}
    scen = scenario(350, rules={"must_include": ["C"], "exclude": ["A"]})
    assert chosen(solve(candidates(THREE_HOMES), scen)) == {"B": ("q", 2026), "C": ("p", 2026)}


def test_mobilisation_cost_groups_work_by_area():
    # two LSOAs: A and B in one, C in another. Mobilisation makes opening the second area not worth it
    rows = [(*r, {"lsoa_code": "E01000002"}) if r[0] == "C" else r for r in THREE_HOMES]
    table = candidates(rows)
    plain = solve(table, scenario(10_000, rules={}))
    assert plain.objective == pytest.approx(75)  # every home's q
    # £1 is worth (best carbon alone = 75) / £10,000 budget: a £3,000 area-year costs 22.5 tonnes,
    # so C.q (30) still pays; at £5,000 (37.5 t) it does not
    kept = solve(table, scenario(10_000, rules={"mobilisation_cost_gbp": 3000}))
    assert set(chosen(kept)) == {"A", "B", "C"}
    dropped = solve(table, scenario(10_000, rules={"mobilisation_cost_gbp": 5000}))
    assert set(chosen(dropped)) == {"A", "B"}
    assert dropped.objective == pytest.approx(45 - 37.5)


# Minimum shares above the whole budget, or in a city with no capacity, are refused by the
# Scenario itself (tests/test_scenario.py): those need no candidates.
@pytest.mark.parametrize("sections, words", [
    ({"rules": {"must_include": ["A", "B", "C"]}, "budget": {"total_gbp": 200}}, "must_include homes cost at least"),
    ({"rules": {"must_include": ["Z"]}}, "no candidate row"),
    ({"cities": {"Coventry": {"min_share": 0.2}}}, "Coventry min share needs"),
    ({"rules": {"equity_min_share": 0.5}}, "equity_min_share"),
])
def test_infeasible_scenarios_name_the_rule(sections, words):
    scen = scenario(400, **sections)
    with pytest.raises(InfeasibleScenario, match=words):
        optimise(candidates(THREE_HOMES), scen)


def test_capacity_against_min_share_is_explained():
    rows = [(*r, {"city": "Coventry"}) for r in THREE_HOMES]
    # £600 takes two homes (£400 + £300 at most), in a single year with room for one
    scen = scenario(1000, cities={"Coventry": {"min_share": 0.6, "homes_per_year": 1}})
    with pytest.raises(InfeasibleScenario, match=r"Coventry needs 2 homes a year .* capacity is 1"):
        optimise(candidates(rows), scen)


def test_solver_infeasibility_is_put_in_words():
    # each rule alone is fine; together (Coventry must spend £300 but has only one home a year) they are not
    rows = [(*r, {"city": "Coventry"}) if r[0] in "BC" else r for r in THREE_HOMES]
    scen = scenario(600, cities={"Coventry": {"min_share": 0.75, "homes_per_year": 1}})
    with pytest.raises(InfeasibleScenario, match="Coventry"):
        optimise(candidates(rows), scen)
