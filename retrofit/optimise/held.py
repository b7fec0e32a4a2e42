"""Held homes: a re-plan keeps what is done (or contracted) as it is and plans the rest around it.

A held home has its package, year and actual cost settled. It is not a decision: its use of
every rule is a constant taken off that rule's limit (`shifted`), by the rule's name, from a
model of the held homes alone under the whole programme's scenario. The open problem (the
other homes, over the years not yet over) is then solved as any other, and every plan it
offers is checked whole, held homes included, against the whole programme's scenario.

Rules of years that are over bind only the held homes: one they already break (a year's
budget overspent) cannot be mended by planning, so it is refused in words before solving.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import pandas as pd

from retrofit.actuals import COMMITTED, DROPPED, programme_year
from retrofit.candidates import COST_PARTS
from retrofit.errors import RetrofitError
from retrofit.optimise.feasibility import InfeasibleScenario, money
from retrofit.optimise.model import Model, build_model, eligible_mask, objective_values, usage
from retrofit.scenario import Scenario

TOLERANCE = 1e-6  # model units (£1,000 for money): far below any rule's own tolerance


@dataclass(frozen=True)
class Held:
    """The held homes and the whole programme they belong to."""

    plan: pd.DataFrame    # one candidate row per held home at its actual cost, with its `year`
    scenario: Scenario    # the whole programme (the open problem's scenario starts at its first open year)

    def candidates(self) -> pd.DataFrame:
        """The held rows as candidate rows (what `check_plan` finds them by)."""
        return self.plan.drop(columns=["year"])


def _model(held: Held) -> tuple[Model, np.ndarray]:
    """A model of the held homes alone under the whole programme's rules (their eligibility
    aside: checked on its own), and each model row's year index."""
    rules = held.scenario.rules.model_copy(update={"must_include": [], "exclude": [], "eligible_tenures": None,
                                                   "eligible_packages": None, "min_band_after": None})
    model = build_model(held.candidates(), held.scenario.model_copy(update={"rules": rules}))
    years = np.searchsorted(np.asarray(model.years), held.plan["year"].to_numpy()[model.rows])
    return model, years


def _refuse_ineligible(held: Held) -> None:
    keep, _ = eligible_mask(held.candidates(), held.scenario.model_copy(
        update={"rules": held.scenario.rules.model_copy(update={"exclude": []})}))
    if not keep.all():
        bad = held.plan.loc[~keep, ["home_id", "package_id"]].astype(str)
        shown = ", ".join(f"{h} ({p})" for h, p in bad.head(5).itertuples(index=False))
        raise InfeasibleScenario(f"{int((~keep).sum())} held homes (contracted, in progress or completed) have a "
                                 f"package the scenario's eligibility rules (rules.eligible_tenures, "
                                 f"eligible_packages, min_band_after) do not allow, e.g. {shown}; what is done cannot "
                                 f"be undone: widen the rules in a new scenario version, or correct the actuals")


def shifted(held: Held, model: Model) -> Model:
    """``model`` (the open problem) with each rule's limit less what the held homes use of it.

    Raises `InfeasibleScenario` when the held homes already break a rule of a year that is
    over (nothing can be planned there to mend it) or are not eligible under the rules."""
    _refuse_ineligible(held)
    held_model, years = _model(held)
    used = usage(held_model, np.arange(held_model.n_rows), years)
    by_name = dict(zip((c.name for c in held_model.constraints), used))
    open_names = {c.name for c in model.constraints}
    for c, u in zip(held_model.constraints, used):
        # a year that is over binds only them; an upper limit on what only adds up binds them in any year
        over_year = c.name not in open_names
        if (over_year or (c.sign > 0 and c.term != "equity")) and u > c.rhs + TOLERANCE:
            over = u - c.rhs
            amount = f"£{money(over):,.0f}" if c.money else f"{over:,.1f} {c.unit}"
            raise InfeasibleScenario(f"the delivered and contracted homes already break '{c.name}' ({c.rule}) by "
                                     f"{amount}{', in a year that is over' if over_year else ''}; record the real "
                                     f"limit in a new scenario version (e.g. budget.per_year_gbp), or correct the "
                                     f"actuals")
    missing = [c.name for c in model.constraints if c.name not in by_name]
    if missing:  # both models come from the same rules: a name apart is a bug, not a user's mistake
        raise AssertionError(f"rules of the open problem unknown to the held homes' model: {missing}")
    constraints = [replace(c, limit=c.limit - c.sign * by_name[c.name]) for c in model.constraints]
    return replace(model, constraints=constraints)


def held_value(held: Held, weights: dict, normalisers: dict) -> float:
    """The held homes' objective (raw units, as the open plan's), at the open problem's normalisers."""
    held_model, _ = _model(held)
    return float(objective_values(held_model, weights, normalisers).sum())


def plan_rows(held: Held, columns: list[str]) -> pd.DataFrame:
    """The held homes as plan rows with the given columns: all council money (funded re-plans
    are refused earlier), the candidate's other columns as they are."""
    rows = held.plan.assign(council_gbp=held.plan["cost_gbp"].astype(float), grant_gbp=0.0, co_funding_gbp=0.0,
                            funding="")
    return rows.reindex(columns=columns)


@dataclass(frozen=True)
class Replan:
    """A re-plan's open problem (homes and years still open), its held homes, and what was decided."""

    candidates: pd.DataFrame   # the homes still open: neither held nor dropped
    scenario: Scenario         # the programme from its first open year
    held: Held
    summary: dict              # for the run's details: years closed, homes held and dropped, money


