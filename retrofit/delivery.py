"""Delivery risk: which approached households go ahead (uptake) and what their work costs (ranges).

With a scenario's `[delivery]`, a chosen home goes ahead with its uptake probability p, and its
cost is uncertain within its range. A rule's use is then a random sum, and a plan keeps the rule
when the sum's *expectation* keeps it and so does the sum at the stated confidence, by a normal
approximation (each rule sums thousands of homes):

    use at confidence = E + z(confidence) x sd_uptake + z(cost_confidence) x sd_cost   (upper limits)
    E = sum p a;  sd_uptake^2 = sum p (1 - p) a^2;  sd_cost^2 = sum p (a s / c)^2 (money rules)

where a is the home's use of the rule (its cost, 1 home, its trade days), c its cost and s the
standard deviation of its cost. The two contingencies are added (not combined in quadrature), so
each holds at its own confidence whatever the other does; homes are independent of each other.
Lower limits (minimum shares, equity) subtract them. The same arithmetic serves the optimiser's
contingency, the independent check (`retrofit.plan.check_plan`) and the reports here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

import numpy as np
import pandas as pd

from retrofit.candidates import COST_PARTS
from retrofit.paths import DATA_DIR
from retrofit.scenario import COST_CATEGORIES, Delivery, Scenario

DELIVERY_DIR = DATA_DIR / "delivery"
P90_Z = NormalDist().inv_cdf(0.9)  # the 90th percentile of a standard normal: a range's low and high are P10 and P90


def z_of(confidence: float) -> float:
    """How many standard deviations above the expectation a confidence asks for (0 at 0.5)."""
    return max(NormalDist().inv_cdf(confidence), 0.0)


@lru_cache(maxsize=1)
def default_uptake() -> dict[str, float]:
    """Uptake by tenure as data/delivery/uptake.csv ships it."""
    table = pd.read_csv(DELIVERY_DIR / "uptake.csv")
    return {str(t): float(u) for t, u in zip(table["tenure"], table["uptake"])}


@lru_cache(maxsize=1)
def cost_spread() -> dict[str, float]:
    """Per cost category: the standard deviation of a home's cost as a share of its point cost
    (low and high of data/delivery/cost_ranges.csv read as P10 and P90)."""
    table = pd.read_csv(DELIVERY_DIR / "cost_ranges.csv").set_index("category")
    return {c: float((table.at[c, "high_share"] - table.at[c, "low_share"]) / 2 / P90_Z) for c in COST_CATEGORIES}


def _tenure_uptake(delivery: Delivery) -> dict[str, float]:
    given = delivery.uptake.model_dump(exclude_none=True)
    return {**default_uptake(), **given}


def uptake_of(table: pd.DataFrame, delivery: Delivery | None) -> np.ndarray:
    """Per row of a candidate (or plan) table: the probability that the household goes ahead.

    1 without [delivery]. Else the table's own `uptake` column where it has a value (a partner's
    survey; a re-plan's held homes are 1), then the scenario's LSOA override, then its figure for
    the home's tenure."""
    n = len(table)
    if delivery is None:
        return np.ones(n)
    by_tenure = _tenure_uptake(delivery)
    tenure = pd.Series(table["tenure"].astype(str).to_numpy() if "tenure" in table else np.full(n, "unknown"))
    p = np.array(tenure.map(by_tenure).fillna(by_tenure["unknown"]), dtype=float)
    if delivery.uptake_by_lsoa and "lsoa_code" in table:
        lsoa = pd.Series(table["lsoa_code"].astype(str).to_numpy())
        every = {code: float(v) for code, v in delivery.uptake_by_lsoa.items() if isinstance(v, float | int)}
        by_pair = {f"{code}|{name}": figure for code, v in delivery.uptake_by_lsoa.items()
                   if not isinstance(v, float | int) for name, figure in v.model_dump(exclude_none=True).items()}
        for found in (lsoa.map(every), (lsoa + "|" + tenure).map(by_pair)):
            found = found.to_numpy(dtype=float)
            p = np.where(np.isnan(found), p, found)
    if "uptake" in table:
        own = pd.to_numeric(table["uptake"], errors="coerce").to_numpy(float)
        p = np.where(np.isnan(own), p, own)
    return np.clip(p, 0.0, 1.0)


