"""Years for the chosen homes: every per-year limit kept, work as early as the limits allow.

The package of each home is decided on the programme as a whole (`model.aggregate_years`);
the objective does not depend on the year, so any assignment that keeps each year's limits
is as good as another. `assign_years` finds one: an LP over classes of similar homes
(city, priority, package, cost band) says how many of each class go in each year, using
each class's largest cost and trade days so that any members fit; `front_load` then places
whoever is left, and moves every home to the earliest year with room.

Ramp rules (`[delivery] max_ramp`: a year's homes and spend against the year before's) tie two
years together: with them, the class LP holds each year's ramp against the year before, and
`front_load` only places homes still without a year, each where every rule that year (and the
next year's ramp) keeps its room; placed homes are not moved, which could break a later ramp.
"""

from __future__ import annotations

import highspy
import numpy as np

from retrofit.optimise.lagrange import new_highs, run_highs
from retrofit.optimise.limits import UNLIMITED, Stage
from retrofit.optimise.model import Model

COST_BANDS = 50  # cost bands per class group: narrower bands fit each year's limits more closely
MEAN_MARGIN = 0.005  # class means are not exact: leave this share of each per-year limit (but homes) unplanned
PASSES = 4       # front-loading passes per year (each fills what the previous pass's order left)


def _yearly(model: Model) -> list[int]:
    return [j for j, c in enumerate(model.constraints) if c.year >= 0]


def _yearly_use(model: Model, rows: np.ndarray, yearly: list[int]) -> dict[str, np.ndarray]:
    """Each per-year rule's term for the given rows (computed once per term)."""
    return {term: model.term(term, rows) for term in {model.constraints[j].term for j in yearly}}


def _rooms(model: Model, rows: np.ndarray, years: np.ndarray, yearly: list[int]) -> np.ndarray:
    """Each per-year row's room left (model units, "<=" form) by the given columns."""
    room = np.zeros(len(yearly))
    for k, j in enumerate(yearly):
        c = model.constraints[j]
        room[k] = c.rhs - np.sum(c.sign * model.term(c.term, rows) * model.weights(c, rows, years))
    return room


def front_load(model: Model, rows: np.ndarray, years: np.ndarray, value: np.ndarray | None = None) -> np.ndarray:
    """Years with each home moved to the earliest year with room under every per-year rule.

    A year index of ``n_years`` means "not placed yet"; such homes go first (the most valuable
    first, when ``value`` per model row is given) and stay at ``n_years`` if no year has room.
    Totals (budget, shares, equity) do not change: no home changes package. Vectorised: for
    each year, homes from later years are taken in order while the running sums of their use
    of each of that year's rules stay within its room."""
    T = model.n_years
    years = years.copy()
    yearly = _yearly(model)
    if not yearly:
        return np.where(years > 0, 0, years)
    if any(c.prior for c in model.constraints):
        return _place_left(model, rows, years, value, yearly)
    placed_last = years >= T
    use_of = _yearly_use(model, rows, yearly)
    # unplaced homes first (most valuable first), then the smallest use first (more homes fit)
    rank = np.where(placed_last, -value[rows] if value is not None else model.cost[rows], model.cost[rows])
    order = np.lexsort((rank, ~placed_last))  # the order is fixed: sort once, and work in it
    in_order = years[order]
    city = model.city[rows][order]
    use_of = {term: use[order] for term, use in use_of.items()}
    for t in range(T):
        rules = [model.constraints[j] for j in yearly if model.constraints[j].year == t]
        here = in_order == t
        room = [c.rhs - c.sign * use_of[c.term][here if c.city < 0 else here & (city == c.city)].sum() for c in rules]
        for _ in range(PASSES):
            movers = np.flatnonzero(in_order > t)
            if len(movers) == 0:
                break
            mover_city = city[movers]
            mover_use = {term: use[movers] for term, use in use_of.items()}
            ok = np.ones(len(movers), dtype=bool)
            for c, left in zip(rules, room):
                applies = None if c.city < 0 else mover_city == c.city
                use = c.sign * mover_use[c.term] if applies is None else np.where(applies, c.sign * mover_use[c.term], 0.0)
                fits = np.cumsum(use) <= left + 1e-9
                ok &= fits if applies is None else ~applies | fits
            if not ok.any():
                break
            moved = movers[ok]
            in_order[moved] = t
            moved_city = city[moved]
            room = [left - c.sign * use_of[c.term][moved if c.city < 0 else moved[moved_city == c.city]].sum()
                    for c, left in zip(rules, room)]
    years[order] = in_order
    return years


