"""The LP relaxation by column generation, and the Lagrangian upper bound.

Given a price (dual) per coupling row, each home picks its best (package, year) on its own:
that pricing is vectorised over every candidate row and gives a valid upper bound at any
prices (the Lagrangian bound: prices times limits plus each home's best reduced value).
A restricted master LP in HiGHS over the columns found so far gives better prices; the loop
stops when the master's value is within the target of the best bound. The master only
holds homes that are (nearly) worth doing, so it stays small at full scale.
"""

from __future__ import annotations

import os
import sys
import time
import threading
from dataclasses import dataclass

import highspy
import numpy as np

from retrofit.optimise.model import Model, penalty, penalty_tables

TIE_BREAK = 1e-6  # tiny value per (home, year) that spreads otherwise-tied homes over the years
ARTIFICIAL_PRICE = 1e6  # objective lost per unit a coupling row is broken by in the master (keeps it feasible)
_banner_shown = False


def new_highs() -> highspy.Highs:
    """A silent HiGHS instance (its first construction prints a banner on stdout; hide it so --json stays clean)."""
    global _banner_shown
    if _banner_shown:
        highs = highspy.Highs()
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as devnull:
                os.dup2(devnull.fileno(), 1)
                highs = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        _banner_shown = True
    highs.setOptionValue("output_flag", False)
    return highs


@dataclass
class Pricing:
    """Each home's best column under some prices, and the Lagrangian bound they prove."""

    lam: np.ndarray
    best: np.ndarray      # per home: best reduced value
    row: np.ndarray       # per home: model row of that column
    year: np.ndarray      # per home: year index of that column
    bound: float


def column_value(model: Model, value: np.ndarray, rows, t) -> np.ndarray:
    """A column's LP value: the row's value plus a tie-break of at most TIE_BREAK.

    When the prices do not tell years apart (capacity binding alike every year), every home
    is indifferent and the master would fill with copies of each home in every year; the
    tie-break spreads homes evenly over years instead. It only adds value, so a bound
    computed with it still bounds the true objective."""
    if model.n_years == 1:
        return value[rows]
    return value[rows] + TIE_BREAK * ((model.home[rows] + t) % model.n_years) / model.n_years


