"""The stock's energy calibrated to metered use: in-use figures beside the certificate's.

An EPC models demand under standard occupancy, and poorly rated homes use markedly less than
theirs predict (the "prebound" effect). DESNZ publishes what homes actually use per 2011 LSOA:
gas per consuming meter (weather-corrected) and electricity per meter. Every home keeps both
numbers: its modelled energy (`modelled_*`, which SAP and bands use) and its in-use energy
(the stock's plain energy columns, which carbon, bills and savings use):

- space heating in use is the modelled figure times a factor by EPC band (the shape of the gap,
  `data/stock/in_use_by_band.csv`, from a published study) times the area's heating factor;
  hot water is the modelled figure times the area's factor;
- the area's heating factor is fitted so that its gas-heated homes' mean gas matches DESNZ's
  mean per consuming meter; heat networks, oil, LPG and solid fuel take the same factor;
- the area's electricity factor scales everything on the electricity meter (lighting and
  appliances, and the banded heating of electrically heated homes) so that the mean per home
  matches DESNZ's mean per meter.

An area is a 2011 LSOA with its 2021 parts, or merged 2011 LSOAs with the 2021 LSOA they
formed (`reference.calibration_areas`). An area with too few homes to fit, or a home placed
only in its local authority, takes its city's factor. Bounds and thresholds are in
`data/stock/calibration.toml`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from retrofit import energy
from retrofit.frames import positions
from retrofit.paths import STOCK_ASSUMPTIONS_DIR
from retrofit.reference import CITIES, calibration_areas, metered_energy
from retrofit.stock.schema import ENERGY, MODELLED_ENERGY, read_stock

MODELLED = dict(zip(ENERGY, MODELLED_ENERGY))


@lru_cache(maxsize=1)
def _settings() -> dict:
    with open(STOCK_ASSUMPTIONS_DIR / "calibration.toml", "rb") as handle:
        return tomllib.load(handle)


def band_factors() -> pd.Series:
    """Space heating in use over modelled, by EPC band (the shape; areas fit the level)."""
    table = pd.read_csv(STOCK_ASSUMPTIONS_DIR / "in_use_by_band.csv").set_index("epc_band")
    return table["space_heating_factor"].reindex(list(energy.BANDS))


def gas_heated(stock: pd.DataFrame) -> np.ndarray:
    """Homes whose heat is on their own gas meter (a heat network's gas is not a home's meter)."""
    # comparing the Series, not numpy arrays: a category column compares its codes, not 686,000 strings
    return ((stock["main_fuel"] == "mains_gas") & (stock["heating_system"] == "gas_boiler")).to_numpy()


def electric_heated(stock: pd.DataFrame) -> np.ndarray:
    """Homes whose heating and hot water are on their electricity meter (storage heaters, on an off-peak
    tariff whatever the fuel recorded, included: `energy.space_heating_fuel`)."""
    return ((stock["main_fuel"] == "electricity") | (stock["heating_system"] == "electric_storage")).to_numpy()


@dataclass(frozen=True)
class Places:
    """Where each home is for calibration: its area and city, as positions (-1 where none)."""

    area: np.ndarray  # position in `areas`
    city: np.ndarray  # position in CITIES
    areas: pd.Index  # area names
    metered: pd.DataFrame  # DESNZ meters and kWh per area (indexed like `areas`)
    city_metered: pd.DataFrame  # the same per city (indexed by CITIES)


def places(stock: pd.DataFrame) -> Places:
    of_2011, of_2021 = calibration_areas()
    metered = metered_energy()
    metered["area"] = of_2011.reindex(metered.index).to_numpy()
    by_area = metered.groupby("area")[["gas_meters", "gas_kwh", "electricity_meters", "electricity_kwh"]].sum()
    by_city = metered.groupby("city")[["gas_meters", "gas_kwh", "electricity_meters", "electricity_kwh"]].sum()
    if "lsoa_code" in stock:
        codes, lsoas = pd.factorize(stock["lsoa_code"])  # a thousand LSOAs looked up, not every home
        names = of_2021.reindex(pd.Index(lsoas).astype("str")).fillna("").to_numpy(dtype=object)
        area = np.full(len(stock), -1)
        area[codes >= 0] = positions(by_area.index, names)[codes[codes >= 0]]
    else:
        area = np.full(len(stock), -1)
    return Places(area=area, city=positions(CITIES, stock["city"].array), areas=by_area.index, metered=by_area,
                  city_metered=by_city.reindex(list(CITIES)))


def _fit(place: np.ndarray, places_n: int, homes: np.ndarray, modelled: np.ndarray, target_mean: np.ndarray,
         section: dict) -> tuple[np.ndarray, np.ndarray]:
    """Per place: the factor f with f x (mean modelled over its homes) = target mean, within the
    bounds; and whether the place has enough homes to be fitted on its own."""
    count = np.bincount(place, weights=homes, minlength=places_n)
    total = np.bincount(place, weights=modelled * homes, minlength=places_n)
    factor = np.divide(target_mean * count, total, out=np.ones(places_n), where=total > 0)
    factor = np.clip(np.nan_to_num(factor, nan=1.0), section["lowest_factor"], section["highest_factor"])
    return factor, count >= section["minimum_homes"]


def _factor_by_home(where: Places, mask: np.ndarray, modelled: np.ndarray, metered_kwh: str, meters: str,
                    section: dict) -> np.ndarray:
    """Each home's factor: its area's where the area can be fitted, else its city's."""
    homes = mask.astype("float64")
    known = where.area >= 0
    area_mean = (where.metered[metered_kwh] / where.metered[meters]).to_numpy()
    area_factor, enough = _fit(where.area[known], len(where.areas), homes[known], modelled[known], area_mean,
                               section)
    city_mean = (where.city_metered[metered_kwh] / where.city_metered[meters]).to_numpy()
    city_factor, _ = _fit(where.city, len(CITIES), homes, modelled, city_mean, section | {"minimum_homes": 0})
    factor = city_factor[where.city]
    use_area = known & enough[np.maximum(where.area, 0)]
    factor[use_area] = area_factor[where.area[use_area]]
    return factor


