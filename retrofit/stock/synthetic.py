"""The calibrated synthetic stock: every household of the three cities in its real LSOA.

What is published per LSOA (households, fuel-poor households, deprivation) is matched;
what is not published per home is drawn from the tables in `data/stock/` (each with its
source), correlated the way real stock is:

1. tenure from the LSOA's deprivation, scaled to each city's Census tenure shares;
2. property type and built form given tenure (a joint table fitted to both the city's
   dwelling mix and its tenure shares by iterative proportional fitting);
3. age given property group; wall given age; loft, floor, glazing and heating given those;
4. a latent SAP from those attributes and the area's fuel-poverty rate, mapped within
   each city onto the published EPC band shares (so band shares hold exactly and the
   best-insulated homes get the best scores);
5. energy, bills and CO2 from the SAP score (`retrofit.energy`, as the appraisal uses);
6. each LSOA's published fuel-poor count spread over its band D-G homes, weighted by
   tenure and band.

Everything is vectorised; the whole stock (686,261 homes) takes a few seconds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from retrofit import energy
from retrofit.frames import positions
from retrofit.paths import STOCK_ASSUMPTIONS_DIR
from retrofit.reference import census2011_tenure_shares, lsoas
from retrofit.stock.fuel_poverty import spread_fuel_poverty
from retrofit.stock.schema import AGE_BANDS, CATEGORIES, ordered

Progress = Callable[[float, str], None]

BAND_SAP_RANGES = {"A": (92, 96), "B": (81, 91), "C": (69, 80), "D": (55, 68), "E": (39, 54),
                   "F": (21, 38), "G": (5, 20)}
TENURE_ORDER = ("owner_occupied", "private_rented", "social_rented")
NO_LOFT = ("flat", "maisonette", "park_home")
FLAT_UPPER_FLOOR_SHARE = 0.70  # assumption, see data/stock/README.md (floor.csv)


def _table(name: str) -> pd.DataFrame:
    return pd.read_csv(STOCK_ASSUMPTIONS_DIR / name)


def _as_category(values, column: str | None = None) -> pd.Categorical:
    """Category columns keep memory and lookups small for 686,000 homes."""
    if column in CATEGORIES:
        return pd.Categorical(values, categories=list(CATEGORIES[column]))
    return pd.Categorical(values)


def _choose(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One draw per row of a (rows x options) probability matrix, vectorised."""
    cumulative = np.cumsum(probabilities, axis=1)
    cumulative /= cumulative[:, -1:]
    draws = rng.random(len(probabilities))[:, None]
    return (draws > cumulative).sum(axis=1)


