"""The builder's form: a scenario round-trips through it; errors land on the field they concern."""

from retrofit.scenario import load_scenario
from retrofit.present.scenario_form import TOP, from_form, to_form
from retrofit.paths import DATA_DIR

EXAMPLE = DATA_DIR / "scenarios" / "balanced-2026-2035.toml"
PACKAGES = ["fabric_light", "fabric_deep", "heat_pump", "whole_house", "pv_only"]


def test_every_example_scenario_round_trips_through_the_form():
    scenario = load_scenario(EXAMPLE)
    values = to_form(scenario, PACKAGES)
    assert values["budget.total_gbp_m"] == 1200.0
    assert values["cities.Birmingham.min_share_pct"] == 50.0
    assert values["cities.Birmingham.trade_days.insulation"] == 120000
    assert values["rules.eligible_packages"] == PACKAGES  # all allowed: the full list
    again, errors = from_form(values, PACKAGES)
    assert errors == {} and again == scenario


def test_form_units_become_scenario_units():
    values = to_form(load_scenario(EXAMPLE), PACKAGES)
    values.update({"budget.total_gbp_m": 2.5, "budget.per_year_gbp_m": "", "years.end": 2027,
                   "cities.Coventry.max_share_pct": 40.0, "rules.eligible_packages": ["heat_pump"],
                   "rules.must_include": "A1, A2\nA3", "solver.relative_gap_pct": 1.0, "rules.min_band_after": "C"})
    for city in ("Birmingham", "Coventry", "Wolverhampton"):
        values[f"cities.{city}.min_share_pct"] = None
    scenario, errors = from_form(values, PACKAGES)
    assert errors == {}
    assert scenario.budget.total_gbp == 2_500_000 and scenario.budget.per_year_gbp is None
    assert scenario.cities["Coventry"].max_share == 0.4 and scenario.cities["Coventry"].min_share is None
    assert scenario.rules.eligible_packages == ["heat_pump"]
    assert scenario.rules.must_include == ["A1", "A2", "A3"]
    assert scenario.solver.relative_gap == 0.01
    assert scenario.rules.min_band_after == "C"
    assert to_form(scenario, PACKAGES)["rules.min_band_after"] == "C"
    assert to_form(load_scenario(EXAMPLE), PACKAGES)["rules.min_band_after"] == ""  # no minimum


def test_errors_are_filed_under_their_fields():
    values = to_form(load_scenario(EXAMPLE), PACKAGES)
    values.update({"name": " ", "budget.total_gbp_m": 0.0, "years.end": 2020,
                   "cities.Coventry.min_share_pct": 90.0, "cities.Coventry.max_share_pct": 10.0,
                   "weights.carbon": 0.0, "weights.fuel_poverty": 0.0, "weights.jobs": 0.0,
                   "rules.eligible_tenures": [], "budget.per_year_gbp_m": "ten"})
    scenario, errors = from_form(values, PACKAGES)
    assert scenario is None
    assert errors["name"] == ["give the scenario a name"]
    assert errors["budget.total_gbp_m"] == ["the budget must be above £0m"]
    assert "is before start" in errors["years.end"][0]
    assert "above max_share" in errors["cities.Coventry.min_share_pct"][0]
    assert "at least one of carbon" in errors["weights.carbon"][0]
    assert "eligible_tenures is empty" in errors["rules.eligible_tenures"][0]
    assert "£m per programme year" in errors["budget.per_year_gbp_m"][0]
    assert TOP not in errors


def test_a_rule_over_the_whole_scenario_names_its_field():
    values = to_form(load_scenario(EXAMPLE), PACKAGES)
    values["budget.per_year_gbp_m"] = "100, 200"
    _, errors = from_form(values, PACKAGES)
    assert list(errors) == ["budget.per_year_gbp_m"]
    assert "has 2 values but the programme has 10 years" in errors["budget.per_year_gbp_m"][0]


def test_a_bad_name_says_what_is_wrong_with_it_and_numbers_must_be_finite():
    values = to_form(load_scenario(EXAMPLE), PACKAGES)
    values.update({"name": "x" * 200, "budget.per_year_gbp_m": ", ".join(["inf"] + ["100"] * 9),
                   "weights.jobs": float("nan")})
    scenario, errors = from_form(values, PACKAGES)
    assert scenario is None
    assert errors["name"] == ["String should have at most 120 characters"]
    assert errors["budget.per_year_gbp_m"] == ["Input should be a finite number"]
    assert errors["weights.jobs"] == ["Input should be a finite number"]
    values.update({"name": "red \x1b[31m", "budget.per_year_gbp_m": ""})
    assert "control character (\\x1b at position 5)" in from_form(values, PACKAGES)[1]["name"][0]
