"""The plan: chosen rows, their KPIs and breakdowns, and an independent check of every rule.

`check_plan` deliberately shares no code with the optimiser's model: it recomputes budgets,
shares, capacity, equity and eligibility from the plan table and the candidate table, so a
bug in model building cannot hide behind the solver's own bookkeeping. `check_plan_alone`
recomputes the same rules from the plan's own columns, where the candidate table is not at
hand (storing a run).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

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
    # the certificates' figure beside the in-use one, where the appraisal gave it
    modelled = {"modelled_annual_co2_t_saved": total("modelled_annual_co2_t_saved")} \
        if "modelled_annual_co2_t_saved" in plan else {}
    return {
        "homes": int(len(plan)),
        "spend_gbp": spend,
        "annual_co2_t_saved": total("annual_co2_t_saved"),
        **modelled,
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


@dataclass
class _Lookup:
    """Where each (home, package) is in a candidate table, and each home's equity inputs."""

    rows: int                  # length of the table it was built from
    homes: pd.Index            # home ids (text), by home code
    home_codes: np.ndarray     # per table row: its home code
    packages: pd.Index         # package ids (text), by package code
    keys: np.ndarray           # home code * len(packages) + package code, sorted
    positions: np.ndarray      # the table row of each key (its first, where a pair repeats)
    probability: np.ndarray    # per home code: highest fuel-poverty probability (else fuel_poor_lifted)
    decile: np.ndarray         # per home code: lowest IMD decile


_LOOKUPS: dict[int, tuple[weakref.ref, _Lookup]] = {}


def _lookup(candidates: pd.DataFrame) -> _Lookup:
    """The table's lookup, built once per table object (a candidate table is not changed once
    built), so checking the next plan against the same table takes milliseconds."""
    key = id(candidates)
    entry = _LOOKUPS.get(key)
    if entry is not None and entry[0]() is candidates and entry[1].rows == len(candidates):
        return entry[1]
    home_codes, homes = pd.factorize(candidates["home_id"].astype(str))
    package_codes, packages = pd.factorize(candidates["package_id"].astype(str))
    keys = home_codes.astype(np.int64) * max(len(packages), 1) + package_codes
    order = np.argsort(keys, kind="stable")  # stable: the first of a repeated pair comes first
    source = "fuel_poverty_probability" if "fuel_poverty_probability" in candidates else "fuel_poor_lifted"
    # per home (the rows in key order are grouped by home): the highest probability, the lowest decile;
    # fmax and fmin skip missing values, as a group-by would
    starts = np.flatnonzero(np.r_[True, np.diff(home_codes[order]) != 0]) if len(order) else np.zeros(0, dtype=int)
    probability, decile = (pd.to_numeric(candidates[c], errors="coerce").to_numpy(float)[order]
                           for c in (source, "imd_decile"))
    lookup = _Lookup(len(candidates), pd.Index(homes), home_codes, pd.Index(packages), keys[order], order,
                     np.fmax.reduceat(probability, starts) if len(order) else np.zeros(0),
                     np.fmin.reduceat(decile, starts) if len(order) else np.zeros(0))
    _LOOKUPS[key] = (weakref.ref(candidates, lambda _, key=key: _LOOKUPS.pop(key, None)), lookup)
    return lookup


def index_candidates(candidates: pd.DataFrame) -> None:
    """Build `check_plan`'s index of a candidate table now (it is kept per table object), so that
    checking a plan against the table later takes milliseconds."""
    _lookup(candidates)


def _given_rows(plan: pd.DataFrame, candidates: pd.DataFrame, rows: np.ndarray | None) -> np.ndarray | None:
    """``rows`` when they are candidate rows holding exactly the plan's homes and packages, else None."""
    if rows is None or len(rows) != len(plan):
        return None
    rows = np.asarray(rows)
    if len(rows) and (rows.min() < 0 or rows.max() >= len(candidates)):
        return None
    for column in ("home_id", "package_id"):
        theirs, ours = candidates[column].iloc[rows].reset_index(drop=True), plan[column].reset_index(drop=True)
        same = theirs.equals(ours) if theirs.dtype == ours.dtype else \
            np.array_equal(theirs.astype(str).to_numpy(), ours.astype(str).to_numpy())
        if not same:
            return None
    return rows


@dataclass(frozen=True)
class _Planned:
    """The plan's rows as the rules read them: each row's position in the candidate table, its
    home (by id and by the index's code), year, cost and city."""

    plan: pd.DataFrame
    candidates: pd.DataFrame
    row: np.ndarray
    lookup: _Lookup
    home: pd.Series
    home_code: np.ndarray
    years: np.ndarray
    cost: np.ndarray
    city: pd.Series

    def column(self, name: str) -> np.ndarray:
        """A candidate column at the plan's rows."""
        return self.candidates[name].iloc[self.row].to_numpy()


