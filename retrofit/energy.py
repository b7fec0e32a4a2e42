"""The energy model shared by the synthetic stock and the appraisal.

The stock records a home's SAP score; everything else about its energy follows from the
same few equations, so the baseline and every retrofit are judged on one footing:

- SAP rating equation (SAP 2012 section 13) between the energy cost per m2 at SAP's fuel
  prices and the score: ``ecf_from_sap`` / ``sap_from_ecf``.
- Hot water, lighting and appliances from floor area through SAP occupancy (Appendix J, L).
- Space heating is what remains of the rating cost once hot water, lighting and the
  heating fuel's standing charge are paid for.
- Bills at the Ofgem price cap and carbon at SAP 10.2 factors, over all end uses.

All numbers live in `data/energy/` with their sources; this module only reads them.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from retrofit.frames import lookup, positions
from retrofit.paths import ENERGY_DIR

BAND_LOWER_BOUNDS = {"A": 92, "B": 81, "C": 69, "D": 55, "E": 39, "F": 21, "G": 1}
BANDS = tuple(BAND_LOWER_BOUNDS)
DAYS_PER_YEAR = 365


@dataclass(frozen=True)
class EnergyAssumptions:
    """Fuel prices, carbon factors, system efficiencies and SAP constants."""

    fuels: pd.DataFrame  # indexed by fuel
    systems: pd.DataFrame  # indexed by heating_system
    constants: dict

    def fuel_column(self, fuels, column: str) -> np.ndarray:
        """A fuel attribute for each element of ``fuels`` (an unknown fuel is an error)."""
        return lookup(self.fuels[column], fuels, "fuel").astype("float64")

    def system_column(self, systems, column: str) -> np.ndarray:
        """A heating system attribute for each element of ``systems``."""
        return lookup(self.systems[column], systems, "heating system").astype("float64")


@lru_cache(maxsize=4)
def load_assumptions(directory: Path = ENERGY_DIR) -> EnergyAssumptions:
    fuels = pd.read_csv(directory / "fuels.csv").set_index("fuel")
    systems = pd.read_csv(directory / "heating_systems.csv").set_index("heating_system")
    with open(directory / "energy.toml", "rb") as handle:
        constants = tomllib.load(handle)
    return EnergyAssumptions(fuels=fuels, systems=systems, constants=constants)


# --- SAP rating ----------------------------------------------------------------------

ECF_BREAKPOINT = 3.5


def sap_from_ecf(ecf: np.ndarray) -> np.ndarray:
    """SAP 2012 equation (257)-(258); the two branches meet at ECF 3.5 (SAP 51.17) to 0.01."""
    ecf = np.asarray(ecf, dtype="float64")
    safe = np.maximum(ecf, 1e-9)
    return np.where(ecf >= ECF_BREAKPOINT, 117 - 121 * np.log10(safe), 100 - 13.95 * ecf)


def ecf_from_sap(sap: np.ndarray) -> np.ndarray:
    """Inverse of ``sap_from_ecf``."""
    sap = np.asarray(sap, dtype="float64")
    sap_at_break = 100 - 13.95 * ECF_BREAKPOINT
    return np.where(sap <= sap_at_break, 10 ** ((117 - sap) / 121), (100 - sap) / 13.95)


def band_from_sap(sap: np.ndarray | pd.Series) -> np.ndarray:
    """EPC band of a (rounded) SAP score: A 92+, B 81-91, C 69-80, D 55-68, E 39-54, F 21-38, G 1-20."""
    sap = np.asarray(sap, dtype="float64")
    edges = np.array([21, 39, 55, 69, 81, 92])
    letters = np.array(["G", "F", "E", "D", "C", "B", "A"])
    return letters[np.searchsorted(edges, np.round(sap), side="right")]


def rating_cost_from_sap(sap: np.ndarray, floor_area_m2: np.ndarray, assumptions: EnergyAssumptions) -> np.ndarray:
    """Total energy cost at SAP prices (GBP a year) that gives this SAP score."""
    rating = assumptions.constants["rating"]
    return ecf_from_sap(sap) * (np.asarray(floor_area_m2) + rating["floor_area_offset_m2"]) / rating["deflator"]


def sap_from_rating_cost(cost_gbp: np.ndarray, floor_area_m2: np.ndarray, assumptions: EnergyAssumptions) -> np.ndarray:
    rating = assumptions.constants["rating"]
    ecf = rating["deflator"] * np.asarray(cost_gbp) / (np.asarray(floor_area_m2) + rating["floor_area_offset_m2"])
    return sap_from_ecf(ecf)


# --- demand that does not depend on the fabric ----------------------------------------

def occupancy(floor_area_m2: np.ndarray) -> np.ndarray:
    """SAP 2012 Table 1b assumed occupancy N from total floor area."""
    tfa = np.asarray(floor_area_m2, dtype="float64")
    excess = np.maximum(tfa - 13.9, 0.0)
    n = 1 + 1.76 * (1 - np.exp(-0.000349 * excess**2)) + 0.0013 * excess
    return np.where(tfa > 13.9, n, 1.0)


def hot_water_useful_kwh(floor_area_m2: np.ndarray, assumptions: EnergyAssumptions) -> np.ndarray:
    c = assumptions.constants["hot_water"]
    litres = c["litres_per_person_per_day"] * occupancy(floor_area_m2) + c["litres_fixed_per_day"]
    return 4.18 * litres * c["temperature_rise_k"] / 3600 * DAYS_PER_YEAR * c["loss_factor"]


def lighting_kwh(floor_area_m2: np.ndarray, assumptions: EnergyAssumptions) -> np.ndarray:
    c = assumptions.constants["lighting_appliances"]
    size = (np.asarray(floor_area_m2) * occupancy(floor_area_m2)) ** c["exponent"]
    return c["lighting_coefficient"] * size * c["lighting_low_energy_factor"]


def appliances_kwh(floor_area_m2: np.ndarray, assumptions: EnergyAssumptions) -> np.ndarray:
    c = assumptions.constants["lighting_appliances"]
    return c["appliances_coefficient"] * (np.asarray(floor_area_m2) * occupancy(floor_area_m2)) ** c["exponent"]


def split_lighting_appliances(lighting_appliances_kwh: np.ndarray, floor_area_m2: np.ndarray,
                              assumptions: EnergyAssumptions) -> tuple[np.ndarray, np.ndarray]:
    """A stock's one lighting-and-appliances figure as (lighting, appliances), in the model's proportion
    (SAP rates lighting, not appliances, so the rating needs them apart)."""
    lighting_model = lighting_kwh(floor_area_m2, assumptions)
    lighting = lighting_appliances_kwh * lighting_model / (lighting_model + appliances_kwh(floor_area_m2, assumptions))
    return lighting, lighting_appliances_kwh - lighting


def space_heating_fuel(heating_system, main_fuel) -> pd.Categorical:
    """The tariff that pays for space heating: storage heaters run on off-peak electricity."""
    fuel = np.where(np.asarray(heating_system, dtype=object) == "electric_storage", "electricity_offpeak",
                    np.asarray(main_fuel, dtype=object))
    return pd.Categorical(fuel)


# --- outcomes of a home's delivered energy ---------------------------------------------

@dataclass
class EnergyOutcome:
    """Yearly results of a set of homes' delivered energy (arrays, one value per home)."""

    rating_cost_gbp: np.ndarray
    bill_gbp: np.ndarray
    co2_t: np.ndarray


