"""What each shipped scheme may pay for a candidate, worked by hand from the schemes' published rules."""

import pandas as pd
import pytest

from retrofit.errors import RetrofitError
from retrofit.funding import scheme_terms
from retrofit.scenario import Rules, shipped_scheme

RULES = Rules()  # low income: fuel-poverty probability >= 0.5 or IMD decile <= 2


def row(**changes) -> dict:
    """An owner-occupied band E home, low income, taking a heat pump package (£28,000)."""
    base = dict(home_id="h", package_id="whole_house", cost_gbp=28_000.0, cost_fabric_gbp=10_000.0,
                cost_heating_gbp=12_000.0, cost_pv_gbp=5_000.0, cost_other_gbp=1_000.0, tenure="owner_occupied",
                band_before="E", band_after="C", fuel_poverty_probability=0.6, imd_decile=5, heat_pump_kw=6.0,
                main_fuel="mains_gas", annual_bill_saving_gbp=400.0)
    base.update(changes)
    return base


def terms(scheme_id: str, *rows: dict) -> pd.DataFrame:
    return scheme_terms(pd.DataFrame(list(rows)), shipped_scheme(scheme_id), RULES)


def test_local_grant_caps_fabric_and_heating_on_average_and_landlords_co_fund_half():
    found = terms("warm_homes_local_grant", row(), row(tenure="private_rented"), row(tenure="social_rented"),
                  row(band_before="C"), row(fuel_poverty_probability=0.2), row(fuel_poverty_probability=0.2, imd_decile=2))
    owner, landlord, social, band_c, not_poor, deprived = (found.iloc[i] for i in range(6))
    assert owner["eligible"] and owner["payable_gbp"] == 28_000 and owner["co_funding_gbp"] == 0
    # energy performance (10,000 + 5,000 + 1,000) capped at 15,000, heating 12,000 under its 15,000
    assert owner["cap_allowance_gbp"] == 15_000 + 12_000
    assert owner["grant_max_gbp"] == 28_000  # averaged: one home may take more than its caps
    assert landlord["co_funding_gbp"] == 14_000 and landlord["grant_max_gbp"] == 14_000
    assert landlord["cap_allowance_gbp"] == 14_000
    assert not social["eligible"] and "owner-occupied and private rented" in social["reason"]
    assert not band_c["eligible"] and "rated D, E, F, G" in band_c["reason"]
    assert not not_poor["eligible"] and "low-income" in not_poor["reason"]
    assert deprived["eligible"]  # IMD decile 2 counts as low income


def test_local_grant_pays_no_fossil_boiler():
    boiler = terms("warm_homes_local_grant", row(package_id="fabric_deep", heat_pump_kw=0.0, cost_pv_gbp=0.0,
                                                 cost_gbp=14_000.0, cost_heating_gbp=3_000.0)).iloc[0]
    assert boiler["payable_gbp"] == 10_000 + 1_000  # the boiler's 3,000 is the owner's or the council's


def test_boiler_upgrade_scheme_is_7500_per_heat_pump_replacing_fossil_or_direct_electric():
    found = terms("boiler_upgrade_scheme", row(), row(cost_heating_gbp=6_000.0, cost_gbp=22_000.0),
                  row(heat_pump_kw=0.0), row(main_fuel="biomass"), row(tenure="social_rented"),
                  row(main_fuel="electricity", fuel_poverty_probability=0.0))
    gas, small, no_pump, biomass, social, electric = (found.iloc[i] for i in range(6))
    assert gas["grant_max_gbp"] == 7_500 and gas["payable_gbp"] == 12_000
    assert small["grant_max_gbp"] == 6_000
    assert not no_pump["eligible"] and "heat pumps only" in no_pump["reason"]
    assert not biomass["eligible"] and "replacing" in biomass["reason"]
    assert not social["eligible"]
    assert electric["eligible"]  # not means-tested


