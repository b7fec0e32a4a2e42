"""The contingency each rule holds back when uptake and costs are random (`[delivery]`).

A model with delivery counts every home at its expectation (`retrofit.optimise.model`). A rule
holds at the scenario's confidence when its expected use plus z x its standard deviation keeps
the limit (`retrofit.delivery`). The deviation depends on the plan, so the solve takes it in
passes: plan in expectation; hold back what that plan's deviation needs (a little more); plan
again within the tightened limits; stop at the first plan whose own need is within what was held
back: it then keeps every rule at its confidence (`check_plan` recomputes that independently).
A plan that needed less than was held back lets the next pass hold back only its need, which
may allow a better plan; the best kept plan is the answer.
The bound of the last pass is proven for its limits (the rule's limit less its contingency); the
first pass's bound, in expectation alone, bounds every plan that keeps the rules at any confidence.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from retrofit.delivery import Levels
from retrofit.optimise.model import Constraint, Model
from retrofit.reference import CITIES

RULES_HELD_BACK = ("budget.", "cities.", "rules.equity")  # budgets, city shares and capacity, equity
MARGIN = 0.02        # held back this share more than the plan's own need: the next plan's need may be a little more
TIGHT = 0.03         # a kept plan that needed this close to what was held back (on some rule) ends the passes
PASSES = 5           # at most this many plans, the first in expectation


def holds_back(constraint: Constraint) -> bool:
    return constraint.rule.startswith(RULES_HELD_BACK)


def needed(model: Model, levels: Levels, rows: np.ndarray, years: np.ndarray) -> np.ndarray:
    """Per coupling row (model units): the contingency the plan (``rows`` in ``years``) needs for
    the row to hold at ``levels``; 0 for rows that hold nothing back and for a model without delivery."""
    out = np.zeros(len(model.constraints))
    if model.uptake is None or (levels.uptake == 0 and levels.cost == 0):
        return out
    p = model.uptake[rows]
    with np.errstate(divide="ignore", invalid="ignore"):
        uptake_factor = np.where(p > 0, (1 - p) / p, 0.0)        # e^2 x this: p (1 - p) a^2, where e = p a
        cost_factor = np.where(p > 0, model.cost_ratio[rows] ** 2 / p, 0.0)  # e^2 x this: p (a s / c)^2
    T = model.n_years
    cells = model.city[rows].astype(np.int64) * T + years
    n_cells = len(CITIES) * T
    variances: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for c in model.constraints:
        if holds_back(c) and c.term not in variances:
            square = model.term(c.term, rows) ** 2
            by_cell = (np.bincount(cells, weights=square * uptake_factor, minlength=n_cells).reshape(len(CITIES), T),
                       np.bincount(cells, weights=square * cost_factor, minlength=n_cells).reshape(len(CITIES), T)
                       if c.money else np.zeros((len(CITIES), T)))
            variances[c.term] = by_cell
    for j, c in enumerate(model.constraints):
        if not holds_back(c):
            continue
        cities = slice(None) if c.city < 0 else c.city
        years_of = slice(None) if c.year < 0 else c.year
        var_uptake, var_cost = (float(v[cities, years_of].sum()) for v in variances[c.term])
        out[j] = levels.contingency(np.sqrt(var_uptake), np.sqrt(var_cost))
    return out


def parts(model: Model, levels: Levels, rows: np.ndarray, years: np.ndarray) -> list[dict]:
    """Each rule's contingency for the plan, in natural units, split into its uptake and cost parts."""
    uptake_only = needed(model, Levels(levels.uptake, 0.0), rows, years)
    both = needed(model, levels, rows, years)
    return [{"rule": c.rule, "name": c.name, "unit": c.unit, "uptake": float(c.natural(u)), "cost": float(c.natural(b - u))}
            for c, u, b in zip(model.constraints, uptake_only, both) if b > 0]


def held_back(model: Model, amounts: np.ndarray) -> Model:
    """``model`` with each rule's limit tightened by its contingency (an upper limit lowered, a
    lower one raised); names unchanged, so the summed model and a re-plan's shift still match them."""
    constraints = [replace(c, limit=c.limit - c.sign * a) if a > 0 else c for c, a in zip(model.constraints, amounts)]
    return replace(model, constraints=constraints)
