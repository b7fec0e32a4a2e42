"""The stages of appraising one package: pure functions over arrays, one value per home it applies to.

A package's measures act together, never as independent savings:
  1. fabric: every changed U-value and the air change rate give one new heat-loss
     coefficient, and useful space heat follows it;
  2. demand: controls, cylinder and lighting factors scale what remains;
  3. heating system: the new efficiency (and fuel) turn that useful heat into delivered energy;
  4. solar PV offsets electricity last.
Each stage applies its measures through the effect table (`effects.apply_effects`). The stages
run twice (`account`): on the certificate's baseline with every realisation 1 (the physics:
the rating after retrofit, heat pump sizes and so costs) and on the in-use baseline with each
measure's in-use realisation (the savings). Delivered
energy after the fabric (and demand), after the system and after PV goes through
`retrofit.energy.evaluate` (rating cost, bill, carbon), so bills, prices and carbon factors
come from one place. Then: costs and labour, lifetime carbon, and the rating after
retrofit (the SAP equation on the new rating cost, shifted by the home's own calibration
offset so the baseline reproduces its recorded score).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from retrofit import energy
from retrofit.appraisal.effects import EFFECTS, END_USES, Demand, Fabric, Measure, Solar, System, apply_effects
from retrofit.appraisal.measures import Library
from retrofit.appraisal.physics import EVERY_HOME, Baseline, Homes, band_codes
from retrofit.candidates import TRADES


@dataclass(frozen=True)
class Package:
    """One package over the homes it applies to, on one baseline: what every stage reads."""

    homes: Homes  # the homes the package applies to
    baseline: Baseline  # the homes' energy before: homes.modelled or homes.in_use
    measures: tuple[Measure, ...]  # the package's measures, in package order, realised for the baseline
    masks: dict[str, np.ndarray]  # measure id -> which of the homes get it
    library: Library
    assumptions: energy.EnergyAssumptions
    space_efficiency: np.ndarray  # today's system, by home
    water_efficiency: np.ndarray
    heat_carbon_kg_per_kwh: np.ndarray  # today's heating fuel, by home

    @property
    def size(self) -> int:
        return len(self.homes.floor_area_m2)


def package_over(homes: Homes, measures: tuple[Measure, ...], masks: dict[str, np.ndarray], library: Library,
                 assumptions: energy.EnergyAssumptions) -> Package:
    """The Package of ``homes`` (already those it applies to) on their modelled baseline, with today's
    system looked up; `in_use` gives the same package on the in-use baseline."""
    systems = assumptions.systems
    return Package(
        homes=homes, baseline=homes.modelled, measures=measures, masks=masks, library=library, assumptions=assumptions,
        space_efficiency=systems["space_heating_efficiency"].to_numpy()[homes.system_code],
        water_efficiency=systems["hot_water_efficiency"].to_numpy()[homes.system_code],
        heat_carbon_kg_per_kwh=assumptions.fuels["carbon_kg_per_kwh"].to_numpy()[homes.fuel_code],
    )


def in_use(package: Package, measures: tuple[Measure, ...]) -> Package:
    """The package on the homes' in-use baseline, with ``measures`` realised as in use."""
    return replace(package, baseline=package.homes.in_use, measures=measures)


# --- 1-4: the measures' effects --------------------------------------------------------------

@dataclass(frozen=True)
class FabricResult:
    heat_loss_w_k: np.ndarray  # after the fabric measures
    useful_space_kwh: np.ndarray  # useful space heat after the fabric measures
    carbon_kg_saved: dict[str, np.ndarray]  # measure id -> its share of the fabric's kgCO2 a year


def fabric_stage(package: Package) -> FabricResult:
    """1. Fabric: useful space heat in proportion to the heat-loss coefficient the fabric measures leave.

    The carbon it saves at today's system is shared among the fabric measures in proportion
    to the W/K each removes (for lifetime carbon).
    """
    homes = package.homes
    ventilation = package.library.constants["ventilation"]
    start = Fabric(areas_m2=homes.areas, volume_m3=homes.volume_m3,
                   air_heat_capacity_wh_m3k=ventilation["air_heat_capacity_wh_m3k"],
                   minimum_air_changes_per_hour=ventilation["minimum_air_changes_per_hour"],
                   u_values=dict(homes.u_values), air_changes=homes.air_changes)
    end = apply_effects("fabric", start, package.measures, package.masks)
    vent = ventilation["air_heat_capacity_wh_m3k"]
    hlc_before = homes.hlc_w_k(homes.u_values, homes.air_changes, EVERY_HOME, vent)
    hlc_after = homes.hlc_w_k(end.u_values, end.air_changes, EVERY_HOME, vent)
    useful_space = package.baseline.useful_space_kwh * hlc_after / hlc_before
    removed_w_k = sum(end.w_k_removed.values()) if end.w_k_removed else np.zeros(package.size)
    carbon_kg_per_w_k = np.divide(package.baseline.useful_space_kwh - useful_space, removed_w_k, out=np.zeros(package.size),
                                  where=removed_w_k > 0) * package.heat_carbon_kg_per_kwh / package.space_efficiency
    return FabricResult(heat_loss_w_k=hlc_after, useful_space_kwh=useful_space,
                        carbon_kg_saved={m: w_k * carbon_kg_per_w_k for m, w_k in end.w_k_removed.items()})