def evaluate(
    *,
    floor_area_m2: np.ndarray,
    space_heating_kwh: np.ndarray,
    space_fuel,
    hot_water_kwh: np.ndarray,
    hot_water_fuel,
    lighting_use_kwh: np.ndarray,
    appliance_use_kwh: np.ndarray,
    assumptions: EnergyAssumptions,
    generation_kwh: np.ndarray | float = 0.0,
    generation_self_use_share: float = 0.5,
    export_price_p_per_kwh: float = 0.0,
) -> EnergyOutcome:
    """Rating cost, bill and carbon of delivered energy by end use.

    The rating cost covers what SAP counts (space heating, hot water, lighting and the
    heating fuel's standing charge); bills and carbon cover every end use, appliances
    included. On-site generation (solar PV) offsets electricity: in the rating at the
    standard price, in the bill for the share used at home plus export payments.
    """
    a = assumptions
    rating = (
        space_heating_kwh * a.fuel_column(space_fuel, "rating_price_p_per_kwh")
        + hot_water_kwh * a.fuel_column(hot_water_fuel, "rating_price_p_per_kwh")
        + lighting_use_kwh * a.fuels.at["electricity", "rating_price_p_per_kwh"]
        - generation_kwh * a.fuels.at["electricity", "rating_price_p_per_kwh"]
    ) / 100 + a.fuel_column(space_fuel, "rating_standing_gbp_per_year")

    electricity_price = a.fuels.at["electricity", "bill_price_p_per_kwh"]
    generation_value = generation_kwh * (
        generation_self_use_share * electricity_price + (1 - generation_self_use_share) * export_price_p_per_kwh
    )
    bill = (
        space_heating_kwh * a.fuel_column(space_fuel, "bill_price_p_per_kwh")
        + hot_water_kwh * a.fuel_column(hot_water_fuel, "bill_price_p_per_kwh")
        + (lighting_use_kwh + appliance_use_kwh) * electricity_price
        - generation_value
    ) / 100
    # Standing charges: electricity always; a second fuel's when it is used for heat.
    # (by position in the fuel table: converting 686,000 category labels to objects is slow)
    gas = a.fuels.index.get_loc("mains_gas")
    uses_gas = (positions(a.fuels.index, space_fuel) == gas) | (positions(a.fuels.index, hot_water_fuel) == gas)
    bill = bill + DAYS_PER_YEAR / 100 * (
        a.fuels.at["electricity", "bill_standing_p_per_day"]
        + uses_gas * a.fuels.at["mains_gas", "bill_standing_p_per_day"]
    )
    co2 = (
        space_heating_kwh * a.fuel_column(space_fuel, "carbon_kg_per_kwh")
        + hot_water_kwh * a.fuel_column(hot_water_fuel, "carbon_kg_per_kwh")
        + (lighting_use_kwh + appliance_use_kwh - generation_kwh) * a.fuels.at["electricity", "carbon_kg_per_kwh"]
    ) / 1000
    return EnergyOutcome(rating_cost_gbp=np.asarray(rating), bill_gbp=np.asarray(bill), co2_t=np.asarray(co2))


