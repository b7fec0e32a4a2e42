"""Plans paid for by council money, grants and co-funding: by hand, and random cases against a MIP.

The MIP is written here from the rules, not from the optimiser's model: per (row, year, way of
paying) a binary; the ways of paying are council money alone and each scheme that may fund the
row (`retrofit.funding.scheme_terms`: the rules' own definition) at its most or, under averaged
caps, at the row's cap; the award, its years, the averaged cap and the council budget are rows.
"""

from dataclasses import replace

import highspy
import numpy as np
import pandas as pd
import pytest

from retrofit.funding import scheme_terms
from retrofit.optimise import optimise
from retrofit.optimise.lagrange import _switches, _ways_of_paying, solve_core_lp
from retrofit.optimise.model import build_model, funding_preference, objective_values
from retrofit.plan import check_plan
from tests.optimise.helpers import candidates, scenario


def home(home_id, package, cost, co2, **extra):
    parts = {"cost_fabric_gbp": cost, "cost_heating_gbp": 0.0, "cost_pv_gbp": 0.0, "cost_other_gbp": 0.0}
    base = {"band_before": "E", "band_after": "C", "main_fuel": "mains_gas", "heat_pump_kw": 0.0,
            "fuel_poverty_probability": 0.6, **parts}
    return (home_id, package, cost, co2, {**base, **extra})


def test_a_grant_pays_for_the_home_the_council_could_not_afford():
    """A (owner, low income, £12,000) needs the grant; B (landlord, £10,000) would need half from the
    grant and half from its owner, leaving A unaffordable; C (band C) no grant funds. Best by hand:
    A on the grant (£12,000, the whole award), B on council money (£10,000), carbon 30 + 20."""
    table = candidates([home("A", "p", 12_000, 30), home("B", "p", 10_000, 20, tenure="private_rented"),
                        home("C", "p", 8_000, 15, band_before="C")])
    funded = scenario(10_000, funding={"whlg": {"use": "warm_homes_local_grant", "total_gbp": 12_000}})
    result = optimise(table, funded)
    plan = result.plan.set_index("home_id")
    assert sorted(plan.index) == ["A", "B"] and result.objective == pytest.approx(50)
    assert plan.loc["A", "funding"] == "whlg" and plan.loc["A", "grant_whlg_gbp"] == 12_000
    assert plan.loc["B", "funding"] == "" and plan.loc["B", "council_gbp"] == 10_000
    assert check_plan(result.plan, table, funded) == []
    # without the grant the council's £10,000 buys B alone
    assert optimise(table, scenario(10_000)).objective == pytest.approx(20)




