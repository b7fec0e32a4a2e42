"""The builder's Funding section without Streamlit: [funding.<id>] sections as form fields and back,
written as overrides of the shipped scheme, with errors in words under the field they concern."""

from __future__ import annotations

import tomllib
from datetime import date

import pytest

from retrofit.paths import DATA_DIR
from retrofit.present.scenario_form import (MONEY_EXAMPLE, TOP, add_funding, field, from_form, funding_rows,
                                            links, overridden, parse_gbp, remove_funding, rule_rows, to_form)
from retrofit.scenario import load_scenario, parse_scenario, scenario_to_toml, shipped_schemes
from retrofit.stock.schema import MAIN_FUELS

EXAMPLE = DATA_DIR / "scenarios" / "balanced-2026-2035.toml"
PACKAGES = ["fabric_light", "fabric_deep", "heat_pump", "whole_house", "pv_only"]
FUNDED = EXAMPLE.read_text() + """
[funding.whlg]
use = "warm_homes_local_grant"
total_gbp = 40_000_000
per_year_gbp = [25_000_000, 15_000_000, 0, 0, 0, 0, 0, 0, 0, 0]
cap_basis = "per_home"
cap_gbp = { heating = 12_000, "fabric+pv+other" = 10_000 }
co_funding_share = { private_rented = 0.25, owner_occupied = 0.1 }
stacks_with = ["bus"]

[funding.bus]
use = "boiler_upgrade_scheme"
total_gbp = 5_000_000

[funding.eco4]
use = "eco4"
total_gbp = 2_500_000.5
min_band_after = { G = "C", F = "D" }

[funding.whlg_2028]
use = "warm_homes_local_grant"
total_gbp = 30_000_000
years = [2028, 2029]
status = "assumed"
packages = ["fabric_deep", "whole_house"]
"""


def funded():
    return parse_scenario(FUNDED, "funded test")


def sections(scenario) -> dict:
    """The [funding] tables as the TOML text writes them."""
    return tomllib.loads(scenario_to_toml(scenario))["funding"]


def test_a_funded_scenario_round_trips_through_the_form():
    scenario = funded()
    values = to_form(scenario, PACKAGES)
    assert values["funding"] == ["whlg", "bus", "eco4", "whlg_2028"]
    assert values[field("whlg", "total_gbp")] == "£40,000,000"
    assert values[field("eco4", "total_gbp")] == "£2,500,000.50"
    assert values[field("whlg", "per_year_gbp")] == "2026: £25,000,000\n2027: £15,000,000"
    assert values[field("whlg", "cap_gbp")] == "heating: £12,000\nfabric + solar PV + other: £10,000"
    assert values[field("whlg", "co_funding_share.private_rented_pct")] == 25.0
    assert values[field("eco4", "min_band_after")] == "F to D, G to C"
    assert values[field("whlg_2028", "years")] == [2028, 2029]
    assert values[field("bus", "tenures")] == ["owner_occupied", "private_rented"]  # shipped, shown in full
    again, errors = from_form(values, PACKAGES)
    assert errors == {}
    assert again == scenario
    assert to_form(again, PACKAGES) == values


def test_sections_are_written_as_overrides_of_the_shipped_scheme():
    written = sections(from_form(to_form(funded(), PACKAGES), PACKAGES)[0])
    assert written["bus"] == {"use": "boiler_upgrade_scheme", "total_gbp": 5_000_000}
    assert set(written["whlg"]) == {"use", "total_gbp", "per_year_gbp", "cap_basis", "cap_gbp", "co_funding_share",
                                    "stacks_with"}
    assert written["whlg_2028"] == {"use": "warm_homes_local_grant", "total_gbp": 30_000_000, "years": [2028, 2029],
                                    "status": "assumed", "packages": ["fabric_deep", "whole_house"]}