def cost_sd_of(table: pd.DataFrame) -> np.ndarray:
    """Per row: the standard deviation of its cost, £ (each cost part at its category's spread,
    the parts of one home moving together; a table without parts at the widest spread; a
    `cost_sd_gbp` column where it has a value)."""
    spread = cost_spread()
    if all(part in table for part in COST_PARTS):
        sd = sum(np.abs(pd.to_numeric(table[part], errors="coerce").fillna(0).to_numpy(float)) * spread[category]
                 for part, category in zip(COST_PARTS, COST_CATEGORIES))
    else:
        sd = np.abs(table["cost_gbp"].to_numpy(float)) * max(spread.values())
    if "cost_sd_gbp" in table:  # the table's own figure where it has one (a re-plan's held homes: 0)
        own = pd.to_numeric(table["cost_sd_gbp"], errors="coerce").to_numpy(float)
        sd = np.where(np.isnan(own), sd, np.abs(own))
    return sd


@dataclass(frozen=True)
class Risk:
    """What a rule sums, per row: the expected use and the two variances."""

    mean: np.ndarray
    var_uptake: np.ndarray
    var_cost: np.ndarray

    def total(self, mask: np.ndarray | slice = slice(None)) -> tuple[float, float, float]:
        """Expectation and the two standard deviations of the sum over ``mask``."""
        return (float(self.mean[mask].sum()), float(np.sqrt(self.var_uptake[mask].sum())),
                float(np.sqrt(self.var_cost[mask].sum())))


def risk(amount: np.ndarray, uptake: np.ndarray, cost: np.ndarray | None = None,
         cost_sd: np.ndarray | None = None) -> Risk:
    """Per row: a rule's use ``amount`` (if the household goes ahead) in expectation and its variances.

    ``cost``/``cost_sd`` for money rules: the amount's uncertainty is its share of the cost's."""
    amount = np.asarray(amount, dtype=float)
    var_cost = np.zeros(len(amount))
    if cost is not None and cost_sd is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(cost > 0, cost_sd / cost, 0.0)
        var_cost = uptake * (amount * ratio) ** 2
    return Risk(uptake * amount, uptake * (1 - uptake) * amount ** 2, var_cost)


@dataclass(frozen=True)
class Levels:
    """A scenario's two confidence levels as z-values (0: in expectation)."""

    uptake: float = 0.0
    cost: float = 0.0

    @classmethod
    def of(cls, scenario: Scenario) -> Levels:
        delivery = scenario.delivery
        return cls() if delivery is None else cls(z_of(delivery.confidence), z_of(delivery.cost_confidence))

    def contingency(self, sd_uptake: float, sd_cost: float) -> float:
        return self.uptake * sd_uptake + self.cost * sd_cost


def plan_risk(plan: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """Per city and year of a plan: homes approached, expected homes and spend, and the P10/P90
    range of each (normal approximation; spend with both uptake and cost uncertainty)."""
    p = uptake_of(plan, scenario.delivery)
    cost = plan["cost_gbp"].to_numpy(float)
    homes = risk(np.ones(len(plan)), p)
    spend = risk(cost, p, cost, cost_sd_of(plan) if scenario.delivery is not None else np.zeros(len(plan)))
    records = []
    groups = plan.groupby(["city", "year"], observed=True, sort=True).indices if len(plan) else {}
    for (city, year), rows in groups.items():
        e_homes, sd_homes, _ = homes.total(rows)
        e_spend, sd_u, sd_c = spend.total(rows)
        sd = float(np.hypot(sd_u, sd_c))
        records.append({"city": str(city), "year": int(year), "homes_approached": len(rows),
                        "expected_homes": e_homes, "homes_p10": max(e_homes - P90_Z * sd_homes, 0.0),
                        "homes_p90": e_homes + P90_Z * sd_homes, "expected_spend_gbp": e_spend,
                        "spend_p10_gbp": max(e_spend - P90_Z * sd, 0.0), "spend_p90_gbp": e_spend + P90_Z * sd})
    return pd.DataFrame(records, columns=["city", "year", "homes_approached", "expected_homes", "homes_p10",
                                          "homes_p90", "expected_spend_gbp", "spend_p10_gbp", "spend_p90_gbp"])


def programme_cost(plan: pd.DataFrame, scenario: Scenario) -> dict:
    """The programme's expected cost and its P50 and P90 (uptake and cost uncertainty, normal)."""
    p = uptake_of(plan, scenario.delivery)
    cost = plan["cost_gbp"].to_numpy(float)
    sd = cost_sd_of(plan) if scenario.delivery is not None and len(plan) else np.zeros(len(plan))
    mean, sd_u, sd_c = risk(cost, p, cost, sd).total()
    both = float(np.hypot(sd_u, sd_c))
    return {"expected_gbp": mean, "p50_gbp": mean, "p90_gbp": mean + P90_Z * both,
            "sd_uptake_gbp": sd_u, "sd_cost_gbp": sd_c}