def _planned(plan: pd.DataFrame, candidates: pd.DataFrame,
             rows: np.ndarray | None) -> tuple[_Planned | None, list[str]]:
    """The plan's rows found in the candidate table (by ``rows`` when they match, else by ids), or
    None and why: plan rows that are not candidate rows leave nothing else to check."""
    lookup = _lookup(candidates)
    home = plan["home_id"].astype(str)
    row = _given_rows(plan, candidates, rows)
    if row is None:
        home_code = lookup.homes.get_indexer(home)
        package_code = lookup.packages.get_indexer(plan["package_id"].astype(str))
        wanted = home_code.astype(np.int64) * max(len(lookup.packages), 1) + package_code
        at = np.minimum(np.searchsorted(lookup.keys, wanted), max(len(lookup.keys) - 1, 0))
        found = (home_code >= 0) & (package_code >= 0) & (len(lookup.keys) > 0)
        found &= lookup.keys[at] == wanted if len(lookup.keys) else found
        if not found.all():
            problems = [f"{int(home.duplicated().sum())} homes have more than one package"] \
                if home.duplicated().any() else []
            shown = (home + "\x1f" + plan["package_id"].astype(str))[~found].head(3).tolist()
            return None, problems + [f"{int((~found).sum())} plan rows are not candidate rows, e.g. {shown}"]
        row = lookup.positions[at]
    city = candidates["city"].iloc[row]
    if not isinstance(city.dtype, pd.CategoricalDtype):  # categorical compares by code; anything else as text
        city = city.astype(str)
    cost = candidates["cost_gbp"].iloc[row].to_numpy().astype(float)
    return _Planned(plan, candidates, row, lookup, home, lookup.home_codes[row], plan["year"].to_numpy(), cost,
                    city), []


def _one_package_per_home(planned: _Planned, scenario: Scenario) -> list[str]:
    repeated = int(len(planned.home_code) - np.count_nonzero(np.bincount(planned.home_code, minlength=1)))
    return [f"{repeated} homes have more than one package"] if repeated else []


def _costs_as_candidates(planned: _Planned, scenario: Scenario) -> list[str]:
    same = np.allclose(planned.cost, planned.plan["cost_gbp"].to_numpy(float))
    return [] if same else ["plan costs differ from the candidate table"]


def _programme_years(planned: _Planned, scenario: Scenario) -> list[str]:
    years = planned.years
    if len(years) and (years.min() < scenario.years.start or years.max() > scenario.years.end):
        return [f"years outside {scenario.years.start}-{scenario.years.end}"]
    return []


def _budget(planned: _Planned, scenario: Scenario) -> list[str]:
    """budget.total_gbp, then budget.per_year_gbp."""
    budget, spend = scenario.budget, planned.cost.sum()
    problems = [f"spend £{spend:,.0f} is above budget.total_gbp £{budget.total_gbp:,.0f}"] \
        if spend > budget.total_gbp + TOLERANCE_GBP else []
    for year, limit in zip(scenario.year_list, budget.per_year_gbp or []):
        used = planned.cost[planned.years == year].sum()
        if used > limit + TOLERANCE_GBP:
            problems.append(f"spend in {year} £{used:,.0f} is above budget.per_year_gbp £{limit:,.0f}")
    return problems


def _cities(planned: _Planned, scenario: Scenario) -> list[str]:
    """Each city's min_share and max_share of the budget, then its homes and trade days per year."""
    problems, total = [], scenario.budget.total_gbp
    trade_days = {trade: planned.column(f"trade_days_{trade}").astype(float)
                  if f"trade_days_{trade}" in planned.candidates else np.zeros(len(planned.plan))
                  for rules in scenario.cities.values() if rules.trade_days_per_year is not None
                  for trade in rules.trade_days_per_year.limits()}  # each limited trade's days, read once
    for name, rules in scenario.cities.items():
        mine = (planned.city == name).to_numpy()
        used = planned.cost[mine].sum()
        if rules.min_share and used < rules.min_share * total - TOLERANCE_GBP:
            problems.append(f"{name} spend £{used:,.0f} is below its min_share of £{rules.min_share * total:,.0f}")
        if rules.max_share is not None and used > rules.max_share * total + TOLERANCE_GBP:
            problems.append(f"{name} spend £{used:,.0f} is above its max_share of £{rules.max_share * total:,.0f}")
        for year in scenario.year_list:
            here = mine & (planned.years == year)
            if rules.homes_per_year is not None and here.sum() > rules.homes_per_year:
                problems.append(f"{name} has {int(here.sum())} homes in {year}, above homes_per_year "
                                f"{rules.homes_per_year}")
            for trade, limit in (rules.trade_days_per_year.limits() if rules.trade_days_per_year else {}).items():
                used_days = trade_days[trade][here].sum()
                if used_days > limit + TOLERANCE_DAYS:
                    problems.append(f"{name} uses {used_days:,.1f} {trade} days in {year}, above {limit:,.1f}")
    return problems