def _choose_by_group(rng: np.random.Generator, group_codes: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Draw an option for each home from the row of ``table`` its group points to."""
    return _choose(rng, table[group_codes])


def allocate(households: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` homes over LSOAs in proportion to households (largest remainder)."""
    share = households / households.sum() * total
    counts = np.floor(share).astype("int64")
    remainder = total - counts.sum()
    counts[np.argsort(-(share - counts), kind="stable")[:remainder]] += 1
    return counts


def _ipf(seed: np.ndarray, row_totals: np.ndarray, col_totals: np.ndarray, iterations: int = 50) -> np.ndarray:
    """Iterative proportional fitting of a seed table to row and column totals."""
    table = seed.astype("float64").copy()
    for _ in range(iterations):
        table *= (row_totals / table.sum(axis=1))[:, None]
        table *= col_totals / table.sum(axis=0)
    return table


def _property_group(property_type: pd.Series, built_form: pd.Series) -> np.ndarray:
    group = np.where(built_form.isin(["mid_terrace", "end_terrace"]), "terrace",
                     np.where(built_form == "semi_detached", "semi", "detached"))
    group = np.where(property_type == "bungalow", "bungalow", group)
    group = np.where(property_type.isin(["flat", "maisonette"]), "flat", group)
    return np.where(property_type == "park_home", "park_home", group)


def _age_group(age_band: np.ndarray) -> np.ndarray:
    index = positions(AGE_BANDS, age_band)
    return np.select([index <= 1, index <= 5, index <= 8], ["pre_1930", "1930_1975", "1976_2002"], "2003_onwards")


def _tenure(rng, homes: pd.DataFrame, ref: pd.DataFrame) -> np.ndarray:
    by_decile = _table("tenure_by_deprivation.csv").set_index("imd_decile")
    targets = census2011_tenure_shares()
    social_w = ref["imd_decile"].map(by_decile["social_rented"]).to_numpy()
    private_w = ref["imd_decile"].map(by_decile["private_rented"]).to_numpy()
    social = np.zeros(len(ref))
    private = np.zeros(len(ref))
    for city, target in targets.iterrows():
        mask = (ref["city"] == city).to_numpy()
        weights = ref["households"].to_numpy()[mask]
        social[mask] = social_w[mask] * target["social_rented"] / np.average(social_w[mask], weights=weights)
        private[mask] = private_w[mask] * target["private_rented"] / np.average(private_w[mask], weights=weights)
    social = np.clip(social, 0, 0.9)
    private = np.minimum(private, 0.95 - social)
    probabilities = np.column_stack([1 - social - private, private, social])
    codes = _choose_by_group(rng, homes["lsoa_index"].to_numpy(), probabilities)
    return np.asarray(TENURE_ORDER)[codes]


def _dwellings(rng, homes: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    mix = _table("dwellings.csv")
    odds = _table("tenure_by_dwelling.csv").set_index("property_type")
    tenure_shares = census2011_tenure_shares()
    property_type = np.empty(len(homes), dtype=object)
    built_form = np.empty(len(homes), dtype=object)
    for city, rows in mix.groupby("city"):
        rows = rows.reset_index(drop=True)
        seed = odds.loc[rows["property_type"], list(TENURE_ORDER)].to_numpy()
        joint = _ipf(seed, rows["share"].to_numpy() / rows["share"].sum(),
                     tenure_shares.loc[city, list(TENURE_ORDER)].to_numpy())
        given_tenure = (joint / joint.sum(axis=0)).T  # tenure x dwelling
        mask = (homes["city"] == city).to_numpy()
        tenure_code = positions(TENURE_ORDER, homes.loc[mask, "tenure"].array)
        choice = _choose_by_group(rng, tenure_code, given_tenure)
        property_type[mask] = rows["property_type"].to_numpy()[choice]
        built_form[mask] = rows["built_form"].to_numpy()[choice]
    return property_type, built_form


def _age(rng, group: np.ndarray) -> np.ndarray:
    table = _table("age_by_property.csv").set_index("property_group")[list(AGE_BANDS[:-1])]
    codes = positions(table.index, group)
    return np.asarray(AGE_BANDS[:-1])[_choose_by_group(rng, codes, table.to_numpy())]


def _walls(rng, age_band: np.ndarray, group: np.ndarray) -> np.ndarray:
    table = _table("wall_by_age.csv")
    options = list(CATEGORIES["wall_type"])
    matrix = table.set_index(["age_band", "property_group"])[options]
    # row of each (age band, flat or not) pair: the flat row where there is one, else "any"
    rows = np.empty((len(AGE_BANDS), 2), dtype="int64")
    for a, band in enumerate(AGE_BANDS[:-1]):
        rows[a, 0] = matrix.index.get_loc((band, "any"))
        rows[a, 1] = matrix.index.get_loc((band, "flat")) if (band, "flat") in matrix.index else rows[a, 0]
    codes = rows[positions(AGE_BANDS, age_band), (np.asarray(group) == "flat").astype("int64")]
    return np.asarray(options)[_choose_by_group(rng, codes, matrix.to_numpy())]


def _loft(rng, age_band: np.ndarray, property_type: np.ndarray) -> np.ndarray:
    table = _table("loft.csv").set_index("age_group").drop(columns="source")
    depths = table.columns.astype("float64").to_numpy()
    codes = positions(table.index, _age_group(age_band))
    loft = depths[_choose_by_group(rng, codes, table.to_numpy())]
    return np.where(np.isin(property_type, NO_LOFT), np.nan, loft)


def _floor(rng, age_band: np.ndarray, property_type: np.ndarray) -> np.ndarray:
    table = _table("floor.csv").set_index("age_group")[["suspended", "solid"]]
    index = positions(AGE_BANDS, age_band)
    group = np.select([index <= 1, index == 2], ["pre_1930", "1930_1949"], "1950_onwards")
    floor = np.asarray(["suspended", "solid"])[_choose_by_group(rng, positions(table.index, group), table.to_numpy())]
    upper = np.isin(property_type, ["flat", "maisonette"]) & (rng.random(len(floor)) < FLAT_UPPER_FLOOR_SHARE)
    return np.where(upper, "dwelling_below", floor)


def _glazing(rng, tenure: np.ndarray) -> np.ndarray:
    table = _table("glazing.csv").set_index("tenure")[list(CATEGORIES["glazing"])]
    return np.asarray(table.columns)[_choose_by_group(rng, positions(table.index, tenure), table.to_numpy())]


def _heating(rng, group: np.ndarray, property_type: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    table = _table("heating.csv")
    heating_group = np.where(np.isin(property_type, ["bungalow", "flat", "maisonette", "park_home"]),
                             property_type, "house")
    system = np.empty(len(group), dtype=object)
    fuel = np.empty(len(group), dtype=object)
    for name, rows in table.groupby("property_group"):
        mask = heating_group == name
        choice = _choose(rng, np.broadcast_to(rows["share"].to_numpy(), (int(mask.sum()), len(rows))).copy())
        system[mask] = rows["heating_system"].to_numpy()[choice]
        fuel[mask] = rows["main_fuel"].to_numpy()[choice]
    return system, fuel


def _floor_area(rng, property_type: np.ndarray, built_form: np.ndarray) -> np.ndarray:
    table = _table("floor_area.csv")
    table = table.set_index(["property_type", "built_form"])
    codes = table.index.get_indexer(pd.MultiIndex.from_arrays([property_type, built_form]))
    if (codes < 0).any():
        raise ValueError("floor_area.csv lacks a row for some property type and built form")
    median = table["median_m2"].to_numpy()[codes]
    sigma = table["sigma_log"].to_numpy()[codes]
    area = median * np.exp(sigma * rng.standard_normal(len(codes)))
    return np.round(np.clip(area, 25, 400), 1)


def _latent_sap(rng, homes: pd.DataFrame, fp_rate: np.ndarray) -> np.ndarray:
    effects = _table("sap_effects.csv")
    latent = np.full(len(homes), 62.0)
    for attribute, rows in effects[effects["value"].notna()].groupby("attribute"):
        points = rows.set_index("value")["sap_points"].reindex(homes[attribute].cat.categories).fillna(0)
        latent += points.to_numpy()[homes[attribute].cat.codes]
    scalar = effects[effects["value"].isna()].set_index("attribute")["sap_points"]
    missing_mm = np.clip(270 - homes["loft_insulation_mm"].fillna(270).to_numpy(), 0, None)
    latent += scalar["loft_per_100mm_below_270"] * missing_mm / 100
    latent += scalar["fuel_poverty_rate"] * (fp_rate - np.average(fp_rate))
    latent += scalar["noise_sd"] * rng.standard_normal(len(homes))
    return latent


def _sap_scores(rng, latent: np.ndarray, city: np.ndarray) -> np.ndarray:
    """Map latent scores onto each city's published band shares, keeping their order."""
    targets = _table("epc_bands.csv").set_index("city")
    sap = np.zeros(len(latent), dtype="int64")
    for name in np.unique(city):
        mask = city == name
        n = int(mask.sum())
        shares = targets.loc[name, list(BAND_SAP_RANGES)].to_numpy(dtype="float64")
        counts = allocate(shares, n)
        values = np.concatenate([
            rng.integers(low, high + 1, size=count)
            for (low, high), count in zip(BAND_SAP_RANGES.values(), counts)
        ])
        order = np.argsort(latent[mask], kind="stable")
        city_sap = np.empty(n, dtype="int64")
        city_sap[order] = np.sort(values)
        sap[mask] = city_sap
    return sap


def generate_stock(seed: int = 1, homes: int | None = None, progress: Progress | None = None) -> pd.DataFrame:
    """Generate the synthetic stock: all households, or a sample of ``homes`` stratified by LSOA."""
    report = progress or (lambda fraction, message: None)
    rng = np.random.default_rng(seed)
    ref = lsoas()
    households = ref["households"].to_numpy()
    counts = households if homes is None else allocate(households, int(homes))
    if homes is not None and not 1 <= homes <= households.sum():
        raise ValueError(f"--homes must be between 1 and {households.sum():,} (every household)")
    lsoa_index = np.repeat(np.arange(len(ref)), counts)
    n = len(lsoa_index)
    report(0.05, f"placing {n:,} homes in {int((counts > 0).sum()):,} LSOAs")

    stock = pd.DataFrame({"lsoa_index": lsoa_index})
    for column in ("city", "la_code", "lsoa_code", "ward"):
        stock[column] = pd.Categorical.from_codes(lsoa_index, categories=pd.Index(ref[column]).unique()) \
            if ref[column].is_unique else _as_category(ref[column].to_numpy()[lsoa_index], column)
    stock["imd_decile"] = ref["imd_decile"].to_numpy()[lsoa_index]
    stock["tenure"] = _as_category(_tenure(rng, stock, ref), "tenure")
    report(0.15, "dwelling types and ages")
    property_type, built_form = _dwellings(rng, stock)
    stock["property_type"] = _as_category(property_type, "property_type")
    stock["built_form"] = _as_category(built_form, "built_form")
    group = _property_group(stock["property_type"], stock["built_form"])
    stock["age_band"] = _as_category(_age(rng, group), "age_band")
    report(0.3, "fabric and heating")
    stock["wall_type"] = _as_category(_walls(rng, stock["age_band"].array, group), "wall_type")
    stock["loft_insulation_mm"] = _loft(rng, stock["age_band"].array, property_type)
    stock["floor_type"] = _as_category(_floor(rng, stock["age_band"].array, property_type), "floor_type")
    stock["glazing"] = _as_category(_glazing(rng, stock["tenure"].array), "glazing")
    system, fuel = _heating(rng, group, property_type)
    stock["heating_system"] = _as_category(system, "heating_system")
    stock["main_fuel"] = _as_category(fuel, "main_fuel")
    stock["floor_area_m2"] = _floor_area(rng, property_type, built_form)

    report(0.5, "SAP scores calibrated to published band shares")
    fp_rate = (ref["fuel_poor_households"] / ref["households"]).to_numpy()[lsoa_index]
    stock["sap_score"] = _sap_scores(rng, _latent_sap(rng, stock, fp_rate), stock["city"].to_numpy())
    stock["epc_band"] = _as_category(energy.band_from_sap(stock["sap_score"].to_numpy()), "epc_band")

    report(0.65, "energy, bills and carbon")
    stock = pd.concat([stock, energy.baseline_energy(stock)], axis=1)

    report(0.8, "fuel poverty spread over band D-G homes")
    targets = ref["fuel_poor_households"].to_numpy() * counts / np.maximum(households, 1)
    stock["fuel_poverty_probability"], _shortfall = spread_fuel_poverty(
        lsoa_index, stock["epc_band"].to_numpy(), stock["tenure"].to_numpy(), targets)

    stock["lat"] = np.round(ref["lat"].to_numpy()[lsoa_index] + 0.0035 * rng.standard_normal(n), 6)
    stock["lon"] = np.round(ref["lon"].to_numpy()[lsoa_index] + 0.0055 * rng.standard_normal(n), 6)
    stock["home_id"] = pd.array(np.char.add("SYN", np.char.zfill(np.arange(1, n + 1).astype("U7"), 7)), dtype="str")
    stock["data_source"] = _as_category(np.full(n, "synthetic"), "data_source")
    stock["postcode"] = pd.Series(pd.NA, index=stock.index, dtype="str")
    stock["epc_date"] = pd.NaT
    stock = stock.drop(columns="lsoa_index")
    report(1.0, "done")
    return ordered(stock)
