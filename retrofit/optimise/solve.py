"""`optimise`: greedy seed -> LP by column generation (with a Lagrangian bound) -> CP-SAT core.

Steps, each under the scenario's time limit (and the caller's cancel event):
1. build the model from the tables and check the arithmetic of the rules (feasibility.py);
2. the ideal of each objective alone (for normalise = "ideal"): an LP each, same machinery;
3. a greedy plan (value per £) gives starting columns and prices;
4. column generation solves the LP relaxation to within a fifth of the gap target and proves
   an upper bound (lagrange.py);
5. homes clearly in or out under the LP prices are fixed; CP-SAT decides the core (core.py);
6. the plan is assembled, checked by `check_plan` and explained (prices, marginal values,
   each home's value per £ against its threshold).

Mobilisation (rules.mobilisation_cost_gbp, per area and year with any work) is subtracted
from the objective at the programme's average value of £1: the weighted ideal values over
the total budget. It is decided exactly in CP-SAT when the whole problem fits the core;
at full scale only the core homes weigh it, and the bound ignores it (still valid, weaker).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from retrofit.candidates import REQUIRED
from retrofit.errors import RetrofitError
from retrofit.optimise.core import solve_core
from retrofit.optimise.feasibility import InfeasibleScenario, explain_broken_rows, precheck
from retrofit.optimise.greedy import greedy
from retrofit.optimise.lagrange import LPResult, price, solve_lp
from retrofit.optimise.model import (COST_UNIT, OBJECTIVES, Model, build_model, objective_values,
                                     penalty, penalty_tables)
from retrofit.plan import PlanResult, check_plan, plan_kpis
from retrofit.reference import CITIES
from retrofit.scenario import Scenario, canonical_json

FULL_CORE_COLUMNS = 2_000    # rows x years up to which CP-SAT gets the whole problem (exact)
CORE_HOMES = 400             # homes nearest the LP threshold that CP-SAT decides, besides the fractional ones
CORE_COLUMNS_PER_HOME = 6    # their best (package, year) columns under the LP prices
LP_GAP_SHARE = 0.2           # the LP is solved to this share of the scenario's gap target


@dataclass
class Prepared:
    """What a re-solve after a weight change can reuse: the model, the ideals, the last columns."""

    candidates: pd.DataFrame
    key: str
    model: Model
    ideal: dict = field(default_factory=dict)
    columns: tuple[np.ndarray, np.ndarray] | None = None


def _rules_key(scenario: Scenario) -> str:
    return canonical_json(scenario.model_copy(update={"weights": None, "solver": None}))


def _check_columns(candidates: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED if c not in candidates.columns]
    if missing:
        raise RetrofitError(f"the candidate table lacks required columns {missing} (see retrofit/candidates.py)")


def _scale_of(value: np.ndarray) -> float:
    positive = value[value > 0]
    return float(np.median(positive)) if len(positive) else 1.0


def _lp(model: Model, value_raw: np.ndarray, deadline: float, gap: float, cancel, progress, seed: int,
        start: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[LPResult, float, tuple]:
    """LP relaxation of ``value_raw`` (scaled inside), from a greedy start plus any earlier columns."""
    scale = _scale_of(value_raw)
    value = value_raw / scale
    rows, years, budget_price = greedy(model, value)
    lam0 = np.zeros(len(model.constraints))
    lam0[0] = budget_price
    if start is not None:
        rows, years = np.concatenate([rows, start[0]]), np.concatenate([years, start[1]])
    lp = solve_lp(model, value, rows, years, lam0, deadline, gap, cancel, progress, seed)
    if (lp.artificial > 1e-6).any() and time.perf_counter() < deadline and not (cancel and cancel.is_set()):
        raise InfeasibleScenario(explain_broken_rows(model, lp.artificial))
    return lp, scale, (rows, years)


def prepare(candidates: pd.DataFrame, scenario: Scenario, deadline: float, cancel=None, progress=None) -> Prepared:
    """Build the model, check the rules' arithmetic and compute the ideals."""
    _check_columns(candidates)
    model = build_model(candidates, scenario)
    precheck(model, pd.unique(candidates["home_id"].astype(str)))
    if model.n_rows == 0:
        raise InfeasibleScenario("scenario cannot be met: no candidate row passes the eligibility rules "
                                 f"(rows removed: {model.removed})")
    prepared = Prepared(candidates, _rules_key(scenario), model)
    if scenario.weights.normalise == "ideal" or scenario.rules.mobilisation_cost_gbp > 0:
        now = time.perf_counter()
        for k, name in enumerate(OBJECTIVES):
            if progress:
                progress(0.05 + 0.1 * k, f"best {name} alone")
            stop = now + (deadline - now) * 0.12 * (k + 1)
            metric = model.metrics[:, k]
            if not (metric > 0).any():
                prepared.ideal[name] = 0.0
                continue
            lp, scale, _ = _lp(model, metric, stop, scenario.solver.relative_gap * LP_GAP_SHARE, cancel, None,
                               scenario.solver.seed)
            prepared.ideal[name] = float(max(lp.value, 0) * scale if np.isfinite(lp.value) else lp.bound * scale)
    return prepared