def _mip_best(table: pd.DataFrame, scen) -> float:
    years, ids = scen.year_list, sorted(scen.funding)
    cost = table["cost_gbp"].to_numpy(float)
    co2 = table["lifetime_co2_t_saved"].to_numpy(float)
    columns = []  # (row, year, scheme or None, grant, co-funding, excess)
    for r in range(len(table)):
        for t in range(len(years)):
            columns.append((r, t, None, 0.0, 0.0, 0.0))
    for key in ids:
        scheme = scen.funding[key].scheme
        terms = scheme_terms(table, scheme, scen.rules)
        for r in np.flatnonzero(terms["eligible"].to_numpy()):
            most, cap = terms["grant_max_gbp"].iloc[r], terms["cap_allowance_gbp"].iloc[r]
            co = terms["co_funding_gbp"].iloc[r]
            levels = {round(most, 2), round(min(most, cap), 2)} if scheme.cap_basis == "average" else {round(most, 2)}
            for t in range(len(years)):
                for grant in levels:
                    if grant > 0:
                        columns.append((r, t, key, grant, co, grant - cap))
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    n = len(columns)
    h.addVars(n, np.zeros(n), np.ones(n))
    h.changeColsIntegrality(n, np.arange(n, dtype=np.int32), np.full(n, highspy.HighsVarType.kInteger))
    h.changeColsCost(n, np.arange(n, dtype=np.int32), np.array([co2[c[0]] for c in columns]))

    def row(upper, coefficients):
        index = np.flatnonzero(coefficients)
        h.addRow(-highspy.kHighsInf, upper, len(index), index.astype(np.int32), coefficients[index])

    homes = table["home_id"].to_numpy()
    for h_id in np.unique(homes):
        row(1.0, np.array([1.0 if homes[c[0]] == h_id else 0.0 for c in columns]))
    council = np.array([cost[c[0]] - c[3] - c[4] for c in columns])
    row(scen.budget.total_gbp, council)
    for t, limit in enumerate(scen.budget.per_year_gbp or []):
        row(limit, np.where([c[1] == t for c in columns], council, 0.0))
    for key in ids:
        funding = scen.funding[key]
        mine = np.array([c[2] == key for c in columns])
        grant = np.where(mine, [c[3] for c in columns], 0.0)
        row(funding.total_gbp, grant)
        for t, limit in enumerate(funding.year_limits(years)):
            row(limit, np.where([c[1] == t for c in columns], grant, 0.0))
        if funding.scheme.cap_basis == "average":
            row(0.0, np.where(mine, [c[5] for c in columns], 0.0))
        share = funding.scheme.band_c_heat_pump_share
        if share:  # band C homes at most this share of those the scheme funds
            band_c = table["band_before"].to_numpy()[[c[0] for c in columns]] == "C"
            row(0.0, np.where(mine, band_c - share, 0.0))
    h.setOptionValue("mip_rel_gap", 1e-7)
    h.run()
    return h.getInfo().objective_function_value


def _random_case(seed: int, homes: int):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(homes):
        tenure = rng.choice(["owner_occupied", "private_rented", "social_rented"])
        band = rng.choice(["C", "D", "E", "F"])
        for package, scale in (("light", 1.0), ("deep", 2.5)):
            fabric = float(np.round(rng.uniform(3_000, 14_000) * scale))
            heating = float(np.round(rng.uniform(8_000, 13_000))) if package == "deep" else 0.0
            rows.append((f"h{i}", package, fabric + heating, float(np.round(rng.uniform(5, 40) * scale, 2)),
                         {"tenure": tenure, "band_before": band, "band_after": "B" if package == "deep" else "C",
                          "cost_fabric_gbp": fabric, "cost_heating_gbp": heating, "cost_pv_gbp": 0.0,
                          "cost_other_gbp": 0.0, "heat_pump_kw": 6.0 if package == "deep" else 0.0,
                          "main_fuel": "mains_gas", "fuel_poverty_probability": float(rng.uniform(0, 1)),
                          "imd_decile": int(rng.integers(1, 11))}))
    return candidates(rows)


@pytest.mark.parametrize("seed, homes", [(1, 6), (2, 8), (3, 10), (5, 12)])
def test_random_funded_cases_reach_the_mip_optimum(seed, homes):
    """Three years, the awards open in the first two. Each plan keeps every rule and is within
    the gap target of the MIP's optimum, and the bound is no lower than the optimum. (These sizes
    go to CP-SAT whole; the summed-years route with its periods needs cases the exact MIP here
    does not solve in minutes.)"""
    table = _random_case(seed, homes)
    total = table.groupby("home_id")["cost_gbp"].min().sum()
    funded = scenario(0.25 * total, years=(2026, 2028), budget={"per_year_gbp": [0.1 * total] * 3},
                      funding={"whlg": {"use": "warm_homes_local_grant", "total_gbp": 0.15 * total},
                               "shf": {"use": "warm_homes_social_housing_fund_wave_3", "total_gbp": 0.1 * total},
                               "bus": {"use": "boiler_upgrade_scheme", "total_gbp": 0.05 * total}},
                      solver={"relative_gap": 0.0005, "time_limit_s": 60.0})
    result = optimise(table, funded)
    best = _mip_best(table, funded)
    assert check_plan(result.plan, table, funded) == []
    assert result.objective >= best * (1 - 0.0005) - 1e-6
    assert result.objective <= best + 1e-6 and result.bound >= best - 1e-6 * abs(best)
    assert set(result.plan.loc[result.plan["grant_gbp"] > 0, "year"]) <= {2026, 2027}


