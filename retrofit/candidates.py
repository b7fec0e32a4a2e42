"""The candidate table: one row per (home, package) that applies to the home.

It is the seam between building physics and optimisation: the appraisal writes it, the
optimiser reads it, and a partner may bring their own (CSV or Parquet). The column names
are a contract; extend, never rename.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from retrofit.energy import BANDS
from retrofit.errors import RetrofitError
from retrofit.frames import read_table
from retrofit.reference import CITIES
from retrofit.stock.schema import MAIN_FUELS, TENURES, Problem, shape_problems

TRADES = ("insulation", "heating", "electrical", "glazing", "coordination")
TRADE_COLUMNS = tuple(f"trade_days_{trade}" for trade in TRADES)

# What the optimiser needs: without these it cannot plan.
REQUIRED = (
    "home_id", "package_id", "cost_gbp", "annual_kwh_saved", "annual_co2_t_saved",
    "lifetime_co2_t_saved", "annual_bill_saving_gbp", "sap_after", "band_after",
    "fuel_poor_lifted", "fp_bill_saving_gbp", "labour_days", "jobs_fte_years",
    "city", "lsoa_code", "tenure", "imd_decile",
)
# Written by the appraisal; a partner's own table may leave them out. The savings above are in
# use (net of the performance gap); modelled_annual_co2_t_saved is the certificate's physics.
# What the cost pays for, as grant schemes distinguish it (fabric, heating, pv, other): the four
# add up to cost_gbp; and the home's fuel before, for schemes that fund replacing it.
COST_PARTS = ("cost_fabric_gbp", "cost_heating_gbp", "cost_pv_gbp", "cost_other_gbp")
OPTIONAL = ("sap_before", "band_before", "fuel_poverty_probability", "ward", *TRADE_COLUMNS,
            "modelled_annual_co2_t_saved", *COST_PARTS, "main_fuel")
# Every number in the table: (lowest, highest) allowed, the highest far above any real home
# (the appraisal's largest are about £60k, 900 lifetime tCO2 and 110 labour days) and small
# enough that the optimiser's integer scaling (pounds, pence and hundredths of a day as
# 64-bit integers) cannot overflow. A figure outside is a typo or a unit mix-up.
RANGES: dict[str, tuple[float, float]] = {
    "cost_gbp": (0, 1e7),                      # £10m per home and package
    **{part: (0, 1e7) for part in COST_PARTS},
    "annual_kwh_saved": (-1e7, 1e7),
    "annual_co2_t_saved": (-1e4, 1e4),
    "modelled_annual_co2_t_saved": (-1e4, 1e4),
    "lifetime_co2_t_saved": (-1e5, 1e5),
    "annual_bill_saving_gbp": (-1e6, 1e6),     # a bill saving may be negative
    "sap_before": (-1e3, 1e3),
    "sap_after": (-1e3, 1e3),
    "fuel_poverty_probability": (0, 1),
    "fuel_poor_lifted": (0, 1),                # households per home
    "fp_bill_saving_gbp": (-1e6, 1e6),
    "labour_days": (0, 1e5),
    "jobs_fte_years": (0, 1e3),
    "imd_decile": (1, 10),                     # a whole number
    **{column: (0, 1e5) for column in TRADE_COLUMNS},
}
NUMERIC = tuple(RANGES)
NON_NEGATIVE = tuple(column for column, (low, _high) in RANGES.items() if low == 0)
WHOLE = ("imd_decile",)
# Category columns the optimiser and the plan's checks group by: the values they know.
CATEGORY_VALUES: dict[str, tuple[str, ...]] = {
    "city": CITIES, "tenure": TENURES, "band_after": BANDS, "band_before": BANDS, "main_fuel": MAIN_FUELS,
}
NULLABLE = ("band_before", "sap_before")  # information the optimiser does not use: may be left empty
NOT_EMPTY = ("home_id", "package_id")


def _shown(values: pd.Series) -> list:
    return [v.item() if hasattr(v, "item") else v for v in pd.unique(values)[:3]]


def validate_candidates(candidates: pd.DataFrame) -> list[Problem]:
    """Every problem with a candidate table (empty when it is valid)."""
    problems = shape_problems(candidates, REQUIRED, "the table has no candidates",
                              "see the candidate table in README")
    for column in NOT_EMPTY:
        if column in candidates and candidates[column].isna().any():
            problems.append(Problem(column, "empty values", int(candidates[column].isna().sum())))
    if {"home_id", "package_id"} <= set(candidates.columns):
        dup = candidates.duplicated(["home_id", "package_id"], keep=False)
        if dup.any():
            problems.append(Problem("home_id, package_id", "the same package listed twice for a home",
                                    int(dup.sum()), candidates.loc[dup, "home_id"].head(3).tolist()))
    for column, (low, high) in RANGES.items():
        if column not in candidates:
            continue
        values = pd.to_numeric(candidates[column], errors="coerce").astype("float64")
        bad = values.isna()
        if column in NULLABLE:
            bad &= candidates[column].notna()
        if bad.any():
            problems.append(Problem(column, "empty or not a number", int(bad.sum()),
                                    _shown(candidates.loc[bad, column])))
        infinite = np.isinf(values)
        if infinite.any():
            problems.append(Problem(column, "infinite", int(infinite.sum()),
                                    _shown(values[infinite])))
        below = values < low
        below &= ~infinite
        if below.any():
            problems.append(Problem(column, "negative" if low == 0 else f"below {low:,.0f}", int(below.sum()),
                                    _shown(values[below])))
        above = values > high
        above &= ~infinite
        if above.any():
            issue = "above 1 household per home" if column == "fuel_poor_lifted" else f"above {high:,.0f}"
            problems.append(Problem(column, issue, int(above.sum()), _shown(values[above])))
        if column in WHOLE:
            fraction = np.isfinite(values) & (values != np.round(values))
            if fraction.any():
                problems.append(Problem(column, "not a whole number", int(fraction.sum()), _shown(values[fraction])))
    if set(COST_PARTS) <= set(candidates.columns) and "cost_gbp" in candidates:
        numbers = {column: pd.to_numeric(candidates[column], errors="coerce").astype("float64")
                   for column in ("cost_gbp", *COST_PARTS)}
        # a row already reported above (empty, infinite, out of range) is not reported twice
        sound = np.logical_and.reduce([values.between(*RANGES[column]) for column, values in numbers.items()])
        apart = sound & ((sum(numbers[part] for part in COST_PARTS) - numbers["cost_gbp"]).abs() > 0.005)
        if apart.any():
            problems.append(Problem(", ".join(COST_PARTS), "do not add up to cost_gbp", int(apart.sum()),
                                    _shown(candidates.loc[apart, "home_id"])))
    for column, allowed in CATEGORY_VALUES.items():
        if column not in candidates:
            continue
        values = candidates[column]
        bad = ~values.isin(allowed)
        if column in NULLABLE:
            bad &= values.notna()
        if bad.any():
            problems.append(Problem(column, f"values not in {list(allowed)}", int(bad.sum()), _shown(values[bad])))
    return problems


def check_candidates(candidates: pd.DataFrame, source: str = "candidates") -> pd.DataFrame:
    """The table when it is valid; else one RetrofitError line listing every problem."""
    problems = validate_candidates(candidates)
    if problems:
        listed = "; ".join(str(p) for p in problems)
        raise RetrofitError(f"{source} is not a valid candidate table ({len(problems)} problems): {listed}; "
                            "fix these in the file (columns, units and limits: the candidate table in README)")
    return candidates


def read_candidates(path: str | Path) -> pd.DataFrame:
    """Read and validate a candidate table from CSV or Parquet."""
    table = read_table(path, "candidate", f"make one with `retrofit appraise STOCK --out {path}`",
                       ("home_id", "package_id", "lsoa_code"))
    return check_candidates(table, str(path))
