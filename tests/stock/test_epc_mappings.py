"""Every EPC mapping table, on the phrasings real certificates use."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from retrofit.stock import epc_mappings as maps
from retrofit.stock.schema import CATEGORIES


def n(text):
    return maps.normalise(text)


@pytest.mark.parametrize("text, expected", [
    ("Cavity wall, as built, no insulation (assumed)", "cavity_unfilled"),
    ("Cavity wall, no insulation (assumed)", "cavity_unfilled"),
    ("Cavity wall, filled cavity", "cavity_filled"),
    ("Cavity wall, as built, insulated (assumed)", "cavity_filled"),
    ("Cavity wall, as built, partial insulation (assumed)", "cavity_filled"),
    ("Cavity wall, with external insulation", "cavity_filled"),
    ("Solid brick, as built, no insulation (assumed)", "solid_uninsulated"),
    ("Solid brick, with internal insulation", "solid_insulated"),
    ("Solid brick, with external insulation", "solid_insulated"),
    ("Sandstone or limestone, as built, no insulation (assumed)", "solid_uninsulated"),
    ("Granite or whinstone, with internal insulation", "solid_insulated"),
    ("System built, as built, no insulation (assumed)", "system_built"),
    ("System built, with external insulation", "system_built"),
    ("Timber frame, as built, insulated (assumed)", "timber_frame"),
    ("Timber frame, as built, no insulation (assumed)", "timber_frame"),
    ("Average thermal transmittance 0.28 W/m²K", "other"),
    ("Park home wall, as built", "other"),
    ("NO DATA!", None),
    ("Mud and straw, as built", None),
])
def test_walls(text, expected):
    assert maps.wall_type(n(text)) == expected


@pytest.mark.parametrize("text, expected", [
    ("Pitched, 270 mm loft insulation", 270),
    ("Pitched, 100mm loft insulation", 100),
    ("Pitched, 400+ mm loft insulation", 400),
    ("Pitched, 12 mm loft insulation", 12),
    ("Pitched, no insulation (assumed)", 0),
    ("Pitched, no insulation", 0),
    ("Pitched, limited insulation (assumed)", 25),
    ("Pitched, insulated (assumed)", 100),
    ("Roof room(s), no insulation (assumed)", 0),
    ("Average thermal transmittance 0.16 W/m²K", 270),   # RdSAP Table S9: 270 mm is 0.16
    ("Average thermal transmittance 0.11 W/m²K", 400),
    ("Average thermal transmittance 2.30 W/m²K", 0),
    ("(another dwelling above)", math.nan),
    ("(other premises above)", math.nan),
    ("Flat, insulated (assumed)", math.nan),
    ("Flat, no insulation (assumed)", math.nan),
    ("Pitched, Unknown loft insulation", None),
    ("NO DATA!", None),
])
def test_roofs(text, expected):
    got = maps.loft_insulation_mm(n(text))
    if expected is None:
        assert got is None
    elif math.isnan(expected):
        assert got is not None and math.isnan(got)
    else:
        assert got == expected


@pytest.mark.parametrize("text, expected", [
    ("Fully double glazed", "double"),
    ("Full double glazing", "double"),
    ("Full secondary glazing", "double"),
    ("Multiple glazing throughout", "double"),
    ("High performance glazing", "double"),
    ("Partial double glazing", "partial_double"),
    ("Mostly double glazing", "partial_double"),
    ("Some double glazing", "partial_double"),
    ("Partial secondary glazing", "partial_double"),
    ("Single glazed", "single"),
    ("Single glazing", "single"),
    ("Fully triple glazed", "triple"),
    ("Average thermal transmittance 1.40 W/m²K", "double"),
    ("Average thermal transmittance 0.80 W/m²K", "triple"),
    ("Average thermal transmittance 4.80 W/m²K", "single"),
    ("", None),
])
def test_windows(text, expected):
    assert maps.glazing(n(text)) == expected


def test_glazing_from_proportion_when_the_text_says_nothing():
    got = maps.glazing_from_proportion(np.array([100, 0, 60, np.nan]))
    assert list(got) == ["double", "single", "partial_double", None]


@pytest.mark.parametrize("text, expected", [
    ("Suspended, no insulation (assumed)", "suspended"),
    ("Solid, no insulation (assumed)", "solid"),
    ("Solid, insulated (assumed)", "solid"),
    ("(another dwelling below)", "dwelling_below"),
    ("(other premises below)", "dwelling_below"),
    ("Average thermal transmittance 0.15 W/m²K", None),
    ("To unheated space, no insulation (assumed)", None),
])
def test_floors(text, expected):
    assert maps.floor_type(n(text)) == expected


@pytest.mark.parametrize("text, expected", [
    ("owner-occupied", "owner_occupied"),
    ("Owner-occupied", "owner_occupied"),
    ("rental (social)", "social_rented"),
    ("Rented (social)", "social_rented"),
    ("rental (private)", "private_rented"),
    ("Rented (private)", "private_rented"),
    ("unknown", "unknown"),
    ("Not defined - use in the case of a new dwelling for which the intended tenure in not known. "
     "It is not to be used for an existing dwelling", "unknown"),
    ("NO DATA!", None),
])
def test_tenure(text, expected):
    assert maps.tenure(n(text)) == expected


@pytest.mark.parametrize("text, expected", [
    ("England and Wales: 1930-1949", "1930_1949"),
    ("England and Wales: before 1900", "before_1900"),
    ("England and Wales: 1900-1929", "1900_1929"),
    ("England and Wales: 1967-1975", "1967_1975"),
    ("England and Wales: 2003-2006", "2003_2006"),
    ("England and Wales: 2007 onwards", "2007_2011"),
    ("England and Wales: 2012 onwards", "2012_onwards"),
    ("1983-1990", "1983_1990"),
    ("2019", "2012_onwards"),
    ("1995", "1991_1995"),
    ("K", "2007_2011"),
    ("NO DATA!", None),
    ("INVALID!", None),
])
def test_age_bands(text, expected):
    assert maps.age_band(n(text)) == expected


@pytest.mark.parametrize("text, expected", [
    ("House", "house"), ("Flat", "flat"), ("Maisonette", "maisonette"), ("Bungalow", "bungalow"),
    ("Park home", "park_home"), ("NO DATA!", None),
])
def test_property_types(text, expected):
    assert maps.property_type(n(text)) == expected


@pytest.mark.parametrize("text, expected", [
    ("Semi-Detached", "semi_detached"), ("Detached", "detached"), ("Mid-Terrace", "mid_terrace"),
    ("End-Terrace", "end_terrace"), ("Enclosed Mid-Terrace", "enclosed_mid_terrace"),
    ("Enclosed End-Terrace", "enclosed_end_terrace"), ("NO DATA!", None),
])
def test_built_forms(text, expected):
    assert maps.built_form(n(text)) == expected


@pytest.mark.parametrize("mainheat, fuel, gas, expected", [
    ("Boiler and radiators, mains gas", "mains gas (not community)", "Y", ("gas_boiler", "mains_gas", False, False)),
    ("Boiler & radiators, mains gas", "Gas: mains gas", "Y", ("gas_boiler", "mains_gas", False, False)),
    ("Boiler and underfloor heating, mains gas", "NO DATA!", "Y", ("gas_boiler", "mains_gas", False, False)),
    ("Boiler and radiators, oil", "oil (not community)", "N", ("oil_boiler", "oil", False, False)),
    ("Boiler and radiators, LPG", "LPG (not community)", "N", ("lpg_boiler", "lpg", False, False)),
    ("Boiler and radiators, bottled gas", "bottled LPG", "N", ("lpg_boiler", "lpg", False, False)),
    ("Boiler and radiators, electric", "electricity (not community)", "N",
     ("electric_direct", "electricity", False, False)),
    ("Boiler and radiators, coal", "house coal (not community)", "N", ("other", "solid_fuel", False, False)),
    ("Boiler and radiators, wood pellets", "bulk wood pellets", "N", ("other", "biomass", False, False)),
    # A boiler of no stated fuel takes its type from MAIN_FUEL.
    ("Boiler and radiators", "oil (not community)", "N", ("oil_boiler", "oil", False, False)),
    ("Boiler and radiators", "mains gas - this is for backwards compatibility only and should not be used", "Y",
     ("gas_boiler", "mains_gas", False, False)),
    ("Electric storage heaters", "electricity (not community)", "N",
     ("electric_storage", "electricity", False, False)),
    ("Warm air, Electricaire", "electricity (not community)", "N", ("electric_storage", "electricity", False, False)),
    ("Room heaters, electric", "electricity (not community)", "N", ("electric_direct", "electricity", False, False)),
    ("Electric underfloor heating", "Electricity: electricity, unspecified tariff", "N",
     ("electric_direct", "electricity", False, False)),
    ("No system present: electric heaters assumed", "To be used only when there is no heating/hot-water system",
     "N", ("electric_direct", "electricity", False, False)),
    ("Portable electric heaters assumed for most rooms", "NO DATA!", "Y",
     ("electric_direct", "electricity", False, False)),
    # A heat pump runs on electricity whatever MAIN_FUEL says.
    ("Air source heat pump, radiators, electric", "Electricity: electricity, unspecified tariff", "N",
     ("heat_pump", "electricity", False, False)),
    ("Ground source heat pump, underfloor, electric", "electricity (not community)", "N",
     ("heat_pump", "electricity", False, False)),
    ("Community scheme", "mains gas (community)", "Y", ("community", "mains_gas", False, False)),
    ("Community scheme with CHP", "biomass (community)", "N", ("community", "biomass", False, False)),
    ("Room heaters, mains gas", "mains gas (not community)", "Y", ("other", "mains_gas", False, False)),
    ("Warm air, mains gas", "mains gas (not community)", "Y", ("other", "mains_gas", False, False)),
    ("Room heaters, smokeless fuel", "smokeless coal", "N", ("other", "solid_fuel", False, False)),
    # The first system of two is the main one.
    ("Boiler and radiators, mains gas, Electric storage heaters", "mains gas (not community)", "Y",
     ("gas_boiler", "mains_gas", False, False)),
    # Unknown text: system other, fuel filled from the mains gas flag, both counted.
    ("SAP05:Main-Heating", "NO DATA!", "Y", ("other", "mains_gas", True, True)),
    ("SAP05:Main-Heating", "INVALID!", "N", ("other", "electricity", True, True)),
    ("Boiler and radiators", "NO DATA!", "Y", ("other", "mains_gas", True, True)),
    ("SAP05:Main-Heating", "mains gas (not community)", "Y", ("other", "mains_gas", True, False)),
])
def test_heating_with_main_fuel(mainheat, fuel, gas, expected):
    assert maps.resolve_heating(n(mainheat), n(fuel), n(gas)) == expected


@pytest.mark.parametrize("text, expected", [
    ("mains gas (not community)", "mains_gas"), ("mains gas (community)", "mains_gas"),
    ("Gas: mains gas", "mains_gas"), ("electricity (not community)", "electricity"),
    ("Electricity: electricity, unspecified tariff", "electricity"), ("oil (not community)", "oil"),
    ("B30K (not community)", "oil"), ("LPG (not community)", "lpg"), ("bottled LPG", "lpg"),
    ("house coal (not community)", "solid_fuel"), ("anthracite", "solid_fuel"),
    ("dual fuel - mineral + wood", "solid_fuel"), ("wood logs", "biomass"), ("bulk wood pellets", "biomass"),
    ("Community heating schemes: heat from boilers - biomass", "biomass"),
    ("To be used only when there is no heating/hot-water system", "electricity"),
    ("waste combustion (community)", None), ("NO DATA!", None), ("INVALID!", None),
])
def test_main_fuel(text, expected):
    assert maps.main_fuel(n(text)) == expected


@pytest.mark.parametrize("summary, improvement_id, expected", [
    ("Increase loft insulation to 270 mm", "5", "loft_insulation"),
    ("Cavity wall insulation", "6", "cavity_wall_insulation"),
    ("50 mm internal or external wall insulation", "7", "internal_wall_insulation;external_wall_insulation"),
    ("Internal insulation with cavity wall insulation", "66", "internal_wall_insulation;cavity_wall_insulation"),
    ("Floor insulation", None, "floor_insulation"),
    ("Solid floor insulation", None, "floor_insulation"),
    ("Draughtproof single-glazed windows", None, "draught_proofing"),
    ("Replace single glazed windows with low-E double glazing", None, "glazing_upgrade"),
    ("Secondary glazing to single glazed windows", None, "glazing_upgrade"),
    ("Upgrade heating controls", None, "heating_controls"),
    ("Time and temperature zone control", None, "heating_controls"),
    ("Hot water cylinder thermostat", None, "heating_controls"),
    ("Replace boiler with new condensing boiler", None, "condensing_boiler"),
    ("Change heating to gas condensing boiler", None, "condensing_boiler"),
    ("Air or ground source heat pump", None, "air_source_heat_pump"),
    ("Solar photovoltaic panels, 2.5 kWp", "34", "solar_pv"),
    ("Insulate hot water cylinder with 80 mm jacket", "1", "cylinder_insulation"),
    ("Add additional 80 mm jacket to hot water cylinder", None, "cylinder_insulation"),
    ("Low energy lighting for all fixed outlets", "35", "low_energy_lighting"),
    ("Solar water heating", "19", ""),                   # no equivalent measure: recognised, none kept
    ("Replace boiler with biomass boiler", None, ""),
    ("Wind turbine", None, ""),
    (None, "5", "loft_insulation"),                      # only the code
    ("Something no assessor writes", None, None),        # unrecognised
])
def test_recommendations(summary, improvement_id, expected):
    assert maps.recommended_measures(n(summary), None, improvement_id, None) == expected


def test_recommended_measure_ids_are_the_agreed_ones():
    agreed = {"loft_insulation", "cavity_wall_insulation", "external_wall_insulation", "internal_wall_insulation",
              "floor_insulation", "draught_proofing", "glazing_upgrade", "heating_controls", "condensing_boiler",
              "air_source_heat_pump", "solar_pv", "cylinder_insulation", "low_energy_lighting"}
    used = set()
    for name in ("recommendations", "recommendation_ids"):
        table = pd.read_csv(maps.EPC_MAPPINGS_DIR / f"{name}.csv", dtype=str, keep_default_na=False)
        used |= {m for cell in table["measures"] for m in cell.split(";") if m}
    assert used <= agreed


def test_every_mapping_row_has_a_source_and_valid_values():
    for path in sorted(Path(maps.EPC_MAPPINGS_DIR).glob("*.csv")):
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        assert "source" in table.columns, path.name
        assert (table["source"].str.len() > 10).all(), path.name
    for name, column in (("walls", "wall_type"), ("floors", "floor_type"), ("tenure", "tenure"),
                         ("property_types", "property_type"), ("built_forms", "built_form"),
                         ("boilers", "heating_system"), ("fuels", "main_fuel"), ("age_bands", "age_band")):
        values = set(pd.read_csv(maps.EPC_MAPPINGS_DIR / f"{name}.csv")[column])
        assert values <= set(CATEGORIES[column]), name
    heating = pd.read_csv(maps.EPC_MAPPINGS_DIR / "heating.csv", dtype=str, keep_default_na=False)
    assert set(heating["heating_system"]) <= set(CATEGORIES["heating_system"]) | {"boiler"}
    assert set(heating["main_fuel"]) <= set(CATEGORIES["main_fuel"]) | {""}


def test_each_distinct_phrasing_is_mapped_once():
    calls = []

    def spy(text):
        calls.append(text)
        return maps.wall_type(text)

    column = pa.array(["Cavity wall, filled cavity"] * 1000 + ["Solid brick, as built, no insulation (assumed)"] * 500
                      + [None] * 10)
    got = maps.per_phrasing(column, spy)
    assert len(calls) == 3  # two phrasings and the missing value
    assert list(got[[0, 1000, 1500]]) == ["cavity_filled", "solid_uninsulated", None]


def test_badly_encoded_bytes_are_read_not_fatal():
    column = pa.array([b"Pitched, 250 mm loft insulation \xb2", b"(another dwelling above)"], type=pa.binary())
    got = maps.per_phrasing(column, maps.loft_insulation_mm)
    assert got[0] == 250 and math.isnan(got[1])


def test_bilingual_text_keeps_the_english_half():
    assert maps.normalise("Cavity wall, filled cavity|Waliau ceudod, ceudod wedi'i lenwi") == "cavity wall, filled cavity"
