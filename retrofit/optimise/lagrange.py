"""Prices for the coupling rows, the Lagrangian bound they prove, and the LP relaxation by a core method.

Given a price (dual) per coupling row, each home picks its best (package, year) on its own:
`price` does that for every candidate row at once and gives a valid upper bound at ANY
prices >= 0 (the Lagrangian bound: prices times limits plus each home's best reduced value).

Good prices come in two steps:
1. `sample_prices`: the smoothed Lagrangian dual of a random sample of homes (limits scaled
   to the sample) minimised with L-BFGS: cheap, and close to the full problem's prices;
2. either `refine_prices` (full scale, and what makes a re-solve after a weight change take
   seconds): homes whose choice is clear keep it, so their use of each limit is a constant,
   and the smoothed dual of the others, at falling temperatures, brings the prices to the
   LP's own (bound within about 1e-8 of the LP value) without solving an LP; between its
   steps `reprice` prices again only the homes whose choice the new prices can change;
   or `solve_lp`, the core method. Homes whose best option beats every other (and staying out)
   by a clear margin are fixed at it; the others, with their best few options, form a core LP
   in HiGHS with only the core homes' "one option" rows and the coupling rows less what the
   fixed homes use. Its duals are new prices; every home is priced again; homes whose fixed
   choice is no longer clearly best join the core; repeat. At the fixed point the LP value and
   the Lagrangian bound meet (complementary slackness), so the bound is tight.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass

import highspy
import numpy as np
from scipy.optimize import minimize

from retrofit.optimise.limits import UNLIMITED, Stage
from retrofit.optimise.model import Model, home_starts, penalty_tables, usage
from retrofit.reference import CITIES

TIE_BREAK = 1e-7  # value per (home, year) that spreads otherwise-tied homes over the years (value units ~1)
ARTIFICIAL_PRICE = 1e4  # objective lost per unit a coupling row is broken by in the core LP (keeps it feasible)
CORE_HOMES = 12_000  # homes in the first core LP (all homes when there are fewer)
CORE_OPTIONS = 6  # (package, year) options per core home: its best under the current prices
SAMPLE_HOMES = 20_000  # homes in the sample whose smoothed dual gives the starting prices
LP_ROUNDS = 30  # core LP rounds at most (`solve_lp`): a count, so the same inputs stop at the same point
# HiGHS work limits (deterministic, unlike its time limit; far above what the LPs here take:
# interior point 20-80 iterations, crossover a few hundred)
IPM_ITERATIONS = 2_000
SIMPLEX_ITERATIONS_PER_ROW = 20  # simplex (and crossover) iterations per LP row and column, plus SIMPLEX_ITERATIONS
SIMPLEX_ITERATIONS = 100_000
# `refine_prices` steps: homes within the margin (value units, a typical home ~1) of another
# choice are re-decided, by the smoothed dual at these temperatures (falling)
REFINE_STEPS = ((0.1, (0.003,)), (0.02, (0.001, 0.0003)))
SOFT_FLOOR = 700.0  # the soft maximum's weights stop at exp(-700), a normal number (below: subnormal, slow)
HIGHS_OPTIONS: dict = {"solver": "ipm"}  # interior point + crossover: 2-4x faster than dual simplex on the core and year LPs
_banner_shown = False  # HiGHS prints its banner on stdout at its first construction in a process
_FIRST_HIGHS = threading.Lock()


def new_highs(seed: int | None = None, stage: Stage | None = None) -> highspy.Highs:
    """A silent HiGHS instance (its first construction prints a banner on stdout; hide it so --json
    stays clean); with ``seed``, seeded and set for the LPs here (interior point), its time limit
    the end of ``stage`` (the hard stop: `run_highs` records it when it cuts)."""
    global _banner_shown
    with _FIRST_HIGHS:  # two solves in two threads (the app's jobs): one redirect, never interleaved
        if not _banner_shown:
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
        else:
            highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    if seed is not None:
        highs.setOptionValue("random_seed", int(seed))
        for option, setting in HIGHS_OPTIONS.items():
            highs.setOptionValue(option, setting)
        highs.setOptionValue("ipm_iteration_limit", IPM_ITERATIONS)
    if stage is not None and stage.left() < np.inf:
        highs.setOptionValue("time_limit", max(0.01, stage.left()))
    return highs


def run_highs(highs: highspy.Highs, stage: Stage) -> highspy.HighsModelStatus:
    """Run HiGHS under its work limits (the simplex one set here from the model's size) and
    record a cut when the wall clock stopped it instead."""
    size = highs.getNumRow() + highs.getNumCol()
    highs.setOptionValue("simplex_iteration_limit", SIMPLEX_ITERATIONS + SIMPLEX_ITERATIONS_PER_ROW * size)
    highs.run()
    status = highs.getModelStatus()
    if status == highspy.HighsModelStatus.kTimeLimit:
        stage.cut()
    return status


def tie_break(model: Model, rows, t: int) -> np.ndarray:
    """A tiny value per (home, year), different for each year, so tied homes spread evenly over years.
    It only adds value, so a bound computed with it still bounds the true objective."""
    if model.n_years == 1:
        return np.zeros(model.n_rows if isinstance(rows, slice) else len(rows))
    return TIE_BREAK * ((model.home[rows] + t) % model.n_years) / model.n_years


def _split(model: Model, lam: np.ndarray, rows):
    """(static reduced value per row, [(coef, price per (city, year)), ...] for the year-varying part)."""
    tables = penalty_tables(model, lam)
    city = model.city[rows]
    static = np.zeros(len(city))
    dynamic = []
    for term, table in tables.items():
        base = table.min(axis=1)
        coef = model.term(term, rows)
        if base.any():
            static -= coef * base[city]
        varying = table - base[:, None]
        if varying.any():
            dynamic.append((coef, varying))
    return static, dynamic


def reduced_by_year(model: Model, value: np.ndarray, lam: np.ndarray, rows) -> np.ndarray:
    """(rows, years): each row's reduced value in each year (value less its use of the priced limits)."""
    static, dynamic = _split(model, lam, rows)
    static += value[rows]
    city = model.city[rows]
    out = np.empty((len(static), model.n_years))
    for t in range(model.n_years):
        column = static + tie_break(model, rows, t)
        for coef, varying in dynamic:
            column -= coef * varying[city, t]
        out[:, t] = column
    return out


def reduced_at(model: Model, value: np.ndarray, lam: np.ndarray, rows: np.ndarray, years: np.ndarray) -> np.ndarray:
    """The reduced value of each (row, year) given."""
    static, dynamic = _split(model, lam, rows)
    reduced = static + value[rows] + tie_break(model, rows, years)
    for coef, varying in dynamic:
        reduced -= coef * varying[model.city[rows], years]
    return reduced


@dataclass
class Pricing:
    """Each home's best option under some prices, how clearly it is best, and the bound they prove."""

    lam: np.ndarray
    best: np.ndarray      # per home: best reduced value over its (package, year) options
    row: np.ndarray       # per home: model row of that option
    year: np.ndarray      # per home: year index of that option
    take: np.ndarray      # per home: the best choice is to do it (best > 0, or a must-include home)
    margin: np.ndarray    # per home: how much better its best choice (an option or staying out) is than the next
    bound: float
    choice: np.ndarray | None = None  # per home: the margin over choices of package and year (ways of paying aside)

    @property
    def choice_margin(self) -> np.ndarray:
        """How clearly the home's package and year (or staying out) are best: its margin with the
        other ways of paying for the same package and year left aside. Grants and council money
        are near-perfect substitutes, so those ties are many and tell nothing about the plan."""
        return self.margin if self.choice is None else self.choice


def _choices(model: Model, value: np.ndarray, lam: np.ndarray, rows: np.ndarray | None = None):
    """Per home (every home, or those whose rows are ``rows``: all rows of each, sorted): its best
    reduced value over its (row, year) options, that row and year, whether to take it, and its margin.

    One pass per year over the rows (vectorised): the best and second-best year of each row,
    then the best and second-best option of each home (reduceat over its rows)."""
    where = slice(None) if rows is None else rows
    home = model.home if rows is None else model.home[rows]
    if rows is None:
        starts, local = model.starts, home  # home codes are 0..n_homes-1 in row order
    else:
        change = np.r_[True, home[1:] != home[:-1]] if len(home) else np.zeros(0, dtype=bool)
        starts, local = np.flatnonzero(change), np.cumsum(change) - 1
    static, dynamic = _split(model, lam, where)
    static += value[where]
    city = model.city[where]
    n = len(static)
    best = np.full(n, -np.inf)
    second = np.full(n, -np.inf)
    best_year = np.zeros(n, dtype=np.int64)
    if model.n_years == 1:  # summed years (the usual case): the static part is the whole story
        best = static
    for t in range(model.n_years if model.n_years > 1 else 0):
        reduced = static + tie_break(model, where, t)
        for coef, varying in dynamic:
            column = varying[:, t]
            if column.any():
                reduced -= coef * column[city]
        better = reduced > best
        np.maximum(second, np.where(better, best, reduced), out=second)
        best = np.where(better, reduced, best)
        best_year[better] = t
    home_best = np.maximum.reduceat(best, starts) if n else np.zeros(0)
    at_best = np.flatnonzero(best >= home_best[local])
    row = at_best[np.r_[True, local[at_best][1:] != local[at_best][:-1]]] if len(at_best) else at_best
    first = np.zeros(n, dtype=bool)
    first[row] = True
    home_second = np.maximum.reduceat(np.where(first, second, best), starts) if n else np.zeros(0)
    must = model.must[home[starts]] if n else np.zeros(0, dtype=bool)
    take = (home_best > 0) | must
    out = np.where(must, -np.inf, 0.0)  # staying out is worth 0 (not allowed for must-include homes)
    margin = np.where(take, home_best - np.maximum(home_second, out), -home_best)
    choice = margin
    if model.scenario.funding and n:  # the ways of paying for one package (one table row) are one choice
        package = model.rows[where]
        same = package == package[row][local]
        other_year = np.where(best_year != best_year[row][local], best, second)
        alternative = np.maximum.reduceat(np.where(same, other_year, best), starts)
        choice = np.where(take, home_best - np.maximum(alternative, out), -home_best)
    return home_best, (row if rows is None else rows[row]), best_year[row], take, margin, choice


def _bound(model: Model, lam: np.ndarray, best: np.ndarray) -> float:
    """The Lagrangian bound: prices times limits plus each home's best reduced value (staying out: 0)."""
    return float(lam @ model.rhs + np.where(model.must, best, np.maximum(best, 0.0)).sum())


def price(model: Model, value: np.ndarray, lam: np.ndarray) -> Pricing:
    """Every home's best (row, year) under prices ``lam``, its margin, and the upper bound they give."""
    best, row, year, take, margin, choice = _choices(model, value, lam)
    return Pricing(lam=lam, best=best, row=row, year=year, take=take, margin=margin, bound=_bound(model, lam, best),
                   choice=choice)


def _largest_move(model: Model, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Per home: the most any of its options' reduced values can change between two prices (its
    largest use of each term times the largest change of that term's price in its city)."""
    old, new = penalty_tables(model, before), penalty_tables(model, after)
    home_city = model.city[model.starts]
    move = np.zeros(model.n_homes)
    for term in old.keys() | new.keys():
        change = np.abs(new.get(term, 0.0) - old.get(term, 0.0)) * np.ones((len(CITIES), model.n_years))
        move += model.home_largest(term) * change.max(axis=1)[home_city]
    return move


def reprice(model: Model, value: np.ndarray, before: Pricing, lam: np.ndarray, exact_below: float = 0.0) -> Pricing:
    """`price` at prices ``lam`` near those of ``before``, pricing again only the homes whose
    choice could change: one whose margin is more than twice `_largest_move` keeps it (for a
    home in, its best value is that option's at ``lam``). Their margins become lower bounds
    (less twice the move), all above ``exact_below``: every margin below it is exact, and so
    is the bound. Near the LP's prices that is a few percent of the homes, and far cheaper
    than every row."""
    move = _largest_move(model, before.lam, lam)
    again = before.margin <= 2 * move + max(exact_below, 1e-9)
    if again.mean() > 0.5:
        return price(model, value, lam)
    homes = np.flatnonzero(again)
    best, row, year = before.best.copy(), before.row.copy(), before.year.copy()
    take, margin, choice = before.take.copy(), before.margin - 2 * move, before.choice_margin - 2 * move
    if len(homes):
        best[homes], row[homes], year[homes], take[homes], margin[homes], choice[homes] = _choices(
            model, value, lam, np.flatnonzero(again[model.home]))
    kept = np.flatnonzero(~again)
    best[kept] = reduced_at(model, value, lam, row[kept], year[kept])
    return Pricing(lam=lam, best=best, row=row, year=year, take=take, margin=margin, bound=_bound(model, lam, best),
                   choice=choice)


def _smoothed_minimum(model: Model, value: np.ndarray, rows: np.ndarray, rhs: np.ndarray, lam: np.ndarray,
                      taus: tuple[float, ...], stage: Stage = UNLIMITED) -> np.ndarray:
    """Prices minimising the smoothed Lagrangian dual of the homes of ``rows`` (model rows,
    sorted; each home's options among them) against ``rhs``.

    Smoothing (a soft maximum over each home's options and staying out, at temperature tau)
    makes the dual differentiable, so L-BFGS finds its minimum in a few dozen evaluations;
    each temperature starts from the last one's prices. The iterations are counted (200 at most),
    so the prices do not depend on the machine; the hard stop is checked between them."""
    if len(rows) == 0:
        return lam
    home = model.home[rows]
    first = home_starts(home)  # each home's first row (rows are sorted by home)
    of_row = np.cumsum(np.r_[False, home[1:] != home[:-1]])      # position of each row's home among them
    must = model.must[home[first]]
    T, m = model.n_years, len(model.constraints)
    # each row's use of each coupling row, per year: reduced values are then one product with the prices
    coef = {term: model.term(term, rows) for term in {c.term for c in model.constraints}}
    uses = [np.asfortranarray(np.column_stack([model.weights(c, rows, np.full(len(rows), t)) * c.sign * coef[c.term]
                                               for c in model.constraints]))
            if m else np.zeros((len(rows), 0)) for t in range(T)]
    base = [value[rows] + tie_break(model, rows, t) for t in range(T)]

    def evaluate(lam: np.ndarray, tau: float):
        lam = _flushed(lam)
        reduced = np.column_stack([(base[t] - uses[t] @ lam) / tau for t in range(T)])
        top = np.maximum.reduceat(reduced[:, 0] if T == 1 else reduced.max(axis=1), first)
        top = np.where(must, top, np.maximum(top, 0.0))
        weights = np.exp(np.maximum(reduced - top[of_row][:, None], -SOFT_FLOOR))
        total = np.add.reduceat(weights[:, 0] if T == 1 else weights.sum(axis=1), first)
        total += np.where(must, 0.0, np.exp(-np.where(must, 0.0, top)))  # staying out (value 0)
        probability = weights / total[of_row][:, None]
        objective = lam @ rhs + tau * np.sum(top + np.log(total))
        return objective, rhs - sum(probability[:, t] @ uses[t] for t in range(T))

    for tau in taus:
        found = minimize(evaluate, lam, args=(tau,), jac=True, method="L-BFGS-B", bounds=[(0, None)] * m,
                         options={"maxiter": 200, "gtol": 1e-9 * max(1.0, np.abs(rhs).max())},
                         callback=lambda *_: stage.check())
        lam = _flushed(found.x)
    return lam


def _flushed(lam: np.ndarray) -> np.ndarray:
    """Prices >= 0 with the tiny ones (L-BFGS leaves subnormal numbers at its bound) set to 0:
    arithmetic on subnormals is some 20 times slower, and on millions of rows it shows."""
    return np.where(lam > 1e-12, lam, 0.0)


def sample_prices(model: Model, value: np.ndarray, seed: int, homes: int = SAMPLE_HOMES,
                  stage: Stage = UNLIMITED) -> np.ndarray:
    """Starting prices: minimise the smoothed Lagrangian dual of a random sample of homes, with
    the limits scaled to the sample's share of the homes."""
    rng = np.random.default_rng(seed)
    n = model.n_homes
    chosen = np.sort(rng.choice(n, size=min(n, homes), replace=False))
    rhs = model.rhs * (len(chosen) / n)
    in_sample = np.zeros(n, dtype=bool)
    in_sample[chosen] = True
    rows = np.flatnonzero(in_sample[model.home])
    return _smoothed_minimum(model, value, rows, rhs, np.zeros(len(model.constraints)), (0.05, 0.01), stage)


def refine_prices(model: Model, value: np.ndarray, lam: np.ndarray, steps=REFINE_STEPS,
                  rounds: int = 2, stage: Stage = UNLIMITED) -> tuple[np.ndarray, Pricing]:
    """Prices close to the LP's own, from approximate ones, without an LP.

    Homes whose choice is clear (margin above the step's) keep it, so their use of each limit
    is a constant; the smoothed dual of the others, at falling temperatures, moves the prices.
    Each step narrows the margin around the prices found so far. Homes whose fixed choice the
    new prices change are re-decided in up to ``rounds`` more rounds (the core method's fixed
    point, on prices). The pricing with the lowest bound is returned: its bound is valid at
    any prices; how close it is to the LP's value depends on how well they were found."""
    pricing = best = price(model, value, lam)
    rhs = model.rhs
    moved = np.zeros(model.n_homes, dtype=bool)  # homes whose fixed choice changed: decided again
    for k in range(len(steps) + rounds):
        margin, taus = steps[min(k, len(steps) - 1)]
        near = (pricing.margin < margin) | model.must | moved
        fixed = np.flatnonzero(~near & pricing.take)
        # the near homes' options that could become their choice: within ``margin`` of the best (or of staying out)
        rows = np.flatnonzero(near[model.home])
        reduced = reduced_by_year(model, value, lam, rows).max(axis=1)
        top = np.where(model.must, pricing.best, np.maximum(pricing.best, 0.0))
        rows = rows[reduced >= top[model.home[rows]] - margin]
        lam = _smoothed_minimum(model, value, rows, rhs - usage(model, pricing.row[fixed], pricing.year[fixed]),
                                lam, taus, stage)
        again = reprice(model, value, pricing, lam, steps[min(k + 1, len(steps) - 1)][0])  # next step's margins exact
        changed = ~near & ((again.take != pricing.take) | (pricing.take & ((again.row != pricing.row)
                                                                           | (again.year != pricing.year))))
        if again.bound < best.bound:
            best = again
        pricing = again
        if k >= len(steps) - 1 and not changed.any():
            break
        moved |= changed
    return best.lam, best


@dataclass
class CoreLP:
    """The core LP's answer."""

    x: np.ndarray           # per column
    lam: np.ndarray         # prices of the coupling rows
    artificial: np.ndarray  # how much each coupling row is broken (model units)
    value: float            # objective of the core columns (value units)
    ok: bool
    status: str = ""        # HiGHS's model status (kOptimal, kTimeLimit, kSolutionLimit ...)


def _switches(model: Model, rows: np.ndarray, years: np.ndarray, paying: np.ndarray | None):
    """For the core columns of homes in ``paying`` whose columns are all one package in one year,
    among them its council-only way (the first of the package's options): that column's index for
    each of the home's columns (-1 for the columns of other homes)."""
    base = np.full(len(rows), -1, dtype=np.int64)
    if paying is None or not len(rows):
        return base
    homes = model.home[rows]
    order = np.lexsort((rows, homes))
    sorted_homes = homes[order]
    bounds = np.flatnonzero(np.r_[True, sorted_homes[1:] != sorted_homes[:-1], True])
    starts, count = bounds[:-1], np.diff(bounds)
    first = order[starts]  # each home's column of the lowest row: its package's council way, if it is there
    package, year = model.rows[rows[order]], years[order]
    one = (np.minimum.reduceat(package, starts) == np.maximum.reduceat(package, starts)) \
        & (np.minimum.reduceat(year, starts) == np.maximum.reduceat(year, starts))
    council = (rows[first] == 0) | (model.rows[np.maximum(rows[first] - 1, 0)] != model.rows[rows[first]])
    switch = paying[sorted_homes[starts]] & one & council & (count >= 2)
    base[order] = np.repeat(np.where(switch, first, -1), count)
    return base


def solve_core_lp(model: Model, value: np.ndarray, rows: np.ndarray, years: np.ndarray, residual: np.ndarray,
                  stage: Stage = UNLIMITED, seed: int = 1, integer: bool = False, gap: float = 0.0,
                  offset: float = 0.0, max_nodes: int | None = None, paying: np.ndarray | None = None) -> CoreLP:
    """max sum(value * x) over the core columns: coupling rows at ``residual``, one option per core home.

    ``integer``: x binary and no rule may be broken (HiGHS branch-and-cut, for small cores);
    ``ok`` then says a plan was found, and ``lam`` is empty. ``offset`` (the fixed homes' value)
    is added to the objective, so that ``gap`` is relative to the whole plan, not the core; the
    search stops after ``max_nodes`` nodes at the latest (a count: the same inputs, the same plan).

    ``paying`` (bool per home): homes held in the plan (as the fixed homes are) with their package
    and year settled, only how they are paid in doubt. Each is taken at its council-only way, and
    its other ways are columns that switch from it (the difference of the two): a switch touches
    only the rules of money, and a home with one other way needs no row of its own. Tens of
    thousands of such homes make an LP whose interior point steps cost a few times less this way."""
    m = len(model.constraints)
    n = len(rows)
    base = _switches(model, rows, years, paying)
    is_base = base == np.arange(n)
    switch = (base >= 0) & ~is_base
    free = np.flatnonzero(~is_base)  # the LP's columns: every column but the council ways taken
    groups = np.where(switch, -1 - base, model.home[rows])  # one at-most-one row per home (its switches apart)
    group_ids, group_index = np.unique(groups[free], return_inverse=True)
    needed = (group_ids >= 0) | (np.bincount(group_index) > 1)  # a home's row; a lone switch has its bound
    group_rows = np.cumsum(needed) - 1
    must = np.zeros(len(group_ids), dtype=bool)
    must[group_ids >= 0] = model.must[group_ids[group_ids >= 0]]
    h = new_highs(seed, stage)
    h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    inf = highspy.kHighsInf
    column_value = np.empty(n)
    for t in range(model.n_years):
        at = np.flatnonzero(years == t)
        column_value[at] = value[rows[at]] + tie_break(model, rows[at], t)
    taken = np.flatnonzero(is_base)
    residual = residual - usage(model, rows[taken], years[taken]) if len(taken) else residual
    lower = np.r_[np.full(m, -inf), np.where(must[needed], 1.0, -inf)]
    upper = np.r_[residual, np.ones(int(needed.sum()))]
    h.addRows(len(lower), lower, upper, 0, np.zeros(len(lower), dtype=np.int32),
              np.zeros(0, dtype=np.int32), np.zeros(0))
    # artificial slack per coupling row (breaking a row costs ARTIFICIAL_PRICE a unit)
    h.addCols(m, np.full(m, -ARTIFICIAL_PRICE), np.zeros(m), np.full(m, 0.0 if integer else inf), m,
              np.arange(m, dtype=np.int32), np.arange(m, dtype=np.int32), -np.ones(m))
    k = len(free)
    own = needed[group_index]
    cols, idx, vals = [np.flatnonzero(own)], [m + group_rows[group_index[own]]], [np.ones(int(own.sum()))]
    of_switch = switch[free]
    for i, constraint in enumerate(model.constraints):
        coef = np.zeros(n)
        weight = model.weights(constraint, rows, years)
        where = np.flatnonzero(weight)
        coef[where] = constraint.sign * model.term(constraint.term, rows[where]) * weight[where]
        coef = coef[free] - np.where(of_switch, coef[base[free]], 0.0)
        nz = np.flatnonzero(coef != 0)
        cols.append(nz); idx.append(np.full(len(nz), i)); vals.append(coef[nz])
    cols_a, idx_a, vals_a = np.concatenate(cols), np.concatenate(idx), np.concatenate(vals)
    order = np.argsort(cols_a, kind="stable")
    starts = np.searchsorted(cols_a[order], np.arange(k)).astype(np.int32)
    lp_value = column_value[free] - np.where(of_switch, column_value[base[free]], 0.0)
    h.addCols(k, lp_value, np.zeros(k), np.ones(k), len(order), starts, idx_a[order].astype(np.int32), vals_a[order])

    def columns(solved: np.ndarray) -> np.ndarray:
        """Every core column's x from the LP's: a taken council way is what its switches leave."""
        x = np.zeros(n)
        x[free] = solved
        x[taken] = 1.0 - np.bincount(np.searchsorted(taken, base[free][of_switch]), weights=solved[of_switch],
                                     minlength=len(taken))
        return x

    if integer:
        h.changeObjectiveOffset(float(offset + column_value[taken].sum()))
        h.changeColsIntegrality(k, np.arange(m, m + k, dtype=np.int32), np.full(k, highspy.HighsVarType.kInteger))
        h.setOptionValue("mip_rel_gap", float(gap))
        h.setOptionValue("solver", "choose")
        if max_nodes is not None:
            h.setOptionValue("mip_max_nodes", int(max_nodes))
        status = run_highs(h, stage).name
        solution = h.getSolution()
        if not solution.value_valid:
            return CoreLP(np.zeros(n), np.zeros(0), np.zeros(m), -np.inf, False, status)
        x = np.round(columns(np.asarray(solution.col_value)[m:])).clip(0, 1)
        return CoreLP(x, np.zeros(0), np.zeros(m), float(column_value @ x), True, status)
    status = run_highs(h, stage).name
    solution = h.getSolution()
    if not solution.dual_valid:
        return CoreLP(np.zeros(n), np.zeros(m), np.zeros(m), -np.inf, False, status)
    col = np.asarray(solution.col_value)
    x = np.clip(columns(col[m:]), 0.0, 1.0)
    duals = np.maximum(np.asarray(solution.row_dual[:m]), 0.0)
    return CoreLP(x, duals, col[:m], float(column_value @ x), True, status)


@dataclass
class LPResult:
    value: float              # the LP point's value (fixed homes + core), -inf when it breaks a rule
    bound: float              # best Lagrangian bound proven
    lam: np.ndarray           # prices of the coupling rows
    pricing: Pricing          # each home's best option at lam
    col_row: np.ndarray       # the LP point: columns (fixed homes' choices and core columns) and x
    col_year: np.ndarray
    x: np.ndarray
    core_homes: np.ndarray    # bool per home: decided by the core LP
    artificial: np.ndarray    # how much each coupling row is broken (model units)
    iterations: int
    columns: int


def _core_columns(model: Model, value: np.ndarray, lam: np.ndarray, core: np.ndarray, per_home: int):
    """The best ``per_home`` (row, year) options of each core home under ``lam``."""
    rows_of = np.flatnonzero(core[model.home])
    reduced = reduced_by_year(model, value, lam, rows_of)
    T = model.n_years
    rows = np.repeat(rows_of, T)
    years = np.tile(np.arange(T), len(rows_of))
    reduced = reduced.ravel()
    homes = model.home[rows]
    order = np.lexsort((-reduced, homes))
    homes_sorted = homes[order]
    first = np.r_[0, np.flatnonzero(homes_sorted[1:] != homes_sorted[:-1]) + 1]
    rank = np.arange(len(order)) - np.repeat(first, np.diff(np.r_[first, len(order)]))
    keep = order[rank < per_home]
    return rows[keep], years[keep]


def _overfull(model: Model, take: np.ndarray, row: np.ndarray, year: np.ndarray, margin: np.ndarray,
              rhs: np.ndarray, slack: float = 0.01, awards: bool | None = None) -> np.ndarray:
    """Fixed homes to move into the core so that no upper limit is over-used by the fixed homes
    alone (they would make the core LP infeasible): per limit, those nearest the threshold first,
    until the fixed homes leave ``slack`` of it for the core. ``awards``: only the rules of the
    awards (True), only the others (False)."""
    homes = np.flatnonzero(take)
    rows, years = row[homes], year[homes]
    order = np.argsort(margin[homes], kind="stable")
    unfix = np.zeros(model.n_homes, dtype=bool)
    for constraint, limit in zip(model.constraints, rhs):
        if constraint.sign < 0 or (awards is not None and _of_awards(constraint) != awards):
            continue
        use = (model.weights(constraint, rows, years) * model.term(constraint.term, rows))[order]
        excess = use.sum() - limit * (1 - slack)
        if excess > 0:
            unfix[homes[order[: int(np.searchsorted(np.cumsum(use), excess)) + 1]]] = True
    return unfix


def _of_awards(constraint) -> bool:
    """A rule of the awards: one's total, yearly amount, average cap or band C share, or the share
    of a limit that the homes funded within a window may use."""
    return "@" in constraint.term or constraint.term.startswith(("grant:", "capexcess:", "bandc:"))


def _ways_of_paying(model: Model, homes: np.ndarray, row: np.ndarray, year: np.ndarray):
    """Columns (rows, years) for each of ``homes``: every way of paying for its package ``row``, in year ``year``."""
    package = model.rows
    first = np.maximum.accumulate(np.where(np.r_[True, package[1:] != package[:-1]], np.arange(model.n_rows), 0))
    ends = np.r_[np.flatnonzero(package[1:] != package[:-1]) + 1, model.n_rows]
    start = first[row[homes]]
    count = ends[np.searchsorted(ends, start, side="right")] - start
    offsets = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    return np.repeat(start, count) + offsets, np.repeat(year[homes], count)


def _settled(model: Model, pricing: Pricing, fixed_row: np.ndarray, fixed_year: np.ndarray) -> np.ndarray:
    """Per home: the prices clearly keep it in the plan with its fixed package and year (paid any way)."""
    return pricing.take & (model.rows[pricing.row] == model.rows[fixed_row]) & (pricing.year == fixed_year) \
        & (pricing.choice_margin >= 1e-9)


def _grown_core(model: Model, pricing: Pricing, core: np.ndarray, fixed_take: np.ndarray, fixed_row: np.ndarray,
                fixed_year: np.ndarray, core_keys: np.ndarray, feasible: bool, size: int):
    """(homes that join the core, core homes that need their best option as a column) after a
    round of the core method; None when there is nothing to add and the LP point keeps every rule.

    Fixed homes whose choice is no longer clearly best join the core; when none is left to move
    but the fixed homes cannot be reconciled with the limits, the core widens. It grows by at
    most ``size`` homes a round, nearest the threshold first."""
    years_count = model.n_years
    moved = ~core & ((pricing.take != fixed_take) | (pricing.choice_margin < 1e-9)
                     | (fixed_take & ((pricing.row != fixed_row) | (pricing.year != fixed_year))))
    # a home whose package and year stand, paid another way: its ways of paying are enough (all of them join)
    repaid = moved & fixed_take & _settled(model, pricing, fixed_row, fixed_year)
    moved &= ~repaid
    missing = core & pricing.take & ~np.isin(pricing.row * years_count + pricing.year, core_keys)
    if not moved.any() and not repaid.any() and not missing.any():
        if feasible:
            return None
        moved = ~core
        moved[np.argsort(np.where(core, np.inf, pricing.choice_margin), kind="stable")[size:]] = False
    if moved.sum() > size:
        keep = np.flatnonzero(moved)
        moved[keep[np.argpartition(pricing.choice_margin[keep], size)[size:]]] = False
    return moved, repaid, missing


def solve_lp(model: Model, value: np.ndarray, lam0: np.ndarray, gap: float, stage: Stage = UNLIMITED,
             progress=None, seed: int = 1, max_iterations: int = LP_ROUNDS, core_homes: int = CORE_HOMES,
             start: Pricing | None = None, first: Stage | None = None) -> LPResult:
    """The LP relaxation to within ``gap`` of the Lagrangian bound, by the core method from prices ``lam0``
    (``start``: their pricing, when already known), the first core being the ``core_homes``
    homes nearest the threshold. At most ``max_iterations`` rounds; the end of ``stage`` (or a
    cancel) stops it sooner, and the last LP point solved stands. The first round, without which
    there are no prices and no plan, may run to the end of ``first`` (a later one) instead.

    Prices are stabilised (Wentges smoothing): each round prices the homes at the midpoint of
    the best prices so far and the core LP's duals, so a core LP that cannot yet fill a limit
    (its dual drops to 0) does not throw every home of that city into the next core.

    With funding, grants and council money are near-perfect substitutes: at prices near the
    LP's, tens of thousands of homes are all but tied between ways of paying for the package
    they clearly want. Such a home (its fixed grants over-use an award, or the prices now pay
    for its package another way) joins the core held in the plan, with only its package's ways
    of paying in its year as columns, all of them at once (`solve_core_lp`'s ``paying``); when
    the prices doubt its package, its year or its place in the plan, it is let go with its best
    options. Other homes whose package or year is in doubt join with their best options,
    nearest the threshold first."""
    T = model.n_years
    center = start if start is not None else price(model, value, lam0)
    pricing = center
    size = min(model.n_homes, core_homes)
    core = np.zeros(model.n_homes, dtype=bool)
    core[np.argpartition(pricing.choice_margin, size - 1)[:size] if size < model.n_homes else slice(None)] = True
    fixed_take = pricing.take & ~core
    fixed_row, fixed_year = pricing.row.copy(), pricing.year.copy()  # fixed homes' choice (where take)
    extra = np.zeros(0, dtype=np.int64)  # extra core columns (row * T + year) found by pricing
    rhs = model.rhs
    iterations = 0
    last = None
    lp_value = -np.inf
    paying = np.zeros(model.n_homes, dtype=bool)  # core homes with only their package's ways of paying as columns
    listed = np.zeros(model.n_homes, dtype=bool)  # paying homes whose ways of paying are among the extra columns
    while True:
        iterations += 1
        if model.scenario.funding:  # homes whose grants alone over-use an award: only how they are paid is in doubt
            unfix = _overfull(model, fixed_take, fixed_row, fixed_year, center.choice_margin, rhs, awards=True)
            core |= unfix
            paying |= unfix
            fixed_take &= ~unfix
        unfix = _overfull(model, fixed_take, fixed_row, fixed_year, center.choice_margin, rhs,
                          awards=False if model.scenario.funding else None)
        core |= unfix
        paying &= ~unfix
        fixed_take &= ~unfix
        rows, years = _core_columns(model, value, center.lam, core & ~paying, CORE_OPTIONS)
        joined = paying & ~listed
        if joined.any():  # their ways of paying become columns, once
            ways, when = _ways_of_paying(model, np.flatnonzero(joined), fixed_row, fixed_year)
            extra = np.r_[extra, ways * T + when]
            listed |= joined
        if len(extra):
            keys = np.unique(np.r_[rows * T + years, extra])
            keys = keys[core[model.home[keys // T]]]
            rows, years = keys // T, keys % T
        chosen = np.flatnonzero(fixed_take)
        f_rows, f_years = fixed_row[chosen], fixed_year[chosen]
        residual = rhs - usage(model, f_rows, f_years)
        lp = solve_core_lp(model, value, rows, years, residual, first if first and iterations == 1 else stage, seed,
                           paying=paying)
        if not lp.ok:  # cut by the time limit (or a work limit): the last LP point that was solved stands
            break
        last = (f_rows, f_years, rows, years, lp)
        fixed_value = float(value[f_rows].sum() + sum(tie_break(model, f_rows[f_years == t], t).sum()
                                                      for t in range(T)))
        feasible = not (lp.artificial > 1e-7).any()
        lp_value = lp.value + fixed_value if feasible else -np.inf
        if feasible and lp_value >= center.bound - gap * max(abs(center.bound), 1e-9):
            break  # already within the gap of the bound the prices so far prove: no need to price again
        for weight in (0.0, 0.5):  # the LP's duals, then the midpoint with the best prices so far
            trial = price(model, value, weight * center.lam + (1 - weight) * lp.lam)
            if trial.bound < center.bound:
                center = trial
                break
        pricing = trial
        bound = center.bound
        if progress:
            progress(min(0.9, iterations / 8), f"LP {lp_value:.7g}, bound {bound:.7g}, core {int(core.sum()):,} homes")
        if feasible and lp_value >= bound - gap * max(abs(bound), 1e-9):
            break
        if iterations >= max_iterations or stage.cancelled():
            break
        if stage.over():
            stage.cut()
            break
        # a paying home whose package or year (or being in the plan) the prices now doubt: it joins
        # with its best options and may stay out
        settled = _settled(model, pricing, fixed_row, fixed_year)
        released = paying & ~settled
        paying &= settled
        grown = _grown_core(model, pricing, core, fixed_take, fixed_row, fixed_year, rows * T + years, feasible, size)
        if grown is None:
            if not released.any():
                break  # every home's choice agrees with the prices: the LP point stands
            grown = (np.zeros_like(core), np.zeros_like(core), np.zeros_like(core))
        moved, repaid, missing = grown
        extra = np.r_[extra, pricing.row[missing] * T + pricing.year[missing]]
        core |= moved | repaid
        paying |= repaid
        fixed_take &= ~core
    return _lp_result(model, last, lp_value, center, core, iterations)


def _lp_result(model: Model, last, lp_value: float, center: Pricing, core: np.ndarray, iterations: int) -> LPResult:
    """The LP point of the last core LP solved (the fixed homes' choices and the core columns), or
    none (value -inf) when not even the first was solved; the bound is the best prices'."""
    if last is None:
        none = np.zeros(0, dtype=np.int64)
        return LPResult(value=-np.inf, bound=center.bound, lam=center.lam, pricing=center, col_row=none,
                        col_year=none, x=np.zeros(0), core_homes=core,
                        artificial=np.zeros(len(model.constraints)), iterations=iterations, columns=0)
    f_rows, f_years, rows, years, lp = last
    return LPResult(value=lp_value, bound=center.bound, lam=center.lam, pricing=center,
                    col_row=np.r_[f_rows, rows], col_year=np.r_[f_years, years],
                    x=np.r_[np.ones(len(f_rows)), lp.x], core_homes=core,
                    artificial=lp.artificial, iterations=iterations, columns=len(rows))