def _usage(model: Model, rows: np.ndarray, years: np.ndarray) -> np.ndarray:
    """How much of each coupling row (in <= form, model units) the given columns use."""
    return np.array([np.sum(c.sign * model.term(c.term, rows[model.applies(c, rows, years)]))
                     for c in model.constraints])


def _core_columns(model: Model, value: np.ndarray, lp: LPResult, core_homes: np.ndarray, per_home: int | None):
    """All (row, year) of the core homes, or their best ``per_home`` under the LP prices."""
    rows_of = np.flatnonzero(core_homes[model.home])
    T = model.n_years
    rows = np.repeat(rows_of, T)
    years = np.tile(np.arange(T), len(rows_of))
    if per_home is None:
        return rows, years
    tables = penalty_tables(model, lp.lam)
    reduced = np.empty(len(rows))
    for t in range(T):
        at = np.flatnonzero(years == t)
        reduced[at] = value[rows[at]] - penalty(model, tables, t, rows[at])
    homes = model.home[rows]
    order = np.lexsort((-reduced, homes))
    homes_sorted = homes[order]
    first = np.r_[0, np.flatnonzero(homes_sorted[1:] != homes_sorted[:-1]) + 1]
    rank = np.arange(len(order)) - np.repeat(first, np.diff(np.r_[first, len(order)]))
    keep = order[rank < per_home]
    # and every column the LP used for these homes, so the LP's rounding is a valid hint
    used = (lp.x > 1e-9) & core_homes[model.home[lp.col_row]]
    extra = lp.col_row[used] * T + lp.col_year[used]
    keys = np.unique(np.concatenate([rows[keep] * T + years[keep], extra]))
    return keys // T, keys % T


def optimise(candidates: pd.DataFrame, scenario: Scenario, progress=None,
             cancel: threading.Event | None = None, warm_start: PlanResult | None = None) -> PlanResult:
    """The best plan for the scenario within its time limit, with a proven upper bound."""
    started = time.perf_counter()
    deadline = started + scenario.solver.time_limit_s
    report = progress or (lambda fraction, message: None)
    report(0.0, "building the model")
    prepared = warm_start.prepared if warm_start is not None else None
    if not (isinstance(prepared, Prepared) and prepared.candidates is candidates
            and prepared.key == _rules_key(scenario)):
        prepared = prepare(candidates, scenario, started + 0.4 * scenario.solver.time_limit_s, cancel, report)
    model = prepared.model
    weights = scenario.weights.model_dump()
    normalisers = prepared.ideal if scenario.weights.normalise == "ideal" else {k: 1.0 for k in OBJECTIVES}
    value_raw = objective_values(model, weights, normalisers)
    gbp_value = 0.0  # objective units per £ (for mobilisation)
    if scenario.rules.mobilisation_cost_gbp > 0:
        gbp_value = sum(weights[k] * prepared.ideal.get(k, 0) / normalisers[k] for k in OBJECTIVES
                        if normalisers.get(k, 0) > 0) / scenario.budget.total_gbp
    mobilisation_raw = scenario.rules.mobilisation_cost_gbp * gbp_value

    report(0.35, "greedy plan and LP relaxation")
    lp_deadline = started + 0.75 * scenario.solver.time_limit_s
    lp, scale, greedy_plan = _lp(model, value_raw, lp_deadline, scenario.solver.relative_gap * LP_GAP_SHARE,
                                 cancel, lambda f, m: report(0.35 + 0.4 * f, m), scenario.solver.seed,
                                 prepared.columns)
    value = value_raw / scale
    used = lp.x > 1e-9
    prepared.columns = (lp.col_row[used], lp.col_year[used])

    # the core: fractional homes and those nearest the threshold; everything else fixed
    T = model.n_years
    whole = model.n_rows * T <= FULL_CORE_COLUMNS
    core_homes = np.ones(model.n_homes, dtype=bool) if whole else np.zeros(model.n_homes, dtype=bool)
    if not whole:
        fractional = (lp.x > 1e-6) & (lp.x < 1 - 1e-6)
        core_homes[model.home[lp.col_row[fractional]]] = True
        nearest = np.argsort(np.abs(lp.pricing.best), kind="stable")[:CORE_HOMES]
        core_homes[nearest] = True
    integral = lp.x >= 1 - 1e-6
    fixed = integral & ~core_homes[model.home[lp.col_row]]
    fixed_rows, fixed_years = lp.col_row[fixed], lp.col_year[fixed]
    rows, years = _core_columns(model, value, lp, core_homes, None if whole else CORE_COLUMNS_PER_HOME)
    hint_keys = lp.col_row[integral] * T + lp.col_year[integral]
    hint = np.isin(rows * T + years, hint_keys)
    residual = np.array([c.rhs for c in model.constraints]) - _usage(model, fixed_rows, fixed_years)
    open_keys = np.unique(model.area[fixed_rows] * T + fixed_years)
    report(0.8, f"CP-SAT on {int(core_homes.sum()):,} homes, {len(rows):,} columns")
    core = solve_core(model, value, rows, years, hint, residual, deadline - min(1.0, 0.05 * scenario.solver.time_limit_s), scenario.solver.seed,
                      scenario.solver.relative_gap, 0.5 * scenario.solver.relative_gap * abs(lp.bound),
                      mobilisation_raw / scale, open_keys, cancel)
    plan_rows = np.concatenate([fixed_rows, rows[core.chosen]])
    plan_years = np.concatenate([fixed_years, years[core.chosen]])

    report(0.95, "checking the plan")
    areas_opened = len(np.unique(model.area[plan_rows] * T + plan_years))
    objective = float(value_raw[plan_rows].sum() - mobilisation_raw * areas_opened)
    bound = lp.bound * scale
    if whole and np.isfinite(core.bound):
        bound = min(bound, core.bound * scale)
    if whole and core.status == "OPTIMAL":
        bound = objective
    bound = max(bound, objective)
    gap = (bound - objective) / abs(bound) if abs(bound) > 1e-12 else 0.0
    status = "OPTIMAL" if gap <= scenario.solver.relative_gap + 1e-12 else "FEASIBLE"

    plan = _plan_table(candidates, model, plan_rows, plan_years)
    details = {
        "problems": check_plan(plan, candidates, scenario),
        "prices": _prices(model, lp.lam, scale),
        "marginal": _marginal(model, lp.lam, scale),
        "homes": _home_explanations(candidates, model, value_raw, lp, scale, plan_rows),
        "solver": {
            "greedy_objective": float(value_raw[greedy_plan[0]].sum()), "lp_value": lp.value * scale,
            "lp_iterations": lp.iterations, "lp_columns": lp.columns, "core_homes": int(core_homes.sum()),
            "core_columns": int(len(rows)), "core_status": core.status, "core_seconds": core.seconds,
            "whole_problem_in_core": bool(whole), "rows_removed_by_rules": model.removed,
            "areas_opened": areas_opened, "mobilisation_objective_per_area_year": mobilisation_raw,
        },
    }
    report(1.0, f"{status}: gap {gap:.4%}")
    return PlanResult(plan=plan, status=status, objective=objective, bound=float(bound), gap=float(gap),
                      solve_seconds=time.perf_counter() - started, ideal=dict(prepared.ideal),
                      kpis=plan_kpis(plan), details=details, prepared=prepared)