@dataclass(frozen=True)
class DemandResult:
    useful_space_kwh: np.ndarray
    useful_water_kwh: np.ndarray
    lighting_kwh: np.ndarray
    carbon_kg_saved: dict[str, np.ndarray]  # measure id -> kgCO2 a year its factor saves at today's system


def demand_stage(package: Package, fabric: FabricResult) -> DemandResult:
    """2. Demand: factors scale the useful space heat left by the fabric, the useful hot water and lighting."""
    electricity_kg_per_kwh = package.assumptions.fuels.at["electricity", "carbon_kg_per_kwh"]
    useful = {"space_heating": fabric.useful_space_kwh, "hot_water": package.baseline.useful_water_kwh,
              "lighting": package.baseline.lighting_kwh}
    start = Demand(
        useful_kwh=useful,
        carbon_kg_per_kwh={"space_heating": package.heat_carbon_kg_per_kwh,
                           "hot_water": package.heat_carbon_kg_per_kwh, "lighting": electricity_kg_per_kwh},
        efficiency={"space_heating": package.space_efficiency, "hot_water": package.water_efficiency,
                    "lighting": 1.0},
        factors={end_use: np.ones(package.size) for end_use in END_USES})
    end = apply_effects("demand", start, package.measures, package.masks)
    return DemandResult(useful_space_kwh=useful["space_heating"] * end.factors["space_heating"],
                        useful_water_kwh=useful["hot_water"] * end.factors["hot_water"],
                        lighting_kwh=useful["lighting"] * end.factors["lighting"],
                        carbon_kg_saved=end.carbon_kg_saved)


def system_stage(package: Package, fabric: FabricResult) -> System:
    """3. Heating system: a new system's efficiencies and fuel; heat pumps sized on the design heat
    loss after the fabric (within the library's minimum and maximum kW)."""
    constants = package.library.constants
    homes = package.homes
    design_kw = np.clip(fabric.heat_loss_w_k * constants["climate"]["design_temperature_difference_k"] / 1000,
                        constants["heat_pump"]["minimum_kw"], constants["heat_pump"]["maximum_kw"])
    start = System(systems=package.assumptions.systems, fuels=package.assumptions.fuels.index,
                   design_heat_pump_kw=design_kw, space_efficiency=package.space_efficiency,
                   water_efficiency=package.water_efficiency, fuel_code=homes.fuel_code,
                   measure_position=np.full(package.size, -1), sized_by_kw=np.zeros(package.size, dtype=bool))
    return apply_effects("system", start, package.measures, package.masks)


def pv_stage(package: Package) -> Solar:
    """4. Solar PV, sized on the home's roof ([solar_pv] of appraisal.toml)."""
    pv = package.library.constants["solar_pv"]
    start = Solar(footprint_m2=package.homes.footprint_m2, usable_roof_share=pv["usable_roof_share"],
                  panel_m2_per_kwp=pv["panel_m2_per_kwp"], minimum_kwp=pv["minimum_kwp"],
                  kwp=np.zeros(package.size), measure_position=np.full(package.size, -1))
    return apply_effects("pv", start, package.measures, package.masks)


# --- energy after each step ------------------------------------------------------------------

@dataclass(frozen=True)
class Outcomes:
    after_fabric: energy.EnergyOutcome  # fabric and demand measures, today's system
    after_system: energy.EnergyOutcome  # and the new system
    after: energy.EnergyOutcome  # and PV: the package's result
    space_heating_kwh: np.ndarray  # delivered, after the package
    hot_water_kwh: np.ndarray
    lighting_kwh: np.ndarray
    generation_kwh: np.ndarray


