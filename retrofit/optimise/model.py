"""The optimisation model as arrays: built once from the candidate table and the scenario.

Decision: x[r, t] = 1 when candidate row r (a home and a package) is delivered in year t;
at most one (r, t) per home (exactly one for must-include homes). Everything else is a
handful of *coupling* rows (budgets, city shares, capacity per city and year, equity),
each written as ``sign * sum(term[r] * x[r, t]) <= sign * limit`` over the rows of one city
(or all) and one year (or all). That structure is what makes full scale fast: given a
price per coupling row, every home chooses on its own (`reduced_values`).

Funding (`[funding.<id>]`): each candidate row becomes one model row per way it may be paid
for: council money alone, each grant scheme that may fund it, each allowed pair of schemes.
The "cost" term is then the council's share (what `[budget]` limits); each scheme adds the
terms `grant:<id>` (its award, per year and in all, 0 outside its years), `capexcess:<id>` (the
grant less the row's cap allowance, at most 0 in all under averaged caps) and `bandc:<id>` (band
C homes' share of those it funds). A scheme pays a row the most it may (`grant_max_gbp`) or,
under averaged caps, the row's own cap; any amount between is a mix of those two options, so the
LP relaxation, and the bound, cover it. Choosing the funding is then part of each home's choice.

Delivery (`[delivery]`, `retrofit.delivery`): each row's cost, trade days and metrics are its
household's uptake probability times their value (expected outcomes), and the "homes" term is the
probability; `uptake` and `cost_ratio` (the cost's standard deviation over the cost) are kept per
row for the contingency each rule holds back (`retrofit.optimise.contingency`).

Units inside the model (one place converts them): money in £1,000 (COST_UNIT), homes,
trade days; the objective in units of `value_scale` so typical home values are about 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import pandas as pd

from retrofit.delivery import cost_sd_of, uptake_of
from retrofit.funding import scheme_terms, stack_terms
from retrofit.reference import CITIES
from retrofit.scenario import Scenario

COST_UNIT = 1_000.0  # £ per model money unit: keeps budget rows and prices well scaled
METRICS = {"carbon": "lifetime_co2_t_saved", "fuel_poverty": "fuel_poor_lifted", "jobs": "jobs_fte_years"}
OBJECTIVES = tuple(METRICS)


@dataclass(frozen=True)
class Constraint:
    """One coupling row: ``sign * sum(term * x) <= sign * limit`` over a city (-1: all) and year (-1: all)."""

    name: str    # in words, for messages: "budget 2027", "Coventry min share"
    rule: str    # the scenario key it comes from
    term: str    # "cost" | "homes" | "trade:<trade>" | "equity" | "grant:<id>" | "capexcess:<id>" | "bandc:<id>"
    city: int
    year: int
    sign: float  # +1 for an upper limit, -1 for a lower limit
    limit: float  # in model units
    money: bool = False  # the term is money (model units of £1,000)
    prior: float = 0.0  # a ramp rule: the row is its year's term less ``prior`` x the year before's

    @property
    def rhs(self) -> float:
        return self.sign * self.limit

    @property
    def unit(self) -> str:
        return "£" if self.money else {"homes": "homes", "equity": "homes"}.get(self.term, "trade days")

    def natural(self, amount: float) -> float:
        """An amount of this row's term in natural units (£ for money)."""
        return amount * COST_UNIT if self.money else amount