def _place_left(model: Model, rows: np.ndarray, years: np.ndarray, value: np.ndarray | None,
                yearly: list[int]) -> np.ndarray:
    """`front_load` under ramp rules: homes without a year (the most valuable first) go to the
    earliest year where they keep the room of every rule they enter: that year's own rules, and
    the next year's ramp rules, where they count -prior times (a lower ramp's room shrinks)."""
    T = model.n_years
    years = years.copy()
    left = np.flatnonzero(years >= T)
    left = left[np.argsort(-value[rows[left]] if value is not None else model.cost[rows[left]], kind="stable")]
    use_of = _yearly_use(model, rows, yearly)
    for t in range(T):
        entered = [j for j in yearly if model.constraints[j].year == t
                   or (model.constraints[j].year == t + 1 and model.constraints[j].prior)]
        for _ in range(PASSES):
            if len(left) == 0:
                return years
            room = _rooms(model, rows, years, entered)
            ok = np.ones(len(left), dtype=bool)
            for j, free in zip(entered, room):
                c = model.constraints[j]
                use = c.sign * use_of[c.term][left] * model.weights(c, rows[left], np.full(len(left), t))
                ok &= (use <= 0) | (np.cumsum(np.maximum(use, 0.0)) <= free + 1e-9)
            if not ok.any():
                break
            years[left[ok]] = t
            left = left[~ok]
    return years


