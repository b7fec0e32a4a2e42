"""The effect table: every effect is one handler and one row, and the row is the only dispatch."""

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import retrofit.appraisal
from retrofit.appraisal import appraise, load_library
from retrofit.appraisal.effects import (EFFECTS, STAGES, Demand, Effect, Fabric, Measure, Solar, System,
                                        apply_effects, fit_pv, lower_u_value, reduce_air_changes, replace_system,
                                        scale_demand)
from retrofit.energy import load_assumptions
from retrofit.errors import RetrofitError
from retrofit.paths import DATA_DIR

from tests.appraisal.test_appraisal import row, tiny_stock

APPRAISAL_DIR = Path(retrofit.appraisal.__file__).parent


def measure(measure_id="m", effect="u_value", target="wall", value=0.3, cost_basis="dwelling", position=0):
    return Measure(measure_id=measure_id, position=position, effect=effect, target=target, value=value,
                   cost_basis=cost_basis, cost_fixed_gbp=0.0, cost_per_unit_gbp=0.0, price_base_year=2024,
                   labour_share=0.5, trade="insulation", lifetime_years=20.0)


def three_walls(**changes) -> Fabric:
    """Three homes: walls of 100, 50 and 10 m2 at U 1.6, 0.2 and 1.0; 200 m3 each."""
    state = Fabric(areas_m2={"wall": np.array([100.0, 50.0, 10.0])}, volume_m3=np.full(3, 200.0),
                   air_heat_capacity_wh_m3k=0.33, minimum_air_changes_per_hour=0.5,
                   u_values={"wall": np.array([1.6, 0.2, 1.0])}, air_changes=np.array([1.0, 0.6, 0.4]))
    return replace(state, **changes)


def test_every_effect_in_the_shipped_library_has_a_handler():
    shipped = pd.read_csv(DATA_DIR / "measures.csv", dtype=str, keep_default_na=False)
    assert set(shipped["effect"]) <= set(EFFECTS)
    for name, effect in EFFECTS.items():
        assert effect.stage in STAGES, name
        assert callable(effect.apply), name
        assert effect.target in ("element", "system:fuel", "") and effect.value in ("required", "factor", "unused")
        assert effect.meaning, name


def test_no_module_branches_on_an_effect_name():
    """Outside the table, code looks effects up (EFFECTS[...]); it never compares their names."""
    comparison = re.compile(r"""effect["']?\]?\s*(==|!=|\bin\b|\.isin)""")
    for path in APPRAISAL_DIR.glob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            assert not comparison.search(line), f"{path.name} line {number}: {line.strip()}"


def test_an_unknown_effect_is_refused_naming_the_table(library_copy):
    folder = library_copy
    _add_measure(folder, effect="window_film", target="window", value="0.5")
    with pytest.raises(RetrofitError) as caught:
        load_library(folder)
    message = str(caught.value)
    assert "measures.csv line 15, column effect: unknown effect 'window_film'" in message
    assert all(name in message for name in EFFECTS)


def scale_u_value(fabric: Fabric, measure: Measure, mask: np.ndarray) -> Fabric:
    """A test effect: the target element's U-value is multiplied by the measure's factor."""
    current = fabric.u_values[measure.target]
    better = np.where(mask, current * measure.value, current)
    removed = (current - better) * fabric.areas_m2[measure.target]
    return replace(fabric, u_values={**fabric.u_values, measure.target: better},
                   w_k_removed={**fabric.w_k_removed, measure.measure_id: removed})


