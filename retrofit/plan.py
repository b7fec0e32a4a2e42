"""The plan: chosen rows, their KPIs and breakdowns, and an independent check of every rule.

`check_plan` deliberately shares no code with the optimiser's model: it recomputes budgets,
shares, capacity, equity and eligibility from the plan table and the candidate table, so a
bug in model building cannot hide behind the solver's own bookkeeping. `check_plan_alone`
recomputes the same rules from the plan's own columns, where the candidate table is not at
hand (storing a run).

Funding (`[funding.<id>]`): each plan row says how it is paid for, in columns the optimiser
writes: `council_gbp`, `grant_gbp`, `co_funding_gbp` (adding to `cost_gbp`), `funding` (the ids
paying, `;`-separated, sorted; "" for council money only) and `grant_<id>_gbp` per scheme. A plan
without them is all council money. The council's `[budget]`, its city shares and the equity rule's
spend then count council money; `_funding` recounts each scheme's rules from the rows.

Delivery (`[delivery]`): each home goes ahead with its uptake probability (`retrofit.delivery`,
from the scenario and the candidate table, not from the plan's own `uptake` column), so budgets,
shares, capacity and equity are recounted as expectations and must hold with the contingency the
scenario's confidence asks for; the KPIs are expectations (`homes_approached` counts the rows).
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from retrofit.candidates import COST_PARTS
from retrofit.delivery import Levels, cost_sd_of, risk, uptake_of
from retrofit.errors import RetrofitError
from retrofit.funding import PART_OF, scheme_terms, stack_terms, stacked
from retrofit.reference import CITIES
from retrofit.scenario import COST_CATEGORIES, Scenario, Scheme

TOLERANCE_GBP = 0.01    # rounding allowed on money rules, £
TOLERANCE_DAYS = 0.01   # and on trade days

MONEY_PARTS = ("council_gbp", "grant_gbp", "co_funding_gbp")  # each plan row's cost, split three ways
GRANT_COLUMN = re.compile(r"grant_(.+)_gbp")                  # one per scheme: grant_<id>_gbp
PAYS = 1e-9  # a grant column above this pays; at or below it (written as 0) it pays nothing
# the candidate columns `retrofit.funding.scheme_terms` may read
TERM_COLUMNS = ("package_id", "tenure", "band_before", "band_after", "cost_gbp", *COST_PARTS, "main_fuel",
                "heat_pump_kw", "annual_bill_saving_gbp", "fuel_poverty_probability", "imd_decile")


def grant_column(scheme_id: str) -> str:
    """The plan column holding what scheme ``scheme_id`` pays for each row, £."""
    return f"grant_{scheme_id}_gbp"


def _grant_ids(plan: pd.DataFrame) -> list[str]:
    """The funding ids of the plan's grant_<id>_gbp columns, in column order."""
    return [match.group(1) for match in map(GRANT_COLUMN.fullmatch, map(str, plan.columns)) if match]


def _money(plan: pd.DataFrame, column: str) -> np.ndarray:
    """A money column as float64 (a missing value is NaN)."""
    return pd.to_numeric(plan[column], errors="coerce").to_numpy(dtype="float64")