def calibrate(stock: pd.DataFrame) -> pd.DataFrame:
    """The stock with its modelled energy kept as `modelled_*` and its energy columns in use.

    Reads the modelled figures from `modelled_*` where the stock has them (calibrating again
    gives the same result), else from the energy columns.
    """
    a = energy.load_assumptions()
    modelled = {column: (stock[MODELLED[column]] if MODELLED[column] in stock else stock[column])
                .to_numpy(dtype="float64") for column in ENERGY}
    where = places(stock)
    settings = _settings()
    band_code = positions(energy.BANDS, stock["epc_band"].array)
    banded_space = band_factors().to_numpy()[band_code] * modelled["space_heating_kwh"]
    water = modelled["hot_water_kwh"]

    gas = gas_heated(stock)
    electric = electric_heated(stock)
    heating = _factor_by_home(where, gas, banded_space + water, "gas_kwh", "gas_meters", settings["heating"])
    # Everything on the electricity meter is fitted to it, electric heating (banded) included.
    on_meter = modelled["lighting_appliances_kwh"] + np.where(electric, banded_space + water, 0.0)
    electricity = _factor_by_home(where, np.ones(len(stock), dtype=bool), on_meter, "electricity_kwh",
                                  "electricity_meters", settings["electricity"])
    factor = np.where(electric, electricity, heating)
    space, water = factor * banded_space, factor * water
    lighting_appliances = electricity * modelled["lighting_appliances_kwh"]

    area = stock["floor_area_m2"].to_numpy(dtype="float64")
    lighting, appliances = energy.split_lighting_appliances(lighting_appliances, area, a)
    fuel = energy.space_heating_fuel(stock["heating_system"], stock["main_fuel"])
    outcome = energy.evaluate(floor_area_m2=area, space_heating_kwh=space, space_fuel=fuel, hot_water_kwh=water,
                              hot_water_fuel=fuel, lighting_use_kwh=lighting,
                              appliance_use_kwh=appliances, assumptions=a)
    calibrated = stock.copy()
    in_use = {"space_heating_kwh": space, "hot_water_kwh": water, "lighting_appliances_kwh": lighting_appliances,
              "co2_t_per_year": outcome.co2_t, "energy_cost_gbp_per_year": outcome.bill_gbp}
    for column in ENERGY:
        calibrated[MODELLED[column]] = modelled[column]
        calibrated[column] = in_use[column]
    return calibrated


# --- the report --------------------------------------------------------------------------

# The stock columns the report reads: a page can read just these (a tenth of the stock's bytes).
REPORT_COLUMNS = ("lsoa_code", "city", "main_fuel", "heating_system", *ENERGY[:3], *MODELLED_ENERGY[:3])


def read_report_columns(path: str | Path) -> pd.DataFrame:
    """The columns of a stock file the report reads (a CSV is read whole), for a page that only shows it."""
    if Path(path).suffix.lower() == ".csv":
        return read_stock(path, validate=False)
    present = set(pq.read_schema(path).names)
    return pd.read_parquet(path, columns=[column for column in REPORT_COLUMNS if column in present])


