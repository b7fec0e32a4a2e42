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


# Census 2021 (ONS, by 2021 LSOA): what each category of the stock counts. Owned, shared ownership
# -> owner_occupied and living rent free -> private_rented, as the EHS groups them.
CENSUS_TENURE = {
    "owner_occupied": ("Owned", "Shared ownership"),
    "private_rented": ("Private rented", "Lives rent free"),
    "social_rented": ("Social rented",),
}
# TS044 by what the stock's property type and built form can say: flats include converted and
# commercial buildings; a caravan or mobile home is a park home.
CENSUS_ACCOMMODATION = {
    "detached": ("Detached",),
    "semi_detached": ("Semi-detached",),
    "terraced": ("Terraced",),
    "flat": ("In a purpose-built block of flats or tenement", "Part of a converted or shared house, including bedsits",
             "Part of another converted building, for example, former school, church or warehouse",
             "In a commercial building, for example, in an office building, hotel or over a shop"),
    "park_home": ("A caravan or other mobile or temporary structure",),
}
# TS046 by the stock's heating: two or more types without renewables is nearly always gas with a
# secondary heater; with renewables, a heat pump with a back-up. "No central heating" and "other"
# are room heaters and unlisted systems: direct electric (data/stock/README.md).
CENSUS_HEATING = {
    "mains_gas": ("Mains gas only", "Two or more types of central heating (not including renewable energy)"),
    "electric": ("Electric only", "Other central heating only", "No central heating"),
    "district": ("District or communal heat networks only",),
    "lpg": ("Tank or bottled gas only",),
    "oil": ("Oil only",),
    "solid_fuel": ("Solid fuel only",),
    "biomass": ("Wood only",),
    "renewable": ("Renewable energy only", "Two or more types of central heating (including renewable energy)"),
}
CENSUS_TABLES = {
    "tenure": ("census2021-ts054-lsoa_bham_cov_wolv.csv", "Tenure of household", CENSUS_TENURE),
    "accommodation": ("census2021-ts044-lsoa_bham_cov_wolv.csv", "Accommodation type", CENSUS_ACCOMMODATION),
    "heating": ("census2021-ts046-lsoa_bham_cov_wolv.csv", "Type of central heating in household", CENSUS_HEATING),
}


@lru_cache(maxsize=3)
def _census2021(topic: str) -> pd.DataFrame:
    name, prefix, groups = CENSUS_TABLES[topic]
    raw = pd.read_csv(REFERENCE_DIR / name).set_index("geography code")
    def count(label: str) -> pd.Series:
        return raw[f"{prefix}: {label}"].astype("int64")
    table = pd.DataFrame({group: sum(count(label) for label in labels) for group, labels in groups.items()})
    table.index.name = "lsoa_code"
    return table.sort_index()


def census2021(topic: str) -> pd.DataFrame:
    """Households per 2021 LSOA by the stock's categories of ``topic`` (tenure, accommodation, heating)."""
    return _census2021(topic).copy()


@lru_cache(maxsize=1)
def _metered() -> pd.DataFrame:
    gas = pd.read_csv(REFERENCE_DIR / "desnz_lsoa11_domestic_gas_2019_bham_cov_wolv.csv")
    electricity = pd.read_csv(REFERENCE_DIR / "desnz_lsoa11_domestic_elec_2019_bham_cov_wolv.csv")
    table = pd.DataFrame({
        "la_code": gas["Local Authority Code"].to_numpy(),
        "gas_meters": gas["Number of consuming meters"].astype("int64").to_numpy(),
        "gas_kwh": gas["Consumption (kWh)"].astype("float64").to_numpy(),
    }, index=pd.Index(gas["Lower Layer Super Output Area (LSOA) Code"], name="lsoa11_code"))
    electricity = electricity.set_index("Lower Layer Super Output Area (LSOA) Code")
    table["electricity_meters"] = electricity["Total number of domestic electricity meters"].reindex(table.index)
    table["electricity_kwh"] = electricity["Total domestic electricity consumption (kWh)"].reindex(table.index)
    if table.isna().any().any():
        raise ValueError("DESNZ gas and electricity files do not cover the same 2011 LSOAs")
    table["city"] = table["la_code"].map(CITY_BY_LA)
    return table.sort_index()


def metered_energy() -> pd.DataFrame:
    """DESNZ 2019 domestic gas (weather-corrected) and electricity per 2011 LSOA: meters and kWh."""
    return _metered().copy()


@lru_cache(maxsize=1)
def _areas() -> tuple[pd.Series, pd.Series]:
    lookup = pd.read_csv(REFERENCE_DIR / "lsoa11_to_lsoa21_bham_cov_wolv.csv")
    # Union-find over the lookup's pairs: a split 2011 LSOA and its 2021 parts are one area,
    # merged 2011 LSOAs and the 2021 LSOA they formed are one area.
    parent: dict[str, str] = {}
    def root(node: str) -> str:
        while parent.setdefault(node, node) != node:
            node = parent[node]
        return node
    for old, new in zip(lookup["LSOA11CD"], "21:" + lookup["LSOA21CD"]):
        a, b = root(old), root(new)
        if a != b:
            parent[max(a, b)] = min(a, b)
    old_codes = lookup["LSOA11CD"].unique()
    members: dict[str, list[str]] = {}
    for code in sorted(old_codes):
        members.setdefault(root(code), []).append(code)
    name = {key: "+".join(codes) for key, codes in members.items()}
    of_2011 = pd.Series({code: name[root(code)] for code in old_codes}, name="area").sort_index()
    of_2021 = pd.Series({code: name[root("21:" + code)] for code in lookup["LSOA21CD"].unique()}, name="area")
    return of_2011, of_2021.sort_index()


def calibration_areas() -> tuple[pd.Series, pd.Series]:
    """The area each 2011 and each 2021 LSOA belongs to, for comparing stock with metered energy.

    An area is a 2011 LSOA with the 2021 LSOAs it became; where 2011 LSOAs merged, the merged
    group (named by its 2011 codes joined with "+").
    """
    of_2011, of_2021 = _areas()
    return of_2011.copy(), of_2021.copy()
