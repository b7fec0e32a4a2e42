"""The greedy plan: value per pound ranking, then years filled in ranking order.

Each home takes the package with the best value net of a price per £ (the price found by
bisection so the chosen packages just fit the budget: the classic value-per-pound rule for
choosing one of several options per item). Homes are then scheduled year by year in order
of value per £ under each year's budget and each city's capacity. Fast and near-optimal
for one year; it ignores minimum shares and the equity rule (the LP and CP-SAT handle
those). It is the benchmark's baseline and is reported in details["solver"]["greedy_objective"].
"""

from __future__ import annotations

import numpy as np

from retrofit.optimise.model import COST_UNIT, Model
from retrofit.reference import CITIES


def choose_packages(model: Model, value: np.ndarray, price: float) -> tuple[np.ndarray, np.ndarray]:
    """Per home, the row maximising value - price * cost (model units); homes with nothing positive are left out."""
    net = value - price * model.cost / COST_UNIT
    best = np.maximum.reduceat(net, model.starts)
    at_best = np.flatnonzero(net >= best[model.home])
    first = at_best[np.r_[True, model.home[at_best][1:] != model.home[at_best][:-1]]]
    keep = (best > 0) | model.must
    return first[keep], best[keep]


def budget_price(model: Model, value: np.ndarray, budget_gbp: float, iterations: int = 30) -> float:
    """The price per £1,000 at which each home's best package just fits the budget (bisection)."""
    def spend(price: float) -> float:
        rows, _ = choose_packages(model, value, price)
        return model.cost[rows].sum()

    low, high = 0.0, 1.0
    if spend(low) <= budget_gbp:
        return 0.0
    while spend(high) > budget_gbp and high < 1e12:
        high *= 4
    for _ in range(iterations):
        middle = 0.5 * (low + high)
        low, high = (low, middle) if spend(middle) <= budget_gbp else (middle, high)
    return high


def _prefix_within(limit: float, amounts: np.ndarray) -> np.ndarray:
    return np.cumsum(amounts) <= limit + 1e-9


def fill_grants(model: Model, value: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The greedy plan with funding, as a funding officer would draw it up by hand: each award in
    turn (by id) filled with the eligible homes of the best value per £ of its grant (each on that
    scheme alone, at its most), as far as the award may be spent; then the council's money for the
    other homes by value per £ (`greedy`'s rule); then years under every yearly rule (a home an
    award pays for within its years), homes that find none left out."""
    from retrofit.optimise.years import assign_years

    scenario = model.scenario
    taken = np.zeros(model.n_homes, dtype=bool)
    chosen = []
    granted = sum(model.grants.values(), np.zeros(model.n_rows))
    for key in sorted(model.grants):
        grant = model.grants[key]
        rows = np.flatnonzero((grant > 0) & (granted == grant) & (value > 0) & ~taken[model.home])
        ratio = value[rows] / grant[rows]
        order = np.lexsort((-ratio, model.home[rows]))  # each home's best row first
        best = order[np.r_[True, model.home[rows[order]][1:] != model.home[rows[order]][:-1]]] if len(order) else order
        rows = rows[best][np.argsort(-ratio[best], kind="stable")]
        funding = scenario.funding[key]
        spendable = min(funding.total_gbp, sum(funding.year_limits(scenario.year_list)))
        rows = rows[_prefix_within(spendable, grant[rows])]
        chosen.append(rows)
        taken[model.home[rows]] = True
    funded = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
    budget = scenario.budget
    usable = min(budget.total_gbp, sum(budget.per_year_gbp or [budget.total_gbp]))
    left = usable - model.cost[funded].sum()
    council_only = np.where((granted == 0) & ~taken[model.home], value, -np.inf)
    price = budget_price(model, council_only, max(left, 0.0))
    rows, _ = choose_packages(model, council_only, price)
    rows = rows[np.isfinite(council_only[rows])]
    ratio = value[rows] / np.maximum(model.cost[rows], 1e-9)
    rows = rows[np.argsort(-ratio, kind="stable")]
    rows = np.r_[funded, rows[_prefix_within(max(left, 0.0), model.cost[rows])]]
    years = assign_years(model, rows, value)
    placed = years < model.n_years
    return rows[placed], years[placed], price


def greedy(model: Model, value: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(rows, year indices, price per £1,000) of the greedy plan (with funding: `fill_grants`)."""
    if model.grants:
        return fill_grants(model, value)
    scenario = model.scenario
    budget = scenario.budget
    per_year = np.array(budget.per_year_gbp if budget.per_year_gbp is not None else [budget.total_gbp] * model.n_years)
    usable = min(budget.total_gbp, per_year.sum())
    price = budget_price(model, value, usable)
    rows, _ = choose_packages(model, value, price)
    ratio = value[rows] / np.maximum(model.cost[rows], 1e-9)
    ratio[model.must[model.home[rows]]] = np.inf
    rows = rows[np.argsort(-ratio, kind="stable")]
    # city maximum shares: the best-ranked homes of each city up to its cap
    keep = np.ones(len(rows), dtype=bool)
    for name, rules in scenario.cities.items():
        if rules.max_share is not None:
            mine = np.flatnonzero(model.city[rows] == CITIES.index(name))
            keep[mine[~_prefix_within(rules.max_share * budget.total_gbp, model.cost[rows[mine]])]] = False
    rows = rows[keep]
    year = np.full(len(rows), -1)
    spent = 0.0
    for t in range(model.n_years):
        open_ = np.flatnonzero(year < 0)
        fits = np.ones(len(open_), dtype=bool)
        for name, rules in scenario.cities.items():
            mine = np.flatnonzero(model.city[rows[open_]] == CITIES.index(name))
            ok = np.ones(len(mine), dtype=bool)
            if rules.homes_per_year is not None:
                ok &= np.arange(1, len(mine) + 1) <= rules.homes_per_year
            if rules.trade_days_per_year is not None:
                for trade, days in rules.trade_days_per_year.limits().items():
                    ok &= _prefix_within(days, model.trades[trade][rows[open_[mine]]])
            fits[mine[~ok]] = False
        candidates = open_[fits]
        money = min(per_year[t], budget.total_gbp - spent)
        chosen = candidates[_prefix_within(money, model.cost[rows[candidates]])]
        year[chosen] = t
        spent += model.cost[rows[chosen]].sum()
    done = year >= 0
    return rows[done], year[done], price
