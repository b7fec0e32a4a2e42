"""Plans made up for storage tests: the right shape and types, drawn from a seed.

Storage does not care whether a plan is optimal, so these tests need no solver; the test
that re-runs a stored run's inputs uses the real optimiser.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from retrofit.candidates import TRADE_COLUMNS
from retrofit.plan import PlanResult, plan_kpis
from retrofit.reference import lsoas

PACKAGES = ("fabric_light", "fabric_deep", "heat_pump_ready")


def make_plan(homes: int, seed: int = 1, years: tuple[int, ...] = (2026, 2027, 2028), prefix: str = "H") -> pd.DataFrame:
    """``homes`` chosen homes in real LSOAs, with every column a plan carries."""
    rng = np.random.default_rng(seed)
    areas = lsoas().iloc[rng.integers(0, 1000, homes)].reset_index(drop=True)
    cost = rng.uniform(2_000, 20_000, homes).round(2)
    annual_co2 = rng.uniform(0.1, 3, homes)
    plan = pd.DataFrame({
        "home_id": prefix + pd.Series(np.arange(homes)).astype("str").str.zfill(7),
        "package_id": pd.Series(np.array(PACKAGES)[rng.integers(0, len(PACKAGES), homes)], dtype="str"),
        "year": np.array(years)[rng.integers(0, len(years), homes)].astype("int64"),
        "cost_gbp": cost,
        "annual_kwh_saved": rng.uniform(500, 9_000, homes),
        "annual_co2_t_saved": annual_co2,
        "lifetime_co2_t_saved": annual_co2 * 25,
        "annual_bill_saving_gbp": rng.uniform(-100, 900, homes),
        "sap_before": rng.uniform(20, 60, homes),
        "sap_after": rng.uniform(60, 85, homes),
        "band_before": pd.Series(rng.choice(list("DEFG"), homes), dtype="str"),
        "band_after": pd.Series(rng.choice(list("BCD"), homes), dtype="str"),
        "fuel_poor_lifted": rng.uniform(0, 1, homes),
        "fp_bill_saving_gbp": rng.uniform(0, 300, homes),
        "fuel_poverty_probability": rng.uniform(0, 1, homes),
        "labour_days": rng.uniform(1, 15, homes),
        "jobs_fte_years": rng.uniform(0.005, 0.07, homes),
        **{column: rng.uniform(0, 5, homes) for column in TRADE_COLUMNS},
        "city": areas["city"].astype("str"),
        "lsoa_code": areas["lsoa_code"].astype("str"),
        "ward": areas["ward"].astype("str"),
        "tenure": pd.Series(rng.choice(["owner_occupied", "private_rented", "social_rented"], homes), dtype="str"),
        "imd_decile": areas["imd_decile"].astype("int64"),
    })
    return plan


def make_result(plan: pd.DataFrame) -> PlanResult:
    return PlanResult(plan=plan, status="OPTIMAL", objective=1.5, bound=1.5, gap=0.0, solve_seconds=0.25,
                      ideal={"carbon": 1.0}, kpis=plan_kpis(plan), details={"note": "made up for a test"})