def _first_open_year(scenario: Scenario, today: date) -> int:
    """The programme year today falls in (1 April to 31 March), not before the programme's first."""
    return max(scenario.years.start, int(programme_year([today])[0]))


def from_actuals(candidates: pd.DataFrame, scenario: Scenario, actuals: pd.DataFrame, parent_plan: pd.DataFrame,
                 today: date) -> Replan:
    """What a re-plan from ``actuals`` (a checked `retrofit.actuals` table) keeps and what it opens.

    Contracted, in-progress and completed homes are held: the package installed (the actuals'
    package_id, else the parent plan's), their actual cost where reported (else the candidate's),
    the programme year of their status date. Declined and withdrawn homes are dropped (and no
    longer must be included). The years before today's programme year are over."""
    if scenario.delivery is not None and (scenario.delivery.max_ramp is not None
                                          or scenario.delivery.ramp_start is not None):
        raise RetrofitError("re-planning a scenario with delivery.max_ramp or ramp_start from actuals is not built "
                            "yet (the first open year's ramp is against a year that is over); re-plan a version "
                            "without them")
    if scenario.funding:
        raise RetrofitError("re-planning a funded scenario from actuals is not built yet: which grant paid for each "
                            "delivered home is not in the actuals; plan it from the start, or without [funding]")
    start, end = scenario.years.start, scenario.years.end
    latest = actuals["date"].max() if len(actuals) else None
    if latest is not None and latest.date() > today:
        raise RetrofitError(f"the actuals run to {latest:%-d %B %Y}, after the re-plan's date ({today:%-d %B %Y}); "
                            f"re-plan as of that date or later")
    first_open = _first_open_year(scenario, today)
    if first_open > end:
        raise RetrofitError(f"the programme ({start}-{end}) is over as of {today:%-d %B %Y}: no year is left to "
                            f"re-plan; extend years.end in a new scenario version to plan more")
    committed = actuals[actuals["status"].isin(COMMITTED)]
    planned_package = parent_plan.set_index("home_id")["package_id"]
    package = committed["package_id"].where(committed["package_id"].notna(),
                                            committed["home_id"].map(planned_package))
    unknown = committed.loc[package.isna(), "home_id"]
    if len(unknown):
        raise RetrofitError(f"{len(unknown)} contracted, in-progress or completed homes are not in run's plan and "
                            f"have no package_id in the actuals, e.g. {', '.join(unknown.head(5))}; give the "
                            f"package installed (column package_id) and import the actuals again")
    wanted = pd.DataFrame({"home_id": committed["home_id"].astype(str).to_numpy(),
                           "package_id": package.astype(str).to_numpy()})
    keys = candidates[["home_id", "package_id"]].astype(str).reset_index(drop=True)
    position = pd.MultiIndex.from_frame(keys).get_indexer(pd.MultiIndex.from_frame(wanted))
    if (position < 0).any():
        missing = wanted[position < 0].head(5)
        raise RetrofitError(f"held homes whose package is not in the candidate table, e.g. "
                            f"{', '.join(f'{h} ({p})' for h, p in missing.itertuples(index=False))}; "
                            f"re-plan on the candidates the actuals were checked against")
    rows = candidates.iloc[position].reset_index(drop=True)
    actual = committed["actual_cost_gbp"].to_numpy(dtype=float)
    cost = np.where(np.isnan(actual), rows["cost_gbp"].to_numpy(dtype=float), actual)
    ratio = np.divide(cost, rows["cost_gbp"].to_numpy(dtype=float), out=np.ones(len(rows)),
                      where=rows["cost_gbp"].to_numpy(dtype=float) > 0)
    rows = rows.assign(**{part: rows[part] * ratio for part in COST_PARTS if part in rows}, cost_gbp=cost)
    rows.insert(2, "year", committed["year"].to_numpy(dtype=np.int64))
    # what is contracted or done goes ahead at its cost: certain, whatever [delivery] says of the rest
    held = Held(rows.assign(uptake=1.0, cost_sd_gbp=0.0), scenario)

    dropped = set(actuals.loc[actuals["status"].isin(DROPPED), "home_id"].astype(str))
    settled = dropped | set(wanted["home_id"])
    open_candidates = candidates[~candidates["home_id"].astype(str).isin(settled).to_numpy()]
    rules = scenario.rules
    must = [h for h in rules.must_include if h not in settled]
    per_year = scenario.budget.per_year_gbp
    budget = scenario.budget.model_copy(update={"per_year_gbp": None if per_year is None
                                                else per_year[first_open - start:]})
    open_scenario = scenario.model_copy(update={
        "years": scenario.years.model_copy(update={"start": first_open}), "budget": budget,
        "rules": rules.model_copy(update={"must_include": must})})
    spend = rows.groupby("year")["cost_gbp"].sum()
    unspent = {int(y): float(per_year[y - start] - spend.get(y, 0.0)) for y in range(start, first_open)} \
        if per_year is not None else {}
    summary = {
        "as_of": today.isoformat(), "closed_years": list(range(start, first_open)), "first_open_year": first_open,
        "held_homes": len(rows), "held_by_status": committed["status"].value_counts().to_dict(),
        "held_spend_gbp": float(cost.sum()), "held_spend_by_year_gbp": {int(y): float(v) for y, v in spend.items()},
        "held_at_actual_cost": int((~np.isnan(actual)).sum()), "dropped_homes": len(dropped),
        "must_include_dropped": sorted(set(rules.must_include) & dropped),
        "unspent_in_closed_years_gbp": unspent,
    }
    return Replan(open_candidates, open_scenario, held, summary)
