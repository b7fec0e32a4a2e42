"""`optimise`: the steps from a candidate table and a scenario to a checked plan with a proven gap.

Steps, each under a deterministic work limit (`Work`), the scenario's time limit as the hard
stop (limits.py), and the caller's cancel event:
1. build the model from the tables and check the arithmetic of the rules (feasibility.py);
   the same model with every per-year limit summed over the programme (`aggregate_years`)
   is a relaxation whose prices tell every home's choice apart;
2. the ideal of each objective alone (for normalise = "ideal"); on smaller problems, the
   greedy plan too, a fall-back that a tiny time limit can still return when it keeps every rule;
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
6. every candidate plan is checked as it comes (every rule, from the model and then
   independently by `check_plan`); one that breaks a rule is never returned: the next is
   tried, else a RetrofitError names the rule (or says no plan was found in time).

The plan returned is the best checked one; what stopped the search is in details["stopped_by"]
("gap", "work_limit", "time_limit" or "cancelled"), and details["reproducible"] says whether
the same inputs give the same plan (false once the wall clock cut any step: details["time_limit_cut"]).

Delivery (`[delivery]` with a confidence above 0.5): the steps run in passes, each within the
limits less a contingency set from the plan before (`retrofit.optimise.contingency`); the first
plan whose own need is within what was held back is the answer, checked by `check_plan` at the
scenario's confidence.

Mobilisation (rules.mobilisation_cost_gbp, per area and year with any work) is subtracted
from the objective at the programme's average value of £1: the weighted ideal values over
the total budget. It is decided exactly in CP-SAT when the whole problem fits the core;
at full scale only the core homes weigh it, and the bound ignores it (still valid, weaker).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from retrofit.candidates import REQUIRED
from retrofit.errors import RetrofitError
from retrofit.optimise.awards import award_use
from retrofit.delivery import Levels, cost_sd_of, plan_risk, programme_cost
from retrofit.optimise.contingency import PASSES, held_back, needed, parts
from retrofit.optimise.contingency import MARGIN as CONTINGENCY_MARGIN
from retrofit.optimise.contingency import TIGHT as CONTINGENCY_TIGHT
from retrofit.optimise.core import solve_core
from retrofit.optimise.feasibility import InfeasibleScenario, explain_broken_rows, precheck
from retrofit.optimise.greedy import greedy
from retrofit.optimise.held import Held, held_value, plan_rows, shifted
from retrofit.optimise.lagrange import CORE_HOMES as CORE_HOMES_LP
from retrofit.optimise.lagrange import (LP_ROUNDS, LPResult, Pricing, price, refine_prices, sample_prices,
                                        solve_core_lp, solve_lp)
from retrofit.optimise.limits import Clock, Progress, Stage, within_limit
from retrofit.optimise.model import (COST_UNIT, OBJECTIVES, Model, aggregate_years, binding_by_year, build_model,
                                     funding_preference, objective_values, usage)
from retrofit.optimise.years import assign_years, front_load
from retrofit.plan import TOLERANCE_DAYS, TOLERANCE_GBP, PlanResult, check_plan, index_candidates, plan_kpis
from retrofit.reference import CITIES
from retrofit.scenario import Scenario, canonical_json

FULL_CORE_COLUMNS = 2_000    # rows x years up to which CP-SAT gets the whole problem (exact)
CORE_HOMES = 400             # homes nearest the LP threshold that CP-SAT decides, besides the fractional ones
LP_GAP_SHARE = 0.2           # the LP is solved to this share of the scenario's gap target
POLISH_GAP_SHARE = 0.1    # the polish MIP stops within this share of the gap target (of the whole plan, fixed homes included)
FLOOR_MARGIN = 0.003         # lower limits (shares, equity) planned this much above need: homes without a year may drop
IDEAL_GAP = 1e-3             # the ideal values (normalisers) are LP values to within this
SAMPLE_ONLY_HOMES = 50_000   # above this many homes, an ideal is the bound at a sample's prices (about 0.1% high)
IDEAL_SAMPLE_HOMES = 5_000
REFINE_SAMPLE_HOMES = 5_000  # the sample whose prices `refine_prices` starts from
REFINED_CORE_HOMES = 3_000   # the first core LP's homes after `refine_prices`
# deterministic work (`Work`): CP-SAT's deterministic time per second of the scenario's limit
CORE_WORK_SHARE = 0.125      # each CP-SAT on a core (rounding; years of the core homes)
WHOLE_WORK_SHARE = 0.45      # CP-SAT on the whole problem (small problems)
POLISH_NODES = 1_000         # branch-and-cut nodes of the polish MIP (a few hundred at full scale)
# Where each step starts on the progress bar (0 to 1; the spans are what a step's own progress covers)
AT = {"model": 0.0, "ideals": 0.05, "each_ideal": 0.1, "lp": 0.35, "lp_span": 0.4, "wider_lp": 0.5,
      "wider_lp_span": 0.3, "cp_sat": 0.8, "years": 0.9, "polish": 0.92}
# the latest each step may end, as a share of the time limit (the hard stop is 1): later steps keep time
IDEALS_END, LP_END, ROUND_END, YEARS_END = 0.4, 0.75, 0.85, 0.95


@dataclass(frozen=True)
class Work:
    """Deterministic work limits of one solve, from the scenario alone (its time limit read as an
    amount of work), never from elapsed time: the same inputs stop every step at the same point."""

    core_s: float    # CP-SAT deterministic time per core
    whole_s: float   # CP-SAT deterministic time on the whole problem
    lp_rounds: int   # core LP rounds of each LP relaxation
    polish_nodes: int

    @classmethod
    def of(cls, scenario: Scenario) -> Work:
        limit = scenario.solver.time_limit_s
        return cls(CORE_WORK_SHARE * limit, WHOLE_WORK_SHARE * limit, LP_ROUNDS, POLISH_NODES)


@dataclass
class Prepared:
    """What a re-solve after a weight change can reuse: the models and the ideals."""

    candidates: pd.DataFrame
    key: str
    model: Model
    relaxed: Model                      # every per-year limit summed over the programme: bounds
    planned: Model                      # the same with lower limits raised by FLOOR_MARGIN: plans
    ideal: dict = field(default_factory=dict)
    cut: bool = False                   # the wall clock cut an ideal's LP: not reused (not reproducible)
    held: Held | None = None            # a re-plan's held homes (their use is off the model's limits)
    checked_against: pd.DataFrame | None = None  # with held homes: the candidates and the held rows, for `check_plan`


class Answers:
    """The checked plans of one solve (the best kept) and the best bound proven so far; the
    worker offers them, the waiting thread reads them at the end or at the hard stop."""

    def __init__(self):
        self._lock = threading.Lock()
        self.best: PlanResult | None = None
        self.columns: tuple[np.ndarray, np.ndarray] | None = None  # the best plan's model rows and years
        self.bound = np.inf
        self.refused: list[str] = []  # what `check_plan` found in plans the model's arithmetic passed

    def offer_bound(self, bound: float) -> None:
        with self._lock:
            self.bound = min(self.bound, float(bound))

    def offer(self, result: PlanResult, columns: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Keep the best plan; of equal ones the later (the greedy comes first, without the LP's prices)."""
        with self._lock:
            if self.best is None or result.objective >= self.best.objective:
                self.best, self.columns = result, columns

    def replace_best(self, result: PlanResult, bound: float, columns: tuple[np.ndarray, np.ndarray]) -> None:
        """The plan and the bound of its own problem, together (a delivery pass's: its limits are its own)."""
        with self._lock:
            self.best, self.bound, self.columns = result, float(bound), columns

    def refuse(self, source: str, problems: list[str]) -> None:
        with self._lock:
            self.refused.append(f"{source}: {'; '.join(problems)}")

    def snapshot(self) -> tuple[PlanResult | None, float, list[str]]:
        with self._lock:
            return self.best, self.bound, list(self.refused)