def _evaluate(package: Package, lighting_kwh: np.ndarray, space_kwh: np.ndarray, water_kwh: np.ndarray,
              fuel_code: np.ndarray, generation_kwh: np.ndarray | float = 0.0) -> energy.EnergyOutcome:
    pv = package.library.constants["solar_pv"]
    fuels = pd.Categorical.from_codes(fuel_code, categories=package.assumptions.fuels.index)
    return energy.evaluate(
        floor_area_m2=package.homes.floor_area_m2, space_heating_kwh=space_kwh, space_fuel=fuels,
        hot_water_kwh=water_kwh, hot_water_fuel=fuels, lighting_use_kwh=lighting_kwh,
        appliance_use_kwh=package.baseline.appliances_kwh, assumptions=package.assumptions, generation_kwh=generation_kwh,
        generation_self_use_share=pv["self_use_share"], export_price_p_per_kwh=pv["export_price_p_per_kwh"])


def energy_outcomes(package: Package, demand: DemandResult, system: System, solar: Solar) -> Outcomes:
    """Rating cost, bill and carbon after each step; a step no home takes is the step before it."""
    lighting = demand.lighting_kwh
    after_fabric = _evaluate(package, lighting, demand.useful_space_kwh / package.space_efficiency,
                             demand.useful_water_kwh / package.water_efficiency, package.homes.fuel_code)
    space_kwh = demand.useful_space_kwh / system.space_efficiency
    water_kwh = demand.useful_water_kwh / system.water_efficiency
    after_system = (_evaluate(package, lighting, space_kwh, water_kwh, system.fuel_code)
                    if (system.measure_position >= 0).any() else after_fabric)
    generation = solar.kwp * package.library.constants["solar_pv"]["yield_kwh_per_kwp"] * solar.generation_share
    after = (_evaluate(package, lighting, space_kwh, water_kwh, system.fuel_code, generation)
             if (solar.measure_position >= 0).any() else after_system)
    return Outcomes(after_fabric=after_fabric, after_system=after_system, after=after, space_heating_kwh=space_kwh,
                    hot_water_kwh=water_kwh, lighting_kwh=lighting, generation_kwh=generation)