def test_social_housing_fund_is_7500_averaged_and_more_off_the_gas_grid():
    found = terms("warm_homes_social_housing_fund_wave_3", row(tenure="social_rented"),
                  row(tenure="social_rented", main_fuel="electricity", cost_gbp=40_000.0, cost_fabric_gbp=20_000.0,
                      cost_pv_gbp=6_000.0, cost_other_gbp=2_000.0),
                  row(tenure="social_rented", band_before="C"),
                  row(tenure="social_rented", band_before="C", heat_pump_kw=0.0, cost_heating_gbp=0.0,
                      cost_gbp=16_000.0))
    on_gas, off_gas, band_c_pump, band_c_fabric = (found.iloc[i] for i in range(4))
    assert on_gas["co_funding_gbp"] == 14_000 and on_gas["grant_max_gbp"] == 14_000  # landlord pays half
    assert on_gas["cap_allowance_gbp"] == 7_500
    assert off_gas["grant_max_gbp"] == 20_000 and off_gas["cap_allowance_gbp"] == 7_500 + 7_500
    assert band_c_pump["eligible"] and not band_c_fabric["eligible"]


def test_eco4_needs_low_income_the_bands_and_the_band_it_reaches_and_pays_its_score():
    found = terms("eco4", row(), row(tenure="private_rented", band_before="D", band_after="B"),
                  row(band_before="F", band_after="E"), row(band_before="F", band_after="D"),
                  row(fuel_poverty_probability=0.1))
    owner, landlord_d, f_to_e, f_to_d, not_poor = (found.iloc[i] for i in range(5))
    assert owner["grant_max_gbp"] == 400 * 18  # the score: annual bill saving x £18
    assert not landlord_d["eligible"] and "private rented homes rated E, F, G" in landlord_d["reason"]
    assert not f_to_e["eligible"] and "D from F" in f_to_e["reason"]
    assert f_to_d["eligible"]
    assert not not_poor["eligible"]


def test_gbis_pays_towards_insulation_only():
    found = terms("great_british_insulation_scheme", row(), row(cost_fabric_gbp=0.0, cost_heating_gbp=22_000.0),
                  row(cost_fabric_gbp=3_000.0, cost_heating_gbp=19_000.0, annual_bill_saving_gbp=100.0))
    both, no_fabric, small = (found.iloc[i] for i in range(3))
    assert both["payable_gbp"] == 10_000 and both["grant_max_gbp"] == 400 * 18
    assert not no_fabric["eligible"] and "pays for none" in no_fabric["reason"]
    assert small["grant_max_gbp"] == 100 * 18


def test_a_table_without_cost_parts_is_told_what_to_add():
    bare = {k: v for k, v in row().items() if not k.startswith("cost_") or k == "cost_gbp"}
    with pytest.raises(RetrofitError) as caught:
        terms("boiler_upgrade_scheme", bare)
    assert "cost_heating_gbp" in str(caught.value) and "retrofit appraise" in str(caught.value)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from retrofit.scenario import shipped_schemes  # noqa: E402

money = st.floats(0, 40_000)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(shipped_schemes()), money, money, money, money,
       st.sampled_from(["owner_occupied", "private_rented", "social_rented"]), st.sampled_from(list("ABCDEFG")),
       st.sampled_from(list("ABCDEFG")), st.floats(0, 1), st.integers(1, 10), st.sampled_from([0.0, 6.0]),
       st.sampled_from(["mains_gas", "electricity", "oil", "biomass"]), st.floats(-200, 2_000))
def test_no_scheme_pays_more_than_the_cost_less_the_owners_share(scheme_id, fabric, heating, pv, other, tenure,
                                                                  before, after, probability, decile, pump, fuel, bill):
    found = terms(scheme_id, row(cost_gbp=fabric + heating + pv + other, cost_fabric_gbp=fabric,
                                 cost_heating_gbp=heating, cost_pv_gbp=pv, cost_other_gbp=other, tenure=tenure,
                                 band_before=before, band_after=after, fuel_poverty_probability=probability,
                                 imd_decile=decile, heat_pump_kw=pump, main_fuel=fuel,
                                 annual_bill_saving_gbp=bill)).iloc[0]
    cost = fabric + heating + pv + other
    assert 0 <= found["grant_max_gbp"] <= found["payable_gbp"] + 1e-6 <= cost + 1e-6
    assert found["grant_max_gbp"] + found["co_funding_gbp"] <= cost + 1e-6
    assert 0 <= found["cap_allowance_gbp"] <= found["grant_max_gbp"] + 1e-6
    if not found["eligible"]:
        assert found["reason"] and found["grant_max_gbp"] == 0 and found["co_funding_gbp"] == 0