def test_an_edit_is_an_override_and_an_edit_back_to_the_shipped_value_is_none():
    values = to_form(funded(), PACKAGES)
    values[field("bus", "bands_before")] = ["G", "F", "E", "D"]
    values[field("bus", "tenures")] = ["private_rented", "owner_occupied"]  # the shipped set, in another order
    assert overridden(values, "bus") == ["bands_before"]
    scenario, errors = from_form(values, PACKAGES)
    assert errors == {}
    assert scenario.funding["bus"].rules == {"bands_before": ["D", "E", "F", "G"]}
    values[field("whlg", "cap_basis")] = "average"  # as shipped
    values[field("whlg", "cap_gbp")] = "fabric + solar pv + other: £15,000\nheating: 15000"  # as shipped
    scenario, errors = from_form(values, PACKAGES)
    assert errors == {}
    assert "cap_basis" not in scenario.funding["whlg"].rules and "cap_gbp" not in scenario.funding["whlg"].rules
    assert scenario.funding["whlg"].scheme.cap_gbp == {"fabric+pv+other": 15000, "heating": 15000}


def test_an_optional_shipped_rule_cleared_is_written_as_what_means_the_same():
    values = to_form(funded(), PACKAGES)
    values[field("eco4", "private_rented_bands_before")] = []
    values[field("bus", "replaces_fuels")] = []
    scenario, errors = from_form(values, PACKAGES)
    assert errors == {}
    assert scenario.funding["eco4"].scheme.private_rented_bands_before == ["D", "E", "F", "G"]  # as for others
    assert scenario.funding["bus"].scheme.replaces_fuels == list(MAIN_FUELS)  # any fuel
    values[field("eco4", "gbp_per_annual_bill_saving")] = None  # a score-based scheme stays score-based
    scenario, errors = from_form(values, PACKAGES)
    assert scenario is None
    assert errors == {field("eco4", "gbp_per_annual_bill_saving"): [
        "the shipped scheme sets this (£18); give a value"]}


def test_adding_takes_the_shipped_rules_and_waits_for_the_award():
    values = to_form(load_scenario(EXAMPLE), PACKAGES)
    assert values["funding"] == [] and funding_rows(values) == []
    values, error = add_funding(values, "warm_homes_social_housing_fund_wave_3")
    assert error is None and values["funding"] == ["whshfw3"]
    assert values[field("whshfw3", "co_funding_share.social_rented_pct")] == 50.0
    assert values[field("whshfw3", "band_c_heat_pump_share_pct")] == 10.0
    assert funding_rows(values) == [{"id": "whshfw3", "scheme": "Warm Homes: Social Housing Fund Wave 3",
                                     "shipped": "Warm Homes: Social Housing Fund Wave 3", "award": "not set",
                                     "years": "2026-2027", "status": "awarded", "changed": ""}]
    scenario, errors = from_form(values, PACKAGES)
    assert scenario is None
    assert errors == {field("whshfw3", "total_gbp"): ["give the award this programme holds, e.g. £40,000,000"]}
    values[field("whshfw3", "total_gbp")] = "£12.5m"
    scenario, errors = from_form(values, PACKAGES)
    assert errors == {}
    assert sections(scenario) == {"whshfw3": {"use": "warm_homes_social_housing_fund_wave_3", "total_gbp": 12_500_000}}
    again, error = add_funding(values, "warm_homes_social_housing_fund_wave_3")
    assert error is None and again["funding"] == ["whshfw3", "whshfw3_2"]
    assert add_funding(values, "eco4", "whshfw3")[1] == ("the scenario already has a funding section whshfw3; "
                                                        "give another id")
    assert "letters, digits" in add_funding(values, "eco4", "eco 4!")[1]
    assert "no shipped scheme" in add_funding(values, "no_such_scheme")[1]


def test_removing_a_section_drops_it_and_the_stacks_that_name_it():
    values = remove_funding(to_form(funded(), PACKAGES), "bus")
    assert values["funding"] == ["whlg", "eco4", "whlg_2028"]
    assert not any(key.startswith("funding.bus.") for key in values)
    assert values[field("whlg", "stacks_with")] == []
    scenario, errors = from_form(values, PACKAGES)
    assert errors == {}
    assert list(scenario.funding) == ["whlg", "eco4", "whlg_2028"]
    assert scenario.funding["whlg"].scheme.stacks_with == []


