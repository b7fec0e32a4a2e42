"""`optimise`: the steps from a candidate table and a scenario to a checked plan with a proven gap.

Steps, each under the scenario's time limit (and the caller's cancel event):
1. build the model from the tables and check the arithmetic of the rules (feasibility.py);
   the same model with every per-year limit summed over the programme (`aggregate_years`)
   is a relaxation whose prices tell every home's choice apart;
2. the ideal of each objective alone (for normalise = "ideal");
3. prices for the coupling rows and the LP relaxation. At full scale (more homes than the
   first core LP holds): a sample's prices, refined to the LP's own by `refine_prices` (the
   smoothed dual of the homes near the threshold, every other home fixed at its clear
   choice), then a core LP over the homes nearest the threshold (`_refined_lp`). Smaller
   problems: the LP by the core method from the start (lagrange.py). Either way the
   Lagrangian bound at the prices bounds the phased problem too;
4. CP-SAT rounds the LP: the fractional homes and those nearest the threshold, everything
   else fixed, stopping once the whole plan is within the gap target (core.py). Small
   problems go to CP-SAT whole, years included (exact). When the refined route finds no plan
   that keeps every rule, the core LP with its wide first core is solved and rounded instead;
5. years: each year's limits kept, work as early as they allow (years.py); homes that find no
   year, and those nearest the threshold, are decided again on the phased model (`_polish`);
6. the plan is checked (every rule, from the model and then independently by `check_plan`);
   a plan that breaks a rule is never returned: the next candidate plan is tried, else a
   RetrofitError says no plan was found in time.

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
from threadpoolctl import threadpool_limits

from retrofit.candidates import REQUIRED
from retrofit.errors import RetrofitError
from retrofit.optimise.core import solve_core
from retrofit.optimise.feasibility import InfeasibleScenario, explain_broken_rows, precheck
from retrofit.optimise.greedy import greedy
from retrofit.optimise.lagrange import CORE_HOMES as CORE_HOMES_LP
from retrofit.optimise.lagrange import (LPResult, Pricing, price, refine_prices, sample_prices, solve_core_lp,
                                       solve_lp)
from retrofit.optimise.model import (COST_UNIT, OBJECTIVES, Model, aggregate_years, build_model, objective_values,
                                     usage)
from retrofit.optimise.years import assign_years, front_load
from retrofit.plan import PlanResult, check_plan, plan_kpis
from retrofit.reference import CITIES
from retrofit.scenario import Scenario, canonical_json

FULL_CORE_COLUMNS = 2_000    # rows x years up to which CP-SAT gets the whole problem (exact)
CORE_HOMES = 400             # homes nearest the LP threshold that CP-SAT decides, besides the fractional ones
LP_GAP_SHARE = 0.2           # the LP is solved to this share of the scenario's gap target
POLISH_SHARE = 0.25          # at most this share of the time limit for each CP-SAT (rounding; years of the core homes)
POLISH_GAP_SHARE = 0.1    # the polish MIP stops within this share of the gap target (of the whole plan, fixed homes included)
FLOOR_MARGIN = 0.003         # lower limits (shares, equity) planned this much above need: homes without a year may drop
IDEAL_GAP = 1e-3             # the ideal values (normalisers) are LP values to within this
SAMPLE_ONLY_HOMES = 50_000   # above this many homes, an ideal is the bound at a sample's prices (about 0.1% high)
IDEAL_SAMPLE_HOMES = 5_000
REFINE_SAMPLE_HOMES = 5_000  # the sample whose prices `refine_prices` starts from
REFINED_CORE_HOMES = 3_000   # the first core LP's homes after `refine_prices`


@dataclass
class Prepared:
    """What a re-solve after a weight change can reuse: the models and the ideals."""

    candidates: pd.DataFrame
    key: str
    model: Model
    relaxed: Model                      # every per-year limit summed over the programme: bounds
    planned: Model                      # the same with lower limits raised by FLOOR_MARGIN: plans
    ideal: dict = field(default_factory=dict)


def _rules_key(scenario: Scenario) -> str:
    return canonical_json(scenario.model_copy(update={"weights": None, "solver": None}))


def _check_columns(candidates: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED if c not in candidates.columns]
    if missing:
        raise RetrofitError(f"the candidate table lacks required columns {missing} (see retrofit/candidates.py)")


def _scale_of(value: np.ndarray) -> float:
    """A typical positive value (the median; of every 8th row at scale, close enough): the unit of the margins."""
    if len(value) > 400_000:
        value = value[::8]
    positive = value[value > 0]
    return float(np.median(positive)) if len(positive) else 1.0


def _lp(prepared: Prepared, value: np.ndarray, deadline: float, gap: float, cancel, progress, seed: int,
        lam0: np.ndarray | None = None, core_homes: int = CORE_HOMES_LP, start: Pricing | None = None
        ) -> tuple[LPResult, Model]:
    """LP relaxation (summed years) of ``value`` (already scaled), from prices ``lam0`` (else a
    sample's), and the model it was solved on (lower limits raised, unless that cannot be met)."""
    relaxed, planned = prepared.relaxed, prepared.planned
    if relaxed.n_homes <= core_homes:  # the first core LP holds every home: it is the whole LP
        lam0, start = np.zeros(len(relaxed.constraints)), None
    elif lam0 is None:
        lam0 = sample_prices(planned, value, seed)
    lp = solve_lp(planned, value, lam0, deadline, gap, cancel, progress, seed, core_homes=core_homes, start=start)
    if (lp.artificial > 1e-6).any() and time.perf_counter() < deadline and not (cancel and cancel.is_set()):
        planned = relaxed  # the margin may be more than the homes can give
        lp = solve_lp(relaxed, value, lam0, deadline, gap, cancel, progress, seed, core_homes=core_homes)
        if (lp.artificial > 1e-6).any() and time.perf_counter() < deadline and not (cancel and cancel.is_set()):
            raise InfeasibleScenario(explain_broken_rows(relaxed, lp.artificial))
    # the bound is the plain relaxation's (valid at any prices): the same homes and terms with lower
    # limits not raised, so only lam @ rhs differs
    lp.bound += float(lp.lam @ (relaxed.rhs - planned.rhs))
    return lp, planned


def _refined_lp(prepared: Prepared, value: np.ndarray, deadline: float, gap: float, cancel,
                seed: int) -> tuple[LPResult, Model]:
    """The LP at full scale in seconds: a sample's prices made nearly exact by `refine_prices`,
    so that a small first core (the homes nearest the threshold) holds every home whose choice
    is in doubt; the core LP then settles ties and the few fractional homes exactly."""
    lam0 = sample_prices(prepared.planned, value, seed, REFINE_SAMPLE_HOMES)
    lam, pricing = refine_prices(prepared.planned, value, lam0)
    return _lp(prepared, value, deadline, gap, cancel, None, seed, lam, REFINED_CORE_HOMES, pricing)


def prepare(candidates: pd.DataFrame, scenario: Scenario, deadline: float, cancel=None, progress=None) -> Prepared:
    """Build the model, check the rules' arithmetic and compute the ideals."""
    _check_columns(candidates)
    model = build_model(candidates, scenario)
    precheck(model, pd.unique(candidates["home_id"].astype(str)))
    if model.n_rows == 0:
        raise InfeasibleScenario("scenario cannot be met: no candidate row passes the eligibility rules "
                                 f"(rows removed: {model.removed})")
    prepared = Prepared(candidates, _rules_key(scenario), model, aggregate_years(model),
                        aggregate_years(model, FLOOR_MARGIN))
    if scenario.weights.normalise == "ideal" or scenario.rules.mobilisation_cost_gbp > 0:
        now = time.perf_counter()
        for k, name in enumerate(OBJECTIVES):
            if progress:
                progress(0.05 + 0.1 * k, f"best {name} alone")
            metric = model.metrics[:, k]
            if not (metric > 0).any():
                prepared.ideal[name] = 0.0
                continue
            scale = _scale_of(metric)
            if model.n_homes > SAMPLE_ONLY_HOMES:  # the bound at the sample's prices: an upper bound, close
                lam = sample_prices(prepared.relaxed, metric / scale, scenario.solver.seed, IDEAL_SAMPLE_HOMES)
                prepared.ideal[name] = price(prepared.relaxed, metric / scale, lam).bound * scale
                continue
            stop = now + (deadline - now) * (k + 1) / 3
            lp, _ = _lp(prepared, metric / scale, stop, IDEAL_GAP, cancel, None, scenario.solver.seed)
            prepared.ideal[name] = float((lp.value if np.isfinite(lp.value) else lp.bound) * scale)
    return prepared


def broken_rules(model: Model, rows: np.ndarray, years: np.ndarray) -> list[str]:
    """The coupling rows a plan breaks (model arithmetic, with the same tolerance as `check_plan`)."""
    used = usage(model, rows, years)
    broken = [c.name for c, u in zip(model.constraints, used)
              if u > c.rhs + (1e-5 if c.money else 1e-6) + 1e-9 * abs(c.rhs)]
    if model.must.any() and not np.isin(np.flatnonzero(model.must), model.home[rows]).all():
        broken.append("rules.must_include")
    if (years >= model.n_years).any() or np.bincount(model.home[rows], minlength=1).max(initial=0) > 1:
        broken.append("one package and year per home")
    return broken


def optimise(candidates: pd.DataFrame, scenario: Scenario, progress=None,
             cancel: threading.Event | None = None, warm_start: PlanResult | None = None) -> PlanResult:
    """The best plan for the scenario within its time limit, with a proven upper bound.

    The plan returned always keeps every rule (checked); when no such plan is found within the
    time limit a RetrofitError says so. ``warm_start``: an earlier result on the same candidate
    table and rules (weights and solver settings may differ): its model and ideals are reused.
    BLAS runs on one thread meanwhile: the products here are narrow (a column per coupling row),
    and on shared cores threads waiting for each other made them several times slower."""
    with threadpool_limits(limits=1, user_api="blas"):
        return _optimise(candidates, scenario, progress, cancel, warm_start)


def _optimise(candidates: pd.DataFrame, scenario: Scenario, progress, cancel: threading.Event | None,
              warm_start: PlanResult | None) -> PlanResult:
    started = time.perf_counter()
    limit = scenario.solver.time_limit_s
    deadline = started + limit
    report = progress or (lambda fraction, message: None)
    report(0.0, "building the model")
    prepared = warm_start.prepared if warm_start is not None else None
    warm = isinstance(prepared, Prepared) and prepared.candidates is candidates and prepared.key == _rules_key(scenario)
    if not warm:
        prepared = prepare(candidates, scenario, started + 0.4 * limit, cancel, report)
    model, relaxed = prepared.model, prepared.relaxed
    weights = scenario.weights.model_dump()
    normalisers = prepared.ideal if scenario.weights.normalise == "ideal" else {k: 1.0 for k in OBJECTIVES}
    value_raw = objective_values(model, weights, normalisers)
    gbp_value = 0.0  # objective units per £ (for mobilisation)
    if scenario.rules.mobilisation_cost_gbp > 0:
        gbp_value = sum(weights[k] * prepared.ideal.get(k, 0) / normalisers[k] for k in OBJECTIVES
                        if normalisers.get(k, 0) > 0) / scenario.budget.total_gbp
    mobilisation_raw = scenario.rules.mobilisation_cost_gbp * gbp_value
    scale = _scale_of(value_raw)
    value = value_raw / scale
    gap_target = scenario.solver.relative_gap

    T = model.n_years
    whole = model.n_rows * T <= FULL_CORE_COLUMNS
    refined = not whole and relaxed.n_homes > CORE_HOMES_LP  # full scale: refined prices, a small core LP
    report(0.35, "prices and LP relaxation")
    lp_deadline = started + 0.75 * limit
    if refined:
        lp, planned = _refined_lp(prepared, value, lp_deadline, gap_target * LP_GAP_SHARE, cancel, scenario.solver.seed)
    else:
        lp, planned = _lp(prepared, value, lp_deadline, gap_target * LP_GAP_SHARE, cancel,
                          lambda f, m: report(0.35 + 0.4 * f, m), scenario.solver.seed)
    bound = lp.bound * scale

    cp_deadline = deadline - min(1.0, 0.05 * limit)
    attempts: list[tuple[str, np.ndarray, np.ndarray]] = []  # candidate plans, best first
    core_stats: dict = {}
    if whole:  # CP-SAT on everything, years included: exact
        rows = np.repeat(np.arange(model.n_rows), T)
        years = np.tile(np.arange(T), model.n_rows)
        used = lp.x > 1e-9
        hint = np.isin(rows * T + years, lp.col_row[used & (lp.x > 0.5)] * T)
        core = solve_core(model, value, rows, years, hint, model.rhs,
                          cp_deadline, scenario.solver.seed, gap_target, mobilisation=mobilisation_raw / scale,
                          cancel=cancel)
        if core.chosen is not None:
            attempts.append(("CP-SAT", rows[core.chosen], years[core.chosen]))
        elif core.status == "INFEASIBLE":
            raise InfeasibleScenario("scenario cannot be met: the programme totals can be met but not year by year; "
                                     "check budget.per_year_gbp and cities.*.homes_per_year / trade_days_per_year "
                                     "against the minimum shares, the equity rule and must-include homes")
        if core.status == "OPTIMAL":
            bound = None  # set from the objective below
        elif np.isfinite(core.bound):
            bound = min(bound, core.bound * scale)
        core_stats = {"core_homes": model.n_homes, "core_columns": len(rows), "core_status": core.status,
                      "core_seconds": core.seconds}
    else:
        def plans(lp: LPResult, planned: Model, bound: float):
            return _summed_plans(model, planned, value, value_raw, lp, scale, bound, gap_target, mobilisation_raw,
                                 cp_deadline, deadline, limit, scenario.solver.seed, cancel, report)

        attempts, core_stats = plans(lp, planned, bound)
        if refined and not any(not broken_rules(model, rows, years) for _, rows, years in attempts):
            report(0.5, "LP relaxation on a wider core (no plan from the first)")
            lp, planned = _lp(prepared, value, lp_deadline, gap_target * LP_GAP_SHARE, cancel,
                              lambda f, m: report(0.5 + 0.3 * f, m), scenario.solver.seed, lp.lam)
            bound = min(bound, lp.bound * scale)
            again, core_stats = plans(lp, planned, bound)
            attempts = again + attempts
            refined = False
        core_stats["lp_route"] = "refined prices, small core" if refined else "core LP"

    report(0.95, "checking the plan")
    chosen = None
    for name, rows, years in attempts:
        if mobilisation_raw == 0 and (whole or "polished" in name):  # `assign_years` front-loads its own
            years = front_load(model, rows, years, value)
        if not broken_rules(model, rows, years):
            chosen = (name, rows, years)
            break
    if chosen is None:
        raise RetrofitError(f"no plan that keeps every rule was found within the time limit "
                            f"(solver.time_limit_s = {limit:g} s); raise solver.time_limit_s and run again")
    source, plan_rows, plan_years = chosen
    areas_opened = int(np.count_nonzero(np.bincount(model.area[plan_rows] * T + plan_years, minlength=1)))
    objective = float(value_raw[plan_rows].sum() - mobilisation_raw * areas_opened)
    if bound is None:
        bound = objective
    bound = max(bound, objective)
    gap = (bound - objective) / abs(bound) if abs(bound) > 1e-12 else 0.0
    status = "OPTIMAL" if gap <= gap_target + 1e-12 else "FEASIBLE"

    plan, positions = plan_table(candidates, model, plan_rows, plan_years)
    greedy_rows = greedy(model, value)[0] if whole or model.n_homes <= SAMPLE_ONLY_HOMES else np.zeros(0, dtype=int)
    details = {
        "problems": check_plan(plan, candidates, scenario, positions),
        "prices": _prices(relaxed, lp.lam, scale),
        "marginal": _marginal(relaxed, lp.lam, scale),
        "ideal": dict(prepared.ideal),
        "lagrange": {"prices": [float(p) for p in lp.lam], "rules": [c.name for c in relaxed.constraints],
                     "value_scale": scale, "normalisers": dict(normalisers)},
        "solver": {
            "plan_from": source, "greedy_objective": float(value_raw[greedy_rows].sum()),
            "lp_value": lp.value * scale if np.isfinite(lp.value) else None, "lp_iterations": lp.iterations,
            "lp_core_homes": int(lp.core_homes.sum()),
            "lp_columns": lp.columns, **core_stats, "whole_problem_in_core": bool(whole),
            "rows_removed_by_rules": model.removed, "areas_opened": areas_opened,
            "mobilisation_objective_per_area_year": mobilisation_raw,
        },
    }
    report(1.0, f"{status}: gap {gap:.4%}")
    return PlanResult(plan=plan, status=status, objective=objective, bound=float(bound), gap=float(gap),
                      solve_seconds=time.perf_counter() - started, ideal=dict(prepared.ideal),
                      kpis=plan_kpis(plan), details=details, prepared=prepared)


def _summed_plans(model: Model, planned: Model, value: np.ndarray, value_raw: np.ndarray, lp: LPResult, scale: float,
                  bound: float, gap_target: float, mobilisation_raw: float, cp_deadline: float, deadline: float,
                  limit: float, seed: int, cancel, report) -> tuple[list, dict]:
    """Candidate plans (best first) from a point of the summed-years LP: rounded by CP-SAT (else
    rounded down), years assigned, and polished when homes found no year or value was lost."""
    plan_rows, core_stats = _round_lp(planned, value, lp, scale, bound, gap_target, mobilisation_raw,
                                      min(cp_deadline, time.perf_counter() + POLISH_SHARE * limit), seed, cancel, report)
    integral = lp.col_row[lp.x >= 1 - 1e-6]
    attempts = []
    T = model.n_years
    for name, rows in (("CP-SAT", plan_rows), ("LP rounded down", integral)):
        if rows is None:
            continue
        report(0.9, f"years for {len(rows):,} homes")
        years = assign_years(model, rows, value, seed, max(0.5, deadline - time.perf_counter()))
        placed = years < T
        unplaced = rows[~placed]
        rows, years = rows[placed], years[placed]
        ok = not broken_rules(model, rows, years)
        if not ok or value_raw[rows].sum() < (1 - gap_target) * bound:
            report(0.92, "packages and years of the homes nearest the threshold, again")
            polished = _polish(model, value, rows, years, unplaced, lp.pricing.margin, scale, bound, gap_target,
                               mobilisation_raw, min(cp_deadline, time.perf_counter() + POLISH_SHARE * limit),
                               seed, cancel)
            if polished is not None and not broken_rules(model, *polished) \
                    and (not ok or value[polished[0]].sum() >= value[rows].sum()):
                attempts.append((name + ", years polished", *polished))
                break
        attempts.append((name, rows, years))
        if ok:
            break
    return attempts, core_stats


def _nearest(margin: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` homes nearest the threshold (smallest margin), in no particular order."""
    if count >= len(margin):
        return np.arange(len(margin))
    return np.argpartition(margin, count)[:count]


def _round_lp(relaxed: Model, value: np.ndarray, lp: LPResult, scale: float, bound: float, gap_target: float,
              mobilisation_raw: float, deadline: float, seed: int, cancel, report):
    """Rows of an integer plan (summed years) from the LP: CP-SAT decides the fractional homes and
    those nearest the threshold under what every other home's LP choice leaves of each limit."""
    core_homes = np.zeros(relaxed.n_homes, dtype=bool)
    fractional = (lp.x > 1e-6) & (lp.x < 1 - 1e-6)
    core_homes[relaxed.home[lp.col_row[fractional]]] = True
    core_homes[_nearest(lp.pricing.margin, CORE_HOMES)] = True
    integral = lp.x >= 1 - 1e-6
    fixed = integral & ~core_homes[relaxed.home[lp.col_row]]
    fixed_rows = lp.col_row[fixed]
    rows = np.flatnonzero(core_homes[relaxed.home])
    years = np.zeros(len(rows), dtype=np.int64)
    in_lp = np.zeros(relaxed.n_rows, dtype=bool)
    in_lp[lp.col_row[integral]] = True
    hint = in_lp[rows]
    no_year = np.zeros(len(fixed_rows), dtype=np.int64)
    residual = relaxed.rhs - usage(relaxed, fixed_rows, no_year)
    fixed_value = float(value[fixed_rows].sum())
    # the whole plan within half the gap target of what it can reach: the LP of the planned model
    # (lower limits raised) where known, else the bound
    reach = min(bound / scale, lp.value) if np.isfinite(lp.value) else bound / scale
    target = (1 - 0.5 * gap_target) * reach - fixed_value
    report(0.8, f"CP-SAT on {int(core_homes.sum()):,} homes, {len(rows):,} options")
    core = solve_core(relaxed, value, rows, years, hint, residual, deadline, seed, gap_target, target,
                      mobilisation_raw / scale, np.unique(relaxed.area[fixed_rows]) if mobilisation_raw else None, cancel)
    stats = {"core_homes": int(core_homes.sum()), "core_columns": int(len(rows)), "core_status": core.status,
             "core_seconds": core.seconds}
    if core.chosen is None:
        return None, stats
    return np.r_[fixed_rows, rows[core.chosen]], stats


def _polish(model: Model, value: np.ndarray, rows: np.ndarray, years: np.ndarray, unplaced: np.ndarray,
            margin: np.ndarray, scale: float, bound: float, gap_target: float, mobilisation_raw: float,
            deadline: float, seed: int, cancel):
    """The phased model for the homes left without a year and those nearest the threshold,
    every package and year, under what the other placed homes leave of each year's limits: a
    home without a year can take the place of marginal ones (and the minimum shares and equity
    are met again). The LP picks the few columns worth having; HiGHS branch-and-cut decides
    them (CP-SAT, slow to find a first plan here, only when mobilisation charges count)."""
    T = model.n_years
    core_homes = np.zeros(model.n_homes, dtype=bool)
    core_homes[_nearest(margin, CORE_HOMES)] = True
    core_homes[model.home[unplaced]] = True
    keep = ~core_homes[model.home[rows]]
    fixed_rows, fixed_years = rows[keep], years[keep]
    options = np.flatnonzero(core_homes[model.home])
    core_rows, core_years = np.repeat(options, T), np.tile(np.arange(T), len(options))
    residual = model.rhs - usage(model, fixed_rows, fixed_years)
    # keep the columns the LP of this small problem uses, and the current ones
    current = np.isin(core_rows * T + core_years, rows[~keep] * T + years[~keep])
    lp = solve_core_lp(model, value, core_rows, core_years, residual, max(0.1, deadline - time.perf_counter()), seed)
    useful = current | (lp.x > 1e-6) if lp.ok else np.ones(len(core_rows), dtype=bool)
    core_rows, core_years = core_rows[useful], core_years[useful]
    if mobilisation_raw == 0:  # HiGHS branch-and-cut finds a plan that keeps every rule quickly here
        mip = solve_core_lp(model, value, core_rows, core_years, residual, max(0.1, deadline - time.perf_counter()),
                            seed, integer=True, gap=POLISH_GAP_SHARE * gap_target, offset=float(value[fixed_rows].sum()))
        if not mip.ok:
            return None
        chosen = mip.x > 0.5
    else:  # CP-SAT weighs the mobilisation charges
        target = (1 - 0.5 * gap_target) * bound / scale - float(value[fixed_rows].sum())
        core = solve_core(model, value, core_rows, core_years, current[useful], residual, deadline, seed, gap_target,
                          target, mobilisation_raw / scale, np.unique(model.area[fixed_rows] * T + fixed_years), cancel)
        if core.chosen is None:
            return None
        chosen = core.chosen
    return np.r_[fixed_rows, core_rows[chosen]], np.r_[fixed_years, core_years[chosen]]


def plan_table(candidates: pd.DataFrame, model: Model, rows: np.ndarray, years: np.ndarray
               ) -> tuple[pd.DataFrame, np.ndarray]:
    """The plan's rows (by home), and each one's position in the candidate table."""
    order = np.argsort(model.home[rows], kind="stable")
    positions = model.rows[rows[order]]
    plan = candidates.iloc[positions].reset_index(drop=True)
    plan.insert(2, "year", np.asarray(model.years)[years[order]])
    first = ["home_id", "package_id", "year", "cost_gbp"]
    return plan[first + [c for c in plan.columns if c not in first]], positions


def _prices(model: Model, lam: np.ndarray, scale: float) -> list[dict]:
    """Each binding rule's price: objective gained per unit more of its limit."""
    out = []
    for price_, row in zip(lam, model.constraints):
        if price_ > 0:
            per = scale * price_ / (COST_UNIT if row.money else 1.0)
            out.append({"rule": row.rule, "name": row.name, "objective_per_unit": per, "unit": row.unit})
    return out


def _marginal(model: Model, lam: np.ndarray, scale: float) -> pd.DataFrame:
    """Per city and year: objective gained by £1m more budget there, and by 100 more homes of capacity.

    Prices come from the programme-wide relaxation, where a year's limit adds to the
    programme's sum, so a city's value is the same in each year."""
    records = []
    years = model.scenario.year_list
    for c, name in enumerate(CITIES):
        money = homes = 0.0
        for price_, row in zip(lam, model.constraints):
            if price_ <= 0 or row.city not in (-1, c):
                continue
            if row.term == "cost" and row.sign > 0:
                money += price_
            elif row.term == "homes":
                homes += price_
        for year in years:
            records.append({"city": name, "year": year, "value_of_1m_gbp": money * scale * 1e6 / COST_UNIT,
                            "value_of_100_homes": homes * scale * 100})
    return pd.DataFrame(records)
