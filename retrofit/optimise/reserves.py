"""Reserve homes: whom to approach when a planned household says no.

Each planned home gets reserves: eligible homes not in the plan, in the same LSOA (then, where
the LSOA has too few, the same ward), each at its best package by value per £ under the run's
own weights and normalisers, taken best first. An area with n planned homes keeps
ceil(reserve_ratio x n) reserves; the k-th best goes to the (k mod n)-th planned home (by year,
then id), as its rank k // n + 1, and would be done in that home's year. A reserve is offered
once. Homes the rules make ineligible (tenure, package, band after, exclude, uptake 0) never are.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from retrofit.optimise.model import build_model, objective_values
from retrofit.scenario import Scenario

COLUMNS = ["planned_home_id", "year", "lsoa_code", "ward", "reserve_rank", "reserve_home_id", "reserve_package_id",
           "reserve_cost_gbp", "reserve_lifetime_co2_t_saved", "reserve_fuel_poor_lifted", "reserve_tenure",
           "reserve_uptake", "value_per_gbp", "same_area"]


def _pool(candidates: pd.DataFrame, scenario: Scenario, normalisers: dict, planned: set, exclude: set) -> pd.DataFrame:
    """Each eligible home outside the plan at its best package by value per £ (value above 0)."""
    model = build_model(candidates, scenario)
    value = objective_values(model, scenario.weights.model_dump(), normalisers)
    per_gbp = value / np.maximum(model.cost, 1e-9)  # with uptake both are times it: the ratio is the home's own
    ids = model.home_ids[model.home]
    usable = (value > 0) & ~pd.Series(ids).isin(planned | exclude).to_numpy()
    order = np.lexsort((-per_gbp, model.home))
    order = order[usable[order]]
    first = order[np.r_[True, model.home[order][1:] != model.home[order][:-1]]] if len(order) else order
    rows = candidates.iloc[model.rows[first]]
    uptake = model.uptake[first] if model.uptake is not None else np.ones(len(first))
    return pd.DataFrame({
        "reserve_home_id": rows["home_id"].astype(str).to_numpy(),
        "reserve_package_id": rows["package_id"].astype(str).to_numpy(),
        "reserve_cost_gbp": rows["cost_gbp"].to_numpy(float),
        "reserve_lifetime_co2_t_saved": rows["lifetime_co2_t_saved"].to_numpy(float),
        "reserve_fuel_poor_lifted": rows["fuel_poor_lifted"].to_numpy(float),
        "reserve_tenure": rows["tenure"].astype(str).to_numpy() if "tenure" in rows else "unknown",
        "reserve_uptake": uptake, "value_per_gbp": per_gbp[first],
        "lsoa_code": rows["lsoa_code"].astype(str).to_numpy(),
        "ward": rows["ward"].astype(str).to_numpy() if "ward" in rows else "",
    })


def reserve_list(candidates: pd.DataFrame, scenario: Scenario, plan: pd.DataFrame, normalisers: dict,
                 exclude: set | None = None, ratio: float | None = None) -> pd.DataFrame:
    """The reserves of every planned home (COLUMNS), by area, year, planned home and rank.

    ``normalisers``: the run's (details.lagrange.normalisers), so value per £ is the plan's own;
    ``exclude``: homes that may not be offered (a re-plan's declined, withdrawn or held homes);
    ``ratio``: reserves per planned home (default the scenario's delivery.reserve_ratio, else 1)."""
    if ratio is None:
        ratio = scenario.delivery.reserve_ratio if scenario.delivery is not None else 1.0
    planned = plan[["home_id", "year", "lsoa_code"]].astype({"home_id": str, "lsoa_code": str})
    planned["ward"] = plan["ward"].astype(str).to_numpy() if "ward" in plan else ""
    pool = _pool(candidates, scenario, normalisers, set(planned["home_id"]), exclude or set())
    if ratio <= 0 or planned.empty or pool.empty:
        return pd.DataFrame(columns=COLUMNS)
    planned = planned.sort_values(["lsoa_code", "year", "home_id"], kind="stable").reset_index(drop=True)
    planned["slot"] = planned.groupby("lsoa_code").cumcount()
    size = planned.groupby("lsoa_code").size()
    quota = np.ceil(ratio * size - 1e-9).astype(int)

    pool = pool.sort_values(["lsoa_code", "value_per_gbp", "reserve_home_id"], ascending=[True, False, True],
                            kind="stable").reset_index(drop=True)
    pool["k"] = pool.groupby("lsoa_code").cumcount()
    local = pool[pool["k"].to_numpy() < pool["lsoa_code"].map(quota).fillna(0).to_numpy()]
    local = local.assign(same_area="lsoa")

    # what each LSOA still lacks, filled from the rest of its ward, best first
    taken = local.groupby("lsoa_code").size().reindex(quota.index, fill_value=0)
    lacking = (quota - taken)[lambda s: s > 0]
    wards = planned.drop_duplicates("lsoa_code").set_index("lsoa_code")["ward"]
    slots = pd.DataFrame({"lsoa_code": lacking.index.repeat(lacking.to_numpy())})
    slots["k"] = slots.groupby("lsoa_code").cumcount() + taken.reindex(slots["lsoa_code"]).to_numpy()
    slots["ward"] = wards.reindex(slots["lsoa_code"]).to_numpy()
    slots = slots[slots["ward"] != ""].sort_values(["ward", "lsoa_code", "k"], kind="stable")
    slots["n"] = slots.groupby("ward").cumcount()
    rest = pool.drop(index=local.index)
    rest = rest[rest["ward"] != ""].sort_values(["ward", "value_per_gbp", "reserve_home_id"],
                                                ascending=[True, False, True], kind="stable")
    rest = rest.assign(n=rest.groupby("ward").cumcount()).drop(columns=["lsoa_code", "k"])
    from_ward = slots.merge(rest, on=["ward", "n"], how="inner").drop(columns="n").assign(same_area="ward")

    offered = pd.concat([local.drop(columns="ward"), from_ward.drop(columns="ward")], ignore_index=True)
    offered["slot"] = offered["k"] % offered["lsoa_code"].map(size).to_numpy()
    offered["reserve_rank"] = offered["k"] // offered["lsoa_code"].map(size).to_numpy() + 1
    out = offered.merge(planned.rename(columns={"home_id": "planned_home_id"}), on=["lsoa_code", "slot"])
    out = out.sort_values(["lsoa_code", "year", "planned_home_id", "reserve_rank"], kind="stable")
    return out[COLUMNS].reset_index(drop=True)
