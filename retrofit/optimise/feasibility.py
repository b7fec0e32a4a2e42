"""Scenarios that cannot be met, explained in words before solving (cheap arithmetic), and
the LP's verdict (which rows it had to break, by how much) when the arithmetic misses one."""

from __future__ import annotations

import numpy as np

from retrofit.errors import RetrofitError
from retrofit.optimise.model import COST_UNIT, Model
from retrofit.reference import CITIES


class InfeasibleScenario(RetrofitError):
    """The scenario's rules cannot all be met; the message names the rule and the shortfall."""


def _gbp(amount: float) -> str:
    return f"£{amount:,.0f}"


def precheck(model: Model, candidate_home_ids: np.ndarray) -> None:
    """Raise InfeasibleScenario for the failures arithmetic can see."""
    scenario = model.scenario
    budget, rules = scenario.budget, scenario.rules
    total = budget.total_gbp
    problems = []
    shares = sum(r.min_share or 0 for r in scenario.cities.values())
    if shares > 1 + 1e-12:
        problems.append(f"minimum shares (cities.*.min_share) add to {shares:.0%} of the budget: they need "
                        f"{_gbp((shares - 1) * total)} more than the budget (budget.total_gbp {_gbp(total)})")
    # must-include homes: present, eligible, affordable, deliverable
    if rules.must_include:
        known = set(map(str, candidate_home_ids))
        missing = [h for h in rules.must_include if h not in known]
        if missing:
            problems.append(f"rules.must_include: {len(missing)} homes have no candidate row: {missing[:5]}")
        in_model = set(map(str, model.home_ids[model.must]))
        blocked = [h for h in rules.must_include if h in known and h not in in_model]
        if blocked:
            problems.append(f"rules.must_include: {len(blocked)} homes have no package the eligibility rules allow "
                            f"(eligible_tenures, eligible_packages, min_band_after): {blocked[:5]}")
        cheapest = np.minimum.reduceat(model.cost, model.starts)[model.must] if model.n_rows else np.zeros(0)
        usable = min(total, sum(budget.per_year_gbp)) if budget.per_year_gbp is not None else total
        if cheapest.sum() > usable:
            problems.append(f"rules.must_include homes cost at least {_gbp(cheapest.sum())}, "
                            f"{_gbp(cheapest.sum() - usable)} more than the budget ({_gbp(usable)})")
        home_city = model.city[model.starts] if model.n_rows else np.zeros(0, dtype=int)
        for name, city_rules in scenario.cities.items():
            c = CITIES.index(name)
            needed = int((model.must & (home_city == c)).sum())
            if city_rules.homes_per_year is not None and needed > city_rules.homes_per_year * model.n_years:
                problems.append(f"{name} needs {needed:,} homes (rules.must_include) but capacity is "
                                f"{city_rules.homes_per_year:,} a year for {model.n_years} years "
                                f"(cities.{name}.homes_per_year)")
            if city_rules.max_share is not None:
                spend = cheapest[home_city[model.must] == c].sum()
                if spend > city_rules.max_share * total:
                    problems.append(f"{name}'s must-include homes cost at least {_gbp(spend)}, above its maximum "
                                    f"share {_gbp(city_rules.max_share * total)} (cities.{name}.max_share)")
    # minimum shares: can each city absorb its share with its homes and its capacity?
    if model.n_rows:
        home_max = np.maximum.reduceat(model.cost, model.starts)
        home_city = model.city[model.starts]
    for name, city_rules in scenario.cities.items():
        if not city_rules.min_share:
            continue
        c = CITIES.index(name)
        need = city_rules.min_share * total
        costs = np.sort(home_max[home_city == c])[::-1] if model.n_rows else np.zeros(0)
        absorb = np.cumsum(costs)
        if len(costs) == 0 or absorb[-1] < need:
            have = absorb[-1] if len(costs) else 0.0
            problems.append(f"{name} min share needs {_gbp(need)} but its eligible homes can absorb at most "
                            f"{_gbp(have)} ({_gbp(need - have)} short; cities.{name}.min_share)")
            continue
        homes_needed = int(np.searchsorted(absorb, need - 1e-6) + 1)
        per_year = -(-homes_needed // model.n_years)
        if city_rules.homes_per_year is not None and per_year > city_rules.homes_per_year:
            problems.append(f"{name} needs {per_year:,} homes a year to spend its min share {_gbp(need)} but "
                            f"capacity is {city_rules.homes_per_year:,} (cities.{name}.homes_per_year)")
    if rules.equity_min_share > 0 and model.n_rows and not model.priority.any():
        problems.append(f"rules.equity_min_share is {rules.equity_min_share:.0%} but no eligible home is fuel poor "
                        f"or in IMD deciles 1-{rules.priority_imd_deciles}")
    if problems:
        raise InfeasibleScenario("scenario cannot be met: " + "; ".join(problems))


def explain_broken_rows(model: Model, artificial: np.ndarray) -> str:
    """Words for the coupling rows the LP could only meet by breaking them."""
    parts = []
    for amount, row in zip(artificial, model.constraints):
        if amount <= 1e-6:
            continue
        short = row.natural(amount)
        short_text = _gbp(short) if row.money else f"{short:,.1f} {row.unit}"
        limit = row.natural(row.limit)
        limit_text = _gbp(limit) if row.money else f"{limit:,.0f} {row.unit}"
        way = "above its limit" if row.sign > 0 else "short of its minimum"
        parts.append(f"{row.name} ({row.rule}, {limit_text}) would be {short_text} {way}")
    return "scenario cannot be met: " + "; ".join(parts) if parts else ""


def money(amount_model_units: float) -> float:
    return amount_model_units * COST_UNIT
