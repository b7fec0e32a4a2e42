"""The calibrated synthetic stock: every household of the three cities in its real LSOA.

What is published per LSOA (households, fuel-poor households, deprivation) is matched;
what is not published per home is drawn from the tables in `data/stock/` (each with its
source), correlated the way real stock is:

1. tenure, accommodation type and main heating exactly as Census 2021 counts them in each
   LSOA (TS054, TS044, TS046), each category going to the homes most likely to have it
   (flats to renters, heat networks to flats: `assign_exactly`);
2. property type and built form within the accommodation type from the city's dwelling mix;
3. age given property group; wall given age; loft, floor and glazing given those;
4. a latent SAP from those attributes and the area's fuel-poverty rate, mapped within
   each city onto the published EPC band shares (so band shares hold exactly and the
   best-insulated homes get the best scores);
5. modelled energy, bills and CO2 from the SAP score (`retrofit.energy`, as the appraisal
   uses), then in use: calibrated per area to DESNZ metered gas and electricity
   (`retrofit.stock.calibration`);
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
from retrofit.reference import CENSUS_ACCOMMODATION, CENSUS_HEATING, census2021, lsoas
from retrofit.stock.calibration import calibrate
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


def _property_group(property_type: pd.Series, built_form: pd.Series) -> np.ndarray:
    group = np.where(built_form.isin(["mid_terrace", "end_terrace"]), "terrace",
                     np.where(built_form == "semi_detached", "semi", "detached"))
    group = np.where(property_type == "bungalow", "bungalow", group)
    group = np.where(property_type.isin(["flat", "maisonette"]), "flat", group)
    return np.where(property_type == "park_home", "park_home", group)


def _age_group(age_band: np.ndarray) -> np.ndarray:
    index = positions(AGE_BANDS, age_band)
    return np.select([index <= 1, index <= 5, index <= 8], ["pre_1930", "1930_1975", "1976_2002"], "2003_onwards")


def shares_to_counts(shares: np.ndarray, homes: np.ndarray) -> np.ndarray:
    """Whole numbers of homes per LSOA (rows) and category (columns) in proportion to ``shares``,
    each row summing to the LSOA's ``homes`` (largest remainder, row by row, vectorised)."""
    total = shares.sum(axis=1, keepdims=True)
    exact = np.divide(shares, total, out=np.full(shares.shape, 1 / shares.shape[1]), where=total > 0) * homes[:, None]
    counts = np.floor(exact).astype("int64")
    short = homes - counts.sum(axis=1)
    order = np.argsort(-(exact - counts), axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(shares.shape[1])[None, :].repeat(len(shares), axis=0), axis=1)
    return counts + (rank < short[:, None])


def assign_exactly(rng, lsoa_index: np.ndarray, counts: np.ndarray, affinity: np.ndarray) -> np.ndarray:
    """A category for every home so that each LSOA holds exactly ``counts`` (LSOAs x categories) of each.

    Category by category, rarest first, the LSOA's homes for it are drawn without replacement in
    proportion to their ``affinity`` (homes x categories; Gumbel top-k), so a rare category goes
    to the homes most likely to have it (district heating to flats) and the commonest takes the rest.
    """
    codes = np.full(len(lsoa_index), -1, dtype="int64")
    order_of_categories = np.argsort(counts.sum(axis=0), kind="stable")
    for category in order_of_categories[:-1]:
        free = np.flatnonzero(codes < 0)
        key = np.log(affinity[free, category] + 1e-12) + rng.gumbel(size=len(free))  # within -40..+40
        order = np.argsort(lsoa_index[free] * 100.0 - key)  # by LSOA, then highest key first
        area = lsoa_index[free][order]
        rank = np.arange(len(order)) - np.searchsorted(area, area, side="left")
        codes[free[order[rank < counts[area, category]]]] = category
    codes[codes < 0] = order_of_categories[-1]
    return codes


def _census_counts(topic: str, ref: pd.DataFrame, homes_per_lsoa: np.ndarray, categories) -> np.ndarray:
    """Census 2021 households per LSOA of ``ref`` by category, scaled to the stock's homes there."""
    table = census2021(topic).reindex(ref["lsoa_code"])
    if table.isna().any().any():
        missing = table.index[table.isna().any(axis=1)][:3].tolist()
        raise ValueError(f"Census 2021 {topic} has no row for LSOAs {missing}")
    return shares_to_counts(table[list(categories)].to_numpy(dtype="float64"), homes_per_lsoa)


def _tenure(rng, homes: pd.DataFrame, ref: pd.DataFrame, homes_per_lsoa: np.ndarray) -> np.ndarray:
    """Tenure exactly as Census 2021 TS054 shares it in each LSOA."""
    counts = _census_counts("tenure", ref, homes_per_lsoa, TENURE_ORDER)
    lsoa_index = homes["lsoa_index"].to_numpy()
    codes = assign_exactly(rng, lsoa_index, counts, np.ones((len(lsoa_index), len(TENURE_ORDER))))
    return np.asarray(TENURE_ORDER)[codes]