@dataclass(frozen=True)
class Solve:
    """What every step of one solve shares (STYLE habit 14): the tables and models, the values,
    the gap target, the work limits and the clock, the seed, progress, and where plans go."""

    candidates: pd.DataFrame
    scenario: Scenario
    prepared: Prepared
    value_raw: np.ndarray      # objective per model row
    value: np.ndarray          # the same scaled (a typical home about 1)
    scale: float
    normalisers: dict
    mobilisation_raw: float    # objective lost per area and year with work
    work: Work
    clock: Clock
    answers: Answers
    report: Progress

    @property
    def model(self) -> Model:
        return self.prepared.model

    @property
    def relaxed(self) -> Model:
        return self.prepared.relaxed

    @property
    def gap_target(self) -> float:
        return self.scenario.solver.relative_gap

    @property
    def seed(self) -> int:
        return self.scenario.solver.seed

    @property
    def mobilisation(self) -> float:
        return self.mobilisation_raw / self.scale

    def stage(self, step: str, until: float) -> Stage:
        """Step ``step``, ending by ``until`` of the time limit; TimeUp when the hard stop has passed."""
        self.clock.check(step)
        return self.clock.stage(step, until)


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


def _lp(prepared: Prepared, value: np.ndarray, stage: Stage, gap: float, seed: int, progress=None,
        lam0: np.ndarray | None = None, core_homes: int = CORE_HOMES_LP, start: Pricing | None = None,
        first: Stage | None = None) -> tuple[LPResult, Model]:
    """LP relaxation (summed years) of ``value`` (already scaled), from prices ``lam0`` (else a
    sample's), and the model it was solved on (lower limits raised, unless that cannot be met).
    ``first``: where its first core LP must end, when later than ``stage`` (see `solve_lp`)."""
    relaxed, planned = prepared.relaxed, prepared.planned
    if relaxed.n_homes <= core_homes:  # the first core LP holds every home: it is the whole LP
        lam0, start = np.zeros(len(relaxed.constraints)), None
    elif lam0 is None:
        lam0 = sample_prices(planned, value, seed, stage=stage)
    lp = solve_lp(planned, value, lam0, gap, stage, progress, seed, core_homes=core_homes, start=start, first=first)
    if (lp.artificial > 1e-6).any() and not stage.over() and not stage.cancelled():
        planned = relaxed  # the margin may be more than the homes can give
        lp = solve_lp(relaxed, value, lam0, gap, stage, progress, seed, core_homes=core_homes, first=first)
        if (lp.artificial > 1e-6).any() and not stage.over() and not stage.cancelled():
            raise InfeasibleScenario(explain_broken_rows(relaxed, lp.artificial))
    # the bound is the plain relaxation's (valid at any prices): the same homes and terms with lower
    # limits not raised, so only lam @ rhs differs
    lp.bound += float(lp.lam @ (relaxed.rhs - planned.rhs))
    return lp, planned


