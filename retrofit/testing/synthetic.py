"""Synthetic candidate tables of any size, for the optimiser's tests and benchmark.

Not an appraisal: realistic-looking numbers only (packages costing £1k-£45k, savings that
grow with the home's size and with the package, metrics correlated through the home),
so the optimiser can be exercised at full scale without the building-physics side. Homes
are spread over the three cities by their real household counts (`retrofit.reference`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from retrofit.candidates import TRADES
from retrofit.energy import band_from_sap
from retrofit.reference import lsoas

# package: (typical cost £, share of carbon saved, SAP points gained, lifetime years,
#           share of homes it applies to, trade mix of labour days)
PACKAGES = {
    "fabric_light": (3_500, 0.12, 6, 40, 0.95, {"insulation": 0.8, "coordination": 0.2}),
    "fabric_deep": (16_000, 0.35, 14, 36, 0.75, {"insulation": 0.7, "glazing": 0.2, "coordination": 0.1}),
    "heat_pump": (12_000, 0.55, 8, 20, 0.7, {"heating": 0.7, "electrical": 0.2, "coordination": 0.1}),
    "whole_house": (32_000, 0.75, 24, 28, 0.6, {"insulation": 0.45, "heating": 0.3, "electrical": 0.1,
                                                 "glazing": 0.1, "coordination": 0.05}),
    "solar_controls": (6_000, 0.15, 7, 25, 0.6, {"electrical": 0.8, "heating": 0.1, "coordination": 0.1}),
}
LABOUR_SHARE, DAY_RATE_GBP, FTE_DAYS = 0.45, 260.0, 220.0


def synthetic_candidates(homes: int, seed: int = 1, packages: int = 4) -> pd.DataFrame:
    """A valid candidate table for ``homes`` homes and the first ``packages`` packages."""
    rng = np.random.default_rng(seed)
    areas = lsoas()
    pick = rng.choice(len(areas), size=homes, p=areas["households"].to_numpy() / areas["households"].sum())
    area = areas.iloc[pick].reset_index(drop=True)
    floor_area = np.clip(rng.lognormal(np.log(85), 0.3, homes), 30, 400)
    sap_before = np.clip(rng.normal(60, 11, homes), 5, 88)
    intensity = rng.lognormal(0, 0.3, homes) * (100 - sap_before) / 40      # worse homes emit more
    co2_before = 0.025 * floor_area * intensity
    deprivation = (11 - area["imd_decile"].to_numpy()) / 10
    fp_prob = np.clip(rng.beta(1.2, 6, homes) * (0.5 + deprivation) * (sap_before < 69), 0, 1)
    tenure = rng.choice(["owner_occupied", "private_rented", "social_rented"], size=homes, p=[0.55, 0.2, 0.25])
    home_ids = np.char.add("H", np.char.zfill(np.arange(homes).astype(str), 7))
    # drawn apart, so that adding the column left every other value as it was
    main_fuel = np.random.default_rng(seed + 1).choice(["mains_gas", "electricity"], size=homes, p=[0.87, 0.13])
    tables = []
    for name, (base_cost, carbon_share, sap_gain, life, applies, mix) in list(PACKAGES.items())[:packages]:
        ok = rng.random(homes) < applies
        n = int(ok.sum())
        size = floor_area[ok] / 85
        cost = np.round(base_cost * size ** 0.7 * rng.lognormal(0, 0.25, n), 0)
        annual_co2 = co2_before[ok] * np.clip(carbon_share * rng.lognormal(0, 0.3, n), 0.01, 0.95)
        sap_after = np.clip(sap_before[ok] + sap_gain * rng.lognormal(0, 0.35, n), 1, 100).round()
        band_after = band_from_sap(sap_after)
        kwh = annual_co2 / 0.2 * 1000
        bill = kwh * rng.uniform(0.06, 0.12, n)
        labour_days = cost * LABOUR_SHARE / DAY_RATE_GBP
        table = pd.DataFrame({
            "home_id": home_ids[ok], "package_id": name, "cost_gbp": cost,
            "annual_kwh_saved": kwh.round(0), "annual_co2_t_saved": annual_co2,
            "modelled_annual_co2_t_saved": annual_co2 / 0.7,  # certificates over-credit; no new random draw
            "lifetime_co2_t_saved": annual_co2 * life, "annual_bill_saving_gbp": bill.round(2),
            "sap_before": sap_before[ok].round(), "band_before": band_from_sap(sap_before[ok].round()),
            "sap_after": sap_after, "band_after": band_after,
            "fuel_poverty_probability": fp_prob[ok],
            "fuel_poor_lifted": np.where(np.isin(band_after, ["A", "B", "C"]), fp_prob[ok], 0.0),
            "fp_bill_saving_gbp": (bill * fp_prob[ok]).round(2),
            "labour_days": labour_days, "jobs_fte_years": labour_days / FTE_DAYS,
            "city": area["city"].to_numpy()[ok], "lsoa_code": area["lsoa_code"].to_numpy()[ok],
            "ward": area["ward"].to_numpy()[ok], "tenure": tenure[ok], "imd_decile": area["imd_decile"].to_numpy()[ok],
        })
        for trade in TRADES:
            table[f"trade_days_{trade}"] = labour_days * mix.get(trade, 0.0)
        # what the cost pays for follows the trades; "other" (coordination) takes the rounding
        parts = {"fabric": mix.get("insulation", 0.0) + mix.get("glazing", 0.0), "heating": mix.get("heating", 0.0),
                 "pv": mix.get("electrical", 0.0)}
        for part, share in parts.items():
            table[f"cost_{part}_gbp"] = np.floor(cost * share)
        table["cost_other_gbp"] = cost - sum(table[f"cost_{part}_gbp"] for part in parts)
        table["main_fuel"] = main_fuel[ok]
        tables.append(table)
    return pd.concat(tables, ignore_index=True).sort_values(["home_id", "package_id"], ignore_index=True)
