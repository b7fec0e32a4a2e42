"""The stock: one row per home, its columns, category values and validation.

The category values are a contract: the EPC importer writes them, the appraisal reads
them, and partners bring their own stock files in them. Extend, never rename.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from retrofit.errors import RetrofitError, printable
from retrofit.frames import read_table, write_table
from retrofit.energy import BANDS, band_from_sap
from retrofit.reference import CITIES, LA_CODES

WALL_TYPES = ("cavity_unfilled", "cavity_filled", "solid_uninsulated", "solid_insulated",
              "system_built", "timber_frame", "other")
GLAZING = ("single", "partial_double", "double", "triple")
HEATING_SYSTEMS = ("gas_boiler", "oil_boiler", "lpg_boiler", "electric_storage", "electric_direct",
                   "heat_pump", "community", "other")
TENURES = ("owner_occupied", "private_rented", "social_rented", "unknown")
PROPERTY_TYPES = ("house", "bungalow", "flat", "maisonette", "park_home")
BUILT_FORMS = ("detached", "semi_detached", "end_terrace", "mid_terrace", "enclosed_end_terrace",
               "enclosed_mid_terrace", "unknown")
# The EPC register's England and Wales construction age bands.
AGE_BANDS = ("before_1900", "1900_1929", "1930_1949", "1950_1966", "1967_1975", "1976_1982",
             "1983_1990", "1991_1995", "1996_2002", "2003_2006", "2007_2011", "2012_onwards", "unknown")
FLOOR_TYPES = ("suspended", "solid", "dwelling_below", "unknown")
MAIN_FUELS = ("mains_gas", "electricity", "oil", "lpg", "solid_fuel", "biomass")
DATA_SOURCES = ("epc", "synthetic", "imputed")
# How an imported home was placed: by its postcode's LSOA, or only in its local authority
# (then `lsoa_code` is empty and the authority's fuel poverty and deprivation apply).
LOCATION_SOURCES = ("postcode", "local_authority")

CATEGORIES: dict[str, tuple[str, ...]] = {
    "city": CITIES,
    "la_code": tuple(LA_CODES.values()),
    "property_type": PROPERTY_TYPES,
    "built_form": BUILT_FORMS,
    "age_band": AGE_BANDS,
    "tenure": TENURES,
    "epc_band": BANDS,
    "wall_type": WALL_TYPES,
    "glazing": GLAZING,
    "floor_type": FLOOR_TYPES,
    "heating_system": HEATING_SYSTEMS,
    "main_fuel": MAIN_FUELS,
    "data_source": DATA_SOURCES,
    "location_source": LOCATION_SOURCES,
}

# name -> (lowest, highest) allowed; None where open.
NUMBERS: dict[str, tuple[float | None, float | None]] = {
    "floor_area_m2": (10, 2000),
    "sap_score": (1, 100),
    "loft_insulation_mm": (0, 600),
    "space_heating_kwh": (0, None),
    "hot_water_kwh": (0, None),
    "lighting_appliances_kwh": (0, None),
    "co2_t_per_year": (None, None),
    "energy_cost_gbp_per_year": (None, None),
    "fuel_poverty_probability": (0, 1),
    "imd_decile": (1, 10),
    "lat": (49, 56),
    "lon": (-7, 2),
}

REQUIRED = (
    "home_id", "city", "la_code", "lsoa_code", "property_type", "built_form", "age_band",
    "floor_area_m2", "tenure", "sap_score", "epc_band", "wall_type", "loft_insulation_mm",
    "glazing", "floor_type", "heating_system", "main_fuel", "space_heating_kwh", "hot_water_kwh",
    "lighting_appliances_kwh", "co2_t_per_year", "energy_cost_gbp_per_year",
    "fuel_poverty_probability", "imd_decile", "data_source",
)
# A home's energy in use (calibrated to metered gas and electricity, `retrofit.stock.calibration`),
# and the same as the certificate models it (SAP's standard occupancy), prefixed `modelled_`.
ENERGY = ("space_heating_kwh", "hot_water_kwh", "lighting_appliances_kwh", "co2_t_per_year",
          "energy_cost_gbp_per_year")
MODELLED_ENERGY = tuple(f"modelled_{column}" for column in ENERGY)
NUMBERS.update({modelled: NUMBERS[column] for column, modelled in zip(ENERGY, MODELLED_ENERGY)})
OPTIONAL = ("lat", "lon", "ward", "postcode", "epc_date", "location_source", *MODELLED_ENERGY)
# Columns that may be empty: no loft of its own; optional columns.
NULLABLE = {"loft_insulation_mm", *OPTIONAL}
COLUMNS = REQUIRED + OPTIONAL


@dataclass
class Problem:
    column: str
    issue: str
    rows: int = 0
    examples: list = field(default_factory=list)

    def __str__(self) -> str:
        where = f" in {self.rows:,} rows" if self.rows else ""
        # repr escapes control characters; a long value (a mangled file) is cut short
        shown = f" (e.g. {', '.join(printable(repr(e), limit=40) for e in self.examples)})" if self.examples else ""
        return f"{self.column}: {self.issue}{where}{shown}"


class StockValidationError(RetrofitError):
    """Every problem found in a stock table, not only the first."""

    def __init__(self, problems: list[Problem], source: str = "stock"):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source} is not a valid stock ({len(problems)} problems):\n{lines}")


def _examples(values: pd.Series, limit: int = 3) -> list:
    return [v.item() if hasattr(v, "item") else v for v in pd.unique(values)[:limit]]


def shape_problems(table: pd.DataFrame, required: tuple[str, ...], when_empty: str, schema: str) -> list[Problem]:
    """The problems any of our tables can have: required columns missing, no rows."""
    problems: list[Problem] = []
    missing = [c for c in required if c not in table.columns]
    if missing:
        problems.append(Problem(", ".join(missing), f"required column missing; add it ({schema})"))
    if len(table) == 0:
        problems.append(Problem("home_id", when_empty))
    return problems


def validate_stock(stock: pd.DataFrame) -> list[Problem]:
    """Return every problem with the table (empty when it is a valid stock)."""
    problems = shape_problems(stock, REQUIRED, "the stock has no homes", "see the stock schema in README")

    if "home_id" in stock:
        ids = stock["home_id"]
        dup = ids[ids.duplicated(keep=False) & ids.notna()]
        if len(dup):
            problems.append(Problem("home_id", "duplicate home ids", len(dup), _examples(dup)))

    for column in stock.columns.intersection(REQUIRED):
        if column in NULLABLE:
            continue
        empty = stock[column].isna()
        if column == "lsoa_code" and "location_source" in stock:
            empty &= stock["location_source"].to_numpy() != "local_authority"
        if empty.any():
            problems.append(Problem(column, "empty values", int(empty.sum())))

    for column, allowed in CATEGORIES.items():
        if column not in stock:
            continue
        values = stock[column]
        bad = values.notna() & ~values.isin(allowed)
        if bad.any():
            problems.append(Problem(column, f"values not in {list(allowed)}", int(bad.sum()), _examples(values[bad])))

    for column, (low, high) in NUMBERS.items():
        if column not in stock:
            continue
        numbers = pd.to_numeric(stock[column], errors="coerce")
        not_numeric = numbers.isna() & stock[column].notna()
        if not_numeric.any():
            problems.append(Problem(column, "not a number", int(not_numeric.sum()), _examples(stock[column][not_numeric])))
        out = pd.Series(False, index=stock.index)
        if low is not None:
            out |= numbers < low
        if high is not None:
            out |= numbers > high
        if out.any():
            problems.append(Problem(column, f"outside {low}..{high}", int(out.sum()), _examples(numbers[out])))

    if {"sap_score", "epc_band"} <= set(stock.columns):
        sap = pd.to_numeric(stock["sap_score"], errors="coerce")
        known = sap.notna() & stock["epc_band"].notna()
        expected = band_from_sap(sap[known].clip(1, 100))
        wrong = stock.loc[known, "epc_band"].to_numpy() != expected
        if wrong.any():
            rows = stock.loc[known].loc[wrong]
            problems.append(Problem("epc_band", "does not match sap_score (A 92+, B 81-91, C 69-80, D 55-68, "
                                    "E 39-54, F 21-38, G 1-20)", int(wrong.sum()),
                                    [f"{s:g}->{b}" for s, b in zip(rows["sap_score"][:3], rows["epc_band"][:3])]))

    return problems


def check_stock(stock: pd.DataFrame, source: str = "stock") -> pd.DataFrame:
    """Raise StockValidationError listing every problem; return the stock when valid."""
    problems = validate_stock(stock)
    if problems:
        raise StockValidationError(problems, source)
    return stock


def read_stock(path: str | Path, validate: bool = True) -> pd.DataFrame:
    """Read a stock from Parquet or CSV, validated unless asked not to."""
    stock = read_table(path, "stock", f"generate one with `retrofit stock generate --out {path}` or import EPC data",
                       ("home_id", "lsoa_code", "postcode"))
    if "home_id" in stock:
        stock["home_id"] = stock["home_id"].astype("str")
    return check_stock(stock, str(path)) if validate else stock


def write_stock(stock: pd.DataFrame, path: str | Path) -> Path:
    """Write a stock as Parquet (or CSV by suffix), atomically: a reader never sees half a file."""
    return write_table(stock, path)


def ordered(stock: pd.DataFrame) -> pd.DataFrame:
    """The schema's columns first, in schema order, then any extra columns."""
    first = [c for c in COLUMNS if c in stock.columns]
    return stock[first + [c for c in stock.columns if c not in first]]


__all__ = [
    "AGE_BANDS", "BUILT_FORMS", "CATEGORIES", "COLUMNS", "DATA_SOURCES", "ENERGY", "FLOOR_TYPES", "GLAZING",
    "HEATING_SYSTEMS", "LOCATION_SOURCES", "MAIN_FUELS", "MODELLED_ENERGY", "NUMBERS", "OPTIONAL", "PROPERTY_TYPES", "Problem", "REQUIRED",
    "StockValidationError", "TENURES", "WALL_TYPES", "check_stock", "ordered", "read_stock",
    "validate_stock", "write_stock",
]