def _refined_lp(prepared: Prepared, value: np.ndarray, stage: Stage, gap: float, seed: int,
                first: Stage | None = None) -> tuple[LPResult, Model]:
    """The LP at full scale in seconds: a sample's prices made nearly exact by `refine_prices`,
    so that a small first core (the homes nearest the threshold) holds every home whose choice
    is in doubt; the core LP then settles ties and the few fractional homes exactly."""
    lam0 = sample_prices(prepared.planned, value, seed, REFINE_SAMPLE_HOMES, stage)
    lam, pricing = refine_prices(prepared.planned, value, lam0, stage=stage)
    return _lp(prepared, value, stage, gap, seed, None, lam, REFINED_CORE_HOMES, pricing, first)


def prepare(candidates: pd.DataFrame, scenario: Scenario, clock: Clock | None = None, progress=None,
            held: Held | None = None) -> Prepared:
    """Build the model, check the rules' arithmetic and compute the ideals (each ideal's LP by
    the `IDEALS_END` share of ``clock``'s limit at the latest). ``held``: homes a re-plan keeps,
    whose use of each rule comes off its limit first (`retrofit.optimise.held`)."""
    clock = clock or Clock(scenario.solver.time_limit_s)
    clock.check("building the model")
    _check_columns(candidates)
    model = build_model(candidates, scenario, lambda: clock.check("building the model"))
    checked_against = None
    if held is not None:
        model = shifted(held, model)
        checked_against = pd.concat([candidates, held.candidates()], ignore_index=True)
        index_candidates(checked_against)
    clock.check("building the model")
    if held is None:  # its arithmetic reads the scenario's own limits; a re-plan's are less the held homes' use
        precheck(model, pd.unique(candidates["home_id"].astype(str)))
    if model.n_rows == 0:
        raise InfeasibleScenario("scenario cannot be met: no candidate row passes the eligibility rules "
                                 f"(rows removed: {model.removed})")
    clock.check("checking the rules")
    index_candidates(candidates)  # for `check_plan`, once per table: checking each plan is then quick
    prepared = Prepared(candidates, _rules_key(scenario), model, aggregate_years(model),
                        aggregate_years(model, FLOOR_MARGIN), held=held, checked_against=checked_against)
    if scenario.weights.normalise == "ideal" or scenario.rules.mobilisation_cost_gbp > 0:
        for k, name in enumerate(OBJECTIVES):
            if progress:
                progress(AT["ideals"] + AT["each_ideal"] * k, f"best {name} alone")
            metric = model.metrics[:, k]
            if not (metric > 0).any():
                prepared.ideal[name] = 0.0
                continue
            scale = _scale_of(metric)
            clock.check(f"best {name} alone")
            stage = clock.stage(f"best {name} alone", IDEALS_END * (k + 1) / 3)
            if model.n_homes > SAMPLE_ONLY_HOMES:  # the bound at the sample's prices: an upper bound, close
                lam = sample_prices(prepared.relaxed, metric / scale, scenario.solver.seed, IDEAL_SAMPLE_HOMES, stage)
                prepared.ideal[name] = price(prepared.relaxed, metric / scale, lam).bound * scale
                continue
            cuts = len(clock.cuts)
            lp, _ = _lp(prepared, metric / scale, stage, IDEAL_GAP, scenario.solver.seed)
            prepared.cut |= len(clock.cuts) > cuts
            prepared.ideal[name] = float((lp.value if np.isfinite(lp.value) else lp.bound) * scale)
    return prepared


# the tolerances of `check_plan`, in model units: a plan the model passes, the check passes too
_TOLERANCE = {"money": TOLERANCE_GBP / COST_UNIT, "trade": TOLERANCE_DAYS, "count": 1e-6}


def broken_rules(model: Model, rows: np.ndarray, years: np.ndarray) -> list[str]:
    """The coupling rows a plan breaks (model arithmetic, with `check_plan`'s tolerances)."""
    used = usage(model, rows, years)
    broken = [c.name for c, u in zip(model.constraints, used)
              if u > c.rhs + _TOLERANCE["money" if c.money else "trade" if c.term.startswith("trade:") else "count"]]
    if model.must.any() and not np.isin(np.flatnonzero(model.must), model.home[rows]).all():
        broken.append("rules.must_include")
    if (years >= model.n_years).any() or np.bincount(model.home[rows], minlength=1).max(initial=0) > 1:
        broken.append("one package and year per home")
    return broken