def _means(stock: pd.DataFrame, place: np.ndarray, names: pd.Index, metered: pd.DataFrame) -> pd.DataFrame:
    """Modelled, in-use and metered gas (per gas-heated home) and electricity (per home) per place."""
    n = len(names)
    known = place >= 0
    gas = gas_heated(stock) & known
    electric = electric_heated(stock)

    def columns(prefix: str) -> tuple[np.ndarray, np.ndarray]:
        space = stock[f"{prefix}space_heating_kwh"].to_numpy(dtype="float64")
        water = stock[f"{prefix}hot_water_kwh"].to_numpy(dtype="float64")
        light = stock[f"{prefix}lighting_appliances_kwh"].to_numpy(dtype="float64")
        return space + water, light + np.where(electric, space + water, 0.0)

    gas_homes = np.bincount(place[gas], minlength=n)
    homes = np.bincount(place[known], minlength=n)
    table = pd.DataFrame({"gas_heated_homes": gas_homes, "homes": homes}, index=names)
    prefixes = {"modelled": "modelled_" if "modelled_space_heating_kwh" in stock else "", "in_use": ""}
    for label, prefix in prefixes.items():
        heat, electricity = columns(prefix)
        table[f"{label}_gas_kwh"] = np.bincount(place[gas], weights=heat[gas], minlength=n) / np.maximum(gas_homes, 1)
        table[f"{label}_electricity_kwh"] = (np.bincount(place[known], weights=electricity[known], minlength=n)
                                             / np.maximum(homes, 1))
    table["metered_gas_kwh"] = (metered["gas_kwh"] / metered["gas_meters"]).to_numpy()
    table["metered_electricity_kwh"] = (metered["electricity_kwh"] / metered["electricity_meters"]).to_numpy()
    table["gas_meters"] = metered["gas_meters"].to_numpy()
    table["electricity_meters"] = metered["electricity_meters"].to_numpy()
    for fuel in ("gas", "electricity"):
        table[f"{fuel}_difference"] = table[f"in_use_{fuel}_kwh"] / table[f"metered_{fuel}_kwh"] - 1
        table[f"{fuel}_factor"] = table[f"in_use_{fuel}_kwh"] / table[f"modelled_{fuel}_kwh"]
    table.loc[table["gas_heated_homes"] == 0, [c for c in table.columns if "gas" in c and c != "gas_meters"]] = np.nan
    return table[table["homes"] > 0]


def calibration_report(stock: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Modelled vs in-use vs metered energy, per city and per area (2011 LSOA or merged group).

    `gas_*` are per gas-heated home against DESNZ's mean per consuming meter, `electricity_*`
    per home against the mean per meter; `*_difference` is in-use over metered less one and
    `*_factor` in-use over modelled.
    """
    where = places(stock)
    cities = _means(stock, where.city, pd.Index(CITIES, name="city"), where.city_metered)
    areas = _means(stock, where.area, where.areas.rename("area"), where.metered)
    city_of_area = metered_energy().assign(area=calibration_areas()[0]).groupby("area")["city"].first()
    areas.insert(0, "city", city_of_area.reindex(areas.index).to_numpy())
    return {"cities": cities, "areas": areas}


def calibration_summary(stock: pd.DataFrame, worst: int = 10) -> dict:
    """The report as JSON-ready figures: per city, per area (for a plot), the worst-matched areas."""
    report = calibration_report(stock)
    cities, areas = report["cities"], report["areas"].reset_index()

    def records(table: pd.DataFrame) -> list[dict]:
        return [{key: (None if pd.isna(value) else value.item() if hasattr(value, "item") else value)
                 for key, value in row.items()} for row in table.to_dict("records")]

    # A mean over a handful of homes (a sample stock) says nothing: areas are compared where they
    # have as many homes as calibration needs to fit them on their own.
    enough = {"gas": areas["gas_heated_homes"] >= _settings()["heating"]["minimum_homes"],
              "electricity": areas["homes"] >= _settings()["electricity"]["minimum_homes"]}

    def median(column: str | pd.Series, fuel: str) -> float | None:
        values = (areas[column] if isinstance(column, str) else column)[enough[fuel]].abs().dropna()
        return float(values.median()) if len(values) else None

    miss = np.fmax(areas["gas_difference"].abs().where(enough["gas"]),
                   areas["electricity_difference"].abs().where(enough["electricity"]))
    return {
        "source": "DESNZ 2019 domestic gas (per consuming meter, weather-corrected) and electricity (per meter) "
                  "per 2011 LSOA",
        "calibrated": all(column in stock for column in MODELLED_ENERGY[:3]),
        "cities": {city: row for city, row in zip(cities.index, records(cities))},
        "areas_compared": {fuel: int(mask.sum()) for fuel, mask in enough.items()},
        "median_absolute_difference": {fuel: median(f"{fuel}_difference", fuel) for fuel in enough},
        "modelled_median_absolute_difference": {
            fuel: median(areas[f"modelled_{fuel}_kwh"] / areas[f"metered_{fuel}_kwh"] - 1, fuel) for fuel in enough},
        "worst": records(areas.loc[miss.dropna().sort_values(ascending=False, kind="stable").index[:worst]]),
        "areas": records(areas),
    }