def test_a_new_effect_is_one_handler_and_one_row(library_copy, monkeypatch):
    """Adding a row to EFFECTS is all it takes: the library accepts the effect, checks its value from the
    row, and the appraisal applies it through the stage the row names."""
    folder = library_copy
    _add_measure(folder, effect="u_value_factor", target="wall", value="0.5")
    pd.DataFrame({"package_id": ["film", "cavity"], "name": ["film", "cavity"],
                  "measures": ["wall_film", "cavity_wall_insulation"], "core_measure": "", "description": "test"}
                 ).to_csv(folder / "packages.csv", index=False)
    monkeypatch.setitem(EFFECTS, "u_value_factor", Effect(
        "fabric", scale_u_value, target="element", value="factor", treats="target",
        meaning="share of the element's U-value that remains"))
    # the semi's unfilled 1930s cavity wall is U 1.6: halved, it is what a cavity fill to U 0.8 leaves
    measures = pd.read_csv(folder / "measures.csv", dtype=str, keep_default_na=False)
    measures.loc[measures["measure_id"] == "cavity_wall_insulation", "effect_value"] = "0.8"
    measures.to_csv(folder / "measures.csv", index=False)
    library = load_library(folder)
    candidates = appraise(tiny_stock({}), library)
    film, cavity = row(candidates, "semi", "film"), row(candidates, "semi", "cavity")
    assert film["measures"] == "wall_film"
    assert film["modelled_annual_co2_t_saved"] == cavity["modelled_annual_co2_t_saved"] > 0
    assert film["lifetime_co2_t_saved"] == pytest.approx(30 * film["annual_co2_t_saved"], rel=1e-5)
    # the row says the value is a factor, so the library refuses one above 1
    measures.loc[measures["measure_id"] == "wall_film", "effect_value"] = "1.5"
    measures.to_csv(folder / "measures.csv", index=False)
    with pytest.raises(RetrofitError, match="measures.csv line 15, column effect_value: a factor above 1"):
        load_library(folder)


def _add_measure(folder: Path, effect: str, target: str, value: str) -> None:
    """Append a 14th measure, wall_film (line 15 of measures.csv), realised in use as modelled."""
    measures = pd.read_csv(folder / "measures.csv", dtype=str, keep_default_na=False)
    film = dict(measures.iloc[0], measure_id="wall_film", name="Wall film", applies_when="always", effect=effect,
                effect_target=target, effect_value=value, cost_basis="dwelling", cost_fixed_gbp="100",
                cost_per_unit_gbp="0", price_base_year="2024", lifetime_years="30", epc_recommendable="false")
    pd.concat([measures, pd.DataFrame([film])], ignore_index=True).to_csv(folder / "measures.csv", index=False)
    in_use = pd.read_csv(folder / "appraisal" / "in_use.csv", dtype=str, keep_default_na=False)
    realised = dict(measure_id="wall_film", realisation="1", meaning="as modelled", source="test")
    pd.concat([in_use, pd.DataFrame([realised])], ignore_index=True).to_csv(folder / "appraisal" / "in_use.csv",
                                                                            index=False)


# --- each handler by hand ------------------------------------------------------------------

def test_lower_u_value_never_raises_one_and_counts_what_it_removes():
    mask = np.array([True, True, False])
    after = lower_u_value(three_walls(), measure(value=0.3), mask)
    assert after.u_values["wall"].tolist() == [0.3, 0.2, 1.0]  # 0.2 is already better; the third is not treated
    assert after.w_k_removed["m"] == pytest.approx([130.0, 0.0, 0.0])  # (1.6 - 0.3) x 100 m2


def test_reduce_air_changes_stops_at_the_minimum():
    after = reduce_air_changes(three_walls(), measure(effect="air_change_reduction", target="", value=0.2),
                               np.array([True, True, True]))
    assert after.air_changes == pytest.approx([0.8, 0.5, 0.4])  # 0.6 stops at 0.5; 0.4 is below it already
    assert after.w_k_removed["m"] == pytest.approx([0.33 * 0.2 * 200, 0.33 * 0.1 * 200, 0.0])