def optimise(candidates: pd.DataFrame, scenario: Scenario, progress=None,
             cancel: threading.Event | None = None, warm_start: PlanResult | None = None,
             held: Held | None = None) -> PlanResult:
    """The best plan for the scenario within its time limit, with a proven upper bound.

    The plan returned always keeps every rule (checked by the model's arithmetic and by
    `check_plan`); when none is found, a RetrofitError says why: the rule the independent check
    found broken, or that the time limit came first. The time limit is a hard stop: the answer
    comes by then, the best checked plan found so far (details["stopped_by"] = "time_limit",
    details["reproducible"] = false). Otherwise every step ends on deterministic work, and the
    same inputs give the same plan. ``warm_start``: an earlier result on the same candidate
    table and rules (weights and solver settings may differ): its model and ideals are reused.
    BLAS runs on one thread meanwhile: the products here are narrow (a column per coupling row),
    and on shared cores threads waiting for each other made them several times slower.

    ``held`` (a re-plan): homes kept as they are; ``scenario`` is then the open part of the
    programme (its years not yet over) and ``candidates`` the homes still open. The plan returned
    is the whole programme's (held homes included), checked against ``held.scenario``; its
    objective and bound include the held homes' value, so its gap is at most the open part's."""
    clock = Clock(scenario.solver.time_limit_s, cancel)
    answers = Answers()
    levels = Levels.of(scenario)

    def solve(report: Progress) -> None:
        if levels.uptake > 0 or levels.cost > 0:
            _in_passes(candidates, scenario, clock, answers, report, warm_start, held, levels)
        else:
            _optimise(candidates, scenario, clock, answers, report, warm_start, held)

    with threadpool_limits(limits=1, user_api="blas"):
        finished = within_limit(clock, solve, progress)
    result = _answer(scenario, clock, answers, finished, progress)
    return result if held is None else _with_held(result, held, scenario)


def _in_expectation(scenario: Scenario) -> Scenario:
    """The scenario with its rules held in expectation only (both confidences 0.5)."""
    delivery = scenario.delivery.model_copy(update={"confidence": 0.5, "cost_confidence": 0.5})
    return scenario.model_copy(update={"delivery": delivery})


def _in_passes(candidates: pd.DataFrame, scenario: Scenario, clock: Clock, answers: Answers, report: Progress,
               warm_start: PlanResult | None, held: Held | None, levels: Levels) -> None:
    """The steps in passes, each within the limits less a contingency set from the plan before
    (`retrofit.optimise.contingency`). A plan whose own need is within what its pass held back
    keeps every rule at the scenario's confidence (checked again by `check_plan`); the best such
    plan goes to ``answers`` with its pass's bound. After one, the next pass holds back only what
    that plan needed (less than its pass held back, so possibly a better plan); the passes end
    once a kept plan needed nearly all that was held back, or after PASSES."""
    expectation = _in_expectation(scenario)
    held_e = replace(held, scenario=_in_expectation(held.scenario)) if held is not None else None
    whole, checked = (held.scenario, None) if held is not None else (scenario, candidates)
    first = prepared = amounts = None
    kept = -np.inf
    for k in range(PASSES):
        start, width = (0.0, 0.4) if k == 0 else (0.4, 0.4) if k == 1 else (0.8 + 0.2 * (1 - 0.5 ** (k - 2)),
                                                                             0.1 * 0.5 ** (k - 2))

        def sub(fraction: float, message: str, start=start, width=width, k=k) -> None:
            what = "in expectation" if k == 0 else f"with the contingency held back, pass {k + 1}"
            report(start + width * fraction, f"{what}: {message}")

        trial = Answers()
        if k > 0:
            model = held_back(first.model, amounts)
            prepared = replace(first, model=model, relaxed=aggregate_years(model),
                               planned=aggregate_years(model, FLOOR_MARGIN))
        try:
            _optimise(candidates, expectation, clock, trial, sub, warm_start, held_e, prepared)
        except InfeasibleScenario:
            if k == 0:
                raise
            if kept > -np.inf:
                return  # this pass held back too much to plan at all: the plan kept before stands
            raise InfeasibleScenario("scenario cannot be met at delivery.confidence / cost_confidence: with the "
                                     "contingency these homes' uptake and costs need, the yearly rules leave no plan; "
                                     "lower a confidence or loosen the yearly limits") from None
        best, bound, refused = trial.snapshot()
        if best is None:
            for problem in refused:
                answers.refuse("in expectation" if k == 0 else f"pass {k + 1}", [problem])
            return
        if k == 0:
            first, in_expectation = best.prepared, bound
        rows, years = trial.columns
        need = needed(first.model, levels, rows, years)
        within = amounts is not None and bool((need <= amounts + 1e-9).all())
        if within and best.objective > kept:
            problems = check_plan(best.plan, checked if held is None else first.checked_against, whole)
            if problems:  # the model's arithmetic and the independent check disagree: never returned
                answers.refuse(f"pass {k + 1}", problems)
                return
            details = {**best.details, "delivery": {
                "confidence": scenario.delivery.confidence, "cost_confidence": scenario.delivery.cost_confidence,
                "method": "normal approximation per rule (per year and city); contingencies of uptake and cost added",
                "passes": k + 1, "contingency": parts(first.model, levels, rows, years),
                "held_back": [{"name": c.name, "amount": float(c.natural(a))}
                              for c, a in zip(first.model.constraints, amounts) if a > 0],
                "bound_in_expectation": float(in_expectation),
                "gap_to_expectation_bound": _gap(in_expectation, best.objective),
                "programme_cost": programme_cost(best.plan, whole),
                "by_city_year": plan_risk(best.plan, whole).to_dict("records")}}
            answers.replace_best(replace(best, details=details, kpis=plan_kpis(best.plan, whole)), bound,
                                 trial.columns)
            kept = best.objective
        holding = amounts > 0 if amounts is not None else None
        if within and (k == PASSES - 1 or not holding.any()
                       or (need[holding] >= amounts[holding] * (1 - CONTINGENCY_TIGHT)).any()):
            return  # the kept plan needed nearly all that was held back (on some rule): little more to gain
        amounts = need * (1 + CONTINGENCY_MARGIN) if within else \
            np.maximum(amounts if amounts is not None else 0.0, need) * (1 + CONTINGENCY_MARGIN)
    if kept == -np.inf:
        raise RetrofitError(f"the contingency for uptake and costs did not settle in {PASSES} passes (each plan "
                            "needed more held back than the one before); lower delivery.confidence or "
                            "cost_confidence, and please report it")


