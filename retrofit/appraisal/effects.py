"""What each measure effect does: one handler function and one row of `EFFECTS` per effect.

A measure's `effect` column (data/measures.csv) names a row of `EFFECTS`. The row says which
stage of the appraisal applies it, what the measure's `effect_target` and `effect_value`
hold (`load_library` checks them from the row), what a home can have only one of in a
package, and which handler applies it. `apply_effects` is the only place that runs
handlers, so adding an effect is writing its handler and adding its row.

A handler is a pure function over arrays, one value per home of the package:
``handler(state, measure, mask) -> state``, where ``mask`` marks the homes that get the
measure and ``state`` is its stage's frozen dataclass (`Fabric`, `Demand`, `System`,
`Solar`): the inputs the stage's handlers read and the values they change so far. Handlers
run in package order, each on the state the previous one returned.

Each handler also honours the measure's in-use `realisation` (data/appraisal/in_use.csv), so
the same handlers give the certificate's physics (every realisation 1: `measure_records(...,
realised=False)`) and the savings homes show in use: a fabric measure removes that share of
the heat loss it would remove, a demand factor f becomes 1 - r(1 - f), a new heating system
runs at r times its efficiencies, PV generates r of its modelled output. The realised values
are written as the physical value plus (1 - r) of the change, so r = 1 gives the physics
exactly, not to rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Literal, NamedTuple, TypeVar

import numpy as np
import pandas as pd

STAGES = ("fabric", "demand", "system", "pv")  # the order the appraisal applies them in
END_USES = ("space_heating", "hot_water", "lighting")  # what a demand factor can scale

State = TypeVar("State")


class Measure(NamedTuple):
    """One measure of the library as the stages read it."""

    measure_id: str
    position: int  # row of the library's measures table (for measure_bits and lifetimes)
    effect: str
    target: str  # effect_target
    value: float  # effect_value (NaN where the effect uses none)
    cost_basis: str
    cost_fixed_gbp: float
    cost_per_unit_gbp: float
    price_base_year: int
    labour_share: float
    trade: str
    lifetime_years: float
    realisation: float = 1.0  # share of the modelled change realised in use; 1 in the certificate's physics


def measure_records(measures: pd.DataFrame, realised: bool = True) -> dict[str, Measure]:
    """The library's measures table (indexed by measure_id) as records, keyed by id; with
    ``realised=False`` every realisation is 1 (the certificate's physics)."""
    realisation = measures["realisation"] if realised else pd.Series(1.0, index=measures.index)
    return {
        row.Index: Measure(
            measure_id=row.Index, position=position, effect=row.effect, target=row.effect_target,
            value=row.effect_value, cost_basis=row.cost_basis, cost_fixed_gbp=row.cost_fixed_gbp,
            cost_per_unit_gbp=row.cost_per_unit_gbp, price_base_year=row.price_base_year,
            labour_share=row.labour_share, trade=row.trade, lifetime_years=row.lifetime_years,
            realisation=float(realisation[row.Index]))
        for position, row in enumerate(measures.itertuples())
    }


# --- the stages' states ------------------------------------------------------------------

@dataclass(frozen=True)
class Fabric:
    """The fabric of the package's homes as its fabric measures leave it."""

    areas_m2: dict[str, np.ndarray]  # exposed area by element (unchanged by measures)
    volume_m3: np.ndarray
    air_heat_capacity_wh_m3k: float
    minimum_air_changes_per_hour: float
    u_values: dict[str, np.ndarray]  # W/m2K by element
    air_changes: np.ndarray  # per hour
    w_k_removed: dict[str, np.ndarray] = field(default_factory=dict)  # measure id -> heat-loss W/K it removes


@dataclass(frozen=True)
class Demand:
    """What the demand factors scale, and how much carbon each factor saves at today's system."""

    useful_kwh: dict[str, np.ndarray]  # by end use: space heat after the fabric, hot water, lighting
    carbon_kg_per_kwh: dict[str, np.ndarray | float]  # by end use: today's fuel
    efficiency: dict[str, np.ndarray | float]  # by end use: today's system (1.0 for lighting)
    factors: dict[str, np.ndarray]  # by end use: the product of the factors applied so far
    carbon_kg_saved: dict[str, np.ndarray] = field(default_factory=dict)  # measure id -> kgCO2 a year


@dataclass(frozen=True)
class System:
    """The heating system of the package's homes as its heating measures leave it."""

    systems: pd.DataFrame  # the energy model's heating systems (efficiencies), indexed by system
    fuels: pd.Index  # the energy model's fuels
    design_heat_pump_kw: np.ndarray  # a heat pump's size: design heat loss after the fabric
    space_efficiency: np.ndarray
    water_efficiency: np.ndarray
    fuel_code: np.ndarray  # position in `fuels`
    measure_position: np.ndarray  # Measure.position of the new system, -1 for none
    sized_by_kw: np.ndarray  # homes whose new system is costed by its kW


@dataclass(frozen=True)
class Solar:
    """The solar PV of the package's homes."""

    footprint_m2: np.ndarray
    usable_roof_share: float
    panel_m2_per_kwp: float
    minimum_kwp: float
    kwp: np.ndarray
    measure_position: np.ndarray  # Measure.position of the PV measure, -1 for none
    generation_share: np.ndarray | float = 1.0  # share of the modelled generation realised (the measure's)


# --- the handlers --------------------------------------------------------------------------

def lower_u_value(fabric: Fabric, measure: Measure, mask: np.ndarray) -> Fabric:
    """The target element's U-value becomes the measure's value where that is lower (in use, only
    the realised share of that fall)."""
    current = fabric.u_values[measure.target]
    physical = np.minimum(current, measure.value)
    better = np.where(mask, physical + (1 - measure.realisation) * (current - physical), current)
    removed = (current - better) * fabric.areas_m2[measure.target]
    return replace(fabric, u_values={**fabric.u_values, measure.target: better},
                   w_k_removed={**fabric.w_k_removed, measure.measure_id: removed})


def reduce_air_changes(fabric: Fabric, measure: Measure, mask: np.ndarray) -> Fabric:
    """Air changes fall by the measure's value, not below the minimum (a home already below keeps its own);
    in use, by the realised share of that fall."""
    floor = np.minimum(fabric.air_changes, fabric.minimum_air_changes_per_hour)
    physical = np.maximum(fabric.air_changes - measure.value, floor)
    better = np.where(mask, physical + (1 - measure.realisation) * (fabric.air_changes - physical),
                      fabric.air_changes)
    removed = fabric.air_heat_capacity_wh_m3k * (fabric.air_changes - better) * fabric.volume_m3
    return replace(fabric, air_changes=better, w_k_removed={**fabric.w_k_removed, measure.measure_id: removed})


def scale_demand(demand: Demand, measure: Measure, mask: np.ndarray, *, end_use: str) -> Demand:
    """The end use's useful demand is multiplied by the measure's factor (in use, 1 - r(1 - factor)); its
    saving is priced in carbon at today's fuel and system (on the demand before this and any other factor)."""
    factor = demand.factors[end_use]
    realised = measure.value + (1 - measure.realisation) * (1 - measure.value)
    saved = (np.where(mask, demand.useful_kwh[end_use] * (1 - realised), 0)
             * demand.carbon_kg_per_kwh[end_use] / demand.efficiency[end_use])
    return replace(demand, factors={**demand.factors, end_use: np.where(mask, factor * realised, factor)},
                   carbon_kg_saved={**demand.carbon_kg_saved, measure.measure_id: saved})


def replace_system(system: System, measure: Measure, mask: np.ndarray) -> System:
    """A new heating system (target SYSTEM:FUEL, fuel 'keep' for today's): its efficiencies (in use, times
    the realisation), maybe its fuel."""
    name, _, fuel = measure.target.partition(":")
    new = system.systems.index.get_loc(name)
    realised = system.systems.iloc[new][["space_heating_efficiency", "hot_water_efficiency"]] * measure.realisation
    fuel_code = system.fuel_code if fuel == "keep" else np.where(mask, system.fuels.get_loc(fuel), system.fuel_code)
    return replace(
        system,
        space_efficiency=np.where(mask, realised["space_heating_efficiency"], system.space_efficiency),
        water_efficiency=np.where(mask, realised["hot_water_efficiency"], system.water_efficiency),
        fuel_code=fuel_code,
        measure_position=np.where(mask, measure.position, system.measure_position),
        sized_by_kw=system.sized_by_kw | (mask & (measure.cost_basis == "heat_pump_kw")),
    )


def fit_pv(solar: Solar, measure: Measure, mask: np.ndarray) -> Solar:
    """PV on one roof pitch: usable roof over panel area per kWp, from the minimum up to the measure's value (kWp);
    in use it generates the realised share of its modelled output."""
    size = np.clip(solar.footprint_m2 * solar.usable_roof_share / solar.panel_m2_per_kwp, solar.minimum_kwp,
                   measure.value)
    return replace(solar, kwp=np.where(mask, size, solar.kwp),
                   measure_position=np.where(mask, measure.position, solar.measure_position),
                   generation_share=np.where(mask, measure.realisation, solar.generation_share))


# --- the table -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Effect:
    """One row of EFFECTS: how the appraisal reads and applies a measure with this effect."""

    stage: Literal["fabric", "demand", "system", "pv"]
    apply: Callable  # (stage state, measure, mask) -> stage state; see the module docstring
    target: Literal["element", "system:fuel", ""]  # what effect_target names ("": nothing)
    value: Literal["required", "factor", "unused"]  # effect_value: a number, a number in 0..1, or ignored
    treats: str  # one per home in a package: "target" (element), "measure" (itself), else a shared name
    meaning: str  # for analysts: what effect_value means

    def element_treated(self, measure: Measure) -> str:
        """What the measure treats: a later measure of a package treating the same is skipped for a home."""
        if self.treats == "target":
            return measure.target
        if self.treats == "measure":
            return measure.measure_id
        return self.treats


EFFECTS: dict[str, Effect] = {
    "u_value": Effect("fabric", lower_u_value, target="element", value="required", treats="target",
                      meaning="the element's U-value after the measure (W/m2K)"),
    "air_change_reduction": Effect("fabric", reduce_air_changes, target="", value="required", treats="measure",
                                   meaning="air changes an hour removed"),
    "space_heat_factor": Effect("demand", partial(scale_demand, end_use="space_heating"), target="", value="factor",
                                treats="measure", meaning="share of the useful space heat that remains"),
    "hot_water_factor": Effect("demand", partial(scale_demand, end_use="hot_water"), target="", value="factor",
                               treats="measure", meaning="share of the useful hot water that remains"),
    "lighting_factor": Effect("demand", partial(scale_demand, end_use="lighting"), target="", value="factor",
                              treats="measure", meaning="share of the lighting electricity that remains"),
    "heating_system": Effect("system", replace_system, target="system:fuel", value="unused", treats="system",
                             meaning="none; effect_target names the new system and its fuel"),
    "solar_pv": Effect("pv", fit_pv, target="", value="required", treats="pv",
                       meaning="largest array fitted (kWp)"),
}


def apply_effects(stage: str, state: State, measures: Iterable[Measure], masks: dict[str, np.ndarray]) -> State:
    """The stage's state after each of ``measures`` (in order) whose effect belongs to ``stage``."""
    for measure in measures:
        effect = EFFECTS[measure.effect]
        if effect.stage == stage:
            state = effect.apply(state, measure, masks[measure.measure_id])
    return state
