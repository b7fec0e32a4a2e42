"""Why each home is in or out of a plan, recomputed from the candidates and a run's stored prices.

A stored run keeps only the prices of its rules (`details["lagrange"]`); this rebuilds the
per-home table on demand: each home's best package under those prices, its value per £
against the threshold the prices set (what the package's use of the binding limits is
worth, per £), and the reason in a word.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from retrofit.errors import RetrofitError
from retrofit.optimise.lagrange import price
from retrofit.optimise.model import aggregate_years, build_model, objective_values
from retrofit.scenario import Scenario

COLUMNS = ["home_id", "in_plan", "best_package_id", "value", "cost_gbp", "value_per_gbp", "threshold_per_gbp",
           "margin", "reason"]


def explain_homes(candidates: pd.DataFrame, scenario: Scenario, details: dict, home_ids=None,
                  plan: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per home (or per home in ``home_ids``): best package, value per £ and threshold, reason.

    ``details`` is a run's `PlanResult.details` (stored runs keep it); ``plan`` (optional) the
    run's plan, for the in_plan column; without it in_plan says whether the prices favour
    the home (value per £ above the threshold)."""
    stored = details.get("lagrange") if details else None
    if not stored:
        raise RetrofitError("this run keeps no prices (details['lagrange']); run the scenario again to explain it")
    table = candidates
    if home_ids is not None:
        wanted = pd.Index(pd.unique(pd.Series(list(home_ids), dtype=str)))
        table = candidates[candidates["home_id"].astype(str).isin(wanted)]
    if len(table) == 0:
        return pd.DataFrame(columns=COLUMNS)
    model = aggregate_years(build_model(table, scenario))
    lam = np.asarray(stored["prices"], dtype=float)
    if [c.name for c in model.constraints] != list(stored["rules"]):
        raise RetrofitError("the scenario's rules differ from those the run was planned with; "
                            "explain a run with its own scenario version")
    value_raw = objective_values(model, scenario.weights.model_dump(), stored["normalisers"])
    scale = float(stored["value_scale"])
    pricing = price(model, value_raw / scale, lam)
    rows = pricing.row
    cost = model.cost[rows]
    value = value_raw[rows]
    threshold = value - pricing.best * scale  # what the best package's use of the priced limits is worth
    if plan is not None:
        in_plan = np.isin(model.home_ids, plan["home_id"].astype(str).to_numpy())
    else:
        in_plan = pricing.take
    reason = np.where(pricing.take, "worth its cost: value per £ above the threshold",
                      "not worth its cost: value per £ below the threshold")
    reason = np.where(in_plan & ~pricing.take, "at the margin: in to meet a rule (share, equity, must-include)", reason)
    reason = np.where(~in_plan & pricing.take, "at the margin: left out by the rules' interplay (shares, years)", reason)
    with np.errstate(divide="ignore", invalid="ignore"):
        return pd.DataFrame({
            "home_id": model.home_ids.astype(str), "in_plan": in_plan,
            "best_package_id": table["package_id"].astype(str).to_numpy()[model.rows[rows]],
            "value": value, "cost_gbp": cost,
            "value_per_gbp": np.where(cost > 0, value / cost, np.inf),
            "threshold_per_gbp": np.where(cost > 0, threshold / cost, np.inf),
            "margin": pricing.best * scale, "reason": reason,
        })