@dataclass
class Model:
    """Candidate rows (sorted by home) as arrays, plus the coupling rows."""

    scenario: Scenario
    rows: np.ndarray          # position of each model row in the candidate table
    home: np.ndarray          # home code per row (0..n_homes-1), non-decreasing
    starts: np.ndarray        # first row of each home
    home_ids: np.ndarray      # home id per home code
    city: np.ndarray          # city code per row (index in CITIES)
    cost: np.ndarray          # £ per row
    metrics: np.ndarray       # (rows, 3): carbon, fuel poverty, jobs per row
    priority: np.ndarray      # per row: the home counts for the equity rule
    trades: dict[str, np.ndarray]  # trade days per row, for trades with a capacity
    must: np.ndarray          # per home: must be in the plan
    area: np.ndarray          # mobilisation area code per row
    area_names: np.ndarray
    years: list[int]
    constraints: list[Constraint]
    equity_basis: str = "spend"
    equity_share: float = 0.0
    removed: dict = field(default_factory=dict)  # rows dropped by eligibility rules, by rule
    # funding (all council money without [funding]): per row, the whole cost (``cost`` is the
    # council's share), the owner's co-funding and, by funding id, the grant, the grant less the
    # cap allowance (averaged caps) and the band C share term, £ or homes
    spend: np.ndarray | None = None
    co_funding: np.ndarray | None = None
    grants: dict[str, np.ndarray] = field(default_factory=dict)
    excess: dict[str, np.ndarray] = field(default_factory=dict)
    band_c: dict[str, np.ndarray] = field(default_factory=dict)
    windows: dict[str, np.ndarray] = field(default_factory=dict)  # summed models: rows funded within a window
    # delivery (None without [delivery]): per row, the uptake probability (cost, trades and metrics
    # above are already times it) and the standard deviation of its cost over its cost
    uptake: np.ndarray | None = None
    cost_ratio: np.ndarray | None = None
    _largest: dict = field(default_factory=dict, repr=False)  # per term: each home's largest coefficient, computed once

    @property
    def n_rows(self) -> int:
        return len(self.rows)

    @property
    def n_homes(self) -> int:
        return len(self.home_ids)

    @property
    def n_years(self) -> int:
        return len(self.years)

    @property
    def rhs(self) -> np.ndarray:
        """Each coupling row's limit in "<=" form (model units)."""
        return np.array([c.rhs for c in self.constraints])

    def term(self, term: str, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """A coupling term's coefficient for the given rows, in model units.

        Computed for those rows on each call, not kept: at full scale with funding there are two
        dozen terms of millions of rows each (over a gigabyte), mostly zeros or copies of the
        model's own arrays, and a call is one vectorised product."""
        if "@" in term:  # "cost@2026-2027": the term of the rows funded within that window
            base, window = term.split("@")
            return np.where(self.windows[window][rows], self.term(base, rows), 0.0)
        if term == "cost":
            return self.cost[rows] / COST_UNIT
        if term == "homes":
            return np.ones(len(self.city[rows])) if self.uptake is None else self.uptake[rows].astype(float)
        if term == "equity":
            share = self.priority[rows] - self.equity_share
            return share * self.cost[rows] / COST_UNIT if self.equity_basis == "spend" else share.astype(float)
        if term.startswith("grant:"):
            return self.grants[term.removeprefix("grant:")][rows] / COST_UNIT
        if term.startswith("capexcess:"):
            return self.excess[term.removeprefix("capexcess:")][rows] / COST_UNIT
        if term.startswith("bandc:"):
            return np.asarray(self.band_c[term.removeprefix("bandc:")][rows], dtype=float)
        return np.asarray(self.trades[term.removeprefix("trade:")][rows], dtype=float)

    def home_largest(self, term: str) -> np.ndarray:
        """Per home: the largest absolute coefficient of a term over its rows (computed once)."""
        largest = self._largest.get(term)
        if largest is None:
            largest = np.maximum.reduceat(np.abs(self.term(term)), self.starts) if self.n_rows else np.zeros(0)
            self._largest[term] = largest
        return largest

    def weights(self, constraint: Constraint, rows: np.ndarray, years: np.ndarray) -> np.ndarray:
        """Per column (row in year): the factor of its term in the coupling row: 1 in the row's city
        and year, -prior in the year before (a ramp rule), else 0."""
        weight = np.ones(len(rows))
        if constraint.year >= 0:
            weight = np.where(years == constraint.year, 1.0, 0.0)
            if constraint.prior:
                weight = np.where(years == constraint.year - 1, -constraint.prior, weight)
        if constraint.city >= 0:
            weight = np.where(self.city[rows] == constraint.city, weight, 0.0)
        return weight


def home_starts(home: np.ndarray) -> np.ndarray:
    """The first position of each home in ``home`` (codes grouped by home)."""
    return np.flatnonzero(np.r_[True, home[1:] != home[:-1]]) if len(home) else np.zeros(0, dtype=np.int64)


def _text(column: pd.Series):
    """A column as text values; categorical columns stay categorical (cheap) with text categories."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.rename_categories(column.cat.categories.astype(str))
    return column.astype(str)


def _priority(candidates: pd.DataFrame, home_codes: np.ndarray, n_homes: int, scenario: Scenario) -> np.ndarray:
    """Per row: the home is fuel poor or in the most deprived IMD deciles (the equity rule)."""
    rules = scenario.rules
    if "fuel_poverty_probability" in candidates:
        probability = pd.to_numeric(candidates["fuel_poverty_probability"], errors="coerce").fillna(0).to_numpy(float)
    else:  # a partner's table without it: the best lift over packages is the home's probability
        lifted = candidates["fuel_poor_lifted"].to_numpy(float)
        best = np.zeros(n_homes)
        np.maximum.at(best, home_codes, lifted)
        probability = best[home_codes]
    deprived = candidates["imd_decile"].to_numpy(float) <= rules.priority_imd_deciles
    return deprived | (probability >= rules.fuel_poor_probability)


def eligible_mask(candidates: pd.DataFrame, scenario: Scenario) -> tuple[np.ndarray, dict]:
    """Rows the rules allow, and how many each rule removed."""
    rules = scenario.rules
    keep = np.ones(len(candidates), dtype=bool)
    removed = {}

    def drop(name: str, bad: np.ndarray) -> None:
        nonlocal keep
        removed[name] = int((keep & bad).sum())
        keep &= ~bad

    if rules.eligible_tenures is not None:
        drop("rules.eligible_tenures", ~candidates["tenure"].astype(str).isin(rules.eligible_tenures).to_numpy())
    if rules.eligible_packages is not None:
        drop("rules.eligible_packages", ~candidates["package_id"].astype(str).isin(rules.eligible_packages).to_numpy())
    if rules.min_band_after is not None:
        drop("rules.min_band_after", ~candidates["band_after"].astype(str).isin(rules.bands_allowed).to_numpy())
    if rules.exclude:
        drop("rules.exclude", candidates["home_id"].astype(str).isin(rules.exclude).to_numpy())
    if scenario.delivery is not None:  # a household that never goes ahead is not planned
        drop("delivery.uptake", uptake_of(candidates, scenario.delivery) <= 0)
    return keep, removed


def _columns_read(candidates: pd.DataFrame, scenario: Scenario) -> list[str]:
    """The candidate columns the model reads (besides home_id), those the table has."""
    wanted = ["cost_gbp", *METRICS.values(), "city", scenario.rules.mobilisation_area, "fuel_poverty_probability",
              "imd_decile"]
    for rules in scenario.cities.values():
        if rules.trade_days_per_year is not None:
            wanted += [f"trade_days_{trade}" for trade in rules.trade_days_per_year.limits()]
    if scenario.funding:
        wanted += FUNDING_COLUMNS
    if scenario.delivery is not None:
        wanted += DELIVERY_COLUMNS
    return [c for c in dict.fromkeys(wanted) if c in candidates.columns]


# the candidate columns `retrofit.delivery` reads for uptake and cost ranges, those the table has
DELIVERY_COLUMNS = ["tenure", "lsoa_code", "uptake", "cost_sd_gbp", "cost_gbp", "cost_fabric_gbp", "cost_heating_gbp", "cost_pv_gbp",
                    "cost_other_gbp"]


# the candidate columns the funding rules read (`retrofit.funding`), those the table has
FUNDING_COLUMNS = ["package_id", "tenure", "band_before", "band_after", "cost_fabric_gbp", "cost_heating_gbp",
                   "cost_pv_gbp", "cost_other_gbp", "main_fuel", "heat_pump_kw", "annual_bill_saving_gbp"]


@dataclass
class _Options:
    """Ways of paying for the candidate rows: per option, its row (of the table), the grant of
    each funding id, the co-funding, and each id's cap excess and band C term."""

    row: list = field(default_factory=list)
    grants: dict = field(default_factory=dict)   # id -> list of arrays (one per option block)
    excess: dict = field(default_factory=dict)
    band_c: dict = field(default_factory=dict)
    co_funding: list = field(default_factory=list)

    def add(self, rows: np.ndarray, co_funding: np.ndarray, grants: dict, excess: dict, band_c: dict) -> None:
        self.row.append(rows)
        self.co_funding.append(co_funding)
        for store, given in ((self.grants, grants), (self.excess, excess), (self.band_c, band_c)):
            for key in store:
                store[key].append(given.get(key, np.zeros(len(rows))))


def _funding_options(table: pd.DataFrame, scenario: Scenario) -> _Options:
    """Every way of paying for each row of ``table``: council money alone (first), each scheme
    that may fund it (at its most and, under averaged caps, at its cap), each allowed pair."""
    n = len(table)
    ids = sorted(scenario.funding)
    options = _Options(grants={i: [] for i in ids},
                       excess={i: [] for i in ids if scenario.funding[i].scheme.cap_basis == "average"},
                       band_c={i: [] for i in ids if scenario.funding[i].scheme.band_c_heat_pump_share})
    options.add(np.arange(n), np.zeros(n), {}, {}, {})
    if not ids:
        return options
    band_before = table["band_before"].astype(str).to_numpy() if "band_before" in table else np.full(n, "")

    def band_c(scheme_id: str, rows: np.ndarray) -> dict:
        share = scenario.funding[scheme_id].scheme.band_c_heat_pump_share
        return {scheme_id: np.where(band_before[rows] == "C", 1.0 - share, -share)} if share else {}

    def levels(funded: list[tuple[str, np.ndarray, np.ndarray]], rows: np.ndarray, co_funding: np.ndarray) -> None:
        """Add the option at each scheme's most, and at each averaged scheme's cap where that is less."""
        averaged = [(i, most, allowance) for i, most, allowance in funded if i in options.excess]
        for at_cap in (False, True) if averaged else (False,):
            grants = {i: np.round(np.minimum(most, allowance) if at_cap and i in options.excess else most, 2)
                      for i, most, allowance in funded}
            keep = np.all([grant > 0 for grant in grants.values()], axis=0)  # every scheme named pays something
            if at_cap:  # only where the cap is below the most
                keep &= np.any([most > allowance + 0.005 for _, most, allowance in averaged], axis=0)
            if not keep.any():
                continue
            grants = {i: g[keep] for i, g in grants.items()}
            excess = {i: grants[i] - allowance[keep] for i, _, allowance in averaged}
            marks = {k: v for i, _, _ in funded for k, v in band_c(i, rows[keep]).items()}
            options.add(rows[keep], np.round(co_funding[keep], 2), grants, excess, marks)

    terms = {i: scheme_terms(table, scenario.funding[i].scheme, scenario.rules) for i in ids}
    for i in ids:
        rows = np.flatnonzero(terms[i]["eligible"].to_numpy())
        at = terms[i].iloc[rows]
        levels([(i, at["grant_max_gbp"].to_numpy(), at["cap_allowance_gbp"].to_numpy())], rows,
               at["co_funding_gbp"].to_numpy())
    for first, second in scenario.stacks():
        pair = stack_terms(table, scenario.funding[first].scheme, scenario.funding[second].scheme, scenario.rules)
        if pair is None:
            continue
        rows = np.flatnonzero(pair["eligible"].to_numpy())
        at = pair.iloc[rows]
        levels([(first, at["grant_max_1_gbp"].to_numpy(), at["cap_allowance_1_gbp"].to_numpy()),
                (second, at["grant_max_2_gbp"].to_numpy(), at["cap_allowance_2_gbp"].to_numpy())], rows,
               at["co_funding_gbp"].to_numpy())
    return options


def build_model(candidates: pd.DataFrame, scenario: Scenario, check: Callable[[], None] | None = None) -> Model:
    """Arrays and coupling rows for a (validated) candidate table under a scenario.

    ``check`` is called between the steps (at full scale each takes a fraction of a second):
    the solve's hard stop, which raises to stop the build."""
    check = check or (lambda: None)
    keep, removed = eligible_mask(candidates, scenario)
    ids = candidates["home_id"] if keep.all() else candidates["home_id"][keep]
    home_codes_all, uniques = pd.factorize(ids.astype(str), sort=True)
    order = np.argsort(home_codes_all, kind="stable")
    rows = np.flatnonzero(keep)[order]
    home = home_codes_all[order].astype(np.int64)
    n_homes = len(uniques)
    check()
    read = _columns_read(candidates, scenario)
    named = any(funding.scheme.packages for funding in scenario.funding.values())  # a scheme funds packages by name
    duplicate = _duplicate_rows(candidates, rows, home, [c for c in read if named or c != "package_id"])
    if duplicate.any():  # a package identical to another of the same home (same measures apply): keep one
        rows, home = rows[~duplicate], home[~duplicate]
        removed["duplicate packages"] = int(duplicate.sum())
    starts = home_starts(home)
    check()
    # only the columns read, in model order: taking every column of the table costs seconds at full scale
    table = candidates[read].iloc[rows]
    home_of_table = home
    check()

    options = _funding_options(table, scenario)
    at = np.concatenate(options.row)
    order = np.argsort(at, kind="stable")  # each table row's options together: still sorted by home
    at = at[order]
    if not scenario.funding:  # one option per row: the table's own order
        at = order = slice(None)
    else:
        check()
        rows, home = rows[at], home[at]
        starts = home_starts(home)
    city = pd.Categorical(_text(table["city"]), categories=list(CITIES)).codes.astype(np.int8)[at]
    metrics = np.column_stack([table[METRICS[k]].to_numpy(float) for k in OBJECTIVES])[at] if len(table) \
        else np.zeros((0, 3))
    must = np.isin(np.asarray(uniques, dtype=object), list(scenario.rules.must_include)) if scenario.rules.must_include \
        else np.zeros(n_homes, dtype=bool)
    area_column = scenario.rules.mobilisation_area
    area_values = _text(table[area_column]) if area_column in table else np.zeros(len(table), dtype=np.int64)
    area, area_names = pd.factorize(area_values, sort=True)

    trades = {}
    for name, rules in scenario.cities.items():
        if rules.trade_days_per_year is not None:
            for trade in rules.trade_days_per_year.limits():
                column = f"trade_days_{trade}"
                trades[trade] = (table[column].to_numpy(float) if column in table else np.zeros(len(table)))[at]

    uptake = cost_ratio = None
    if scenario.delivery is not None:  # expected outcomes: each row's terms and metrics times its uptake
        uptake = uptake_of(table, scenario.delivery)[at]
        whole_cost = table["cost_gbp"].to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            cost_ratio = np.where(whole_cost > 0, cost_sd_of(table) / whole_cost, 0.0)[at]
        metrics = metrics * uptake[:, None]
        trades = {trade: days * uptake for trade, days in trades.items()}
    spend = table["cost_gbp"].to_numpy(float)[at]
    co_funding = np.concatenate(options.co_funding)[order]
    grants = {i: np.concatenate(parts)[order] for i, parts in options.grants.items()}
    council = np.maximum(spend - co_funding - sum(grants.values(), np.zeros(len(spend))), 0.0)
    model = Model(
        scenario=scenario, rows=rows, home=home, starts=starts, home_ids=np.asarray(uniques, dtype=object),
        city=city, cost=council if uptake is None else council * uptake, metrics=metrics,
        priority=_priority(table, home_of_table, n_homes, scenario)[at], trades=trades, must=must,
        area=area.astype(np.int64)[at], area_names=np.asarray(area_names, dtype=object),
        years=scenario.year_list, constraints=[], equity_basis=scenario.rules.equity_basis,
        equity_share=scenario.rules.equity_min_share, removed=removed, spend=spend, co_funding=co_funding,
        grants=grants, excess={i: np.concatenate(parts)[order] for i, parts in options.excess.items()},
        band_c={i: np.concatenate(parts)[order] for i, parts in options.band_c.items()},
        uptake=uptake, cost_ratio=cost_ratio,
    )
    model.constraints = coupling_rows(scenario)
    return model


def _keys(column: pd.Series, rows: np.ndarray) -> np.ndarray:
    """A column's values at ``rows`` as 64-bit keys: equal keys, equal values."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy()[rows].astype(np.uint64)
    values = column.to_numpy()[rows]
    if values.dtype.kind in "fiub":
        return (values.astype(np.float64) + 0.0).view(np.uint64)  # + 0.0: -0.0 is 0.0
    return pd.factorize(values.astype(str))[0].astype(np.uint64)


def _duplicate_rows(candidates: pd.DataFrame, rows: np.ndarray, home: np.ndarray, columns: list[str]) -> np.ndarray:
    """Of ``rows`` (table positions, grouped by home, with their home codes): those equal to an
    earlier row of the same home in every one of ``columns``, the columns the model reads.

    Each row is hashed, and compared with the 1, 2, ... rows before it (up to the most packages
    a home has: a loop over packages, not homes); where the hashes agree, the values are
    compared exactly, so a collision never drops a row."""
    keys = [_keys(candidates[c], rows) for c in columns]
    digest = home.astype(np.uint64)
    with np.errstate(over="ignore"):
        for key in keys:
            digest = (digest ^ key) * np.uint64(0x9E3779B97F4A7C15)
            digest ^= digest >> np.uint64(31)
    duplicate = np.zeros(len(rows), dtype=bool)
    starts = home_starts(home)
    most = int(np.diff(np.r_[starts, len(home)]).max(initial=1))
    for k in range(1, most):
        later = np.flatnonzero((digest[k:] == digest[:-k]) & (home[k:] == home[:-k])) + k
        for key in keys:
            later = later[key[later] == key[later - k]]
        duplicate[later] = True
    return duplicate


def coupling_rows(scenario: Scenario) -> list[Constraint]:
    """Every coupling row the scenario asks for; a rule not used adds nothing."""
    rows = []
    budget = scenario.budget
    total = budget.total_gbp / COST_UNIT
    rows.append(Constraint("total budget", "budget.total_gbp", "cost", -1, -1, 1.0, total, True))
    if budget.per_year_gbp is not None:
        for t, (year, amount) in enumerate(zip(scenario.year_list, budget.per_year_gbp)):
            rows.append(Constraint(f"budget {year}", f"budget.per_year_gbp[{t}]", "cost", -1, t, 1.0, amount / COST_UNIT, True))
    for name, rules in scenario.cities.items():
        c = CITIES.index(name)
        if rules.min_share:
            rows.append(Constraint(f"{name} min share", f"cities.{name}.min_share", "cost", c, -1, -1.0, rules.min_share * total, True))
        if rules.max_share is not None and rules.max_share < 1:
            rows.append(Constraint(f"{name} max share", f"cities.{name}.max_share", "cost", c, -1, 1.0, rules.max_share * total, True))
        for t, year in enumerate(scenario.year_list):
            if rules.homes_per_year is not None:
                rows.append(Constraint(f"{name} homes {year}", f"cities.{name}.homes_per_year", "homes", c, t, 1.0,
                                       float(rules.homes_per_year)))
            if rules.trade_days_per_year is not None:
                for trade, days in rules.trade_days_per_year.limits().items():
                    rows.append(Constraint(f"{name} {trade} days {year}", f"cities.{name}.trade_days_per_year.{trade}",
                                           f"trade:{trade}", c, t, 1.0, days))
    if scenario.rules.equity_min_share > 0:
        rows.append(Constraint("equity share", "rules.equity_min_share", "equity", -1, -1, -1.0, 0.0,
                               scenario.rules.equity_basis == "spend"))
    return rows + ramp_rows(scenario) + funding_rows(scenario)


def ramp_rows(scenario: Scenario) -> list[Constraint]:
    """[delivery] max_ramp: each city's homes and spend in a year within that share of the year
    before (at most 1 + max_ramp times it; at least 1 - max_ramp times it, when that is above 0),
    and ramp_start: its homes in the programme's first year."""
    delivery = scenario.delivery
    rows: list[Constraint] = []
    if delivery is None:
        return rows
    years = scenario.year_list
    if delivery.max_ramp is not None:
        ramp = delivery.max_ramp
        for c, name in enumerate(CITIES):
            for t in range(1, len(years)):
                for term, what, money in (("homes", "homes", False), ("cost", "spend", True)):
                    rows.append(Constraint(f"{name} ramp up, {what} {years[t]}", "delivery.max_ramp", term, c, t, 1.0,
                                           0.0, money, prior=1 + ramp))
                    if ramp < 1:
                        rows.append(Constraint(f"{name} ramp down, {what} {years[t]}", "delivery.max_ramp", term, c,
                                               t, -1.0, 0.0, money, prior=1 - ramp))
    for c, name in enumerate(CITIES):
        start = delivery.ramp_start_of(name)
        if start is not None:
            rows.append(Constraint(f"{name} first-year homes {years[0]}", "delivery.ramp_start", "homes", c, 0, 1.0,
                                   float(start)))
    return rows


def is_ramp(row: Constraint) -> bool:
    return row.rule.startswith(("delivery.max_ramp", "delivery.ramp_start"))


def funding_rows(scenario: Scenario) -> list[Constraint]:
    """Each award's rows: its total, its years (a year it may not be spent in has limit 0; a
    yearly cap below the total is a limit), its averaged caps and its band C share."""
    rows = []
    for key in sorted(scenario.funding):
        funding = scenario.funding[key]
        scheme, term = funding.scheme, f"grant:{key}"
        rows.append(Constraint(f"{scheme.name} award", f"funding.{key}.total_gbp", term, -1, -1, 1.0,
                               funding.total_gbp / COST_UNIT, True))
        for t, (year, limit) in enumerate(zip(scenario.year_list, funding.year_limits(scenario.year_list))):
            if limit == 0:
                rows.append(Constraint(f"{scheme.name} closed {year}", f"funding.{key}.years", term, -1, t, 1.0, 0.0,
                                       True))
            elif limit < funding.total_gbp:
                rows.append(Constraint(f"{scheme.name} {year}", f"funding.{key}.per_year_gbp[{t}]", term, -1, t, 1.0,
                                       limit / COST_UNIT, True))
        if scheme.cap_basis == "average":
            rows.append(Constraint(f"{scheme.name} average cap", f"funding.{key}.cap_gbp", f"capexcess:{key}", -1, -1,
                                   1.0, 0.0, True))
        if scheme.band_c_heat_pump_share:
            rows.append(Constraint(f"{scheme.name} band C share", f"funding.{key}.band_c_heat_pump_share",
                                   f"bandc:{key}", -1, -1, 1.0, 0.0))
    return rows


def objective_values(model: Model, weights: dict[str, float], normalisers: dict[str, float]) -> np.ndarray:
    """Objective value of each row: sum of weight * metric / normaliser (ideal or 1)."""
    factor = np.array([weights[name] / normalisers[name] if weights.get(name, 0) > 0 and normalisers.get(name, 0) > 0
                       else 0.0 for name in OBJECTIVES])
    used = factor != 0  # an objective left out is never added (not even 0 x its metric)
    return model.metrics @ factor if used.all() else model.metrics[:, used] @ factor[used]


GRANT_PREFERENCE = 1e-6  # value (units ~1 a home) per home wholly paid by others: less than any gap target resolves


def funding_preference(model: Model) -> np.ndarray:
    """Per row: a tiny value for the share of its cost others pay (grants, co-funding), so that of
    plans otherwise equal, the one that keeps the council's money is chosen (a budget with room
    would otherwise leave an award unused for no reason). Only the search sees it; the objective
    and the plan's figures do not."""
    if model.spend is None or not model.scenario.funding:
        return np.zeros(model.n_rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        return GRANT_PREFERENCE * np.where(model.spend > 0, 1.0 - model.cost / model.spend, 0.0)


def penalty_tables(model: Model, lam: np.ndarray) -> dict[str, np.ndarray]:
    """Prices per (city, year) for each term: the cost of using one unit of it there."""
    n_cities, n_years = len(CITIES), model.n_years
    tables: dict[str, np.ndarray] = {}
    for price, row in zip(lam, model.constraints):
        if price == 0:
            continue
        table = tables.setdefault(row.term, np.zeros((n_cities, n_years)))
        cities = slice(None) if row.city < 0 else row.city
        years = slice(None) if row.year < 0 else row.year
        table[cities, years] += row.sign * price
        if row.prior:
            table[cities, row.year - 1] -= row.sign * price * row.prior
    return tables


def cell_sums(model: Model, rows: np.ndarray, years: np.ndarray, terms, weights: np.ndarray | None = None) -> dict:
    """Per term: the sum of its coefficient (times ``weights``) over the given columns, by (city, year)."""
    n_cities, T = len(CITIES), model.n_years
    cells = model.city[rows].astype(np.int64) * T + years
    out = {}
    for term in terms:
        coef = model.term(term, rows)
        if weights is not None:
            coef = coef * weights
        out[term] = np.bincount(cells, weights=coef, minlength=n_cities * T).reshape(n_cities, T)
    return out


def usage_from_cells(model: Model, sums: dict) -> np.ndarray:
    """Each coupling row's left-hand side (in "<=" form, model units) from per-(city, year) term sums."""
    out = np.zeros(len(model.constraints))
    for j, row in enumerate(model.constraints):
        table = sums[row.term]
        cities = slice(None) if row.city < 0 else row.city
        years = slice(None) if row.year < 0 else row.year
        out[j] = row.sign * np.sum(table[cities, years])
        if row.prior:
            out[j] -= row.sign * row.prior * np.sum(table[cities, row.year - 1])
    return out


def usage(model: Model, rows: np.ndarray, years: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """How much of each coupling row (in "<=" form, model units) the given columns use."""
    terms = {row.term for row in model.constraints}
    return usage_from_cells(model, cell_sums(model, rows, years, terms, weights))


BINDING_SHARE = 0.005  # a rule within this share of its limit (of the year's own use, for a ramp) is at its limit


def binding_by_year(model: Model, rows: np.ndarray, years: np.ndarray) -> list[dict]:
    """Per programme year, the per-year rules the plan meets at their limit: what shapes that year
    (its budget, a city's capacity or trade days, a ramp against the year before)."""
    sums = cell_sums(model, rows, years, {row.term for row in model.constraints})
    used = usage_from_cells(model, sums)
    out = []
    for t, year in enumerate(model.years):
        names = []
        for row, use in zip(model.constraints, used):
            if row.year != t:
                continue
            cities = slice(None) if row.city < 0 else row.city
            size = abs(row.limit) if not row.prior else abs(float(np.sum(sums[row.term][cities, t])))
            if size > 0 and row.rhs - use <= BINDING_SHARE * size:
                names.append(row.name)
        out.append({"year": int(year), "rules": names})
    return out


def _span_name(years: list[int]) -> str:
    if len(years) > 1 and years == list(range(years[0], years[-1] + 1)):
        return f"{years[0]}-{years[-1]}"
    return ", ".join(map(str, years))


def windows_of(scenario: Scenario) -> dict[str, list[int]]:
    """The spending years (indices) of each award's window that is not the whole programme, by name."""
    programme = scenario.year_list
    out = {}
    for _, funding in sorted(scenario.funding.items()):
        years = [t for t, limit in enumerate(funding.year_limits(programme)) if limit > 0]
        if len(years) < len(programme):
            out.setdefault(_span_name([programme[t] for t in years]), years)
    return out


def aggregate_years(model: Model, floor_margin: float = 0.0) -> Model:
    """The same homes with every per-year limit summed over the programme: a relaxation.

    Any plan that keeps each year's limit keeps their sum, so a bound on this model bounds the
    phased one. With capacity binding alike in every year, homes are indifferent between years
    and the phased prices cannot tell them apart; summed, each home's choice is clear. Years are
    then assigned to the chosen homes afterwards (`retrofit.optimise.years`).

    An award spent in some years only (`windows_of`) keeps that in the sum: a grant is 0 in all
    (its closed years are left out), and the homes it funds can use at most those years' share
    of every per-year limit ("budget (2026-2027, funded homes)": the council's share of their
    cost within the budgets of 2026 and 2027). A home a window's award funds must be done in it,
    so any phased plan keeps these rows too.

    ``floor_margin`` raises every lower limit (minimum shares, equity) by that share, so a plan
    of the relaxation still meets them after the few homes that find no year are dropped. That
    model is no longer a relaxation: bound with the plain one."""
    scenario = model.scenario
    windows = windows_of(scenario)
    merged: dict[tuple, Constraint] = {}
    for row in model.constraints:
        if is_ramp(row):
            continue  # rules between years: left out (a relaxation); `ramp_total` adds what they imply
        if row.year < 0:
            merged[(row.name,)] = row
            continue
        if row.rule.startswith("funding.") and row.rule.endswith(".years"):
            continue  # a closed year: the window rows below keep the award's homes in its years
        key = (row.rule.split("[")[0], row.term, row.city, row.sign)
        if key in merged:
            merged[key] = replace(merged[key], limit=merged[key].limit + row.limit)
        else:
            merged[key] = replace(row, name=row.name.rsplit(" ", 1)[0] + " (all years)", rule=key[0], year=-1)
    within: dict[tuple, Constraint] = {}
    for name, years in windows.items():
        for row in model.constraints:
            if row.year not in years or row.sign < 0 or row.rule.startswith("funding."):
                continue
            key = (name, row.rule.split("[")[0], row.term, row.city)
            if key in within:
                within[key] = replace(within[key], limit=within[key].limit + row.limit)
            else:
                within[key] = replace(row, name=row.name.rsplit(" ", 1)[0] + f" ({name}, funded homes)", rule=key[1],
                                      term=f"{row.term}@{name}", year=-1)
    rows = list(merged.values()) + list(within.values()) + ramp_total(scenario)
    if floor_margin > 0:
        total = next(row.limit for row in rows if row.rule == "budget.total_gbp")
        rows = [row if row.sign > 0 else
                replace(row, limit=row.limit * (1 + floor_margin) if row.limit > 0 else
                        floor_margin * model.equity_share * (total if row.money else model.n_homes))
                for row in rows]
    funded_within = {name: _funded_within(model, years) for name, years in windows.items()}
    return replace(model, years=[model.years[0]], constraints=rows, windows=funded_within)


def ramp_total(scenario: Scenario) -> list[Constraint]:
    """What a first-year level and a ramp up imply for the programme's sum: a city's homes in all
    at most ramp_start x (1 + (1 + max_ramp) + (1 + max_ramp)^2 + ...), each year's capacity aside.
    Implied by the ramp rules, so the summed model stays a relaxation that knows of them."""
    delivery = scenario.delivery
    if delivery is None or delivery.max_ramp is None:
        return []
    growth = sum((1 + delivery.max_ramp) ** k for k in range(scenario.n_years))
    return [Constraint(f"{name} homes the ramp allows (all years)", "delivery.ramp_start", "homes", c, -1, 1.0,
                       float(delivery.ramp_start_of(name)) * growth)
            for c, name in enumerate(CITIES) if delivery.ramp_start_of(name) is not None]


def _funded_within(model: Model, years: list[int]) -> np.ndarray:
    """Per row: an award whose spending years all lie in ``years`` pays part of it."""
    programme = model.scenario.year_list
    inside = np.zeros(model.n_rows, dtype=bool)
    for key, funding in model.scenario.funding.items():
        open_years = [t for t, limit in enumerate(funding.year_limits(programme)) if limit > 0]
        if set(open_years) <= set(years):
            inside |= model.grants[key] > 0
    return inside
