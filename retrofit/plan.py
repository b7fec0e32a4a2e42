"""The plan: chosen rows, their KPIs and breakdowns, and an independent check of every rule.

`check_plan` deliberately shares no code with the optimiser's model: it recomputes budgets,
shares, capacity, equity and eligibility from the plan table and the candidate table, so a
bug in model building cannot hide behind the solver's own bookkeeping.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from retrofit.energy import BANDS
from retrofit.scenario import Scenario

TOLERANCE_GBP = 0.01    # rounding allowed on money rules, £
TOLERANCE_DAYS = 0.01   # and on trade days


@dataclass
class PlanResult:
    plan: pd.DataFrame     # one row per chosen home: home_id, package_id, year, cost_gbp, every metric, ...
    status: str            # "OPTIMAL" (within the scenario's relative_gap of the bound) | "FEASIBLE"
    objective: float
    bound: float
    gap: float
    solve_seconds: float
    ideal: dict
    kpis: dict
    details: dict
    prepared: object = field(default=None, repr=False, compare=False)  # reused by a warm re-solve


def plan_kpis(plan: pd.DataFrame) -> dict:
    """Headline figures of a plan (works on any subset of one, e.g. a city's rows)."""
    def total(column: str) -> float:
        # candidate metrics may be float32; add them up in float64 so £ totals stay exact to the penny
        return float(plan[column].to_numpy(dtype="float64").sum()) if column in plan and len(plan) else 0.0

    spend = total("cost_gbp")
    lifetime = total("lifetime_co2_t_saved")
    jobs = total("jobs_fte_years")
    by_year = plan.groupby("year")["jobs_fte_years"].sum() if len(plan) and "year" in plan else pd.Series(dtype=float)
    return {
        "homes": int(len(plan)),
        "spend_gbp": spend,
        "annual_co2_t_saved": total("annual_co2_t_saved"),
        "lifetime_co2_t_saved": lifetime,
        "gbp_per_lifetime_tco2": spend / lifetime if lifetime > 0 else None,
        "fuel_poor_lifted": total("fuel_poor_lifted"),
        "annual_bill_saving_gbp": total("annual_bill_saving_gbp"),
        "fp_bill_saving_gbp": total("fp_bill_saving_gbp"),
        "annual_kwh_saved": total("annual_kwh_saved"),
        "jobs_fte_years": jobs,
        "jobs_per_gbp_million": jobs / (spend / 1e6) if spend > 0 else None,
        "peak_crews": float(by_year.max()) if len(by_year) else 0.0,  # FTE workers busy in the busiest year
    }


def breakdown(plan: pd.DataFrame, by: str | list[str]) -> pd.DataFrame:
    """The KPIs grouped by one or more plan columns (city, year, tenure, imd_decile, lsoa_code...)."""
    keys = [by] if isinstance(by, str) else list(by)
    if len(plan) == 0:
        return pd.DataFrame(columns=keys + list(plan_kpis(plan)))
    rows = [{**dict(zip(keys, key if isinstance(key, tuple) else (key,))), **plan_kpis(group)}
            for key, group in plan.groupby(keys, sort=True, observed=True)]
    return pd.DataFrame(rows)


def _priority_homes(candidates: pd.DataFrame, scenario: Scenario) -> pd.Series:
    """Per home id: fuel poor or deprived (the equity rule), from the candidate table."""
    rules = scenario.rules
    by_home = candidates.groupby(candidates["home_id"].astype(str))
    if "fuel_poverty_probability" in candidates:
        probability = by_home["fuel_poverty_probability"].max()
    else:
        probability = by_home["fuel_poor_lifted"].max()
    decile = by_home["imd_decile"].min()
    return (decile <= rules.priority_imd_deciles) | (probability >= rules.fuel_poor_probability)


def check_plan(plan: pd.DataFrame, candidates: pd.DataFrame, scenario: Scenario) -> list[str]:
    """Every rule of the scenario recomputed from the plan itself; [] when the plan keeps them all."""
    problems: list[str] = []
    budget, rules = scenario.budget, scenario.rules
    home = plan["home_id"].astype(str)
    if home.duplicated().any():
        problems.append(f"{int(home.duplicated().sum())} homes have more than one package")
    # only the plan's homes' candidate rows are needed (a full-scale table has millions)
    codes, _ = pd.factorize(pd.concat([home, candidates["home_id"].astype(str)], ignore_index=True))
    planned = np.zeros(int(codes.max(initial=-1)) + 1, dtype=bool)
    planned[codes[: len(home)]] = True
    candidates = candidates[planned[codes[len(home):]]]  # (factorize: faster than isin on text)
    keys = pd.DataFrame({"home_id": home.to_numpy(), "package_id": plan["package_id"].astype(str).to_numpy()})
    rows = candidates.assign(home_id=candidates["home_id"].astype(str), package_id=candidates["package_id"].astype(str))
    source = keys.merge(rows.drop_duplicates(["home_id", "package_id"]), on=["home_id", "package_id"], how="left",
                        indicator=True)
    unknown = (source.pop("_merge") != "both").to_numpy()
    if unknown.any():
        shown = (keys["home_id"] + "\x1f" + keys["package_id"])[unknown].head(3).tolist()
        problems.append(f"{int(unknown.sum())} plan rows are not candidate rows, e.g. {shown}")
        return problems
    cost = source["cost_gbp"].to_numpy(float)
    if not np.allclose(cost, plan["cost_gbp"].to_numpy(float)):
        problems.append("plan costs differ from the candidate table")
    years = plan["year"].to_numpy()
    if len(plan) and (years.min() < scenario.years.start or years.max() > scenario.years.end):
        problems.append(f"years outside {scenario.years.start}-{scenario.years.end}")
    spend = cost.sum()
    if spend > budget.total_gbp + TOLERANCE_GBP:
        problems.append(f"spend £{spend:,.0f} is above budget.total_gbp £{budget.total_gbp:,.0f}")
    if budget.per_year_gbp is not None:
        for year, limit in zip(scenario.year_list, budget.per_year_gbp):
            used = cost[years == year].sum()
            if used > limit + TOLERANCE_GBP:
                problems.append(f"spend in {year} £{used:,.0f} is above budget.per_year_gbp £{limit:,.0f}")
    city = source["city"].astype(str).to_numpy()
    for name, city_rules in scenario.cities.items():
        mine = city == name
        used = cost[mine].sum()
        if city_rules.min_share and used < city_rules.min_share * budget.total_gbp - TOLERANCE_GBP:
            problems.append(f"{name} spend £{used:,.0f} is below its min_share of £{city_rules.min_share * budget.total_gbp:,.0f}")
        if city_rules.max_share is not None and used > city_rules.max_share * budget.total_gbp + TOLERANCE_GBP:
            problems.append(f"{name} spend £{used:,.0f} is above its max_share of £{city_rules.max_share * budget.total_gbp:,.0f}")
        for year in scenario.year_list:
            here = mine & (years == year)
            if city_rules.homes_per_year is not None and here.sum() > city_rules.homes_per_year:
                problems.append(f"{name} has {int(here.sum())} homes in {year}, above homes_per_year {city_rules.homes_per_year}")
            if city_rules.trade_days_per_year is not None:
                for trade, limit in city_rules.trade_days_per_year.limits().items():
                    column = f"trade_days_{trade}"
                    used_days = source[column].to_numpy(float)[here].sum() if column in source else 0.0
                    if used_days > limit + TOLERANCE_DAYS:
                        problems.append(f"{name} uses {used_days:,.1f} {trade} days in {year}, above {limit:,.1f}")
    if rules.eligible_tenures is not None:
        bad = ~source["tenure"].astype(str).isin(rules.eligible_tenures)
        if bad.any():
            problems.append(f"{int(bad.sum())} homes have a tenure not in rules.eligible_tenures")
    if rules.eligible_packages is not None:
        bad = ~plan["package_id"].astype(str).isin(rules.eligible_packages)
        if bad.any():
            problems.append(f"{int(bad.sum())} homes get a package not in rules.eligible_packages")
    if rules.min_band_after is not None:
        allowed = BANDS[: BANDS.index(rules.min_band_after) + 1]
        bad = ~source["band_after"].astype(str).isin(allowed)
        if bad.any():
            problems.append(f"{int(bad.sum())} homes end below band {rules.min_band_after} (rules.min_band_after)")
    missing = sorted(set(rules.must_include) - set(home))
    if missing:
        problems.append(f"{len(missing)} must_include homes are not in the plan, e.g. {missing[:3]}")
    excluded = sorted(set(rules.exclude) & set(home))
    if excluded:
        problems.append(f"{len(excluded)} excluded homes are in the plan, e.g. {excluded[:3]}")
    if rules.equity_min_share > 0 and len(plan):
        priority = _priority_homes(candidates, scenario).reindex(home).to_numpy(bool)
        if rules.equity_basis == "spend":
            share, needed = cost[priority].sum(), rules.equity_min_share * spend - TOLERANCE_GBP
        else:
            share, needed = float(priority.sum()), rules.equity_min_share * len(plan) - 1e-6
        if share < needed:
            problems.append(f"priority homes get {share:,.1f} of {spend if rules.equity_basis == 'spend' else len(plan):,.1f} "
                            f"({rules.equity_basis}), below rules.equity_min_share {rules.equity_min_share:.0%}")
    return problems
