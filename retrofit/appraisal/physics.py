"""The heat-loss model of every home and its calibrated baseline energy.

Element areas come from floor area, property type and built form; U-values from
construction, age, loft depth, floor and glazing; air changes from age (RdSAP tables in
data/appraisal/). Each home's modelled useful heat is scaled to what its certificate models
(space heating x system efficiency), so a measure changes heat in proportion to the
heat-loss coefficient it removes.

A home has two baselines. The stock's energy columns are in use (calibrated to metered gas
and electricity); its certificate's physics, where the stock has it, is in the same columns
prefixed `modelled_` (else the plain ones are both). The rating after retrofit follows the
modelled baseline; savings are taken from the in-use one.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass, replace

import numpy as np
import pandas as pd

from retrofit import energy
from retrofit.appraisal.measures import Library
from retrofit.errors import RetrofitError
from retrofit.frames import positions
from retrofit.stock.schema import (AGE_BANDS, BUILT_FORMS, ENERGY, FLOOR_TYPES, GLAZING, MODELLED_ENERGY,
                                   PROPERTY_TYPES, WALL_TYPES)

BANDS = np.array(energy.BANDS)  # A..G: alphabetical, so letters sort into their codes
HOURS_PER_DAY = 24
EVERY_HOME = slice(None)  # `rows` for a calculation over all the homes a Homes holds
BASELINE_COLUMNS = ENERGY[:3]  # delivered energy by end use: what a baseline reads (carbon and bills follow)


def heat_loss_w_k(u_values: dict[str, np.ndarray], areas_m2: dict[str, np.ndarray], bridging_w_k: np.ndarray,
                  air_changes: np.ndarray, volume_m3: np.ndarray, air_heat_capacity_wh_m3k: float) -> np.ndarray:
    """Heat-loss coefficient (W/K): fabric (U x area by element), thermal bridging and ventilation."""
    fabric = sum(u_values[element] * areas_m2[element] for element in u_values)
    return fabric + bridging_w_k + air_heat_capacity_wh_m3k * air_changes * volume_m3


def _take(value, rows: np.ndarray):
    """``value`` at ``rows``: arrays taken, dicts and dataclasses taken field by field, anything else shared."""
    if isinstance(value, np.ndarray):
        return value[rows]
    if isinstance(value, dict):
        return {key: _take(item, rows) for key, item in value.items()}
    if is_dataclass(value):
        return replace(value, **{field.name: _take(getattr(value, field.name), rows) for field in fields(value)})
    return value


@dataclass
class Baseline:
    """One account of each home's energy before retrofit: its certificate's (modelled) or in use."""

    useful_space_kwh: np.ndarray
    useful_water_kwh: np.ndarray
    space_kwh: np.ndarray  # delivered
    water_kwh: np.ndarray
    lighting_kwh: np.ndarray
    appliances_kwh: np.ndarray
    before: energy.EnergyOutcome


@dataclass
class Homes:
    """The heat-loss model and the two baselines of each home (arrays, one value per home)."""

    floor_area_m2: np.ndarray
    footprint_m2: np.ndarray
    areas: dict[str, np.ndarray]  # wall, roof, floor, window (m2 of exposed element)
    u_values: dict[str, np.ndarray]  # W/m2K
    air_changes: np.ndarray  # per hour
    volume_m3: np.ndarray
    bridging_w_k: np.ndarray  # thermal bridging, unchanged by measures
    scale: np.ndarray  # the certificate's useful space heat / the heat-loss model's
    modelled: Baseline  # the certificate's physics: the rating follows it
    in_use: Baseline  # metered: savings are taken from it
    system_code: np.ndarray  # position in the energy model's systems table
    fuel_code: np.ndarray  # position of the space (and water) heating fuel in the fuels table
    segment_code: np.ndarray  # position in Library segment names
    segment_names: list[str]
    sap_before: np.ndarray
    band_before: np.ndarray  # codes into BANDS

    def hlc_w_k(self, u_values: dict[str, np.ndarray], air_changes: np.ndarray, rows: np.ndarray | slice,
                vent: float) -> np.ndarray:
        """Heat-loss coefficient (W/K) of the homes at ``rows`` (or EVERY_HOME) with these U-values and air changes."""
        areas = {element: area[rows] for element, area in self.areas.items()}
        return heat_loss_w_k(u_values, areas, self.bridging_w_k[rows], air_changes, self.volume_m3[rows], vent)

    def take(self, rows: np.ndarray) -> Homes:
        """The homes at ``rows`` (positions), every array taken; segment names are shared."""
        return _take(self, rows)


def band_codes(sap: np.ndarray) -> np.ndarray:
    """Position in BANDS of each score's band (`energy.band_from_sap`, as small integers)."""
    return np.searchsorted(BANDS, energy.band_from_sap(sap)).astype("int8")


