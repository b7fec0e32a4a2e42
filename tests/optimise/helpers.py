"""Tiny candidate tables and scenarios whose right answers can be worked out on paper."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from retrofit.candidates import TRADES, check_candidates
from retrofit.scenario import scenario_from_dict


def candidates(rows: list[tuple]) -> pd.DataFrame:
    """rows: (home_id, package_id, cost_gbp, lifetime_co2_t_saved, extra dict) -> a valid candidate table."""
    records = []
    for home, package, cost, co2, *extra in rows:
        record = {
            "home_id": home, "package_id": package, "cost_gbp": float(cost), "annual_kwh_saved": 1000.0,
            "annual_co2_t_saved": co2 / 20, "lifetime_co2_t_saved": float(co2), "annual_bill_saving_gbp": 100.0,
            "sap_after": 72.0, "band_after": "C", "fuel_poor_lifted": 0.0, "fp_bill_saving_gbp": 0.0,
            "labour_days": cost / 100, "jobs_fte_years": cost / 22000, "city": "Birmingham",
            "lsoa_code": "E01000001", "tenure": "owner_occupied", "imd_decile": 5,
            "fuel_poverty_probability": 0.0, **{f"trade_days_{t}": 0.0 for t in TRADES},
        }
        record.update(extra[0] if extra else {})
        records.append(record)
    return check_candidates(pd.DataFrame(records))


THREE_HOMES = [
    ("A", "p", 100, 10), ("A", "q", 300, 25),
    ("B", "p", 100, 8), ("B", "q", 200, 20),
    ("C", "p", 150, 9), ("C", "q", 400, 30),
]


def scenario(total: float, years=(2026, 2026), **sections):
    """A carbon-only, raw-units scenario; sections override or add TOML tables."""
    data = {"name": "tiny", "budget": {"total_gbp": total}, "years": {"start": years[0], "end": years[1]},
            "weights": {"carbon": 1.0, "fuel_poverty": 0.0, "jobs": 0.0, "normalise": "none"},
            "solver": {"time_limit_s": 20.0, "relative_gap": 0.0, "seed": 1}}
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return scenario_from_dict(data)


def chosen(result) -> dict:
    return {row.home_id: (row.package_id, int(row.year)) for row in result.plan.itertuples()}


def exhaustive_best(table: pd.DataFrame, scen) -> float:
    """The best carbon by trying every (package, year) or nothing for every home (tiny cases only).

    Written independently of the optimiser: each combination's budgets, shares, capacity and
    equity are summed directly (the equity rule counts IMD deciles 1-2 as priority homes)."""
    homes = sorted(table["home_id"].unique())
    years = scen.year_list
    options = [[None] + [(i, y) for i in np.flatnonzero(table["home_id"] == h) for y in years] for h in homes]
    cost, co2 = table["cost_gbp"].to_numpy(), table["lifetime_co2_t_saved"].to_numpy()
    city, heating = table["city"].to_numpy(), table["trade_days_heating"].to_numpy()
    priority = table["imd_decile"].to_numpy() <= scen.rules.priority_imd_deciles
    best = -np.inf
    for combo in itertools.product(*options):
        picks = [c for c in combo if c is not None]
        rows = np.array([i for i, _ in picks], dtype=int)
        when = np.array([y for _, y in picks])
        spend = cost[rows].sum()
        ok = spend <= scen.budget.total_gbp
        if scen.budget.per_year_gbp is not None:
            ok &= all(cost[rows[when == y]].sum() <= b for y, b in zip(years, scen.budget.per_year_gbp))
        for name, rules in scen.cities.items():
            mine = city[rows] == name
            if rules.min_share:
                ok &= cost[rows[mine]].sum() >= rules.min_share * scen.budget.total_gbp
            if rules.homes_per_year is not None:
                ok &= all((mine & (when == y)).sum() <= rules.homes_per_year for y in years)
            if rules.trade_days_per_year is not None and rules.trade_days_per_year.heating is not None:
                ok &= all(heating[rows[mine & (when == y)]].sum() <= rules.trade_days_per_year.heating for y in years)
        if scen.rules.equity_min_share:
            ok &= cost[rows[priority[rows]]].sum() >= scen.rules.equity_min_share * spend
        if ok:
            best = max(best, co2[rows].sum())
    return best
