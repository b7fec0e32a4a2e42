"""Two runs side by side: what changed in the KPIs, in which city and year, for which homes.

Deltas are always B minus A. "Spend moved" is the money B spends in cities that gained,
matched by what it took from cities that lost (net budget changes are reported apart).

When B is a re-plan of A (`retrofit run --from A`), the comparison also says what was delivered
against what A planned, by city and year; the money the years that are over left unspent, and
how B's open years spend against A's; and the homes B adds, of them those in an LSOA where a
household of A's declined or withdrew (taken from the area's reserves).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from retrofit.actuals import COMMITTED, DROPPED, delivered_rows, planned_and_delivered
from retrofit.plan import breakdown
from retrofit.store.actuals import read_actuals
from retrofit.store.runs import get_run, read_plan

# KPIs shown in the city-and-year table (the JSON carries every KPI breakdown gives).
HEADLINE = ("homes", "spend_gbp", "annual_co2_t_saved", "lifetime_co2_t_saved", "fuel_poor_lifted", "jobs_fte_years")


@dataclass
class Comparison:
    a: int
    b: int
    kpis: pd.DataFrame          # index: KPI; columns a, b, delta
    by_city_year: pd.DataFrame  # city, year, then <kpi>_a, <kpi>_b, <kpi>_delta
    homes: dict                 # both, only_a, only_b, and among both: same, package_changed, year_changed
    spend_by_city: pd.DataFrame  # city, spend_gbp_a, spend_gbp_b, delta_gbp
    spend_moved_gbp: float
    replan: dict | None = None  # B re-planned from A: delivered against planned (see the module's docstring)

    def to_json(self) -> dict:
        replan = None if self.replan is None else {
            **{k: v for k, v in self.replan.items() if k != "by_city_year"},
            "by_city_year": [_plain_row(r) for r in self.replan["by_city_year"].to_dict(orient="records")]}
        return {
            "replan": replan,
            "a": self.a, "b": self.b,
            "kpis": {k: _plain_row(v) for k, v in self.kpis.to_dict(orient="index").items()},
            "by_city_year": [_plain_row(r) for r in self.by_city_year.to_dict(orient="records")],
            "homes": self.homes,
            "spend_by_city": [_plain_row(r) for r in self.spend_by_city.to_dict(orient="records")],
            "spend_moved_gbp": float(self.spend_moved_gbp),
        }


def _plain_row(row: dict) -> dict:
    out = {}
    for key, value in row.items():
        if hasattr(value, "item"):
            value = value.item()
        out[key] = None if isinstance(value, float) and np.isnan(value) else value
    return out


def _grouped(plan: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    table = breakdown(plan, by)
    if not set(by) <= set(table.columns):
        table = table.reset_index()
    return table


def _numeric(table: pd.DataFrame, keys: list[str]) -> list[str]:
    return [c for c in table.columns if c not in keys and pd.api.types.is_numeric_dtype(table[c])]


def _side_by_side(a: pd.DataFrame, b: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Outer join of two breakdowns on ``keys``; a group missing on one side counts as zero."""
    columns = [c for c in _numeric(a, keys) if c in b.columns] if len(a) else _numeric(b, keys)
    joined = a[keys + columns].merge(b[keys + columns], on=keys, how="outer", suffixes=("_a", "_b"))
    joined = joined.sort_values(keys).reset_index(drop=True)
    ordered = list(keys)
    for column in columns:
        joined[[f"{column}_a", f"{column}_b"]] = joined[[f"{column}_a", f"{column}_b"]].fillna(0.0)
        joined[f"{column}_delta"] = joined[f"{column}_b"] - joined[f"{column}_a"]
        ordered += [f"{column}_a", f"{column}_b", f"{column}_delta"]
    return joined[ordered]