def _plan_table(candidates: pd.DataFrame, model: Model, rows: np.ndarray, years: np.ndarray) -> pd.DataFrame:
    order = np.argsort(model.home[rows], kind="stable")
    plan = candidates.iloc[model.rows[rows[order]]].reset_index(drop=True)
    plan.insert(2, "year", np.asarray(model.years)[years[order]])
    first = ["home_id", "package_id", "year", "cost_gbp"]
    return plan[first + [c for c in plan.columns if c not in first]]


def _prices(model: Model, lam: np.ndarray, scale: float) -> list[dict]:
    """Each binding rule's price: objective gained per unit more of its limit."""
    out = []
    for price_, row in zip(lam, model.constraints):
        if price_ > 0:
            per = scale * price_ / (COST_UNIT if row.money else 1.0)
            out.append({"rule": row.rule, "name": row.name, "objective_per_unit": per,
                        "unit": row.unit})
    return out


def _marginal(model: Model, lam: np.ndarray, scale: float) -> pd.DataFrame:
    """Per city and year: objective gained by £1m more budget there, and by 100 more homes of capacity."""
    records = []
    for c, name in enumerate(CITIES):
        for t, year in enumerate(model.years):
            money = homes = 0.0
            for price_, row in zip(lam, model.constraints):
                if price_ <= 0 or row.city not in (-1, c) or row.year not in (-1, t):
                    continue
                if row.term == "cost" and row.sign > 0:
                    money += price_
                elif row.term == "homes":
                    homes += price_
            records.append({"city": name, "year": year, "value_of_1m_gbp": money * scale * 1e6 / COST_UNIT,
                            "value_of_100_homes": homes * scale * 100})
    return pd.DataFrame(records)


def _home_explanations(candidates: pd.DataFrame, model: Model, value_raw: np.ndarray, lp: LPResult, scale: float,
                       plan_rows: np.ndarray) -> pd.DataFrame:
    """Per home: its best column's value per £ against the threshold the LP prices set."""
    pricing = lp.pricing
    rows = pricing.row
    cost = model.cost[rows]
    value = value_raw[rows]
    threshold = (value / scale - pricing.best) * scale  # what the column's use of the limits is worth
    in_plan = np.zeros(model.n_homes, dtype=bool)
    in_plan[model.home[plan_rows]] = True
    with np.errstate(divide="ignore", invalid="ignore"):
        return pd.DataFrame({
            "home_id": model.home_ids, "in_plan": in_plan,
            "best_package_id": candidates["package_id"].to_numpy()[model.rows[rows]],
            "value": value, "cost_gbp": cost,
            "value_per_gbp": np.where(cost > 0, value / cost, np.inf),
            "threshold_per_gbp": np.where(cost > 0, threshold / cost, np.inf),
            "margin": pricing.best * scale,
        })