def assign_years(model: Model, rows: np.ndarray, value: np.ndarray, seed: int = 1,
                 stage: Stage = UNLIMITED) -> np.ndarray:
    """A year index per chosen row that keeps every per-year rule; ``n_years`` for rows that fit nowhere.

    ``value`` (per model row) decides who is left without a year when not everyone fits. The
    class LP runs under HiGHS's iteration limits, the end of ``stage`` its hard stop; cut short,
    every home is placed by `front_load` alone."""
    T = model.n_years
    yearly = _yearly(model)
    if T == 1 or not yearly or len(rows) == 0:
        return np.zeros(len(rows), dtype=np.int64)
    # classes: (city, priority, must, package-free cost band); trade days differ by package, so
    # cities with a trade-days rule also split by the row's trade mix (its largest trade)
    city = model.city[rows].astype(np.int64)
    group = city * 4 + model.priority[rows] * 2 + model.must[model.home[rows]]
    if model.trades:
        mix = np.argmax(np.column_stack([model.trades[k][rows] for k in model.trades] + [np.zeros(len(rows))]), axis=1)
        group = group * (len(model.trades) + 1) + mix
    for key in sorted(model.grants):  # homes an award pays for go in its years: a class per way of paying
        group = group * 2 + (model.grants[key][rows] > 0)
    order = np.lexsort((model.cost[rows], group))
    sorted_group = group[order]
    starts = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    size = np.diff(np.r_[starts, len(order)])
    rank = np.arange(len(order)) - np.repeat(starts, size)
    band = np.empty(len(rows), dtype=np.int64)
    band[order] = np.repeat(np.arange(len(starts)), size) * COST_BANDS + rank * COST_BANDS // np.repeat(size, size)
    cls, members = np.unique(band, return_inverse=True)
    n_cls = len(cls)
    count = np.bincount(members, minlength=n_cls).astype(float)
    must = np.zeros(n_cls, dtype=bool)
    must[members[model.must[model.home[rows]]]] = True

    # LP: y[g, t] homes of class g in year t (column g * T + t), at each class's mean use per rule
    h = new_highs(seed, stage)  # interior point + crossover: half the simplex's time here too
    h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    inf = highspy.kHighsInf
    n = n_cls * T
    mean_value = np.bincount(members, weights=value[rows], minlength=n_cls) / count
    worth = np.maximum(mean_value, 0) + 1e-3 * np.abs(mean_value).max(initial=1.0)  # placing any home is worth something
    early = np.repeat(worth, T) * (1.0 + 1e-3 * (T - np.tile(np.arange(T), n_cls)) / T)  # earlier a little better
    h.addVars(n, np.zeros(n), np.repeat(count, T))
    h.changeColsCost(n, np.arange(n, dtype=np.int32), early)
    g_of = np.repeat(np.arange(n_cls), T)
    t_of = np.tile(np.arange(T), n_cls)
    h.addRows(n_cls, np.where(must, count, -inf), count, n, (np.arange(n_cls) * T).astype(np.int32),
              np.arange(n, dtype=np.int32), np.ones(n))
    use_of = _yearly_use(model, rows, yearly)
    for j in yearly:
        c = model.constraints[j]
        coef = np.bincount(members, weights=c.sign * use_of[c.term], minlength=n_cls) / count
        cls_city = np.full(n_cls, -1)
        cls_city[members] = city
        here = (c.city < 0) | (cls_city[g_of] == c.city)
        factor = np.where(t_of == c.year, 1.0, np.where((t_of == c.year - 1) & (c.prior != 0), -c.prior, 0.0))
        ok = here & (factor != 0) & (coef[g_of] != 0)
        index = np.flatnonzero(ok)
        limit = c.rhs if c.term == "homes" else c.rhs * (1 - MEAN_MARGIN)  # homes are counted exactly
        if c.prior:  # a ramp (limit 0) holds between class means exactly as well as any margin would
            limit = c.rhs
        h.addRow(-inf, limit, len(index), index.astype(np.int32), coef[g_of[index]] * factor[index])
    run_highs(h, stage)
    solution = h.getSolution()
    years = np.full(len(rows), T, dtype=np.int64)
    if solution.value_valid:
        y = np.floor(np.asarray(solution.col_value) + 1e-6).reshape(n_cls, T).astype(np.int64)
        # members of each class (cheapest first) take the years in order: the first y[g, 0] year 0, ...
        by_class = np.lexsort((model.cost[rows], members))
        first = np.searchsorted(members[by_class], np.arange(n_cls))
        position = np.empty(len(rows), dtype=np.int64)
        position[by_class] = np.arange(len(rows)) - np.repeat(first, count.astype(np.int64))
        cumulative = np.cumsum(y, axis=1)
        years = np.minimum((position[:, None] >= cumulative[members]).sum(axis=1), T)
        years = _unplace_excess(model, rows, years, use_of)
    return front_load(model, rows, years, value)


def _unplace_excess(model: Model, rows: np.ndarray, years: np.ndarray, use_of: dict) -> np.ndarray:
    """Take out of the years the fewest, largest users of any per-year rule broken (class means are
    not exact; a ramp rule's users are its year's homes, or for a lower ramp the year before's);
    they are placed again by `front_load`. Taking homes out for one ramp can break the next year's
    (an upper ramp) or the year before's (a lower one): the rules are swept again, later years
    first then earlier, until none is broken (taking out only ever ends)."""
    T = model.n_years
    years = years.copy()
    yearly = _yearly(model)
    ramps = any(model.constraints[j].prior for j in yearly)
    for sweep in range(2 * T + 1 if ramps else 1):
        changed = False
        order = yearly if sweep % 2 == 0 else sorted(yearly, key=lambda j: -model.constraints[j].year)
        for j in order:
            c = model.constraints[j]
            use = c.sign * use_of[c.term] * model.weights(c, rows, years) * (years < T)
            excess = use.sum() - c.rhs
            if excess > 1e-9:
                here = np.flatnonzero(use > 0)
                ranked = here[np.argsort(-use[here], kind="stable")]
                years[ranked[: int(np.searchsorted(np.cumsum(use[ranked]), excess - 1e-9)) + 1]] = T
                changed = True
        if not changed:
            break
    return years
