"""The SAP rating equation and the energy model's consistency."""

import numpy as np
import pandas as pd
import pytest

from retrofit import energy


def test_sap_equation_is_continuous_and_invertible():
    ecf = np.array([0.5, 1.0, 3.49, 3.5, 3.51, 8.0, 20.0])
    sap = energy.sap_from_ecf(ecf)
    assert np.allclose(energy.ecf_from_sap(sap), ecf)
    # the two published branches meet at ECF 3.5 to within 0.01 SAP points
    assert abs(energy.sap_from_ecf(np.array([3.5 - 1e-9]))[0] - energy.sap_from_ecf(np.array([3.5]))[0]) < 0.01
    # SAP 2012 (258): 117 - 121 log10(ECF); worked value at ECF 10 is -4
    assert energy.sap_from_ecf(np.array([10.0]))[0] == pytest.approx(-4.0)


@pytest.mark.parametrize("sap,band", [(92, "A"), (91, "B"), (81, "B"), (80, "C"), (69, "C"), (68, "D"),
                                      (55, "D"), (54, "E"), (39, "E"), (38, "F"), (21, "F"), (20, "G"), (1, "G")])
def test_band_boundaries(sap, band):
    assert energy.band_from_sap(np.array([sap]))[0] == band


def test_baseline_energy_reproduces_the_sap_score():
    homes = pd.DataFrame({
        "floor_area_m2": [85.0, 55.0, 120.0],
        "sap_score": [60, 45, 30],
        "heating_system": ["gas_boiler", "electric_storage", "oil_boiler"],
        "main_fuel": ["mains_gas", "electricity", "oil"],
    })
    a = energy.load_assumptions()
    base = energy.baseline_energy(homes, a)
    fuel = energy.space_heating_fuel(homes["heating_system"], homes["main_fuel"])
    area = homes["floor_area_m2"].to_numpy()
    outcome = energy.evaluate(
        floor_area_m2=area, space_heating_kwh=base["space_heating_kwh"].to_numpy(), space_fuel=fuel,
        hot_water_kwh=base["hot_water_kwh"].to_numpy(), hot_water_fuel=fuel,
        lighting_use_kwh=energy.lighting_kwh(area, a), appliance_use_kwh=energy.appliances_kwh(area, a), assumptions=a)
    assert np.allclose(energy.sap_from_rating_cost(outcome.rating_cost_gbp, area, a), homes["sap_score"])
    # a typical band D gas semi: space heating in the ten-thousands of kWh, bills over £1,000
    assert 8_000 < base.at[0, "space_heating_kwh"] < 25_000
    assert base.at[0, "energy_cost_gbp_per_year"] > 1_000
    # carbon: gas home 0.210 kg/kWh on heat, electricity 0.136 on the rest
    expected_co2 = ((base.at[0, "space_heating_kwh"] + base.at[0, "hot_water_kwh"]) * 0.210
                    + base.at[0, "lighting_appliances_kwh"] * 0.136) / 1000
    assert base.at[0, "co2_t_per_year"] == pytest.approx(expected_co2)


def test_unknown_fuel_is_named():
    a = energy.load_assumptions()
    with pytest.raises(ValueError, match="unknown fuel \\['peat'\\]"):
        a.fuel_column(pd.Series(["mains_gas", "peat"]), "carbon_kg_per_kwh")