def _split(plan: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's council money, grant and co-funding, £: from the plan's columns, where it has them;
    a plan without them (or a missing value) is council money (council = cost less the others)."""
    cost = _money(plan, "cost_gbp") if "cost_gbp" in plan else np.zeros(len(plan))
    grant, co_funding = (np.nan_to_num(_money(plan, c)) if c in plan else np.zeros(len(plan))
                         for c in ("grant_gbp", "co_funding_gbp"))
    council = _money(plan, "council_gbp") if "council_gbp" in plan else np.full(len(plan), np.nan)
    return np.where(np.isnan(council), cost - grant - co_funding, council), grant, co_funding


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


def plan_kpis(plan: pd.DataFrame, scenario: Scenario | None = None) -> dict:
    """Headline figures of a plan (works on any subset of one, e.g. a city's rows).

    Money: `spend_gbp` is the whole investment (cost_gbp), split into `council_gbp`, `grant_gbp`
    and `co_funding_gbp` (a plan without funding columns is all council money); `leverage` is the
    investment per £1 of council money (None without council money). `grant_gbp_by_scheme` is
    each scheme's grant (every grant_<id>_gbp column; with ``scenario``, every funding id of it).
    With ``scenario`` only: `grant_unused_gbp_by_scheme` (each award's total_gbp less what these
    rows use; on a subset, such as a city's rows, that is not what the whole plan leaves) and
    `assumed_grant_gbp` (grant of schemes whose status is "assumed", not yet awarded)."""
    # with uptake (a plan under [delivery]), each row counts at its probability: expected figures
    weight = pd.to_numeric(plan["uptake"], errors="coerce").fillna(1.0).to_numpy(float) if "uptake" in plan \
        else None

    def total(column: str) -> float:
        # candidate metrics may be float32; add them up in float64 so £ totals stay exact to the penny
        if column not in plan or not len(plan):
            return 0.0
        values = plan[column].to_numpy(dtype="float64")
        return float(values.sum() if weight is None else values @ weight)

    spend = total("cost_gbp")
    lifetime = total("lifetime_co2_t_saved")
    jobs = total("jobs_fte_years")
    jobs_of = plan["jobs_fte_years"].astype(float) * (1.0 if weight is None else weight) \
        if "jobs_fte_years" in plan else None
    by_year = jobs_of.groupby(plan["year"]).sum() \
        if len(plan) and "year" in plan and jobs_of is not None else pd.Series(dtype=float)
    # the certificates' figure beside the in-use one, where the appraisal gave it
    modelled = {"modelled_annual_co2_t_saved": total("modelled_annual_co2_t_saved")} \
        if "modelled_annual_co2_t_saved" in plan else {}
    council, grant, co_funding = (float(part.sum() if weight is None else part @ weight) for part in _split(plan))
    ids = sorted(scenario.funding) if scenario is not None else _grant_ids(plan)
    by_scheme = {key: float(np.nansum(_money(plan, grant_column(key)))) if grant_column(key) in plan else 0.0
                 for key in ids}
    funding = scenario.funding if scenario is not None else {}
    delivery = {} if weight is None else {"homes_approached": int(len(plan))}
    return {
        "homes": int(len(plan)) if weight is None else float(weight.sum()),
        **delivery,
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
        "council_gbp": council,
        "grant_gbp": grant,
        "co_funding_gbp": co_funding,
        "grant_gbp_by_scheme": by_scheme,
        "grant_unused_gbp_by_scheme": {key: award.total_gbp - by_scheme[key] for key, award in funding.items()},
        "assumed_grant_gbp": float(sum(by_scheme[key] for key, award in funding.items()
                                       if award.scheme.status == "assumed")),
        "leverage": spend / council if council > 0 else None,
    }


def _flat(kpis: dict) -> dict:
    """A KPI dict as one table row: each scheme's grant a column grant_<id>_gbp; what is left of
    each award is the programme's, not a group's, so it is left out."""
    row = {k: v for k, v in kpis.items() if k not in ("grant_gbp_by_scheme", "grant_unused_gbp_by_scheme")}
    return row | {grant_column(key): amount for key, amount in kpis["grant_gbp_by_scheme"].items()}


def breakdown(plan: pd.DataFrame, by: str | list[str], scenario: Scenario | None = None) -> pd.DataFrame:
    """The KPIs grouped by one or more plan columns (city, year, tenure, imd_decile, lsoa_code...),
    each scheme's grant as a column grant_<id>_gbp (with ``scenario``: one per funding id)."""
    keys = [by] if isinstance(by, str) else list(by)
    if len(plan) == 0:
        return pd.DataFrame(columns=keys + list(_flat(plan_kpis(plan, scenario))))
    rows = [{**dict(zip(keys, key if isinstance(key, tuple) else (key,))), **_flat(plan_kpis(group, scenario))}
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
    home (by id and by the index's code), year, cost, council money and city; ``alone`` when the
    plan is its own candidate table (`check_plan_alone`)."""

    plan: pd.DataFrame
    candidates: pd.DataFrame
    row: np.ndarray
    lookup: _Lookup
    home: pd.Series
    home_code: np.ndarray
    years: np.ndarray
    cost: np.ndarray
    council: np.ndarray  # council money per row: the plan's council_gbp where it has one, else the cost
    city: pd.Series
    alone: bool = False
    risk: "_Risk | None" = None  # [delivery]: each row's uptake and cost spread, and the confidence levels

    def column(self, name: str) -> np.ndarray:
        """A candidate column at the plan's rows."""
        return self.candidates[name].iloc[self.row].to_numpy()


def _planned(plan: pd.DataFrame, candidates: pd.DataFrame, rows: np.ndarray | None,
             alone: bool = False) -> tuple[_Planned | None, list[str]]:
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
    council = cost
    if "council_gbp" in plan:  # a missing value counts at the whole cost here; `_funding` names it
        given = _money(plan, "council_gbp")
        council = np.where(np.isnan(given), cost, given)
    return _Planned(plan, candidates, row, lookup, home, lookup.home_codes[row], plan["year"].to_numpy(), cost,
                    council, city, alone), []


@dataclass(frozen=True)
class _Risk:
    """What [delivery] makes random, per plan row, read from the candidate table and the scenario."""

    uptake: np.ndarray
    cost_sd: np.ndarray
    levels: Levels

    @classmethod
    def of(cls, planned: _Planned, scenario: Scenario) -> _Risk:
        rows = planned.candidates.iloc[planned.row]
        return cls(uptake_of(rows, scenario.delivery), cost_sd_of(rows), Levels.of(scenario))


def _use(planned: _Planned, amount: np.ndarray, mask: np.ndarray, upper: bool, money: bool) -> tuple[float, str]:
    """A rule's use by the rows in ``mask``: the plain sum; under [delivery] the expectation plus
    (an upper limit) or less (a lower one) the contingency at the scenario's confidence, with
    words saying so."""
    amount = np.asarray(amount, dtype=float)
    if planned.risk is None:
        return float(amount[mask].sum()), ""
    r = planned.risk
    spread = risk(amount[mask], r.uptake[mask], planned.cost[mask] if money else None,
                  r.cost_sd[mask] if money else None)
    mean, sd_uptake, sd_cost = spread.total()
    held = r.levels.contingency(sd_uptake, sd_cost)
    unit = (lambda x: f"£{x:,.0f}") if money else (lambda x: f"{x:,.1f}")
    return (mean + held if upper else mean - held), f" (expected {unit(mean)} {'+' if upper else '-'} contingency " \
                                                     f"{unit(held)})"


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


def _council(scenario: Scenario) -> str:
    """Said after an amount of spend when the scenario has grants: the council's budget rules count council money."""
    return " (council money)" if scenario.funding else ""


def _budget(planned: _Planned, scenario: Scenario) -> list[str]:
    """budget.total_gbp, then budget.per_year_gbp, on council money (the cost less grants and co-funding)."""
    budget, said, every = scenario.budget, _council(scenario), np.ones(len(planned.council), dtype=bool)
    spend, how = _use(planned, planned.council, every, True, True)
    problems = [f"spend £{spend:,.0f}{how}{said} is above budget.total_gbp £{budget.total_gbp:,.0f}"] \
        if spend > budget.total_gbp + TOLERANCE_GBP else []
    for year, limit in zip(scenario.year_list, budget.per_year_gbp or []):
        used, how = _use(planned, planned.council, planned.years == year, True, True)
        if used > limit + TOLERANCE_GBP:
            problems.append(f"spend in {year} £{used:,.0f}{how}{said} is above budget.per_year_gbp £{limit:,.0f}")
    return problems


def _cities(planned: _Planned, scenario: Scenario) -> list[str]:
    """Each city's min_share and max_share of the budget (council money), then its homes and trade days per year."""
    problems, total, said = [], scenario.budget.total_gbp, _council(scenario)
    trade_days = {trade: planned.column(f"trade_days_{trade}").astype(float)
                  if f"trade_days_{trade}" in planned.candidates else np.zeros(len(planned.plan))
                  for rules in scenario.cities.values() if rules.trade_days_per_year is not None
                  for trade in rules.trade_days_per_year.limits()}  # each limited trade's days, read once
    for name, rules in scenario.cities.items():
        mine = (planned.city == name).to_numpy()
        low, how_low = _use(planned, planned.council, mine, False, True)
        high, how_high = _use(planned, planned.council, mine, True, True)
        if rules.min_share and low < rules.min_share * total - TOLERANCE_GBP:
            problems.append(f"{name} spend £{low:,.0f}{how_low}{said} is below its min_share of "
                            f"£{rules.min_share * total:,.0f}")
        if rules.max_share is not None and high > rules.max_share * total + TOLERANCE_GBP:
            problems.append(f"{name} spend £{high:,.0f}{how_high}{said} is above its max_share of "
                            f"£{rules.max_share * total:,.0f}")
        for year in scenario.year_list:
            here = mine & (planned.years == year)
            homes, how = _use(planned, np.ones(len(here)), here, True, False)
            if rules.homes_per_year is not None and homes > rules.homes_per_year + 1e-6:
                problems.append(f"{name} has {homes:,.1f}{how} homes in {year}, above homes_per_year "
                                f"{rules.homes_per_year}" if planned.risk is not None else
                                f"{name} has {int(here.sum())} homes in {year}, above homes_per_year "
                                f"{rules.homes_per_year}")
            for trade, limit in (rules.trade_days_per_year.limits() if rules.trade_days_per_year else {}).items():
                used_days, how = _use(planned, trade_days[trade], here, True, False)
                if used_days > limit + TOLERANCE_DAYS:
                    problems.append(f"{name} uses {used_days:,.1f}{how} {trade} days in {year}, above {limit:,.1f}")
    return problems


def _ramp(planned: _Planned, scenario: Scenario) -> list[str]:
    """delivery.max_ramp and ramp_start: each city's expected homes and spend per year against
    the year before's (within 1 +- max_ramp times it), and its first year's homes."""
    delivery = scenario.delivery
    if delivery is None or (delivery.max_ramp is None and delivery.ramp_start is None):
        return []
    problems, years = [], scenario.year_list
    uptake = planned.risk.uptake if planned.risk is not None else np.ones(len(planned.council))
    for name in CITIES:
        mine = (planned.city == name).to_numpy()
        homes = [float(uptake[mine & (planned.years == y)].sum()) for y in years]
        spend = [float((uptake * planned.council)[mine & (planned.years == y)].sum()) for y in years]
        start = delivery.ramp_start_of(name)
        if start is not None and homes[0] > start + 1e-6:
            problems.append(f"{name} has {homes[0]:,.1f} expected homes in {years[0]}, above delivery.ramp_start "
                            f"{start:,}")
        if delivery.max_ramp is None:
            continue
        up, down = 1 + delivery.max_ramp, max(1 - delivery.max_ramp, 0.0)
        for t in range(1, len(years)):
            for what, series, tolerance, show in (("homes", homes, 1e-6, "{:,.1f}"),
                                                  ("spend", spend, TOLERANCE_GBP, "£{:,.0f}")):
                now, before = series[t], series[t - 1]
                if now > up * before + tolerance:
                    problems.append(f"{name}'s {what} in {years[t]} ({show.format(now)}) is more than "
                                    f"{up:g} times {years[t - 1]}'s ({show.format(before)}): delivery.max_ramp")
                if now < down * before - tolerance:
                    problems.append(f"{name}'s {what} in {years[t]} ({show.format(now)}) is less than "
                                    f"{down:g} times {years[t - 1]}'s ({show.format(before)}): delivery.max_ramp")
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
    """rules.equity_min_share of the spend (council money) or homes for priority homes: fuel poor or most deprived."""
    rules = scenario.rules
    if rules.equity_min_share <= 0 or not len(planned.plan):
        return []
    priority = (planned.lookup.decile[planned.home_code] <= rules.priority_imd_deciles) \
        | (planned.lookup.probability[planned.home_code] >= rules.fuel_poor_probability)
    if planned.risk is not None:  # priority less the share, summed: at least 0 at the confidence
        spend_basis = rules.equity_basis == "spend"
        amount = (priority.astype(float) - rules.equity_min_share) * (planned.council if spend_basis else 1.0)
        low, how = _use(planned, amount, np.ones(len(amount), dtype=bool), False, spend_basis)
        if low >= -(TOLERANCE_GBP if spend_basis else 1e-6):
            return []
        return [f"priority homes fall {-low:,.1f}{how} ({rules.equity_basis}) short of rules.equity_min_share "
                f"{rules.equity_min_share:.0%}"]
    spend, homes = planned.council.sum(), len(planned.plan)
    if rules.equity_basis == "spend":
        share, needed, whole = planned.council[priority].sum(), rules.equity_min_share * spend - TOLERANCE_GBP, spend
    else:
        share, needed, whole = float(priority.sum()), rules.equity_min_share * homes - 1e-6, homes
    if share >= needed:
        return []
    basis = rules.equity_basis + (", council money" if scenario.funding and rules.equity_basis == "spend" else "")
    return [f"priority homes get {share:,.1f} of {whole:,.1f} ({basis}), below rules.equity_min_share "
            f"{rules.equity_min_share:.0%}"]


def _scheme_needs(scheme: Scheme) -> set[str]:
    """The candidate columns `scheme_terms` reads for ``scheme`` (where one is missing it refuses,
    or takes a default that would misjudge a plan standing in for its candidate table)."""
    needs = {"package_id", "tenure", "band_before", "cost_gbp"}
    if scheme.low_income_only:
        needs |= {"fuel_poverty_probability", "imd_decile"}
    if scheme.min_band_after:
        needs.add("band_after")
    if scheme.replaces_fuels is not None or scheme.off_gas_heating_cap_gbp:
        needs.add("main_fuel")
    if scheme.band_c_heat_pump_share or scheme.requires_heat_pump or scheme.off_gas_heating_cap_gbp \
            or (scheme.heating_must_be_low_carbon and "heating" in scheme.pays_for):
        needs.add("heat_pump_kw")
    whole = set(scheme.pays_for) == set(COST_CATEGORIES) and not scheme.heating_must_be_low_carbon
    if not whole or any(key != "total" for key in scheme.cap_gbp):
        needs |= {PART_OF[category] for category in scheme.pays_for}
    if scheme.gbp_per_annual_bill_saving is not None:
        needs.add("annual_bill_saving_gbp")
    return needs


def _home(planned: _Planned, mask: np.ndarray) -> str:
    """The first home where ``mask`` holds, for a message."""
    return str(planned.home.iloc[int(np.flatnonzero(mask)[0])])


def _named(scenario: Scenario, key: str) -> str:
    return f"{scenario.funding[key].scheme.name} ({key})"


def _funding(planned: _Planned, scenario: Scenario) -> list[str]:
    """How each row is paid for, recounted from the plan rows and their candidate rows.

    - council_gbp + grant_gbp + co_funding_gbp = cost_gbp (to £0.01 a row), none negative or missing;
    - `funding` names funding sections of the scenario, sorted, at most two, and two only where
      they stack (`Scenario.stacks`); grant_<id>_gbp is above 0 exactly for the ids named, and
      grant_gbp is their sum;
    - each funded row is eligible for its scheme (`scheme_terms`) or pair (`stack_terms`), and gets
      at most the scheme's grant_max_gbp (per-home caps; under averaged caps the payable cost less
      the owner's share); under `cap_basis = "average"` a scheme's grants add to at most its rows'
      cap allowances;
    - co_funding_gbp is the owner's share of the cost (`co_funding_share` by tenure; the larger of
      two stacked schemes'), 0 for council money only;
    - `band_c_heat_pump_share`: band C homes at most that share of the rows the scheme funds;
    - each award: its grants add to at most total_gbp, and in each programme year to at most
      `Funding.year_limits` (0 outside the years it may be spent in).

    A plan without funding columns is council money only: nothing to check."""
    plan, problems = planned.plan, []
    ids_in_plan = _grant_ids(plan)
    present = [column for column in (*MONEY_PARTS, "funding") if column in plan]
    if not present and not ids_in_plan:
        return []
    if len(present) < 4:
        missing = [column for column in (*MONEY_PARTS, "funding") if column not in plan]
        return [f"the plan has {', '.join(present + [grant_column(key) for key in ids_in_plan])} but no "
                f"{', '.join(missing)}: a plan paid by grants has council_gbp, grant_gbp, co_funding_gbp and funding"]
    n, cost = len(plan), _money(plan, "cost_gbp")
    council, grant, co_funding = (_money(plan, column) for column in MONEY_PARTS)

    missing = np.isnan(council) | np.isnan(grant) | np.isnan(co_funding)
    if missing.any():
        problems.append(f"{int(missing.sum())} rows have no council_gbp, grant_gbp or co_funding_gbp, e.g. home "
                        f"{_home(planned, missing)}")
    apart = ~missing & (np.abs(council + grant + co_funding - cost) > TOLERANCE_GBP)
    if apart.any():
        i = int(np.flatnonzero(apart)[0])
        problems.append(f"{int(apart.sum())} rows' council_gbp, grant_gbp and co_funding_gbp do not add up to "
                        f"cost_gbp, e.g. home {planned.home.iloc[i]}: £{council[i]:,.2f} + £{grant[i]:,.2f} + "
                        f"£{co_funding[i]:,.2f} against £{cost[i]:,.2f}")
    negative = ~missing & ((council < -TOLERANCE_GBP) | (grant < -TOLERANCE_GBP) | (co_funding < -TOLERANCE_GBP))
    if negative.any():
        problems.append(f"{int(negative.sum())} rows have a negative council_gbp, grant_gbp or co_funding_gbp, e.g. "
                        f"home {_home(planned, negative)}")

    # the funding each row names: parsed once per distinct text
    text = plan["funding"].astype(object).where(plan["funding"].notna(), "").astype(str).to_numpy()
    codes, names = pd.factorize(text)
    named = [name.split(";") if name else [] for name in names]
    stacks = set(scenario.stacks())
    groups: dict[tuple, np.ndarray] = {}  # valid funding (() for council money only) -> its rows
    for code, (name, keys) in enumerate(zip(names, named)):
        rows = codes == code
        count, unknown = int(rows.sum()), [key for key in keys if key not in scenario.funding]
        if unknown:
            problems.append(f"{count} rows are funded by {unknown[0]!r}, which is not a funding section of this "
                            f"scenario ({', '.join(sorted(scenario.funding)) or 'it has none'})")
        elif keys != sorted(set(keys)):
            problems.append(f"{count} rows name their funding {name!r}: each id once, sorted, separated by ';'")
        elif len(keys) > 2:
            problems.append(f"{count} rows are funded by {len(keys)} schemes ({name!r}); at most two may fund a home")
        elif len(keys) == 2 and tuple(keys) not in stacks:
            problems.append(f"{count} rows are funded by {_named(scenario, keys[0])} and {_named(scenario, keys[1])} "
                            "together, which do not stack (neither lists the other in stacks_with)")
        else:
            groups[tuple(keys)] = rows

    # each scheme's grant column against the rows that name it
    amounts = {key: np.nan_to_num(_money(plan, grant_column(key))) for key in ids_in_plan}
    for key in sorted(set(scenario.funding) | set(ids_in_plan)):
        listed = np.isin(codes, [code for code, keys in enumerate(named) if key in keys])
        if key not in amounts:
            if listed.any():
                problems.append(f"{int(listed.sum())} rows are funded by {_named(scenario, key)} but the plan has "
                                f"no {grant_column(key)} column")
            continue
        paid = amounts[key]
        if key not in scenario.funding:
            if (np.abs(paid) > PAYS).any():
                problems.append(f"{int((np.abs(paid) > PAYS).sum())} rows have {grant_column(key)} from {key!r}, "
                                "which is not a funding section of this scenario")
            continue
        unpaid, unlisted = listed & ~(paid > PAYS), ~listed & (np.abs(paid) > PAYS)
        if unpaid.any():
            problems.append(f"{int(unpaid.sum())} rows name {_named(scenario, key)} in funding but "
                            f"{grant_column(key)} is 0 or missing, e.g. home {_home(planned, unpaid)}")
        if unlisted.any():
            problems.append(f"{int(unlisted.sum())} rows have {grant_column(key)} without naming {key} in funding, "
                            f"e.g. home {_home(planned, unlisted)}")
    total = sum(amounts.values(), np.zeros(n))
    wrong = ~np.isnan(grant) & (np.abs(total - grant) > TOLERANCE_GBP)
    if wrong.any():
        i = int(np.flatnonzero(wrong)[0])
        problems.append(f"{int(wrong.sum())} rows' grant_gbp is not the sum of their grant_<id>_gbp, e.g. home "
                        f"{planned.home.iloc[i]}: £{grant[i]:,.2f} against £{total[i]:,.2f}")

    problems += _funding_terms(planned, scenario, groups, amounts, co_funding)
    problems += _awards(planned, scenario, groups, amounts)
    return problems


def _funding_terms(planned: _Planned, scenario: Scenario, groups: dict[tuple, np.ndarray], amounts: dict,
                   co_funding: np.ndarray) -> list[str]:
    """Eligibility, each row's most, averaged caps and co-funding, for each way rows are funded."""
    problems, candidates, rules = [], planned.candidates, scenario.rules
    columns = [column for column in TERM_COLUMNS if column in candidates]
    averaged: dict[str, list[float]] = {}  # id -> [grants, cap allowances] over the rows it funds
    tenure, tenures = pd.factorize(planned.column("tenure").astype(str)) if "tenure" in candidates else (None, None)
    for keys, mask in groups.items():
        rows = np.flatnonzero(mask)
        # the owner's share of the cost: the larger of the schemes' shares by tenure (none: 0)
        if tenure is not None or not keys:
            share = np.zeros(len(rows))
            for key in keys:  # each tenure's share, looked up once
                by_tenure = scenario.funding[key].scheme.co_funding_share
                per = np.array([by_tenure.get(t, 0.0) for t in tenures], dtype="float64")
                share = np.maximum(share, per[tenure[rows]])
            required = share * planned.cost[rows]
            off = np.abs(co_funding[rows] - required) > TOLERANCE_GBP
            if off.any():
                i = rows[int(np.flatnonzero(off)[0])]
                whose = " and ".join(_named(scenario, key) for key in keys) or "council money only"
                problems.append(f"{int(off.sum())} rows funded by {whose} have co_funding_gbp other than the owner's "
                                f"share, e.g. home {planned.home.iloc[i]}: £{co_funding[i]:,.2f}, required "
                                f"£{required[int(np.flatnonzero(off)[0])]:,.2f}")
        if not keys:
            continue
        schemes = [scenario.funding[key].scheme for key in keys]
        parts = stacked(*schemes) if len(keys) == 2 else (schemes[0],)
        if parts is None:
            problems.append(f"{len(rows)} rows are funded by {_named(scenario, keys[0])} and "
                            f"{_named(scenario, keys[1])} together, but they pay for the same cost parts")
            continue
        if planned.alone and not set().union(*map(_scheme_needs, parts)) <= set(candidates.columns):
            continue  # the plan lacks a column its terms need: `check_plan_alone` leaves them to check_plan
        table = candidates[columns].iloc[planned.row[rows]].reset_index(drop=True)
        try:
            terms = scheme_terms(table, parts[0], rules) if len(keys) == 1 else stack_terms(table, *schemes, rules)
        except (RetrofitError, KeyError) as error:
            if not planned.alone:
                problems.append(f"cannot check the rows funded by {' and '.join(_named(scenario, k) for k in keys)}: "
                                f"{error}")
            continue
        eligible = terms["eligible"].to_numpy(dtype=bool)
        if not eligible.all():
            i = int(np.flatnonzero(~eligible)[0])
            reasons = [scheme_terms(table.iloc[[i]], part, rules)["reason"].iloc[0] for part in parts]
            problems.append(f"{int((~eligible).sum())} rows funded by "
                            f"{' and '.join(_named(scenario, key) for key in keys)} are not eligible, e.g. home "
                            f"{planned.home.iloc[rows[i]]}: {next(r for r in reasons if r)}")
        for k, key in enumerate(keys):
            if key not in amounts:
                continue  # no grant column: said above
            scheme, paid = scenario.funding[key].scheme, amounts[key][rows]
            most, allowance = (terms[f"{name}_gbp"] if len(keys) == 1 else terms[f"{name}_{k + 1}_gbp"]
                               for name in ("grant_max", "cap_allowance"))
            most, allowance = most.to_numpy(dtype="float64"), allowance.to_numpy(dtype="float64")
            over = eligible & (paid > most + TOLERANCE_GBP)
            if over.any():
                i = int(np.flatnonzero(over)[0])
                why = "its per-home caps allow" if scheme.cap_basis == "per_home" else \
                    "it may pay for them (the payable cost less the owner's share)"
                problems.append(f"{int(over.sum())} rows get more from {_named(scenario, key)} than {why}, e.g. "
                                f"home {planned.home.iloc[rows[i]]}: £{paid[i]:,.2f} against £{most[i]:,.2f}")
            if scheme.cap_basis == "average":
                sums = averaged.setdefault(key, [0.0, 0.0, 0])
                sums[0] += float(paid.sum())
                sums[1] += float(allowance.sum())
                sums[2] += len(rows)
    for key, (paid, allowed, homes) in sorted(averaged.items()):
        if paid > allowed + TOLERANCE_GBP:
            problems.append(f"{_named(scenario, key)} pays £{paid:,.0f} for the homes it funds ({homes:,}), above "
                            f"the £{allowed:,.0f} its caps allow on average (funding.{key}.cap_gbp, averaged)")
    return problems


def _awards(planned: _Planned, scenario: Scenario, groups: dict[tuple, np.ndarray], amounts: dict) -> list[str]:
    """Each award's total and yearly limits, and each scheme's band C share."""
    problems, programme = [], scenario.year_list
    for key in sorted(scenario.funding):
        funding = scenario.funding[key]
        scheme, name = funding.scheme, _named(scenario, key)
        share = scheme.band_c_heat_pump_share
        if share and (not planned.alone or "band_before" in planned.candidates):
            funded = np.zeros(len(planned.plan), dtype=bool)
            for keys, rows in groups.items():
                if key in keys:
                    funded |= rows
            band_c = planned.column("band_before").astype(str)[funded] == "C" if "band_before" in planned.candidates \
                else np.zeros(0, dtype=bool)
            if band_c.sum() > share * funded.sum() + 1e-9:
                problems.append(f"{name} funds {int(band_c.sum())} band C homes of {int(funded.sum())}, above its "
                                f"band_c_heat_pump_share of {share:.0%}")
        if key not in amounts:
            continue
        paid = amounts[key]
        if paid.sum() > funding.total_gbp + TOLERANCE_GBP:
            problems.append(f"{name} pays £{paid.sum():,.0f}, above its award funding.{key}.total_gbp "
                            f"£{funding.total_gbp:,.0f}")
        spending = funding.spending_years(programme)
        for t, (year, limit) in enumerate(zip(programme, funding.year_limits(programme))):
            used = paid[planned.years == year].sum()
            if used <= limit + TOLERANCE_GBP or limit >= funding.total_gbp:
                continue  # a year's limit at the total is the total's rule, said once above
            if limit == 0:
                problems.append(f"{name} pays £{used:,.0f} in {year}, outside the years its award may be spent "
                                f"({', '.join(map(str, spending))}; {scheme.opens} to {scheme.closes})")
            else:
                problems.append(f"{name} pays £{used:,.0f} in {year}, above funding.{key}.per_year_gbp "
                                f"£{limit:,.0f}")
    return problems


# One function per rule family, in the order their problems are listed.
RULES = (_one_package_per_home, _costs_as_candidates, _programme_years, _budget, _cities, _ramp, _eligibility,
         _must_include_and_exclude, _equity, _funding)


def check_plan(plan: pd.DataFrame, candidates: pd.DataFrame, scenario: Scenario,
               rows: np.ndarray | None = None) -> list[str]:
    """Every rule of the scenario recomputed from the plan itself; [] when the plan keeps them all.

    ``rows``: each plan row's position in the candidate table, where the caller knows it (the
    optimiser does): checked to hold the plan's home and package, it saves looking up every
    home by its id. Otherwise, or when it does not match, each row is found by its ids."""
    return _check(plan, candidates, scenario, rows)


def _check(plan: pd.DataFrame, candidates: pd.DataFrame, scenario: Scenario, rows: np.ndarray | None,
           alone: bool = False) -> list[str]:
    planned, problems = _planned(plan, candidates, rows, alone)
    if planned is None:
        return problems
    if scenario.delivery is not None:
        planned = replace(planned, risk=_Risk.of(planned, scenario))
    return [problem for rule in RULES for problem in rule(planned, scenario)]


def check_plan_alone(plan: pd.DataFrame, scenario: Scenario) -> list[str]:
    """The rules `check_plan` can recompute from the plan itself; [] when it keeps them all.

    Each plan row carries its candidate row's columns (cost, city, tenure, band after, trade
    days, IMD decile, fuel-poverty probability), so the plan stands in for its own candidate
    table: budgets, shares, capacity, trade days, eligibility, must-include, exclude, equity and
    funding are all recomputed. What only the candidate table can say is not checked here: that
    each row is a candidate row at its cost; the equity rule when the plan holds no
    fuel_poverty_probability (a home's status then comes from its best lift over all its
    packages, not from the one chosen); and, for a scheme (or pair) whose terms read a column
    the plan lacks (tenure, band_before, band_after, a cost part such as cost_heating_gbp,
    main_fuel, heat_pump_kw, annual_bill_saving_gbp, fuel_poverty_probability or imd_decile, as
    the scheme's rules need), the eligibility of its rows, their most and its averaged caps
    (the sums, co-funding where the plan has tenure, band C share where it has band_before,
    and the award's totals and years are still checked)."""
    probability = plan["fuel_poverty_probability"] if "fuel_poverty_probability" in plan else None
    if scenario.rules.equity_min_share > 0 and len(plan) and (probability is None or probability.isna().all()):
        scenario = scenario.model_copy(update={"rules": scenario.rules.model_copy(update={"equity_min_share": 0.0})})
    return _check(plan, plan, scenario, np.arange(len(plan)), alone=True)
