"""CP-SAT on the core problem: the homes whose choice is not clear, everything else fixed.

The LP relaxation leaves at most one fractional home per coupling row; every home whose
reduced value is far from zero is clearly in (or out) of the plan. CP-SAT decides the rest
exactly: the fractional homes, the homes nearest the threshold with their best few
(package, year) columns, and the mobilisation charges, under what the fixed homes leave of
each limit. On small problems the core is the whole problem, so the answer is exact.

CP-SAT needs integers (one place converts): coefficients are scaled (`SCALES`) and rounded
*outward* (up on the left of a "<=" row, the limit down) so a plan CP-SAT accepts keeps
every rule in exact arithmetic; the objective is scaled to about 10^7 per home, so rounding
costs less than 10^-7 of a home's value, and less where a core's values are so far apart that
their sum would pass 2^53 (it is then scaled down to fit CP-SAT's 64-bit integers).

One worker and a deterministic time limit (``work_s``): the same core gives the same answer
on a busy machine too. The stage's wall-clock end is the hard stop; when it, not the work
limit, ends the search, the cut is recorded (the plan is then not reproducible).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from retrofit.optimise.limits import Stage
from retrofit.optimise.model import Model

SCALES = {"cost": 1_000.0, "equity": 100_000.0, "homes": 1.0}  # model units -> integers (£1, 1p, 1 home)
TRADE_SCALE = 100.0   # trade days to hundredths of a day
EQUITY_HOMES_SCALE = 10_000.0
HOMES_FRACTION_SCALE = 1_000.0  # homes counted at their uptake, or in a ramp rule
BAND_C_SCALE = 1_000.0
OBJECTIVE_SCALE = 1e7  # integer objective units per model value unit (a typical home is about 1)
MAX_OBJECTIVE = 2.0**53  # the integer objective's largest sum: exact in a float, far inside int64


@dataclass
class CoreResult:
    chosen: np.ndarray | None  # bool per core column; None when CP-SAT found no solution in time
    status: str         # CP-SAT status name
    bound: float        # CP-SAT's bound on the core objective (model value units), inf when unknown
    value: float        # the core objective of the chosen columns (model value units)
    seconds: float


class _StopAt(cp_model.CpSolverSolutionCallback):
    """Stops the search at the first solution whose objective reaches ``target``, or once the
    caller cancels (only on a solution, so a cancelled solve still returns a plan)."""

    def __init__(self, target: float, stage: Stage):
        super().__init__()
        self.target, self.stage, self.stopped = target, stage, False

    def on_solution_callback(self) -> None:
        if self.objective_value >= self.target or self.stage.cancelled():
            self.stopped = True
            self.stop_search()


def _scale(model: Model, term: str, prior: float = 0.0) -> float:
    term = term.split("@")[0]  # a window's share of a term (`aggregate_years`) scales as the term
    if term.startswith("trade:"):
        return TRADE_SCALE
    if term.startswith(("grant:", "capexcess:")):  # money, to £1 like the cost
        return SCALES["cost"]
    if term.startswith("bandc:"):  # shares of homes, to a thousandth
        return BAND_C_SCALE
    if term == "equity" and model.equity_basis == "homes":
        return EQUITY_HOMES_SCALE
    if term == "homes" and (model.uptake is not None or prior):  # expected homes, a ramp's 1.25 x: thousandths
        return HOMES_FRACTION_SCALE
    return SCALES[term]


def _one_option_per_home(cp: cp_model.CpModel, x: list, model: Model, rows: np.ndarray, hint: np.ndarray) -> bool:
    """At most one (package, year) per core home, exactly one for a must-include home; whether the
    hint keeps that rule."""
    homes = model.home[rows]
    order = np.argsort(homes, kind="stable")
    bounds = np.flatnonzero(np.r_[True, homes[order][1:] != homes[order][:-1], True])
    if not len(rows):
        return True
    hinted = np.add.reduceat(hint[order].astype(np.int64), bounds[:-1])
    hint_ok = bool((hinted <= 1).all() and (hinted[model.must[homes[order[bounds[:-1]]]]] == 1).all())
    for first, end in zip(bounds[:-1], bounds[1:]):
        members = [x[i] for i in order[first:end]]
        if model.must[homes[order[first]]]:
            cp.add_exactly_one(members)
        else:
            cp.add_at_most_one(members)
    return hint_ok


def _limits(cp: cp_model.CpModel, x: list, model: Model, rows: np.ndarray, years: np.ndarray,
            residual: np.ndarray, hint: np.ndarray) -> bool:
    """Each coupling row in integers, rounded outward (`SCALES`); whether the hint keeps them all."""
    hint_ok = True
    for i, constraint in enumerate(model.constraints):
        weight = model.weights(constraint, rows, years)
        mask = np.flatnonzero(weight)
        scale = _scale(model, constraint.term, constraint.prior)
        coef = np.ceil(constraint.sign * model.term(constraint.term, rows[mask]) * weight[mask] * scale
                       - 1e-9).astype(np.int64)
        limit = int(np.floor(residual[i] * scale + 1e-9))
        nonzero = coef != 0
        hint_ok = hint_ok and int(coef[nonzero] @ hint[mask[nonzero]]) <= limit
        if not nonzero.any():
            if limit < 0:
                cp.add_bool_or([])  # nothing here can meet this row: infeasible core
            continue
        cp.add(cp_model.LinearExpr.weighted_sum([x[j] for j in mask[nonzero]], coef[nonzero].tolist()) <= limit)
    return hint_ok


def _objective(cp: cp_model.CpModel, x: list, model: Model, value: np.ndarray, rows: np.ndarray, years: np.ndarray,
               mobilisation: float, open_area_years: np.ndarray | None) -> tuple[float, np.ndarray]:
    """Maximise the columns' value less the mobilisation of each area-year opened, in integers:
    (integer units per value unit, each column's integer value)."""
    keys = model.area[rows] * model.n_years + years
    reach = np.abs(value[rows]).sum() + mobilisation * len(np.unique(keys))
    objective_scale = min(OBJECTIVE_SCALE, MAX_OBJECTIVE / reach) if reach > 0 else OBJECTIVE_SCALE
    objective_coef = np.round(value[rows] * objective_scale).astype(np.int64)
    terms, coefs = list(x), objective_coef.tolist()
    if mobilisation > 0:
        opened = np.isin(keys, open_area_years) if open_area_years is not None else np.zeros(len(rows), dtype=bool)
        new_keys, which = np.unique(keys[~opened], return_inverse=True)
        opens = [cp.new_bool_var(f"y{k}") for k in range(len(new_keys))]
        for j, k in zip(np.flatnonzero(~opened), which):
            cp.add_implication(x[j], opens[k])
        terms += opens
        coefs += [-int(round(mobilisation * objective_scale))] * len(opens)
    cp.maximize(cp_model.LinearExpr.weighted_sum(terms, coefs))
    return objective_scale, objective_coef


def _solver(stage: Stage, work_s: float, seed: int, relative_gap: float) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    if np.isfinite(stage.left()):
        solver.parameters.max_time_in_seconds = max(0.01, stage.left())
    # a deterministic work limit that ends the search first, so the same seed gives the same plan
    # on a busy machine too (the wall-clock limit stays as the hard stop)
    if np.isfinite(work_s):
        solver.parameters.max_deterministic_time = float(work_s)
    solver.parameters.random_seed = int(seed)
    solver.parameters.num_workers = 1  # one worker: the same seed gives the same plan
    solver.parameters.relative_gap_limit = float(relative_gap)
    # no repair_hint: in OR-Tools 9.15 it aborts the whole process ("Check failed:
    # heuristics.fixed_search != nullptr") when the hint breaks a rule, as an LP rounding may
    return solver


def solve_core(model: Model, value: np.ndarray, rows: np.ndarray, years: np.ndarray, hint: np.ndarray,
               residual: np.ndarray, stage: Stage, work_s: float, seed: int, relative_gap: float,
               target: float = np.inf, mobilisation: float = 0.0,
               open_area_years: np.ndarray | None = None) -> CoreResult:
    """Choose among core columns (rows, years) under the residual limits (model units per coupling row),
    within ``work_s`` of CP-SAT's deterministic time (and the end of ``stage``, the hard stop).

    ``target``: stop as soon as a solution reaches this core objective (model value units):
    the whole plan is then within the scenario's gap of the global bound, and proving the
    core optimal would only spend time. ``mobilisation`` is the objective lost per area-year
    opened (model value units); ``open_area_years`` (area * n_years + year) are already paid
    for by the fixed homes.
    """
    cp = cp_model.CpModel()
    x = [cp.new_bool_var(f"x{i}") for i in range(len(rows))]
    hint = np.asarray(hint, dtype=bool)
    hint_ok = _one_option_per_home(cp, x, model, rows, hint)
    hint_ok = _limits(cp, x, model, rows, years, residual, hint) and hint_ok
    objective_scale, objective_coef = _objective(cp, x, model, value, rows, years, mobilisation, open_area_years)
    for column, hinted in zip(x, hint):
        cp.add_hint(column, bool(hinted))
    solver = _solver(stage, work_s, seed, relative_gap)
    if hint_ok and mobilisation == 0 and int(objective_coef @ hint) >= target * objective_scale:
        # the hint keeps every rule and already reaches the target: the first solution is the
        # answer, and presolve (a large share of a small core's solve) would only delay it
        solver.parameters.cp_model_presolve = False
    stop = _StopAt(target * objective_scale, stage)
    status = solver.solve(cp, stop)
    name = solver.status_name(status)
    if status not in (cp_model.OPTIMAL, cp_model.INFEASIBLE, cp_model.MODEL_INVALID) and not stop.stopped \
            and solver.response_proto.deterministic_time < 0.999 * work_s:
        stage.cut()  # the wall clock ended the search, not the work limit
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        chosen = np.array([solver.boolean_value(v) for v in x], dtype=bool)
        return CoreResult(chosen, name, solver.best_objective_bound / objective_scale,
                          solver.objective_value / objective_scale, solver.wall_time)
    return CoreResult(None, name, np.inf, np.nan, solver.wall_time)