def compare_plans(plan_a: pd.DataFrame, plan_b: pd.DataFrame, kpis_a: dict, kpis_b: dict,
                  a: int = 0, b: int = 0) -> Comparison:
    """Compare two plans (tables keyed by home_id) and their KPIs."""
    names = [k for k in kpis_a if k in kpis_b and isinstance(kpis_a[k], (int, float)) and isinstance(kpis_b[k], (int, float))]
    kpis = pd.DataFrame({"a": [kpis_a[k] for k in names], "b": [kpis_b[k] for k in names]}, index=names, dtype="float64")
    kpis["delta"] = kpis["b"] - kpis["a"]

    by_city_year = _side_by_side(_grouped(plan_a, ["city", "year"]), _grouped(plan_b, ["city", "year"]),
                                 ["city", "year"])

    # one outer join says which homes are in both plans and which in one only (a join, not
    # ``isin``: pandas' isin on Arrow strings goes through Python objects, about a second for two
    # full-stock plans)
    joined = plan_a[["home_id", "package_id", "year"]].merge(plan_b[["home_id", "package_id", "year"]],
                                                            on="home_id", how="outer", suffixes=("_a", "_b"),
                                                            indicator=True)
    side = joined["_merge"]
    both = joined[side == "both"]
    same_package = both["package_id_a"] == both["package_id_b"]
    same_year = both["year_a"] == both["year_b"]
    homes = {
        "both": len(both),
        "only_a": int((side == "left_only").sum()),
        "only_b": int((side == "right_only").sum()),
        "same_package_and_year": int((same_package & same_year).sum()),
        "package_changed": int((~same_package).sum()),
        "year_changed_only": int((same_package & ~same_year).sum()),
    }

    spend = (plan_a.groupby("city")["cost_gbp"].sum().rename("spend_gbp_a").to_frame()
             .join(plan_b.groupby("city")["cost_gbp"].sum().rename("spend_gbp_b"), how="outer").fillna(0.0))
    spend["delta_gbp"] = spend["spend_gbp_b"] - spend["spend_gbp_a"]
    gained, lost = spend["delta_gbp"].clip(lower=0).sum(), -spend["delta_gbp"].clip(upper=0).sum()
    return Comparison(a=a, b=b, kpis=kpis, by_city_year=by_city_year, homes=homes,
                      spend_by_city=spend.reset_index(), spend_moved_gbp=float(min(gained, lost)))


def compare_runs(engine, a: int, b: int, progress: Callable[[float, str], None] | None = None) -> Comparison:
    """Compare two stored runs by id."""
    report = progress or (lambda fraction, message: None)
    run_a, run_b = get_run(engine, a), get_run(engine, b)
    report(0.0, f"reading run {a}")
    plan_a = read_plan(engine, a)
    report(0.4, f"reading run {b}")
    plan_b = read_plan(engine, b)
    report(0.8, "comparing")
    comparison = compare_plans(plan_a, plan_b, run_a.kpis, run_b.kpis, a=a, b=b)
    replan = (run_b.details or {}).get("replan")
    if replan and replan["from_run"] == a:
        report(0.9, f"what was delivered of run {a}")
        comparison.replan = _delivered(plan_a, plan_b, read_actuals(engine, a, replan["actuals_version"]), replan)
    report(1.0, "compared")
    return comparison


def _delivered(plan_a: pd.DataFrame, plan_b: pd.DataFrame, actuals: pd.DataFrame, replan: dict) -> dict:
    """A re-plan (B) against its parent (A): see the module's docstring."""
    committed = set(actuals.loc[actuals["status"].isin(COMMITTED), "home_id"])
    held = plan_b[plan_b["home_id"].isin(committed)]
    first_open = replan["first_open_year"]
    open_a = float(plan_a.loc[plan_a["year"] >= first_open, "cost_gbp"].sum())
    open_b = float(plan_b.loc[(plan_b["year"] >= first_open) & ~plan_b["home_id"].isin(committed), "cost_gbp"].sum())
    new = plan_b[~plan_b["home_id"].isin(plan_a["home_id"]) & ~plan_b["home_id"].isin(committed)]
    dropped = actuals[actuals["status"].isin(DROPPED)]
    where = plan_a.set_index("home_id")["lsoa_code"]
    near = set(where.reindex(dropped["home_id"]).dropna())
    _, outside = delivered_rows(actuals, plan_a)
    return {
        "from_run": replan["from_run"], "actuals_version": replan["actuals_version"], "as_of": replan["as_of"],
        "by_city_year": planned_and_delivered(plan_a, held),
        "delivered_homes": len(held), "delivered_spend_gbp": float(held["cost_gbp"].sum()),
        "committed_not_in_parent_plan": outside,
        "unspent_in_closed_years_gbp": {int(k): v for k, v in replan.get("unspent_in_closed_years_gbp", {}).items()},
        "open_years_spend_gbp": {"parent": open_a, "replan": open_b, "delta": open_b - open_a},
        "homes_added": len(new), "homes_added_near_declined": int(new["lsoa_code"].isin(near).sum()),
        "declined_or_withdrawn": len(dropped),
    }
