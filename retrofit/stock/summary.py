"""What a stock holds, by city: homes, EPC bands, tenure and fuel-poor households."""

from __future__ import annotations

import pandas as pd

from retrofit.energy import BANDS
from retrofit.stock.schema import TENURES


def summarise(stock: pd.DataFrame) -> dict:
    """A JSON-ready summary: totals and per-city shares (bands and tenure in per cent)."""
    by_city = stock.groupby("city", observed=True)
    cities = {}
    for city, homes in by_city:
        bands = homes["epc_band"].value_counts(normalize=True).reindex(list(BANDS), fill_value=0)
        tenure = homes["tenure"].value_counts(normalize=True).reindex(list(TENURES), fill_value=0)
        cities[str(city)] = {
            "homes": int(len(homes)),
            "epc_band_pct": {k: round(100 * float(v), 1) for k, v in bands.items()},
            "d_to_g_pct": round(100 * float(bands[list("DEFG")].sum()), 1),
            "tenure_pct": {k: round(100 * float(v), 1) for k, v in tenure.items()},
            "fuel_poor_households": round(float(homes["fuel_poverty_probability"].sum()), 1),
            "median_sap": float(homes["sap_score"].median()),
            "co2_t_per_year": round(float(homes["co2_t_per_year"].sum()), 0),
        }
    sources = stock["data_source"].value_counts()
    return {
        "homes": int(len(stock)),
        "fuel_poor_households": round(float(stock["fuel_poverty_probability"].sum()), 1),
        "data_source": {str(k): int(v) for k, v in sources.items() if v},
        "cities": cities,
    }


def summary_table(summary: dict) -> pd.DataFrame:
    """The per-city summary as a table: one row per city, readable column names."""
    rows = []
    for city, figures in summary["cities"].items():
        row = {"city": city, "homes": figures["homes"], "fuel-poor households": figures["fuel_poor_households"],
               "median SAP": figures["median_sap"], "D-G %": figures["d_to_g_pct"]}
        row.update({f"band {b} %": v for b, v in figures["epc_band_pct"].items()})
        row.update({f"{t} %": v for t, v in figures["tenure_pct"].items()})
        rows.append(row)
    return pd.DataFrame(rows).set_index("city")