@pytest.mark.parametrize("seed", [4, 7])
def test_the_core_lp_with_switches_for_paying_homes_is_the_plain_lp(seed):
    """Homes held in the plan with their package and year settled (`paying`) enter the core LP as
    switches from their council-only way: it is the same LP, so its value matches the plain LP's
    (HiGHS on every column as given, those homes required) and each paying home's ways add up to
    one home."""
    table = _random_case(seed, 40)
    total = table.groupby("home_id")["cost_gbp"].min().sum()
    funded = scenario(1.5 * total, years=(2026, 2028), budget={"per_year_gbp": [total] * 3},
                      funding={"whlg": {"use": "warm_homes_local_grant", "total_gbp": 0.1 * total},
                               "shf": {"use": "warm_homes_social_housing_fund_wave_3", "total_gbp": 0.05 * total},
                               "bus": {"use": "boiler_upgrade_scheme", "total_gbp": 0.03 * total}})
    model = build_model(table, funded)
    value = objective_values(model, {"carbon": 1.0}, {"carbon": 1.0}) + funding_preference(model)
    rng = np.random.default_rng(seed)
    paying = rng.random(model.n_homes) < 0.5
    row = model.starts + (rng.random(model.n_homes) * np.diff(np.r_[model.starts, model.n_rows])).astype(int)
    year = rng.integers(0, model.n_years, model.n_homes)
    ways, when = _ways_of_paying(model, np.flatnonzero(paying), row, year)
    others = np.flatnonzero(~paying[model.home])
    rows = np.r_[ways, np.repeat(others, model.n_years)]
    years = np.r_[when, np.tile(np.arange(model.n_years), len(others))]
    held = paying & (np.bincount(model.home[ways], minlength=model.n_homes) > 1)  # a home paid one way is as any
    assert (_switches(model, rows, years, paying) == np.arange(len(rows))).sum() == held.sum() >= 5
    plain = solve_core_lp(replace(model, must=model.must | held), value, rows, years, model.rhs)
    switched = solve_core_lp(model, value, rows, years, model.rhs, paying=paying)
    assert plain.ok and switched.ok and plain.artificial.max() == 0 and switched.artificial.max() == 0
    assert switched.value == pytest.approx(plain.value, rel=1e-7)
    per_home = np.bincount(model.home[rows], weights=switched.x, minlength=model.n_homes)
    assert (per_home <= 1 + 1e-7).all() and (switched.x >= -1e-9).all()
    assert np.allclose(per_home[held], 1.0)
    used = np.array([np.sum(model.weights(c, rows, years) * c.sign * model.term(c.term, rows) * switched.x)
                     for c in model.constraints])
    assert (used <= model.rhs + 1e-6 * np.maximum(1, np.abs(model.rhs))).all()


def test_a_package_identical_to_another_is_one_option_unless_a_scheme_funds_it_by_name():
    """q and r are the same work for A (same cost, cost parts, savings and band): one is dropped.
    A scheme that funds only package r tells them apart, so both stay; s (cost split otherwise) stays."""
    table = candidates([home("A", "q", 9_000, 20), home("A", "r", 9_000, 20),
                        home("A", "s", 9_000, 20, cost_fabric_gbp=4_000.0, cost_other_gbp=5_000.0),
                        home("B", "q", 9_000, 20)])
    grant = {"use": "warm_homes_local_grant", "total_gbp": 9_000}
    model = build_model(table, scenario(10_000, funding={"whlg": grant}))
    assert model.removed["duplicate packages"] == 1
    assert sorted(table["package_id"].iloc[np.unique(model.rows[model.home == 0])]) == ["q", "s"]
    named = build_model(table, scenario(10_000, funding={"whlg": {**grant, "packages": ["r"]}}))
    assert "duplicate packages" not in named.removed and len(np.unique(named.rows)) == 4
