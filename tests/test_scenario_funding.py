"""`[funding.<id>]` sections: a shipped scheme by `use`, overrides, and one error naming each bad key."""

import json

import pytest

from retrofit.errors import RetrofitError
from retrofit.scenario import parse_scenario, scenario_from_dict, scenario_to_toml, shipped_scheme
from retrofit.service.workspace import scale_scenario

BASE = """name = "funded"
[budget]
total_gbp = 10_000_000
[years]
start = 2026
end = 2030
"""
WHLG = """
[funding.whlg]
use = "warm_homes_local_grant"
total_gbp = 40_000_000
per_year_gbp = [20e6, 20e6, 0, 0, 0]
stacks_with = ["bus"]
cap_gbp = { fabric = 12000, heating = 15000 }
[funding.bus]
use = "boiler_upgrade_scheme"
total_gbp = 5_000_000
"""


def test_a_shipped_scheme_with_overrides():
    scenario = parse_scenario(BASE + WHLG)
    whlg = scenario.funding["whlg"]
    assert whlg.scheme.cap_gbp == {"fabric": 12000, "heating": 15000}  # the override
    assert whlg.scheme.tenures == shipped_scheme("warm_homes_local_grant").tenures  # the shipped rule
    # April 2025 - March 2028: programme years 2026 and 2027; the yearly caps hold inside them only
    assert whlg.spending_years(scenario.year_list) == [2026, 2027]
    assert whlg.year_limits(scenario.year_list) == [20e6, 20e6, 0, 0, 0]
    assert scenario.funding["bus"].year_limits(scenario.year_list) == [5e6, 5e6, 0, 0, 0]
    assert scenario.stacks() == [("bus", "whlg")]


def test_sections_survive_writing_and_reading():
    scenario = parse_scenario(BASE + WHLG)
    assert parse_scenario(scenario_to_toml(scenario)) == scenario


def test_a_window_given_inline_survives_json():
    """Stored and sent scenarios travel as JSON, where a date is ISO text; the window reads back."""
    text = BASE + '[funding.later]\nuse = "warm_homes_local_grant"\nopens = 2028-04-01\ncloses = 2031-03-31\n' \
                  'status = "assumed"\ntotal_gbp = 1e7\n'
    scenario = parse_scenario(text)
    again = scenario_from_dict(json.loads(json.dumps(scenario.model_dump(mode="json"))))
    assert again == scenario and again.funding["later"].spending_years(again.year_list) == [2028, 2029, 2030]
    with pytest.raises(RetrofitError, match="opens"):
        parse_scenario(text.replace("opens = 2028-04-01", 'opens = "soon"'))


def test_an_assumed_future_round_may_go_past_the_window():
    text = BASE + '[funding.round2]\nuse = "warm_homes_local_grant"\nstatus = "assumed"\ntotal_gbp = 1e7\nyears = [2028, 2029]\n'
    funding = parse_scenario(text).funding["round2"]
    assert funding.scheme.status == "assumed" and funding.year_limits(list(range(2026, 2031))) == [0, 0, 1e7, 1e7, 0]


def test_scaling_a_scenario_scales_its_awards():
    scaled = scale_scenario(parse_scenario(BASE + WHLG), 0.01)
    assert scaled.funding["whlg"].total_gbp == 400_000 and scaled.funding["whlg"].per_year_gbp[0] == 200_000


@pytest.mark.parametrize("section, key", [
    ('use = "nope"\ntotal_gbp = 1.0', "funding.g: use: no shipped scheme 'nope'"),
    ('use = "eco4"', "funding.g.total_gbp"),
    ('use = "eco4"\ntotal_gbp = -1.0', "funding.g.total_gbp"),
    ('use = "eco4"\ntotal_gbp = 1.0\nwalls = 3', "funding.g: walls: unknown key"),
    ('use = "eco4"\ntotal_gbp = 1.0\ncap_gbp = { walls = 3.0 }', "cap_gbp: walls is not a cost part"),
    ('use = "eco4"\ntotal_gbp = 1.0\nco_funding_share = { social_rented = 1.5 }', "co_funding_share.social_rented"),
    ('use = "eco4"\ntotal_gbp = 1.0\nyears = [2031]', "funding.g.years: 2031 is outside the programme"),
    ('use = "eco4"\ntotal_gbp = 1.0\nyears = [2027]', "funding.g.years: 2027 is outside Energy Company Obligation 4"),
    ('use = "great_british_insulation_scheme"\ntotal_gbp = 1.0', "does not overlap the programme"),
    ('use = "eco4"\ntotal_gbp = 1.0\nper_year_gbp = [1.0]', "funding.g.per_year_gbp has 1 values"),
    ('use = "eco4"\ntotal_gbp = 1.0\nstacks_with = ["g"]', "funding.g.stacks_with: g is not another funding"),
    ('total_gbp = 1.0\nname = "A"', "funding.g: opens: Field required"),
])
def test_each_bad_key_is_named(section, key):
    with pytest.raises(RetrofitError) as error:
        parse_scenario(BASE + "[funding.g]\n" + section + "\n")
    assert key in str(error.value)


def test_a_scenario_without_funding_is_unchanged():
    scenario = parse_scenario(BASE)
    assert scenario.funding == {} and "funding" not in scenario_to_toml(scenario)