def _with_held(result: PlanResult, held: Held, scenario: Scenario) -> PlanResult:
    """The open part's result as the whole programme's: the held homes' value added to the
    objective and the bound (the bound stays proven: theirs is a constant)."""
    normalisers = result.details["lagrange"]["normalisers"]
    value = held_value(held, scenario.weights.model_dump(), normalisers)
    objective, bound = result.objective + value, result.bound + value
    gap = _gap(bound, objective)
    details = {**result.details, "open_part": {"objective": result.objective, "bound": result.bound,
                                               "gap": result.gap, "held_objective": value}}
    return replace(result, objective=float(objective), bound=float(bound), gap=float(gap), details=details)


def _gap(bound: float, objective: float) -> float:
    """The plan's distance from the bound, as a share of the bound."""
    return (bound - objective) / abs(bound) if abs(bound) > 1e-12 else 0.0


def _answer(scenario: Scenario, clock: Clock, answers: Answers, finished: bool, progress) -> PlanResult:
    """The best checked plan, its gap against the best bound, and what stopped the search; else the error."""
    best, bound, refused = answers.snapshot()
    limit = scenario.solver.time_limit_s
    if best is None:
        if clock.cancelled():
            raise RetrofitError(f"the solve was cancelled (during {clock.step}) before it found a plan that keeps "
                                f"every rule; nothing was planned")
        if refused:  # the model's arithmetic passed a plan that the independent check did not
            raise RetrofitError(f"no plan that keeps every rule was found: the independent check (check_plan) "
                                f"refused {refused[0]}; loosening that rule a little (or a longer "
                                f"solver.time_limit_s, which tries more plans) usually gets past it, and "
                                f"please report it (the model should have caught it)")
        if not finished or clock.cuts:
            when = f"reached during {clock.step}" if not finished else f"it cut {', '.join(clock.cuts)}"
            raise RetrofitError(f"no plan that keeps every rule was found within the time limit "
                                f"(solver.time_limit_s = {limit:g} s, {when}); raise solver.time_limit_s and run again")
        raise RetrofitError(f"no plan that keeps every rule was found within the work the time limit allows "
                            f"(solver.time_limit_s = {limit:g} s); raise solver.time_limit_s and run again")
    bound = max(bound, best.objective)
    gap = _gap(bound, best.objective)
    status = "OPTIMAL" if gap <= scenario.solver.relative_gap + 1e-12 else "FEASIBLE"
    cancelled, cuts = clock.cancelled(), list(clock.cuts)
    stopped_by = "cancelled" if cancelled else "time_limit" if cuts or not finished else \
        "gap" if status == "OPTIMAL" else "work_limit"
    details = {**best.details, "stopped_by": stopped_by, "reproducible": not (cancelled or cuts or not finished),
               "time_limit_cut": cuts}
    if progress and not finished:
        progress(1.0, f"time limit ({limit:g} s): {status}, gap {gap:.4%}")
    elif progress:
        progress(1.0, f"{status}: gap {gap:.4%}")
    return replace(best, status=status, bound=float(bound), gap=float(gap), solve_seconds=clock.elapsed(),
                   details=details)