def _eligibility(planned: _Planned, scenario: Scenario) -> list[str]:
    """rules.eligible_tenures, rules.eligible_packages and rules.min_band_after."""
    rules, problems = scenario.rules, []
    if rules.eligible_tenures is not None:
        bad = ~np.isin(planned.column("tenure").astype(str), list(rules.eligible_tenures))
        if bad.any():
            problems.append(f"{int(bad.sum())} homes have a tenure not in rules.eligible_tenures")
    if rules.eligible_packages is not None:
        bad = ~planned.plan["package_id"].astype(str).isin(rules.eligible_packages)
        if bad.any():
            problems.append(f"{int(bad.sum())} homes get a package not in rules.eligible_packages")
    if rules.min_band_after is not None:
        bad = ~np.isin(planned.column("band_after").astype(str), rules.bands_allowed)
        if bad.any():
            problems.append(f"{int(bad.sum())} homes end below band {rules.min_band_after} (rules.min_band_after)")
    return problems


def _must_include_and_exclude(planned: _Planned, scenario: Scenario) -> list[str]:
    rules, homes, problems = scenario.rules, set(planned.home), []
    missing = sorted(set(rules.must_include) - homes)
    if missing:
        problems.append(f"{len(missing)} must_include homes are not in the plan, e.g. {missing[:3]}")
    excluded = sorted(set(rules.exclude) & homes)
    if excluded:
        problems.append(f"{len(excluded)} excluded homes are in the plan, e.g. {excluded[:3]}")
    return problems


def _equity(planned: _Planned, scenario: Scenario) -> list[str]:
    """rules.equity_min_share of the spend (or homes) for priority homes: fuel poor or most deprived."""
    rules = scenario.rules
    if rules.equity_min_share <= 0 or not len(planned.plan):
        return []
    priority = (planned.lookup.decile[planned.home_code] <= rules.priority_imd_deciles) \
        | (planned.lookup.probability[planned.home_code] >= rules.fuel_poor_probability)
    spend, homes = planned.cost.sum(), len(planned.plan)
    if rules.equity_basis == "spend":
        share, needed, whole = planned.cost[priority].sum(), rules.equity_min_share * spend - TOLERANCE_GBP, spend
    else:
        share, needed, whole = float(priority.sum()), rules.equity_min_share * homes - 1e-6, homes
    if share >= needed:
        return []
    return [f"priority homes get {share:,.1f} of {whole:,.1f} ({rules.equity_basis}), below rules.equity_min_share "
            f"{rules.equity_min_share:.0%}"]


# One function per rule family, in the order their problems are listed.
RULES = (_one_package_per_home, _costs_as_candidates, _programme_years, _budget, _cities, _eligibility,
         _must_include_and_exclude, _equity)


def check_plan(plan: pd.DataFrame, candidates: pd.DataFrame, scenario: Scenario,
               rows: np.ndarray | None = None) -> list[str]:
    """Every rule of the scenario recomputed from the plan itself; [] when the plan keeps them all.

    ``rows``: each plan row's position in the candidate table, where the caller knows it (the
    optimiser does): checked to hold the plan's home and package, it saves looking up every
    home by its id. Otherwise, or when it does not match, each row is found by its ids."""
    planned, problems = _planned(plan, candidates, rows)
    if planned is None:
        return problems
    return [problem for rule in RULES for problem in rule(planned, scenario)]


def check_plan_alone(plan: pd.DataFrame, scenario: Scenario) -> list[str]:
    """The rules `check_plan` can recompute from the plan itself; [] when it keeps them all.

    Each plan row carries its candidate row's columns (cost, city, tenure, band after, trade
    days, IMD decile, fuel-poverty probability), so the plan stands in for its own candidate
    table: budgets, shares, capacity, trade days, eligibility, must-include, exclude and equity
    are all recomputed. Two things only the candidate table can say are not checked here: that
    each row is a candidate row at its cost, and the equity rule when the plan holds no
    fuel_poverty_probability (a home's status then comes from its best lift over all its
    packages, not from the one chosen)."""
    probability = plan["fuel_poverty_probability"] if "fuel_poverty_probability" in plan else None
    if scenario.rules.equity_min_share > 0 and len(plan) and (probability is None or probability.isna().all()):
        scenario = scenario.model_copy(update={"rules": scenario.rules.model_copy(update={"equity_min_share": 0.0})})
    return check_plan(plan, plan, scenario, np.arange(len(plan)))