def row_reduced_values(model: Model, value: np.ndarray, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per model row: the best reduced value over years, and that year."""
    tables = penalty_tables(model, lam)
    everything = slice(None)
    best = column_value(model, value, everything, 0) - penalty(model, tables, 0)
    best_year = np.zeros(model.n_rows, dtype=np.int64)
    if model.n_years > 1:
        for t in range(1, model.n_years):
            reduced = column_value(model, value, everything, t) - penalty(model, tables, t)
            better = reduced > best + 1e-12
            best = np.where(better, reduced, best)
            best_year[better] = t
    return best, best_year


def price(model: Model, value: np.ndarray, lam: np.ndarray) -> Pricing:
    """Every home's best (row, year) under prices ``lam`` and the upper bound they give."""
    reduced, year = row_reduced_values(model, value, lam)
    home_best = np.maximum.reduceat(reduced, model.starts) if model.n_rows else np.zeros(0)
    at_best = np.flatnonzero(reduced >= home_best[model.home])
    first = at_best[np.r_[True, model.home[at_best][1:] != model.home[at_best][:-1]]] if len(at_best) else at_best
    gains = np.where(model.must, home_best, np.maximum(home_best, 0.0))
    rhs = np.array([c.rhs for c in model.constraints])
    return Pricing(lam=lam, best=home_best, row=first, year=year[first], bound=float(lam @ rhs + gains.sum()))


class Master:
    """The restricted master LP: chosen columns, coupling rows, one row per home with 2+ columns."""

    def __init__(self, model: Model, value: np.ndarray, seed: int = 1):
        self.model, self.value = model, value
        self.m = len(model.constraints)
        h = self.highs = new_highs()
        h.setOptionValue("random_seed", int(seed))
        h.changeObjectiveSense(highspy.ObjSense.kMaximize)
        inf = highspy.kHighsInf
        rhs = np.array([c.rhs for c in model.constraints], dtype=float)
        h.addRows(self.m, np.full(self.m, -inf), rhs, 0, np.zeros(self.m, dtype=np.int32), np.zeros(0, dtype=np.int32), np.zeros(0))
        # one artificial per coupling row: breaking a row costs ARTIFICIAL_PRICE a unit
        h.addCols(self.m, np.full(self.m, -ARTIFICIAL_PRICE), np.zeros(self.m), np.full(self.m, inf), self.m,
                  np.arange(self.m, dtype=np.int32), np.arange(self.m, dtype=np.int32), -np.ones(self.m))
        self.n_rows_highs = self.m
        self.col_row = np.zeros(0, dtype=np.int64)
        self.col_year = np.zeros(0, dtype=np.int64)
        self.home_row = np.full(model.n_homes, -1, dtype=np.int64)
        self.in_master = np.zeros(model.n_rows * model.n_years, dtype=bool)

    @property
    def col_home(self) -> np.ndarray:
        return self.model.home[self.col_row]

    def add(self, rows: np.ndarray, years: np.ndarray) -> int:
        """Add the columns not already there; returns how many were added."""
        model, T = self.model, self.model.n_years
        keys = np.unique(rows.astype(np.int64) * T + years.astype(np.int64))
        keys = keys[~self.in_master[keys]]
        if len(keys) == 0:
            return 0
        self.in_master[keys] = True
        rows, years = keys // T, keys % T
        n, first = len(rows), len(self.col_row)
        cols, idx, vals = [], [], []
        for i, constraint in enumerate(model.constraints):
            mask = model.applies(constraint, rows, years)
            where = np.flatnonzero(mask)
            if len(where) == 0:
                continue
            coef = constraint.sign * model.term(constraint.term, rows[where])
            nz = coef != 0
            cols.append(where[nz]); idx.append(np.full(nz.sum(), i)); vals.append(coef[nz])
        homes = model.home[rows]
        existing = self.home_row[homes]
        has_row = np.flatnonzero(existing >= 0)
        cols.append(has_row); idx.append(existing[has_row]); vals.append(np.ones(len(has_row)))
        cols_a, idx_a, vals_a = np.concatenate(cols), np.concatenate(idx), np.concatenate(vals)
        order = np.argsort(cols_a, kind="stable")
        starts = np.searchsorted(cols_a[order], np.arange(n)).astype(np.int32)
        column_values = np.empty(n)
        for t in range(T):
            at = np.flatnonzero(years == t)
            column_values[at] = column_value(model, self.value, rows[at], t)
        self.highs.addCols(n, column_values, np.zeros(n), np.ones(n), len(order), starts,
                           idx_a[order].astype(np.int32), vals_a[order])
        self.col_row = np.concatenate([self.col_row, rows])
        self.col_year = np.concatenate([self.col_year, years])
        # homes that now need their own "at most one" (or "exactly one") row
        col_home = self.col_home
        count = np.bincount(col_home, minlength=model.n_homes)
        need = ((count >= 2) | model.must) & (self.home_row < 0) & (count > 0)
        if need.any():
            members = np.flatnonzero(need[col_home])
            members = members[np.argsort(col_home[members], kind="stable")]
            new_homes = np.flatnonzero(need)
            self.home_row[new_homes] = self.n_rows_highs + np.arange(len(new_homes))
            starts = np.searchsorted(col_home[members], new_homes).astype(np.int32)
            lower = np.where(model.must[new_homes], 1.0, -highspy.kHighsInf)
            self.highs.addRows(len(new_homes), lower, np.ones(len(new_homes)), len(members), starts,
                               (members + self.m).astype(np.int32), np.ones(len(members)))
            self.n_rows_highs += len(new_homes)
        return n

    def solve(self, time_limit: float) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        """(value, prices per coupling row, column values, artificial values)."""
        h = self.highs
        h.setOptionValue("time_limit", max(0.05, float(time_limit)))
        h.setOptionValue("presolve", "off")  # re-solves start from the last basis
        h.run()
        solution = h.getSolution()
        if not solution.dual_valid:
            return -np.inf, np.zeros(self.m), np.zeros(len(self.col_row)), np.zeros(self.m)
        duals = np.asarray(solution.row_dual[: self.m])
        values = np.asarray(solution.col_value)
        return (h.getInfo().objective_function_value, np.maximum(duals, 0.0), values[self.m:], values[: self.m])


@dataclass
class LPResult:
    value: float              # the master's value (a feasible LP point when artificial is all 0)
    bound: float              # best Lagrangian bound proven
    lam: np.ndarray           # prices of the coupling rows (last master)
    pricing: Pricing          # each home's best column at lam
    col_row: np.ndarray
    col_year: np.ndarray
    x: np.ndarray
    artificial: np.ndarray    # how much each coupling row is broken in the master (model units)
    iterations: int
    columns: int


def solve_lp(model: Model, value: np.ndarray, start_rows: np.ndarray, start_years: np.ndarray, lam0: np.ndarray,
             deadline: float, gap: float, cancel: threading.Event | None = None, progress=None,
             seed: int = 1, max_iterations: int = 200) -> LPResult:
    """Column generation from a starting plan and starting prices until the LP gap is below ``gap``."""
    master = Master(model, value, seed)
    pricing = price(model, value, lam0)
    bound = pricing.bound
    # start: the given plan, every must-include home, and each home nearly worth doing at lam0
    near = np.flatnonzero((pricing.best > -0.05 * max(1.0, np.abs(value).max(initial=0))) | model.must)
    master.add(np.concatenate([start_rows, pricing.row[near]]), np.concatenate([start_years, pricing.year[near]]))
    lp_value, lam, x, artificial = -np.inf, lam0, np.zeros(0), np.zeros(len(model.constraints))
    iterations = 0
    while True:
        iterations += 1
        lp_value, lam, x, artificial = master.solve(deadline - time.perf_counter())
        pricing = price(model, value, lam)
        bound = min(bound, pricing.bound)
        if progress:
            progress(min(0.9, iterations / 30), f"LP {lp_value:.6g}, bound {bound:.6g}, {len(master.col_row):,} columns")
        if lp_value >= bound - gap * max(abs(bound), 1e-9) or time.perf_counter() >= deadline \
                or (cancel is not None and cancel.is_set()) or iterations >= max_iterations:
            break
        # a home's master value: its best master column's reduced value (0 when it may stay out)
        tables = penalty_tables(model, lam)
        reduced = np.empty(len(master.col_row))
        for t in range(model.n_years):
            at = np.flatnonzero(master.col_year == t)
            reduced[at] = column_value(model, value, master.col_row[at], t) - penalty(model, tables, t, master.col_row[at])
        held = np.where(model.must, -np.inf, 0.0)
        np.maximum.at(held, master.col_home, reduced)
        improving = np.flatnonzero(pricing.best > held + 1e-9)
        if master.add(pricing.row[improving], pricing.year[improving]) == 0:
            break
    return LPResult(value=lp_value, bound=bound, lam=lam, pricing=pricing, col_row=master.col_row,
                    col_year=master.col_year, x=x, artificial=artificial, iterations=iterations,
                    columns=len(master.col_row))