def _optimise(candidates: pd.DataFrame, scenario: Scenario, clock: Clock, answers: Answers, report: Progress,
              warm_start: PlanResult | None, held: Held | None = None, prepared: Prepared | None = None) -> None:
    """The steps (in the worker thread): every checked plan and bound goes to ``answers``.
    ``prepared``: the models to solve, as given (a pass with its contingency held back)."""
    report(AT["model"], "building the model")
    if prepared is None:
        prepared = warm_start.prepared if warm_start is not None else None
        warm = isinstance(prepared, Prepared) and prepared.candidates is candidates \
            and prepared.key == _rules_key(scenario) and not prepared.cut and prepared.held is held
        if not warm:
            prepared = prepare(candidates, scenario, clock, report, held)
    model, relaxed = prepared.model, prepared.relaxed
    weights = scenario.weights.model_dump()
    normalisers = prepared.ideal if scenario.weights.normalise == "ideal" else {k: 1.0 for k in OBJECTIVES}
    value_raw = objective_values(model, weights, normalisers)
    gbp_value = 0.0  # objective units per £ (for mobilisation)
    if scenario.rules.mobilisation_cost_gbp > 0:
        gbp_value = sum(weights[k] * prepared.ideal.get(k, 0) / normalisers[k] for k in OBJECTIVES
                        if normalisers.get(k, 0) > 0) / scenario.budget.total_gbp
    scale = _scale_of(value_raw)
    ctx = Solve(candidates, scenario, prepared, value_raw, value_raw / scale + funding_preference(model), scale, dict(normalisers),
                scenario.rules.mobilisation_cost_gbp * gbp_value, Work.of(scenario), clock, answers, report)
    T = model.n_years
    whole = model.n_rows * T <= FULL_CORE_COLUMNS
    refined = not whole and relaxed.n_homes > CORE_HOMES_LP  # full scale: refined prices, a small core LP
    greedy_rows = _fallback(ctx) if whole or model.n_homes <= SAMPLE_ONLY_HOMES else np.zeros(0, dtype=int)
    stats = {"greedy_objective": float(value_raw[greedy_rows].sum())}

    report(AT["lp"], "prices and LP relaxation")
    stage = ctx.stage("LP relaxation", LP_END)
    first = clock.stage("LP relaxation", ROUND_END)  # without a first LP point there is no plan at all
    gap = ctx.gap_target * LP_GAP_SHARE
    if refined:
        lp, planned = _refined_lp(prepared, ctx.value, stage, gap, ctx.seed, first)
    else:
        lp, planned = _lp(prepared, ctx.value, stage, gap, ctx.seed,
                          lambda fraction, message: report(AT["lp"] + AT["lp_span"] * fraction, message), first=first)
    bound = lp.bound * scale
    answers.offer_bound(bound)
    stats |= _lp_stats(lp, scale) | {"lp_route": "refined prices, small core" if refined else "core LP"}

    if whole:  # CP-SAT on everything, years included: exact
        _whole(ctx, lp, stats)
        return
    found = _summed_plans(ctx, planned, lp, bound, stats)
    if refined and not found:
        report(AT["wider_lp"], "LP relaxation on a wider core (no plan from the first)")
        stage = ctx.stage("LP relaxation on a wider core", LP_END)
        lp, planned = _lp(prepared, ctx.value, stage, gap, ctx.seed,
                          lambda fraction, message: report(AT["wider_lp"] + AT["wider_lp_span"] * fraction, message),
                          lam0=lp.lam)
        bound = min(bound, lp.bound * scale)
        answers.offer_bound(bound)
        stats |= _lp_stats(lp, scale) | {"lp_route": "core LP"}
        _summed_plans(ctx, planned, lp, bound, stats)


def _lp_stats(lp: LPResult, scale: float) -> dict:
    return {"lp_value": lp.value * scale if np.isfinite(lp.value) else None, "lp_iterations": lp.iterations,
            "lp_core_homes": int(lp.core_homes.sum()), "lp_columns": lp.columns, "lam": lp.lam}


def _fallback(ctx: Solve) -> np.ndarray:
    """The greedy plan (cheap on smaller problems), offered when it keeps every rule: a tiny time
    limit can still return it. Its bound, until the LP's, is every home's best value (prices 0)."""
    rows, years, _ = greedy(ctx.model, ctx.value)
    if not broken_rules(ctx.model, rows, years):
        zero = np.zeros(len(ctx.relaxed.constraints))
        bound = price(ctx.relaxed, ctx.value, zero).bound * ctx.scale
        ctx.answers.offer_bound(bound)
        _offer(ctx, "greedy", rows, years, {"lam": zero, "lp_route": "none (greedy)",
                                            "greedy_objective": float(ctx.value_raw[rows].sum())})
    return rows


def _whole(ctx: Solve, lp: LPResult, stats: dict) -> None:
    """CP-SAT on the whole problem, years included: exact when it ends OPTIMAL."""
    model, T = ctx.model, ctx.model.n_years
    rows = np.repeat(np.arange(model.n_rows), T)
    years = np.tile(np.arange(T), model.n_rows)
    hint = np.isin(rows * T + years, lp.col_row[(lp.x > 1e-9) & (lp.x > 0.5)] * T)
    stage = ctx.stage("CP-SAT on the whole problem", YEARS_END)
    core = solve_core(model, ctx.value, rows, years, hint, model.rhs, stage, ctx.work.whole_s, ctx.seed,
                      ctx.gap_target, mobilisation=ctx.mobilisation)
    if core.status == "INFEASIBLE":
        raise InfeasibleScenario("scenario cannot be met: the programme totals can be met but not year by year; "
                                 "check budget.per_year_gbp and cities.*.homes_per_year / trade_days_per_year "
                                 "against the minimum shares, the equity rule and must-include homes")
    stats |= {"core_homes": model.n_homes, "core_columns": len(rows), "core_status": core.status,
              "core_seconds": core.seconds}
    if core.chosen is None:
        return
    if core.status == "OPTIMAL":  # proven: the bound is the plan's own objective (mobilisation included)
        chosen_rows, chosen_years = rows[core.chosen], years[core.chosen]
        areas = np.count_nonzero(np.bincount(model.area[chosen_rows] * T + chosen_years, minlength=1))
        ctx.answers.offer_bound(float(ctx.value_raw[chosen_rows].sum() - ctx.mobilisation_raw * areas))
    elif np.isfinite(core.bound):
        ctx.answers.offer_bound(core.bound * ctx.scale)
    _offer(ctx, "CP-SAT", rows[core.chosen], years[core.chosen], stats, front=True)