def _accommodation(property_type: pd.Series, built_form: pd.Series) -> np.ndarray:
    """The Census TS044 accommodation type a property type and built form fall in."""
    terraced = built_form.isin(["end_terrace", "mid_terrace", "enclosed_end_terrace", "enclosed_mid_terrace"])
    group = np.where(terraced, "terraced", built_form.to_numpy(dtype=object))
    group = np.where(property_type.isin(["flat", "maisonette"]), "flat", group)
    return np.where(property_type == "park_home", "park_home", group)


def _dwellings(rng, homes: pd.DataFrame, ref: pd.DataFrame, homes_per_lsoa: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Accommodation type exactly as Census 2021 TS044 per LSOA (flats more often rented), then the
    property type and built form within it from the city's dwelling mix and the tenure odds."""
    mix = _table("dwellings.csv")
    mix["accommodation"] = _accommodation(mix["property_type"], mix["built_form"])
    odds = _table("tenure_by_dwelling.csv").set_index("property_type")[list(TENURE_ORDER)]
    groups = list(CENSUS_ACCOMMODATION)
    group_type = {"flat": "flat", "park_home": "park_home"}  # the rest are houses for the odds
    group_odds = np.stack([odds.loc[group_type.get(group, "house")].to_numpy() for group in groups])
    tenure_code = positions(TENURE_ORDER, homes["tenure"].array)
    counts = _census_counts("accommodation", ref, homes_per_lsoa, groups)
    group_code = assign_exactly(rng, homes["lsoa_index"].to_numpy(), counts, group_odds[:, tenure_code].T)

    property_type = np.empty(len(homes), dtype=object)
    built_form = np.empty(len(homes), dtype=object)
    city = homes["city"].to_numpy()
    for (name, group), rows in mix.groupby(["city", "accommodation"]):
        weights = rows["share"].to_numpy()[None, :] * odds.loc[rows["property_type"]].to_numpy().T  # tenure x rows
        mask = (city == name) & (group_code == groups.index(group))
        choice = _choose_by_group(rng, tenure_code[mask], weights)
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


def _heating(rng, homes: pd.DataFrame, ref: pd.DataFrame, homes_per_lsoa: np.ndarray,
             property_type: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Main heating exactly as Census 2021 TS046 per LSOA, going to the homes whose property group
    most often has it (`heating.csv`), then the system and fuel within it by the same shares."""
    table = _table("heating.csv")
    heating_group = np.where(np.isin(property_type, ["bungalow", "flat", "maisonette", "park_home"]),
                             property_type, "house")
    categories = list(CENSUS_HEATING)
    by_group = table.pivot_table(index="property_group", columns="census_heating", values="share", aggfunc="sum",
                                 fill_value=0.0).reindex(columns=categories, fill_value=0.0)
    group_code = positions(by_group.index, heating_group)
    counts = _census_counts("heating", ref, homes_per_lsoa, categories)
    category_code = assign_exactly(rng, homes["lsoa_index"].to_numpy(), counts, by_group.to_numpy()[group_code])

    system = np.empty(len(homes), dtype=object)
    fuel = np.empty(len(homes), dtype=object)
    for c, category in enumerate(categories):
        rows_of_category = table[table["census_heating"] == category]
        for g, group in enumerate(by_group.index):
            mask = (category_code == c) & (group_code == g)
            if not mask.any():
                continue
            rows = rows_of_category[rows_of_category["property_group"] == group]
            if rows.empty:  # e.g. a house on a heat network: the category's systems anywhere
                rows = rows_of_category.groupby(["heating_system", "main_fuel"], as_index=False)["share"].sum()
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
    stock["tenure"] = _as_category(_tenure(rng, stock, ref, counts), "tenure")
    report(0.15, "dwelling types and ages")
    property_type, built_form = _dwellings(rng, stock, ref, counts)
    stock["property_type"] = _as_category(property_type, "property_type")
    stock["built_form"] = _as_category(built_form, "built_form")
    group = _property_group(stock["property_type"], stock["built_form"])
    stock["age_band"] = _as_category(_age(rng, group), "age_band")
    report(0.3, "fabric and heating")
    stock["wall_type"] = _as_category(_walls(rng, stock["age_band"].array, group), "wall_type")
    stock["loft_insulation_mm"] = _loft(rng, stock["age_band"].array, property_type)
    stock["floor_type"] = _as_category(_floor(rng, stock["age_band"].array, property_type), "floor_type")
    stock["glazing"] = _as_category(_glazing(rng, stock["tenure"].array), "glazing")
    system, fuel = _heating(rng, stock, ref, counts, property_type)
    stock["heating_system"] = _as_category(system, "heating_system")
    stock["main_fuel"] = _as_category(fuel, "main_fuel")
    stock["floor_area_m2"] = _floor_area(rng, property_type, built_form)

    report(0.5, "SAP scores calibrated to published band shares")
    fp_rate = (ref["fuel_poor_households"] / ref["households"]).to_numpy()[lsoa_index]
    stock["sap_score"] = _sap_scores(rng, _latent_sap(rng, stock, fp_rate), stock["city"].to_numpy())
    stock["epc_band"] = _as_category(energy.band_from_sap(stock["sap_score"].to_numpy()), "epc_band")

    report(0.65, "energy, bills and carbon, calibrated to metered gas and electricity")
    stock = calibrate(pd.concat([stock, energy.baseline_energy(stock)], axis=1))

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