def baseline_energy(homes: pd.DataFrame, assumptions: EnergyAssumptions | None = None) -> pd.DataFrame:
    """Delivered energy by end use, CO2 and bills consistent with each home's SAP score.

    Needs ``floor_area_m2``, ``sap_score``, ``heating_system`` and ``main_fuel``.
    Space heating is the part of the SAP rating cost left after hot water, lighting and
    the standing charge, floored at a minimum useful heat per m2 (so very high scores on
    costly fuels can sit a little above what the equations give; the appraisal
    calibrates to the recorded score, so this does not bias savings).
    """
    a = assumptions or load_assumptions()
    area = homes["floor_area_m2"].to_numpy(dtype="float64")
    system = homes["heating_system"]
    space_fuel = space_heating_fuel(system, homes["main_fuel"])
    water_fuel = space_fuel  # hot water comes from the main system in this model
    hot_water = hot_water_useful_kwh(area, a) / a.system_column(system, "hot_water_efficiency")
    lighting = lighting_kwh(area, a)
    appliances = appliances_kwh(area, a)

    target = rating_cost_from_sap(homes["sap_score"].to_numpy(dtype="float64"), area, a)
    fixed = (
        hot_water * a.fuel_column(water_fuel, "rating_price_p_per_kwh")
        + lighting * a.fuels.at["electricity", "rating_price_p_per_kwh"]
    ) / 100 + a.fuel_column(space_fuel, "rating_standing_gbp_per_year")
    space = (target - fixed) * 100 / a.fuel_column(space_fuel, "rating_price_p_per_kwh")
    efficiency = a.system_column(system, "space_heating_efficiency")
    floor = a.constants["space_heating"]["minimum_useful_kwh_per_m2"] * area / efficiency
    space = np.maximum(space, floor)

    outcome = evaluate(
        floor_area_m2=area, space_heating_kwh=space, space_fuel=space_fuel, hot_water_kwh=hot_water,
        hot_water_fuel=water_fuel, lighting_use_kwh=lighting, appliance_use_kwh=appliances, assumptions=a,
    )
    return pd.DataFrame(
        {
            "space_heating_kwh": space,
            "hot_water_kwh": hot_water,
            "lighting_appliances_kwh": lighting + appliances,
            "co2_t_per_year": outcome.co2_t,
            "energy_cost_gbp_per_year": outcome.bill_gbp,
        },
        index=homes.index,
    )