def _offer(ctx: Solve, source: str, rows: np.ndarray, years: np.ndarray, stats: dict, front: bool = False) -> bool:
    """Check a candidate plan (the model's arithmetic, then `check_plan` on the plan table) and,
    when it keeps every rule, offer it with its details; True when it was offered. ``front``:
    move each home to the earliest year with room first (the objective is unchanged)."""
    model, T = ctx.model, ctx.model.n_years
    if front and ctx.mobilisation_raw == 0:  # `assign_years` front-loads its own
        years = front_load(model, rows, years, ctx.value)
    if broken_rules(model, rows, years):
        return False
    plan, positions = plan_table(ctx.candidates, model, rows, years)
    held, scenario, candidates = ctx.prepared.held, ctx.scenario, ctx.candidates
    if held is not None:  # the whole programme's plan, checked whole
        plan = pd.concat([plan, plan_rows(held, list(plan.columns))], ignore_index=True)
        positions = np.r_[positions, len(candidates) + np.arange(len(held.plan))]
        order = np.argsort(plan["home_id"].to_numpy(dtype=str), kind="stable")
        plan, positions = plan.iloc[order].reset_index(drop=True), positions[order]
        scenario, candidates = held.scenario, ctx.prepared.checked_against
    problems = check_plan(plan, candidates, scenario, positions)
    if problems:
        ctx.answers.refuse(source, problems)
        return False
    areas_opened = int(np.count_nonzero(np.bincount(model.area[rows] * T + years, minlength=1)))
    objective = float(ctx.value_raw[rows].sum() - ctx.mobilisation_raw * areas_opened)
    lam, relaxed = stats["lam"], ctx.relaxed
    solver = {key: value for key, value in stats.items() if key != "lam"}
    details = {
        "problems": problems,
        "prices": _prices(relaxed, lam, ctx.scale),
        "marginal": _marginal(relaxed, lam, ctx.scale),
        "funding": award_use(model, relaxed, rows, years, lam, ctx.scale) if ctx.scenario.funding else [],
        "binding_by_year": binding_by_year(model, rows, years),
        "ideal": dict(ctx.prepared.ideal),
        "lagrange": {"prices": [float(p) for p in lam], "rules": [c.name for c in relaxed.constraints],
                     "value_scale": ctx.scale, "normalisers": dict(ctx.normalisers)},
        "solver": {
            "plan_from": source, "lp_iterations": 0, "lp_value": None, "lp_core_homes": 0, "lp_columns": 0,
            **solver, "whole_problem_in_core": bool(model.n_rows * T <= FULL_CORE_COLUMNS),
            "rows_removed_by_rules": model.removed, "areas_opened": areas_opened,
            "mobilisation_objective_per_area_year": ctx.mobilisation_raw,
        },
    }
    ctx.answers.offer(PlanResult(plan=plan, status="FEASIBLE", objective=objective, bound=np.inf, gap=np.inf,
                                 solve_seconds=ctx.clock.elapsed(), ideal=dict(ctx.prepared.ideal),
                                 kpis=plan_kpis(plan, scenario), details=details, prepared=ctx.prepared),
                      (rows, years))
    return True


def _summed_plans(ctx: Solve, planned: Model, lp: LPResult, bound: float, stats: dict) -> bool:
    """Candidate plans from a point of the summed-years LP, each offered as it comes: rounded by
    CP-SAT (else rounded down), years assigned, and polished when homes found no year or value
    was lost. True when one kept every rule."""
    model, T = ctx.model, ctx.model.n_years
    plan_rows, core_stats = _round_lp(ctx, planned, lp, bound)
    stats |= core_stats
    integral = lp.col_row[lp.x >= 1 - 1e-6]
    found = False
    for name, rows in (("CP-SAT", plan_rows), ("LP rounded down", integral)):
        if rows is None:
            continue
        ctx.report(AT["years"], f"years for {len(rows):,} homes")
        years = assign_years(model, rows, ctx.value, ctx.seed, ctx.stage("years", YEARS_END))
        placed = years < T
        unplaced = rows[~placed]
        rows, years = rows[placed], years[placed]
        ok = not broken_rules(model, rows, years)
        polished_ok = False
        # with rules between years (ramps), the polish MIP takes minutes at full scale: only to mend a plan
        ramps = any(c.prior for c in model.constraints)
        if not ok or (not ramps and ctx.value_raw[rows].sum() < (1 - ctx.gap_target) * bound):
            ctx.report(AT["polish"], "packages and years of the homes nearest the threshold, again")
            polished = _polish(ctx, rows, years, unplaced, lp.pricing.margin, bound, stats)
            if polished is not None and (not ok or ctx.value[polished[0]].sum() >= ctx.value[rows].sum()):
                polished_ok = _offer(ctx, name + ", years polished", *polished, stats, front=True)
        if ok and not polished_ok:  # the polished plan, when offered, is at least as good
            ok = _offer(ctx, name, rows, years, stats)
        found |= ok or polished_ok
        if found:
            break
    return found