@dataclass(frozen=True)
class Account:
    """A package's stages and energy on one baseline."""

    package: Package
    fabric: FabricResult
    demand: DemandResult
    system: System
    solar: Solar
    outcomes: Outcomes

    def saved(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Delivered kWh (net of generation), tCO2 and bill (GBP) saved a year against the baseline."""
        baseline, outcomes = self.package.baseline, self.outcomes
        kwh_before = baseline.space_kwh + baseline.water_kwh + baseline.lighting_kwh + baseline.appliances_kwh
        kwh_after = (outcomes.space_heating_kwh + outcomes.hot_water_kwh + outcomes.lighting_kwh
                     + baseline.appliances_kwh - outcomes.generation_kwh)
        return (kwh_before - kwh_after, baseline.before.co2_t - outcomes.after.co2_t,
                baseline.before.bill_gbp - outcomes.after.bill_gbp)


def account(package: Package) -> Account:
    """Stages 1-4 and the energy after each, on the package's baseline."""
    fabric = fabric_stage(package)
    demand = demand_stage(package, fabric)
    system = system_stage(package, fabric)
    solar = pv_stage(package)
    return Account(package, fabric, demand, system, solar, energy_outcomes(package, demand, system, solar))


# --- costs, labour, lifetime and rating -------------------------------------------------------

# What a measure's cost counts as for funding (a grant pays for fabric or low-carbon heating, say),
# by the stage of its effect; assessment and coordination are "other".
COST_CATEGORY_OF_STAGE = {"fabric": "fabric", "demand": "fabric", "system": "heating", "pv": "pv"}
COST_CATEGORIES = ("fabric", "heating", "pv", "other")


@dataclass(frozen=True)
class Costs:
    cost_gbp: np.ndarray
    by_category: dict[str, np.ndarray]  # COST_CATEGORIES -> GBP; they add up to cost_gbp
    trade_days: dict[str, np.ndarray]  # by trade of TRADES, coordination included
    labour_days: np.ndarray
    measure_bits: np.ndarray  # bit Measure.position set for each measure a home gets


def _quantity(basis: str, homes: Homes, heat_pump_kw: np.ndarray, pv_kwp: np.ndarray) -> np.ndarray:
    """What a measure's cost_per_unit_gbp is multiplied by."""
    if basis in ("wall_m2", "roof_m2", "floor_m2", "window_m2"):
        return homes.areas[basis.removesuffix("_m2")]
    if basis == "floor_area_m2":
        return homes.floor_area_m2
    if basis == "heat_pump_kw":
        return heat_pump_kw
    if basis == "pv_kwp":
        return pv_kwp
    return np.ones(len(homes.floor_area_m2))


def measure_cost(measure: Measure, library: Library, homes: Homes, heat_pump_kw: np.ndarray,
                 pv_kwp: np.ndarray) -> np.ndarray:
    """Cost (GBP, today's prices) of one measure for each home.

    Fixed plus per unit of its cost basis, uplifted from its price base year; a segment-costed
    measure adds its BEIS (2017) range at the library's cost point for the home's segment; a
    heat pump costs its fixed part plus the RHI cost curve at its kW.
    """
    quantity = _quantity(measure.cost_basis, homes, heat_pump_kw, pv_kwp)
    cost = (measure.cost_fixed_gbp + measure.cost_per_unit_gbp * quantity) * library.uplift(measure.price_base_year)
    if measure.cost_basis == "segment":
        table = library.tables["segment_costs"]
        table = table[table["measure_id"] == measure.measure_id].set_index("segment").loc[homes.segment_names]
        point = library.constants["costs"]["segment_cost_point"]
        by_segment = (table["low_gbp"] + point * (table["high_gbp"] - table["low_gbp"])).to_numpy()
        uplift = np.array([library.uplift(year) for year in table["price_base_year"]])
        cost = cost + (by_segment * uplift)[homes.segment_code]
    if measure.cost_basis == "heat_pump_kw":
        curve = library.tables["heat_pump_costs"].sort_values("capacity_kw")
        uplift = np.array([library.uplift(year) for year in curve["price_base_year"]])
        cost = measure.cost_fixed_gbp * library.uplift(measure.price_base_year) + np.interp(
            heat_pump_kw, curve["capacity_kw"], curve["cost_gbp"] * uplift)
    return cost


def cost_stage(package: Package, heat_pump_kw: np.ndarray, pv_kwp: np.ndarray) -> Costs:
    """Installed cost and labour days by trade of each measure a home gets (labour share of the cost
    at the trade's day rate), plus PAS 2035 assessment and coordination: days per home and per measure."""
    library, homes, size = package.library, package.homes, package.size
    day_rates = library.tables["day_rates"].set_index("trade")["day_rate_gbp"]
    by_category = {category: np.zeros(size) for category in COST_CATEGORIES}
    trade_days = {trade: np.zeros(size) for trade in TRADES}
    measure_bits = np.zeros(size, dtype="int64")
    applied = np.zeros(size)
    for measure in package.measures:
        mask = package.masks[measure.measure_id]
        cost_of_measure = np.where(mask, measure_cost(measure, library, homes, heat_pump_kw, pv_kwp), 0.0)
        by_category[COST_CATEGORY_OF_STAGE[EFFECTS[measure.effect].stage]] += cost_of_measure
        trade_days[measure.trade] += cost_of_measure * measure.labour_share / day_rates[measure.trade]
        measure_bits |= mask.astype("int64") << measure.position
        applied += mask
    coordination_constants = library.constants["coordination"]
    coordination = coordination_constants["days_per_home"] + coordination_constants["days_per_measure"] * applied
    trade_days["coordination"] += coordination
    by_category["other"] += coordination * day_rates["coordination"]
    return Costs(cost_gbp=sum(by_category.values()), by_category=by_category, trade_days=trade_days,
                 labour_days=sum(trade_days.values()), measure_bits=measure_bits)


def lifetime_co2_t_saved(found: Account) -> np.ndarray:
    """Each step's carbon saving over the lifetimes of the measures that made it.

    The fabric step (fabric and demand measures) lasts the mean of its measures' lifetimes,
    weighted by the carbon each saves; the system and PV steps last their measure's lifetime.
    """
    package, outcomes, system, solar = found.package, found.outcomes, found.system, found.solar
    carbon_kg_saved = {**found.fabric.carbon_kg_saved, **found.demand.carbon_kg_saved}
    size = package.size
    lifetimes = package.library.measures["lifetime_years"].to_numpy()
    lifetime_of = {measure.measure_id: measure.lifetime_years for measure in package.measures}
    total_kg = sum(carbon_kg_saved.values()) if carbon_kg_saved else np.zeros(size)
    kg_years = (sum(kg * lifetime_of[m] for m, kg in carbon_kg_saved.items()) if carbon_kg_saved
                else np.zeros(size))
    fabric_years = np.divide(kg_years, total_kg, out=np.zeros(size), where=total_kg > 0)
    system_years = np.where(system.measure_position >= 0, lifetimes[system.measure_position], 0)
    pv_years = np.where(solar.measure_position >= 0, lifetimes[solar.measure_position], 0)
    return ((package.baseline.before.co2_t - outcomes.after_fabric.co2_t) * fabric_years
            + (outcomes.after_fabric.co2_t - outcomes.after_system.co2_t) * system_years
            + (outcomes.after_system.co2_t - outcomes.after.co2_t) * pv_years)


def sap_after(modelled: Account) -> np.ndarray:
    """The SAP equation on the rating cost after, plus the home's calibration offset (its recorded score
    less the equation's score today), within 1..100, to one decimal: on the certificate's physics."""
    package = modelled.package
    homes = package.homes
    offset = homes.sap_before - energy.sap_from_rating_cost(homes.modelled.before.rating_cost_gbp,
                                                            homes.floor_area_m2, package.assumptions)
    rated = energy.sap_from_rating_cost(modelled.outcomes.after.rating_cost_gbp, homes.floor_area_m2,
                                        package.assumptions)
    return np.round(np.clip(rated + offset, 1, 100), 1)


# --- the candidate rows ----------------------------------------------------------------------

FP_BANDS_BEFORE = np.isin(energy.BANDS, ["D", "E", "F", "G"])  # LILEE: fuel poor only in band D or worse
FP_BANDS_LIFTED = np.isin(energy.BANDS, ["A", "B", "C"])
CANDIDATE_FLOAT = "float32"


def whole_pounds_by_category(costs: Costs) -> dict[str, np.ndarray]:
    """`cost_<category>_gbp` in whole pounds, adding up exactly to the rounded `cost_gbp`: "other"
    (assessment and coordination, never below a few hundred pounds) takes the rounding."""
    parts = {category: np.round(costs.by_category[category], 0) for category in COST_CATEGORIES[:-1]}
    parts["other"] = np.round(costs.cost_gbp, 0) - sum(parts.values())
    return {f"cost_{category}_gbp": value.astype(CANDIDATE_FLOAT) for category, value in parts.items()}


def candidate_columns(modelled: Account, in_use: Account, fuel_poverty_probability: np.ndarray, costs: Costs,
                      lifetime_co2_t: np.ndarray, sap: np.ndarray) -> dict[str, np.ndarray | pd.Categorical]:
    """The candidate table's measured columns for the package's homes (float32, as the table stores them).

    Savings are in use; `modelled_annual_co2_t_saved`, the rating and the sizes are the certificate's
    physics. A home's `fuel_poor_lifted` is its fuel poverty probability when the package takes it
    from band D-G to A-C; `fp_bill_saving_gbp` is the probability times the bill saving.
    """
    homes, f32 = modelled.package.homes, CANDIDATE_FLOAT
    band_after = band_codes(sap)
    lifted = np.where(FP_BANDS_LIFTED[band_after] & FP_BANDS_BEFORE[homes.band_before], fuel_poverty_probability, 0.0)
    kwh_saved, co2_t_saved, bill_saving = in_use.saved()
    system, solar = modelled.system, modelled.solar
    working_days = modelled.package.library.constants["jobs"]["working_days_per_fte_year"]
    return {
        "cost_gbp": np.round(costs.cost_gbp, 0).astype(f32),
        **whole_pounds_by_category(costs),
        "annual_kwh_saved": kwh_saved.astype(f32),
        "annual_co2_t_saved": co2_t_saved.astype(f32),
        "modelled_annual_co2_t_saved": modelled.saved()[1].astype(f32),
        "lifetime_co2_t_saved": lifetime_co2_t.astype(f32),
        "annual_bill_saving_gbp": bill_saving.astype(f32),
        "sap_before": homes.sap_before.astype(f32),
        "band_before": pd.Categorical.from_codes(homes.band_before, categories=energy.BANDS),
        "sap_after": sap.astype(f32),
        "band_after": pd.Categorical.from_codes(band_after, categories=energy.BANDS),
        "fuel_poverty_probability": fuel_poverty_probability.astype(f32),
        "fuel_poor_lifted": lifted.astype(f32),
        "fp_bill_saving_gbp": (fuel_poverty_probability * bill_saving).astype(f32),
        "labour_days": costs.labour_days.astype(f32),
        "jobs_fte_years": (costs.labour_days / working_days).astype(f32),
        **{f"trade_days_{trade}": days.astype(f32) for trade, days in costs.trade_days.items()},
        "heat_pump_kw": np.where(system.sized_by_kw, system.design_heat_pump_kw, 0).astype(f32),
        "pv_kwp": solar.kwp.astype(f32),
        "measure_bits": costs.measure_bits,
    }