@pytest.mark.parametrize("award, message", [
    ("forty million", MONEY_EXAMPLE),
    ("£0", "the award must be above £0"),
    ("-5", MONEY_EXAMPLE),
    ("£2,000bn", "at most £1,000,000,000,000"),
])
def test_an_invalid_award_is_explained_next_to_it_and_nothing_is_made(award, message):
    values = to_form(funded(), PACKAGES)
    values[field("whlg", "total_gbp")] = award
    scenario, errors = from_form(values, PACKAGES)
    assert scenario is None
    assert errors == {field("whlg", "total_gbp"): [message]}


def test_rule_errors_land_on_their_field_in_words():
    values = to_form(funded(), PACKAGES)
    values.update({field("whlg", "cap_gbp"): "roof: £5,000", field("bus", "per_year_gbp"): "2040: £1m",
                   field("eco4", "min_band_after"): "G up to C", field("whlg_2028", "closes"): date(2020, 1, 1),
                   field("eco4", "off_gas_heating_cap_gbp"): "lots"})
    scenario, errors = from_form(values, PACKAGES)
    assert scenario is None
    assert errors[field("whlg", "cap_gbp")] == ["'roof' is not a cost part; use fabric, heating, solar PV, other, "
                                                "or total for the whole cost"]
    assert errors[field("bus", "per_year_gbp")] == ["2040 is not a programme year (2026-2035)"]
    assert "band before, 'to'" in errors[field("eco4", "min_band_after")][0]
    assert errors[field("eco4", "off_gas_heating_cap_gbp")] == [MONEY_EXAMPLE]
    assert errors[field("whlg_2028", "closes")] == ["closes (2020-01-01) is before opens (2025-04-01)"]
    assert TOP not in errors


def test_scenario_wide_funding_rules_name_the_field():
    values = to_form(funded(), PACKAGES)
    values[field("whlg_2028", "status")] = "awarded"  # 2028-2029 is after the window: only an assumed round
    values[field("whlg", "years")] = [2026, 2027]
    values[field("bus", "tenures")] = []
    scenario, errors = from_form(values, PACKAGES)
    assert scenario is None
    assert errors[field("whlg_2028", "years")] == [
        "2028 is outside Warm Homes: Local Grant's window (2025-04-01 to 2028-03-31); a future round not yet "
        "awarded is status = \"assumed\""]
    assert TOP not in errors and list(errors) == [field("whlg_2028", "years")]


def test_money_is_read_as_people_write_it():
    assert parse_gbp("£40,000,000") == parse_gbp("40m") == parse_gbp("£ 40 million") == 40_000_000
    assert parse_gbp("15k") == 15_000 and parse_gbp("£1.5bn") == 1.5e9 and parse_gbp("7500.255") == 7500.26
    assert parse_gbp("  ") is None
    for bad in ("1e6", "ten", "£-3", "nan", "inf"):
        with pytest.raises(ValueError, match="amount in pounds"):
            parse_gbp(bad)


def test_every_shipped_rule_shows_its_value_and_source():
    for scheme_id in shipped_schemes():
        for row in rule_rows(scheme_id):
            assert row["shipped"] and row["source"], (scheme_id, row)
    whlg = {row["key"]: row for row in rule_rows("warm_homes_local_grant")}
    assert whlg["cap_gbp"]["shipped"] == "fabric + solar PV + other £15,000; heating £15,000"
    assert whlg["tenures"]["links"] == ["https://www.gov.uk/government/publications/warm-homes-local-grant"]
    assert whlg["opens"]["source"].startswith("Energy Saving Trust")  # the window's source
    assert links("see gov.uk/apply-boiler-upgrade-scheme).") == ["https://www.gov.uk/apply-boiler-upgrade-scheme"]
    assert rule_rows(None) == []


@pytest.mark.parametrize("path", sorted((DATA_DIR / "scenarios").glob("*.toml")), ids=lambda p: p.name)
def test_every_example_scenario_is_written_back_as_it_was(path):
    scenario = load_scenario(path)
    again, errors = from_form(to_form(scenario, PACKAGES), PACKAGES)
    assert errors == {}
    assert again == scenario
    assert {k: f.rules for k, f in again.funding.items()} == {k: f.rules for k, f in scenario.funding.items()}
