"""The measure library: shipped data loads, has a content version, and bad edits are named."""


import pandas as pd
import pytest

from retrofit.candidates import TRADES
from retrofit.errors import RetrofitError
from retrofit.appraisal.measures import load_library
from retrofit.paths import REFERENCE_DIR

INTERFACE_MEASURES = (
    "loft_insulation", "cavity_wall_insulation", "external_wall_insulation", "internal_wall_insulation",
    "floor_insulation", "draught_proofing", "glazing_upgrade", "heating_controls", "condensing_boiler",
    "air_source_heat_pump", "solar_pv", "cylinder_insulation", "low_energy_lighting",
)


def edit(path, row: int, column: str, value: str) -> None:
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    table.loc[row, column] = value
    table.to_csv(path, index=False)


def test_shipped_library_has_the_agreed_measures_and_packages():
    library = load_library()
    assert set(INTERFACE_MEASURES) <= set(library.measures.index)
    assert {"fabric_light", "fabric_deep", "heat_pump", "whole_house", "pv_only"} <= set(library.packages.index)
    assert set(library.measures["trade"]) <= set(TRADES)
    assert library.measures["source"].str.len().min() > 10
    whole = set(library.package_measures("whole_house"))
    assert set(library.package_measures("fabric_deep")) | {"air_source_heat_pump", "solar_pv"} == whole
    assert library.packages.at["heat_pump", "core_measure"] == "air_source_heat_pump"
    assert len(library.version) == 12


def test_segment_costs_are_the_beis_reference_table():
    """The library's copy of the BEIS (2017) ranges must not drift from the reference file."""
    reference = pd.read_csv(REFERENCE_DIR / "beis2017_retrofit_cost_ranges.csv")
    copy = load_library().tables["segment_costs"]
    names = {"loft_insulation_joists": "loft_insulation", "double_glazing_upvc": "glazing_upgrade"}
    reference["measure_id"] = reference["measure"].replace(names)
    merged = reference.merge(copy, on=["measure_id", "segment"], suffixes=("", "_copy"))
    assert len(merged) == len(reference) == len(copy) == 36
    assert (merged["low_gbp"] == merged["low_gbp_copy"]).all()
    assert (merged["high_gbp"] == merged["high_gbp_copy"]).all()


def test_price_uplift_is_the_index_ratio():
    library = load_library()
    index = library.tables["price_index"].set_index("year")["index"]
    assert library.uplift(2017) == pytest.approx(index[2025] / index[2017])
    assert library.uplift(2025) == 1.0


def test_version_follows_content(library_copy):
    first = load_library(library_copy).version
    assert load_library(library_copy).version == first
    assert first == load_library().version  # same bytes, other folder: same version
    edit(library_copy / "measures.csv", 0, "cost_fixed_gbp", "10")
    assert load_library(library_copy).version != first


@pytest.mark.parametrize("file,row,column,value,message", [
    ("measures.csv", 2, "trade", "plumbing", "line 4, column trade: unknown trade 'plumbing'"),
    ("measures.csv", 0, "cost_fixed_gbp", "-5", "line 2, column cost_fixed_gbp: -5 is negative"),
    ("measures.csv", 1, "cost_per_unit_gbp", "lots", "line 3, column cost_per_unit_gbp: 'lots' is not a number"),
    ("measures.csv", 1, "applies_when", "wall_type in cavity_unfiled",
     "line 3, column applies_when: unknown applicability category ['cavity_unfiled']"),
    ("measures.csv", 1, "applies_when", "roof_type in flat", "unknown applicability column 'roof_type'"),
    ("measures.csv", 1, "applies_when", "loft_insulation_mm ~ 100", "unknown operator '~'"),
    ("measures.csv", 0, "effect", "magic", "line 2, column effect: unknown effect 'magic'"),
    ("measures.csv", 0, "effect_target", "door", "line 2, column effect_target"),
    ("measures.csv", 9, "effect_target", "heat_pump:hydrogen", "column effect_target"),
    ("measures.csv", 7, "effect_value", "1.2", "line 9, column effect_value: a factor above 1"),
    ("measures.csv", 0, "labour_share", "1.5", "line 2, column labour_share: 1.5 is outside 0..1"),
    ("measures.csv", 0, "price_base_year", "2019", "no price index for 2019"),
    ("measures.csv", 3, "measure_id", "loft_insulation", "line 5, column measure_id: 'loft_insulation' repeats line 2"),
    ("packages.csv", 0, "measures", "loft_insulation;heat_pump_magic",
     "packages.csv line 2, column measures: package 'fabric_light' names measure 'heat_pump_magic', which is not in measures.csv"),
    ("packages.csv", 2, "core_measure", "solar_pv", "line 4, column core_measure"),
    ("appraisal/day_rates.csv", 0, "day_rate_gbp", "-200", "day_rates.csv line 2, column day_rate_gbp: -200 is negative"),
    ("appraisal/wall_u_values.csv", 0, "age_band", "medieval", "wall_u_values.csv line 2, column age_band: unknown category"),
])
def test_invalid_edits_are_named(library_copy, file, row, column, value, message):
    edit(library_copy / file, row, column, value)
    with pytest.raises(RetrofitError) as caught:
        load_library(library_copy)
    assert message in str(caught.value)
    assert file.split("/")[-1] in str(caught.value)


def test_missing_segment_costs_are_named(library_copy):
    costs = pd.read_csv(library_copy / "appraisal" / "segment_costs.csv")
    costs[~((costs["measure_id"] == "loft_insulation") & (costs["segment"] == "bungalow"))].to_csv(
        library_copy / "appraisal" / "segment_costs.csv", index=False)
    with pytest.raises(RetrofitError, match="measures.csv line 2, column cost_basis: .*lacks \\['bungalow'\\]"):
        load_library(library_copy)


def test_missing_folder_or_file_says_what_to_do(tmp_path, library_copy):
    with pytest.raises(RetrofitError, match="does not exist"):
        load_library(tmp_path / "nowhere")
    (library_copy / "packages.csv").unlink()
    with pytest.raises(RetrofitError, match="packages.csv: file missing"):
        load_library(library_copy)
