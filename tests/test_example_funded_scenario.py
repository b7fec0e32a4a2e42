"""The funded example scenario (data/scenarios/funded-2026-2035.toml): it parses, it draws only on
shipped schemes, the four the issue names are there, and every award lies inside its window."""

import re
import tomllib
from datetime import date

import pytest

from retrofit.paths import DATA_DIR
from retrofit.scenario import load_scenario, parse_scenario, scenario_to_toml, shipped_scheme, shipped_schemes

PATH = DATA_DIR / "scenarios" / "funded-2026-2035.toml"


@pytest.fixture(scope="module")
def raw() -> dict:
    with open(PATH, "rb") as handle:
        return tomllib.load(handle)


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(PATH)


def test_it_parses_and_round_trips(scenario):
    assert scenario.n_years == 10 and scenario.funding
    assert parse_scenario(scenario_to_toml(scenario)) == scenario


def test_every_scheme_it_uses_is_shipped(raw):
    uses = [section.get("use") for section in raw["funding"].values()]
    assert None not in uses, "every section takes a shipped scheme"
    assert set(uses) <= set(shipped_schemes())


def test_the_four_schemes_of_the_issue(raw):
    uses = {section["use"] for section in raw["funding"].values()}
    assert {"warm_homes_local_grant", "warm_homes_social_housing_fund_wave_3", "boiler_upgrade_scheme"} <= uses
    assert uses & {"eco4", "great_british_insulation_scheme"}


def test_awarded_money_is_spent_inside_the_shipped_window(raw, scenario):
    """An awarded section keeps its scheme's published window; its years are programme years that
    the window overlaps (a programme year is April to March)."""
    for key, funding in scenario.funding.items():
        years = funding.spending_years(scenario.year_list)
        assert years and set(years) <= set(scenario.year_list), key
        assert funding.scheme.years_open(years) == years, f"{key}: {years} outside its window"
        if funding.scheme.status == "awarded":
            shipped = shipped_scheme(raw["funding"][key]["use"])
            assert (funding.scheme.opens, funding.scheme.closes) == (shipped.opens, shipped.closes), key
            assert shipped.years_open(years) == years, key


def test_an_assumed_round_comes_after_the_awarded_one(raw, scenario):
    assumed = {key: f for key, f in scenario.funding.items() if f.scheme.status == "assumed"}
    assert assumed, "the example shows awarded and assumed money apart"
    for key, funding in assumed.items():
        shipped = shipped_scheme(raw["funding"][key]["use"])
        first = min(funding.spending_years(scenario.year_list))
        assert date(first, 4, 1) > shipped.closes, f"{key} overlaps the awarded window"


def test_grants_add_to_the_council_budget_and_the_solve_is_bounded(scenario):
    assert sum(scenario.budget.per_year_gbp) >= scenario.budget.total_gbp
    assert sum(f.total_gbp for f in scenario.funding.values()) < scenario.budget.total_gbp
    assert scenario.solver.time_limit_s <= 120
    assert all(pair in [("bus", "whlg")] for pair in scenario.stacks())


def test_each_award_says_how_it_was_sized():
    lines = PATH.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if re.match(r"\[funding\.", line):
            assert lines[i - 1].startswith("#"), f"no comment above {line}"
