"""LSOA reference data: households, fuel poverty, deprivation and geography.

One tidy table, one row per 2021 LSOA of the three cities, built from the real public
files in `data/reference/` (sources and licences in its README):

    lsoa_code, lsoa_name, city, la_code, ward_code, ward, households,
    fuel_poor_households, imd_rank, imd_decile, lat, lon

IMD 2019 is published on 2011 LSOAs. It is carried to 2021 LSOAs through the ONS
lookup: unchanged and split LSOAs inherit their parent's rank and decile; an LSOA
formed by merging 2011 LSOAs takes the population-weighted mean of their ranks
(File 6, mid-2015 population) and the national decile of that rank.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from retrofit.paths import REFERENCE_DIR

CITIES = ("Birmingham", "Coventry", "Wolverhampton")
LA_CODES = {"Birmingham": "E08000025", "Coventry": "E08000026", "Wolverhampton": "E08000031"}
CITY_BY_LA = {code: city for city, code in LA_CODES.items()}

# England had 32,844 LSOAs (2011) in IMD 2019; decile d holds ranks in ((d-1)/10, d/10] of them.
IMD_LSOAS_ENGLAND = 32_844


def _count(series: pd.Series) -> pd.Series:
    """Published counts come as text with padding and thousands separators (" 1,234 ")."""
    return series.astype(str).str.strip().str.replace(",", "", regex=False).astype("int64")


def imd_decile_from_rank(rank: np.ndarray | pd.Series) -> np.ndarray:
    """National IMD decile (1 = most deprived 10%) of an IMD rank."""
    return np.clip(np.ceil(np.asarray(rank) * 10 / IMD_LSOAS_ENGLAND), 1, 10).astype("int64")


def _imd_for_lsoa21() -> pd.DataFrame:
    imd = pd.read_csv(REFERENCE_DIR / "imd2019_file1_rank_decile_bham_cov_wolv.csv")
    imd = pd.DataFrame(
        {
            "lsoa11": imd["LSOA code (2011)"],
            "imd_rank": _count(imd["Index of Multiple Deprivation (IMD) Rank"]),
            "imd_decile": imd["Index of Multiple Deprivation (IMD) Decile"].astype("int64"),
        }
    )
    pop = pd.read_csv(REFERENCE_DIR / "imd2019_file6_population_bham_cov_wolv.csv")
    imd["population"] = imd["lsoa11"].map(
        pop.set_index("LSOA code (2011)")["Total population: mid 2015 (excluding prisoners)"]
        .pipe(_count)
    )
    lookup = pd.read_csv(REFERENCE_DIR / "lsoa11_to_lsoa21_bham_cov_wolv.csv")
    joined = lookup.merge(imd, left_on="LSOA11CD", right_on="lsoa11", how="left", validate="many_to_one")
    if joined["imd_rank"].isna().any():
        missing = joined.loc[joined["imd_rank"].isna(), "LSOA11CD"].tolist()
        raise ValueError(f"IMD 2019 has no row for 2011 LSOAs {missing[:5]}")
    joined["weighted_rank"] = joined["imd_rank"] * joined["population"]
    per21 = joined.groupby("LSOA21CD").agg(
        parents=("LSOA11CD", "size"),
        weighted_rank=("weighted_rank", "sum"),
        population=("population", "sum"),
        imd_rank=("imd_rank", "first"),
        imd_decile=("imd_decile", "first"),
    )
    merged = per21["parents"] > 1
    per21.loc[merged, "imd_rank"] = (
        per21.loc[merged, "weighted_rank"] / per21.loc[merged, "population"]
    ).round().astype("int64")
    per21.loc[merged, "imd_decile"] = imd_decile_from_rank(per21.loc[merged, "imd_rank"])
    return per21[["imd_rank", "imd_decile"]].astype("int64")


@lru_cache(maxsize=1)
def _lsoa_table() -> pd.DataFrame:
    fp = pd.read_csv(REFERENCE_DIR / "fuel_poverty_2022_lsoa_bham_cov_wolv.csv")
    table = pd.DataFrame(
        {
            "lsoa_code": fp["LSOA Code"],
            "lsoa_name": fp["LSOA Name"],
            "la_code": fp["LA Code"],
            "households": _count(fp["Number of households"]),
            "fuel_poor_households": _count(fp["Number of households in fuel poverty"]),
        }
    )
    table["city"] = table["la_code"].map(CITY_BY_LA)
    wards = pd.read_csv(REFERENCE_DIR / "lsoa21_to_ward24_bham_cov_wolv.csv").set_index("LSOA21CD")
    table["ward_code"] = table["lsoa_code"].map(wards["WD24CD"])
    table["ward"] = table["lsoa_code"].map(wards["WD24NM"])
    imd = _imd_for_lsoa21()
    table["imd_rank"] = table["lsoa_code"].map(imd["imd_rank"])
    table["imd_decile"] = table["lsoa_code"].map(imd["imd_decile"])
    pwc = pd.read_csv(REFERENCE_DIR / "lsoa21_pwc_bham_cov_wolv.csv").set_index("LSOA21CD")
    table["lat"] = table["lsoa_code"].map(pwc["lat"])
    table["lon"] = table["lsoa_code"].map(pwc["lon"])
    if table.isna().any().any():
        gaps = table.columns[table.isna().any()].tolist()
        raise ValueError(f"reference data incomplete: columns {gaps} have LSOAs with no value")
    columns = ["lsoa_code", "lsoa_name", "city", "la_code", "ward_code", "ward", "households",
               "fuel_poor_households", "imd_rank", "imd_decile", "lat", "lon"]
    table = table[columns].sort_values("lsoa_code", ignore_index=True)
    for column in ("imd_rank", "imd_decile"):
        table[column] = table[column].astype("int64")
    return table


def lsoas() -> pd.DataFrame:
    """The tidy LSOA table (a copy: callers may change it freely)."""
    return _lsoa_table().copy()


def city_totals() -> pd.DataFrame:
    """Households and fuel-poor households per city, as published."""
    return lsoas().groupby("city")[["households", "fuel_poor_households"]].sum()


def census2011_tenure_shares() -> pd.DataFrame:
    """Share of households by stock tenure category per city, Census 2011.

    Owned outright, with a mortgage and shared ownership count as owner_occupied;
    living rent free counts as private_rented (both are how the EHS groups them).
    """
    raw = pd.read_csv(REFERENCE_DIR / "census2011_tenure_households_bham_cov_wolv.csv")
    def col(label: str) -> pd.Series:
        return raw[f"Tenure: {label}; measures: Value"].astype("float64")
    total = col("All categories: Tenure")
    shares = pd.DataFrame(
        {
            "owner_occupied": (col("Owned: Total") + col("Shared ownership (part owned and part rented)")) / total,
            "social_rented": col("Social rented: Total") / total,
            "private_rented": (col("Private rented: Total") + col("Living rent free")) / total,
        }
    )
    shares.index = raw["geography"].rename("city")
    return shares