def test_scale_demand_multiplies_factors_and_prices_the_saving_at_todays_system():
    start = Demand(useful_kwh={"space_heating": np.array([10_000.0, 10_000.0])},
                   carbon_kg_per_kwh={"space_heating": np.array([0.2, 0.2])},
                   efficiency={"space_heating": np.array([0.8, 0.8])},
                   factors={"space_heating": np.ones(2)})
    once = scale_demand(start, measure("a", "space_heat_factor", "", 0.9), np.array([True, False]),
                        end_use="space_heating")
    twice = scale_demand(once, measure("b", "space_heat_factor", "", 0.5), np.array([True, True]),
                         end_use="space_heating")
    assert twice.factors["space_heating"] == pytest.approx([0.45, 0.5])
    assert once.carbon_kg_saved["a"] == pytest.approx([10_000 * 0.1 * 0.2 / 0.8, 0.0])
    assert twice.carbon_kg_saved["b"] == pytest.approx([10_000 * 0.5 * 0.2 / 0.8] * 2)  # on the demand before


def test_replace_system_sets_efficiency_fuel_and_sizing():
    assumptions = load_assumptions()
    gas = assumptions.fuels.index.get_loc("mains_gas")
    start = System(systems=assumptions.systems, fuels=assumptions.fuels.index, design_heat_pump_kw=np.full(2, 6.0),
                   space_efficiency=np.full(2, 0.8), water_efficiency=np.full(2, 0.7), fuel_code=np.full(2, gas),
                   measure_position=np.full(2, -1), sized_by_kw=np.zeros(2, dtype=bool))
    mask = np.array([True, False])
    pump = replace_system(start, measure("hp", "heating_system", "heat_pump:electricity", np.nan, "heat_pump_kw", 9),
                          mask)
    heat_pump = assumptions.systems.loc["heat_pump"]
    assert pump.space_efficiency.tolist() == [heat_pump["space_heating_efficiency"], 0.8]
    assert pump.water_efficiency.tolist() == [heat_pump["hot_water_efficiency"], 0.7]
    assert pump.fuel_code.tolist() == [assumptions.fuels.index.get_loc("electricity"), gas]
    assert pump.measure_position.tolist() == [9, -1] and pump.sized_by_kw.tolist() == [True, False]
    boiler = replace_system(start, measure("b", "heating_system", "condensing_boiler:keep", np.nan, "dwelling", 8),
                            mask)
    assert boiler.fuel_code.tolist() == [gas, gas] and not boiler.sized_by_kw.any()


def test_fit_pv_sizes_on_the_roof_within_limits():
    start = Solar(footprint_m2=np.array([10.0, 40.0, 200.0]), usable_roof_share=0.5, panel_m2_per_kwp=5.0,
                  minimum_kwp=1.0, kwp=np.zeros(3), measure_position=np.full(3, -1))
    after = fit_pv(start, measure("pv", "solar_pv", "", 4.0, "pv_kwp", 10), np.array([True, True, True]))
    assert after.kwp == pytest.approx([1.0, 4.0, 4.0])  # 1 kWp floor; 40 m2 x 0.5 / 5 = 4; capped at 4
    assert after.measure_position.tolist() == [10, 10, 10]


def test_apply_effects_runs_only_the_stage_in_package_order():
    walls = [measure("first", value=0.5), measure("pv", "solar_pv", "", 4.0), measure("second", value=0.3)]
    masks = {"first": np.array([True, False, False]), "pv": np.ones(3, dtype=bool),
             "second": np.array([True, True, False])}
    after = apply_effects("fabric", three_walls(), walls, masks)
    assert list(after.w_k_removed) == ["first", "second"]
    assert after.u_values["wall"].tolist() == [0.3, 0.2, 1.0]
    assert after.w_k_removed["second"] == pytest.approx([20.0, 0.0, 0.0])  # (0.5 - 0.3) x 100 after the first


def test_what_a_measure_treats():
    assert EFFECTS["u_value"].element_treated(measure(target="roof")) == "roof"
    assert EFFECTS["heating_system"].element_treated(measure("boiler", "heating_system", "x:keep")) == "system"
    assert EFFECTS["solar_pv"].element_treated(measure("pv", "solar_pv", "")) == "pv"
    assert EFFECTS["lighting_factor"].element_treated(measure("leds", "lighting_factor", "")) == "leds"
