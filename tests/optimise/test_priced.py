"""Full scale: prices from a sample refined to the LP's own (`refine_prices`), then a small core LP.

An instance with more homes than the first core LP holds (`lagrange.CORE_HOMES`) takes this
route; the tests check the prices against the LP solved to optimality, the plan against every
rule, and the fall-back on the core LP with its wide first core when that route finds no plan."""

import numpy as np
import pytest

from retrofit.optimise import optimise
from retrofit.optimise import lagrange
from retrofit.optimise import solve as solve_module
from retrofit.optimise.lagrange import price, refine_prices, reprice, sample_prices, solve_lp
from retrofit.optimise.model import aggregate_years, build_model, objective_values
from retrofit.testing.synthetic import synthetic_candidates
from retrofit.plan import check_plan

from tests.optimise.helpers import scenario

HOMES = 16_000  # more than the first core LP holds


@pytest.fixture(scope="module")
def large():
    assert HOMES > lagrange.CORE_HOMES
    table = synthetic_candidates(HOMES, seed=11)
    scen = scenario(16_000_000, years=(2026, 2030),
                    budget={"per_year_gbp": [2_000_000, 3_000_000, 3_500_000, 3_500_000, 4_000_000]},
                    weights={"carbon": 1.0, "fuel_poverty": 1.0, "jobs": 0.5, "normalise": "ideal"},
                    cities={"Birmingham": {"min_share": 0.5, "homes_per_year": 420},
                            "Coventry": {"min_share": 0.15, "homes_per_year": 150},
                            "Wolverhampton": {"homes_per_year": 120}},
                    rules={"equity_min_share": 0.5}, solver={"time_limit_s": 60.0, "relative_gap": 0.0005})
    return table, scen


def test_refined_prices_prove_the_lp_value(large):
    table, scen = large
    model = aggregate_years(build_model(table, scen))
    value = objective_values(model, {"carbon": 1.0, "fuel_poverty": 1.0, "jobs": 0.5}, dict.fromkeys(
        ["carbon", "fuel_poverty", "jobs"], 1.0))
    value /= np.median(value[value > 0])
    exact = solve_lp(model, value, np.zeros(len(model.constraints)), gap=1e-9)
    start = sample_prices(model, value, seed=1, homes=2_000)
    lam, pricing = refine_prices(model, value, start)
    assert pricing.bound >= exact.value * (1 - 1e-12)  # any prices bound the LP from above
    assert pricing.bound == pytest.approx(price(model, value, lam).bound)
    assert price(model, value, start).bound - exact.value > 1e-5 * exact.value  # the sample's prices were not it
    assert pricing.bound - exact.value < 1e-6 * exact.value  # the refined ones are


@pytest.mark.parametrize("step", [0.3, 0.03, 0.001])
def test_repricing_near_homes_only_matches_pricing_every_row(large, step):
    """`reprice` prices again only the homes whose choice can move: the bound and every home's
    choice are those of a full pricing; margins are lower bounds, exact below ``exact_below``."""
    table, scen = large
    model = aggregate_years(build_model(table, scen))
    value = objective_values(model, {"carbon": 1.0, "fuel_poverty": 1.0, "jobs": 0.5}, dict.fromkeys(
        ["carbon", "fuel_poverty", "jobs"], 1.0))
    value /= np.median(value[value > 0])
    start = price(model, value, sample_prices(model, value, seed=1, homes=2_000))
    moved = np.maximum(start.lam * (1 + step * np.random.default_rng(3).standard_normal(len(start.lam))), 0)
    full, again = price(model, value, moved), reprice(model, value, start, moved, exact_below=0.05)
    assert again.bound == pytest.approx(full.bound, rel=1e-12)
    assert np.array_equal(again.take, full.take)
    assert np.array_equal(again.row[full.take], full.row[full.take])
    assert np.allclose(again.best[full.take], full.best[full.take], rtol=0, atol=1e-9)
    assert (again.margin <= full.margin + 1e-9).all()
    near = full.margin < 0.05
    assert np.allclose(again.margin[near], full.margin[near], rtol=0, atol=1e-9)


def test_large_instance_plans_from_prices_and_keeps_every_rule(large):
    table, scen = large
    result = optimise(table, scen)
    assert result.details["solver"]["lp_route"] == "refined prices, small core"
    assert result.details["problems"] == [] and check_plan(result.plan, table, scen) == []
    assert result.bound >= result.objective and result.gap <= scen.solver.relative_gap
    heavier = scen.model_copy(update={"weights": scen.weights.model_copy(update={"jobs": 1.0})})
    warm = optimise(table, heavier, warm_start=result)
    assert warm.details["solver"]["lp_route"] == "refined prices, small core"
    assert check_plan(warm.plan, table, heavier) == [] and warm.gap <= scen.solver.relative_gap
    assert warm.kpis["jobs_fte_years"] >= result.kpis["jobs_fte_years"] * (1 - result.gap - warm.gap)


def test_core_lp_takes_over_when_the_first_route_finds_no_plan(large, monkeypatch):
    table, scen = large
    real, routes = solve_module._summed_plans, []

    def first_finds_nothing(ctx, planned, lp, *args):
        routes.append(lp.columns)
        return False if len(routes) == 1 else real(ctx, planned, lp, *args)  # the first offers no plan

    monkeypatch.setattr(solve_module, "_summed_plans", first_finds_nothing)
    result = optimise(table, scen)
    assert len(routes) == 2 and result.details["solver"]["lp_route"] == "core LP"
    assert routes[1] > routes[0]  # the wide core LP has more columns than the small one
    assert check_plan(result.plan, table, scen) == [] and result.gap <= scen.solver.relative_gap