def _nearest(margin: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` homes nearest the threshold (smallest margin), in no particular order."""
    if count >= len(margin):
        return np.arange(len(margin))
    return np.argpartition(margin, count)[:count]


def _round_lp(ctx: Solve, relaxed: Model, lp: LPResult, bound: float):
    """Rows of an integer plan (summed years) from the LP: CP-SAT decides the fractional homes and
    those nearest the threshold under what every other home's LP choice leaves of each limit."""
    value = ctx.value
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
    reach = min(bound / ctx.scale, lp.value) if np.isfinite(lp.value) else bound / ctx.scale
    target = (1 - 0.5 * ctx.gap_target) * reach - fixed_value
    ctx.report(AT["cp_sat"], f"CP-SAT on {int(core_homes.sum()):,} homes, {len(rows):,} options")
    stage = ctx.stage("CP-SAT rounding", ROUND_END)
    core = solve_core(relaxed, value, rows, years, hint, residual, stage, ctx.work.core_s, ctx.seed, ctx.gap_target,
                      target, ctx.mobilisation, np.unique(relaxed.area[fixed_rows]) if ctx.mobilisation_raw else None)
    stats = {"core_homes": int(core_homes.sum()), "core_columns": int(len(rows)), "core_status": core.status,
             "core_seconds": core.seconds}
    if core.chosen is None:
        return None, stats
    return np.r_[fixed_rows, rows[core.chosen]], stats


def _polish(ctx: Solve, rows: np.ndarray, years: np.ndarray, unplaced: np.ndarray, margin: np.ndarray,
            bound: float, stats: dict):
    """The phased model for the homes left without a year and those nearest the threshold,
    every package and year, under what the other placed homes leave of each year's limits: a
    home without a year can take the place of marginal ones (and the minimum shares and equity
    are met again). The LP picks the few columns worth having; HiGHS branch-and-cut decides
    them, within a tenth of the gap target (of the whole plan) or `POLISH_NODES` nodes, whichever
    comes first (CP-SAT, slow to find a first plan here, only when mobilisation charges count)."""
    model, value, T = ctx.model, ctx.value, ctx.model.n_years
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
    stage = ctx.stage("polish", YEARS_END)
    lp = solve_core_lp(model, value, core_rows, core_years, residual, stage, ctx.seed)
    useful = current | (lp.x > 1e-6) if lp.ok else np.ones(len(core_rows), dtype=bool)
    core_rows, core_years = core_rows[useful], core_years[useful]
    fixed_value = float(value[fixed_rows].sum())
    if ctx.mobilisation_raw == 0:  # HiGHS branch-and-cut finds a plan that keeps every rule quickly here
        mip = solve_core_lp(model, value, core_rows, core_years, residual, ctx.stage("polish", YEARS_END), ctx.seed,
                            integer=True, gap=POLISH_GAP_SHARE * ctx.gap_target, offset=fixed_value,
                            max_nodes=ctx.work.polish_nodes)
        stats["polish_status"] = mip.status
        if not mip.ok:
            return None
        chosen = mip.x > 0.5
    else:  # CP-SAT weighs the mobilisation charges
        target = (1 - 0.5 * ctx.gap_target) * bound / ctx.scale - fixed_value
        core = solve_core(model, value, core_rows, core_years, current[useful], residual,
                          ctx.stage("polish", YEARS_END), ctx.work.core_s, ctx.seed, ctx.gap_target,
                          target, ctx.mobilisation, np.unique(model.area[fixed_rows] * T + fixed_years))
        stats["polish_status"] = core.status
        if core.chosen is None:
            return None
        chosen = core.chosen
    return np.r_[fixed_rows, core_rows[chosen]], np.r_[fixed_years, core_years[chosen]]


def plan_table(candidates: pd.DataFrame, model: Model, rows: np.ndarray, years: np.ndarray
               ) -> tuple[pd.DataFrame, np.ndarray]:
    """The plan's rows (by home), and each one's position in the candidate table."""
    order = np.argsort(model.home[rows], kind="stable")
    chosen = rows[order]
    positions = model.rows[chosen]
    plan = candidates.iloc[positions].reset_index(drop=True)
    plan.insert(2, "year", np.asarray(model.years)[years[order]])
    grants = {key: model.grants[key][chosen] for key in sorted(model.grants)}
    grant = sum(grants.values(), np.zeros(len(chosen)))
    co_funding = model.co_funding[chosen]
    # the council pays the rest of the cost as the plan states it (to the penny)
    plan["council_gbp"] = plan["cost_gbp"].to_numpy(dtype="float64") - grant - co_funding
    plan["grant_gbp"] = grant
    plan["co_funding_gbp"] = co_funding
    names = np.full(len(chosen), "", dtype=object)
    for key, amount in grants.items():
        names = np.where(amount > 0, np.where(names == "", key, names + ";" + key), names)
    plan["funding"] = names.astype(str)
    for key, amount in grants.items():
        plan[f"grant_{key}_gbp"] = amount
    if model.uptake is not None:  # what the stored plan's own check reads (a re-plan's held rows: 1 and 0)
        plan["uptake"] = model.uptake[chosen]
        plan["cost_sd_gbp"] = cost_sd_of(plan)
    first = ["home_id", "package_id", "year", "cost_gbp", *FUNDING_PLAN_COLUMNS]
    return plan[first + [c for c in plan.columns if c not in first]], positions


FUNDING_PLAN_COLUMNS = ["council_gbp", "grant_gbp", "co_funding_gbp", "funding"]  # then grant_<id>_gbp per scheme


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
            if price_ <= 0 or row.city not in (-1, c) or row.prior:
                continue
            if row.term == "cost" and row.sign > 0:
                money += price_
            elif row.term == "homes":
                homes += price_
        for year in years:
            records.append({"city": name, "year": year, "value_of_1m_gbp": money * scale * 1e6 / COST_UNIT,
                            "value_of_100_homes": homes * scale * 100})
    return pd.DataFrame(records)