def _labels(series: pd.Series):
    """A category column as its Categorical (looked up by code, not by 686,000 strings)."""
    return series.array if isinstance(series.dtype, pd.CategoricalDtype) else series


def _codes(stock: pd.DataFrame, column: str, values) -> np.ndarray:
    codes = positions(values, _labels(stock[column]))
    if (codes < 0).any():
        bad = sorted({str(value) for value in stock[column][codes < 0].head(5)})
        raise RetrofitError(f"stock column {column} has values the appraisal does not know ({bad}); "
                            f"use one of {', '.join(map(str, values))}")
    return codes


def _segments(stock: pd.DataFrame, library: Library, type_code: np.ndarray,
              form_code: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """BEIS (2017) dwelling segment of each home: group by type and form, small/large by floor area."""
    table = library.tables["segments"]
    group = np.empty((len(PROPERTY_TYPES), len(BUILT_FORMS)), dtype=object)
    threshold = np.full(group.shape, np.nan)
    for _, segment in table.iterrows():  # a dozen rows: exact built forms override the wildcard
        type_position = PROPERTY_TYPES.index(segment["property_type"])
        wildcard = segment["built_form"] == "*"
        forms = range(len(BUILT_FORMS)) if wildcard else [BUILT_FORMS.index(segment["built_form"])]
        for form_position in forms:
            if wildcard and group[type_position, form_position] is not None:
                continue
            group[type_position, form_position] = segment["segment_group"]
            threshold[type_position, form_position] = segment["small_below_m2"]
    small = np.where(np.isnan(threshold), group, "small_" + group.astype(str))
    large = np.where(np.isnan(threshold), group, "large_" + group.astype(str))
    names = sorted(set(small.ravel()) | set(large.ravel()))
    small_code = positions(names, small.ravel().astype(str)).reshape(group.shape)
    large_code = positions(names, large.ravel().astype(str)).reshape(group.shape)
    floor_area = stock["floor_area_m2"].to_numpy(dtype="float64")
    is_small = floor_area < threshold[type_code, form_code]  # NaN threshold (one segment): small and large agree
    return np.where(is_small, small_code[type_code, form_code], large_code[type_code, form_code]), names


def _element_areas(stock: pd.DataFrame, library: Library, type_code: np.ndarray, form_code: np.ndarray,
                   floor_code: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Footprint and exposed wall, roof, floor and window areas (m2) from floor area, type and form."""
    geometry_constants = library.constants["geometry"]
    floor_area = stock["floor_area_m2"].to_numpy(dtype="float64")
    geometry = library.tables["geometry"].set_index("property_type").loc[list(PROPERTY_TYPES)]
    storeys = geometry["storeys"].to_numpy()[type_code]
    roof_share = geometry["roof_share"].to_numpy()[type_code]
    forms = library.tables["built_form"].set_index("built_form").loc[list(BUILT_FORMS)]
    exposed = forms["exposed_wall_share"].to_numpy()[form_code]
    footprint = floor_area / storeys
    perimeter = 4 * np.sqrt(footprint) * geometry_constants["perimeter_factor"]
    gross_wall = perimeter * geometry_constants["storey_height_m"] * storeys * exposed
    window = np.minimum(geometry_constants["window_to_floor_ratio"] * floor_area, 0.5 * gross_wall)
    areas = {
        "wall": gross_wall - window,
        "roof": footprint * roof_share,
        "floor": np.where(floor_code == FLOOR_TYPES.index("dwelling_below"), 0.0, footprint),
        "window": window,
    }
    return footprint, areas


def _u_values(stock: pd.DataFrame, library: Library, age_code: np.ndarray, wall_code: np.ndarray,
              floor_code: np.ndarray, glazing_code: np.ndarray) -> dict[str, np.ndarray]:
    """U-value (W/m2K) of each element by construction and age (RdSAP); the roof's by loft depth."""
    tables = library.tables
    wall_u = tables["wall_u_values"].set_index("age_band").loc[list(AGE_BANDS), list(WALL_TYPES)].to_numpy()
    floor_u = tables["floor_u_values"].set_index("age_band").loc[list(AGE_BANDS), list(FLOOR_TYPES)].to_numpy()
    window_u = tables["window_u_values"].set_index("glazing").loc[list(GLAZING), "u_value_w_m2k"].to_numpy()
    roof_table = tables["roof_u_values"].sort_values("loft_insulation_mm")
    loft = stock["loft_insulation_mm"].to_numpy(dtype="float64")
    roof_u = np.where(np.isnan(loft), library.constants["geometry"]["no_loft_roof_u_w_m2k"],
                      np.interp(np.nan_to_num(loft), roof_table["loft_insulation_mm"], roof_table["u_value_w_m2k"]))
    return {
        "wall": wall_u[age_code, wall_code],
        "roof": roof_u,
        "floor": floor_u[age_code, floor_code],
        "window": window_u[glazing_code],
    }


def _energy_columns(stock: pd.DataFrame, modelled: bool) -> dict[str, np.ndarray]:
    """The baseline's energy columns, in use or ``modelled`` (`modelled_*`; where one is absent or
    empty, the plain column)."""
    columns = {}
    for column, certificate in zip(BASELINE_COLUMNS, MODELLED_ENERGY):
        plain = stock[column].to_numpy(dtype="float64")
        if modelled and certificate in stock:
            figures = stock[certificate].to_numpy(dtype="float64", na_value=np.nan)
            plain = np.where(np.isnan(figures), plain, figures)
        columns[column] = plain
    return columns


def baseline(columns: dict[str, np.ndarray], floor_area_m2: np.ndarray, system, fuel: pd.Categorical,
             assumptions: energy.EnergyAssumptions) -> Baseline:
    """Useful and delivered energy by end use, and its rating cost, bill and carbon (`energy.evaluate`).

    Lighting and appliances are one stock column; it is split in the energy model's proportion.
    """
    lighting, appliances = energy.split_lighting_appliances(columns["lighting_appliances_kwh"], floor_area_m2,
                                                             assumptions)
    space_kwh, water_kwh = columns["space_heating_kwh"], columns["hot_water_kwh"]
    before = energy.evaluate(
        floor_area_m2=floor_area_m2, space_heating_kwh=space_kwh, space_fuel=fuel, hot_water_kwh=water_kwh,
        hot_water_fuel=fuel, lighting_use_kwh=lighting, appliance_use_kwh=appliances, assumptions=assumptions)
    return Baseline(
        useful_space_kwh=space_kwh * assumptions.system_column(system, "space_heating_efficiency"),
        useful_water_kwh=water_kwh * assumptions.system_column(system, "hot_water_efficiency"),
        space_kwh=space_kwh, water_kwh=water_kwh, lighting_kwh=lighting, appliances_kwh=appliances, before=before)


def home_model(stock: pd.DataFrame, library: Library, assumptions: energy.EnergyAssumptions | None = None) -> Homes:
    """Element areas, U-values, ventilation, and the modelled and in-use baselines of every home; the
    heat-loss model is calibrated to the modelled one."""
    assumptions = assumptions or energy.load_assumptions()
    constants = library.constants
    floor_area = stock["floor_area_m2"].to_numpy(dtype="float64")
    type_code = _codes(stock, "property_type", PROPERTY_TYPES)
    form_code = _codes(stock, "built_form", BUILT_FORMS)
    age_code = _codes(stock, "age_band", AGE_BANDS)
    wall_code = _codes(stock, "wall_type", WALL_TYPES)
    floor_code = _codes(stock, "floor_type", FLOOR_TYPES)
    glazing_code = _codes(stock, "glazing", GLAZING)

    footprint, areas = _element_areas(stock, library, type_code, form_code, floor_code)
    u_values = _u_values(stock, library, age_code, wall_code, floor_code, glazing_code)
    ventilation = library.tables["ventilation"].set_index("age_band").loc[list(AGE_BANDS), "air_changes_per_hour"]
    air_changes = ventilation.to_numpy()[age_code]
    volume = floor_area * constants["geometry"]["storey_height_m"]
    bridging = constants["geometry"]["thermal_bridging_w_m2k"] * sum(areas.values())
    hlc = heat_loss_w_k(u_values, areas, bridging, air_changes, volume,
                        constants["ventilation"]["air_heat_capacity_wh_m3k"])

    system = _labels(stock["heating_system"])
    fuel = energy.space_heating_fuel(system, _labels(stock["main_fuel"]))
    modelled = baseline(_energy_columns(stock, modelled=True), floor_area, system, fuel, assumptions)
    in_use = baseline(_energy_columns(stock, modelled=False), floor_area, system, fuel, assumptions)
    heat_loss_kwh = hlc * constants["climate"]["degree_days_k_day"] * HOURS_PER_DAY / 1000
    segment_code, segment_names = _segments(stock, library, type_code, form_code)
    sap = stock["sap_score"].to_numpy(dtype="float64")
    return Homes(
        floor_area_m2=floor_area, footprint_m2=footprint, areas=areas, u_values=u_values, air_changes=air_changes,
        volume_m3=volume, bridging_w_k=bridging, scale=modelled.useful_space_kwh / heat_loss_kwh, modelled=modelled,
        in_use=in_use, system_code=positions(assumptions.systems.index, system),
        fuel_code=positions(assumptions.fuels.index, fuel), segment_code=segment_code, segment_names=segment_names,
        sap_before=sap, band_before=band_codes(sap),
    )
