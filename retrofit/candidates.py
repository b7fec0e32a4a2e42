"""The candidate table: one row per (home, package) that applies to the home.

It is the seam between building physics and optimisation: the appraisal writes it, the
optimiser reads it, and a partner may bring their own (CSV or Parquet). The column names
are a contract; extend, never rename.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from retrofit.errors import RetrofitError
from retrofit.frames import read_table
from retrofit.stock.schema import Problem, shape_problems

TRADES = ("insulation", "heating", "electrical", "glazing", "coordination")
TRADE_COLUMNS = tuple(f"trade_days_{trade}" for trade in TRADES)

# What the optimiser needs: without these it cannot plan.
REQUIRED = (
    "home_id", "package_id", "cost_gbp", "annual_kwh_saved", "annual_co2_t_saved",
    "lifetime_co2_t_saved", "annual_bill_saving_gbp", "sap_after", "band_after",
    "fuel_poor_lifted", "fp_bill_saving_gbp", "labour_days", "jobs_fte_years",
    "city", "lsoa_code", "tenure", "imd_decile",
)
# Written by the appraisal; a partner's own table may leave them out.
OPTIONAL = ("sap_before", "band_before", "fuel_poverty_probability", "ward", *TRADE_COLUMNS)
NUMERIC = (
    "cost_gbp", "annual_kwh_saved", "annual_co2_t_saved", "lifetime_co2_t_saved",
    "annual_bill_saving_gbp", "sap_after", "fuel_poor_lifted", "fp_bill_saving_gbp",
    "labour_days", "jobs_fte_years", "imd_decile",
)
NON_NEGATIVE = ("cost_gbp", "fuel_poor_lifted", "labour_days", "jobs_fte_years", *TRADE_COLUMNS)


def validate_candidates(candidates: pd.DataFrame) -> list[Problem]:
    """Every problem with a candidate table (empty when it is valid)."""
    problems = shape_problems(candidates, REQUIRED, "the table has no candidates",
                              "see the candidate table in README")
    if {"home_id", "package_id"} <= set(candidates.columns):
        dup = candidates.duplicated(["home_id", "package_id"], keep=False)
        if dup.any():
            problems.append(Problem("home_id, package_id", "the same package listed twice for a home",
                                    int(dup.sum()), candidates.loc[dup, "home_id"].head(3).tolist()))
    for column in NUMERIC:
        if column not in candidates:
            continue
        values = pd.to_numeric(candidates[column], errors="coerce")
        bad = values.isna()
        if bad.any():
            problems.append(Problem(column, "empty or not a number", int(bad.sum()),
                                    candidates.loc[bad, column].head(3).tolist()))
        if column in NON_NEGATIVE and (values < 0).any():
            problems.append(Problem(column, "negative", int((values < 0).sum()), values[values < 0].head(3).tolist()))
    if "fuel_poor_lifted" in candidates:
        over = pd.to_numeric(candidates["fuel_poor_lifted"], errors="coerce") > 1
        if over.any():
            problems.append(Problem("fuel_poor_lifted", "above 1 household per home", int(over.sum())))
    return problems


def check_candidates(candidates: pd.DataFrame, source: str = "candidates") -> pd.DataFrame:
    problems = validate_candidates(candidates)
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise RetrofitError(f"{source} is not a valid candidate table ({len(problems)} problems):\n{lines}")
    return candidates


def read_candidates(path: str | Path) -> pd.DataFrame:
    """Read and validate a candidate table from CSV or Parquet."""
    table = read_table(path, "candidate", f"make one with `retrofit appraise STOCK --out {path}`",
                       ("home_id", "package_id", "lsoa_code"))
    return check_candidates(table, str(path))
