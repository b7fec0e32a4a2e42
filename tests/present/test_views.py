"""What the pages show, on tiny plans whose answers can be worked out by hand."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from retrofit.present import views


def plan(rows) -> pd.DataFrame:
    columns = ["home_id", "package_id", "year", "cost_gbp", "annual_co2_t_saved", "lifetime_co2_t_saved",
               "fuel_poor_lifted", "jobs_fte_years", "city", "ward", "lsoa_code", "tenure", "imd_decile"]
    return pd.DataFrame(rows, columns=columns)


A = plan([
    ("h1", "fabric_light", 2026, 10_000.0, 1.0, 20.0, 0.5, 0.1, "Coventry", "Earlsdon", "E01009575", "social_rented", 1),
    ("h2", "heat_pump", 2027, 20_000.0, 2.0, 40.0, 0.0, 0.2, "Birmingham", "Aston", "E01008881", "owner_occupied", 5),
    ("h3", "heat_pump", 2027, 30_000.0, 3.0, 60.0, 1.0, 0.3, "Birmingham", "Aston", "E01008881", "private_rented", 9),
])
B = plan([
    ("h1", "fabric_light", 2027, 10_000.0, 1.0, 20.0, 0.5, 0.1, "Coventry", "Earlsdon", "E01009575", "social_rented", 1),
    ("h4", "whole_house", 2026, 50_000.0, 4.0, 90.0, 0.8, 0.5, "Coventry", "Earlsdon", "E01009575", "social_rented", 2),
])


def test_kpi_cards_write_units():
    cards = dict(views.kpi_cards({"spend_gbp": 60_000.0, "homes": 3, "annual_co2_t_saved": 6.0,
                                  "gbp_per_lifetime_tco2": 500.0}))
    assert cards == {"Spend": "£60k", "Homes retrofitted": "3 homes", "Carbon saved a year": "6 tCO2/yr",
                     "Cost per lifetime tonne": "£500/tCO2"}
    both = dict(views.kpi_cards({"annual_co2_t_saved": 6.0, "modelled_annual_co2_t_saved": 9.0}))
    assert both == {"Carbon saved a year": "6 tCO2/yr", "Carbon a year as certificates model it": "9 tCO2/yr"}


def test_city_table_writes_each_citys_figures():
    by_city, _ = views.city_year(A)
    table = views.city_table(by_city).set_index("City")
    assert table.loc["Birmingham", "Homes"] == "2" and table.loc["Birmingham", "Spend"] == "£50k"
    assert table.loc["Coventry", "Fuel-poor households lifted"] == "0.5"


def test_kpi_comparison_gives_deltas_against_the_first_run():
    numbers, text = views.kpi_comparison({"A": {"spend_gbp": 60_000.0, "homes": 3},
                                          "B": {"spend_gbp": 60_000.0, "homes": 2}})
    assert numbers.loc["homes", "B vs A"] == -1
    assert text.loc["Homes retrofitted", "Δ B"] == "-1 homes"
    assert text.loc["Spend", "Δ B"] == "±0"
    assert text.loc["Spend", "A"] == "£60k"
    assert text.loc["Cost per lifetime tonne", "Δ B"] == "–"  # neither run has it


def test_homes_in_common_counts_both_and_each():
    table = views.homes_in_common({"A": A, "B": B})
    row = table.iloc[0].to_dict()
    assert row["in both"] == 1 and row["only in A"] == 2 and row["only in this run"] == 1
    assert row["other year only"] == 1 and row["same package and year"] == 0


def test_runs_by_city_is_long_for_charts():
    table = views.runs_by({"A": A, "B": B}, "city")
    spend = table.set_index(["run", "city"])["spend_gbp"]
    assert spend[("A", "Birmingham")] == 50_000 and spend[("B", "Coventry")] == 60_000


def test_lsoa_figures_by_year_and_city():
    figures = views.lsoa_figures(A, year=2027)
    assert figures.loc["E01008881", "homes"] == 2 and figures.loc["E01008881", "cost_gbp"] == 50_000
    assert "E01009575" not in figures.index
    assert views.lsoa_figures(A, cities=["Coventry"])["homes"].to_dict() == {"E01009575": 1}


def test_plan_layer_colours_and_writes_tooltips():
    layer = views.plan_layer(A, "cost_gbp", cities=["Birmingham"])
    features = {f["properties"]["lsoa_code"]: f["properties"] for f in layer["features"]}
    assert features["E01008881"]["spend_text"] == "£50k" and features["E01008881"]["homes"] == 2
    empty = next(p for code, p in features.items() if code != "E01008881")
    assert empty["homes"] == 0 and empty["fill_colour"][3] == 60  # grey: no home of the plan there
    json.dumps(layer)  # plain JSON for the map


def test_plan_layer_is_sized_for_the_map():
    layer = views.plan_layer(A, "cost_gbp", cities=["Birmingham"])
    ring = layer["features"][0]["geometry"]["coordinates"][0]
    assert all(round(value, 5) == value for point in ring for value in point)  # about 1 m
    figures = next(f["properties"] for f in layer["features"] if f["properties"]["lsoa_code"] == "E01008881")
    assert figures["cost_gbp"] == 50_000 and figures["annual_co2_t_saved"] == 5.0


def _coventry_plan(homes_per_lsoa: dict[str, int], year: int = 2026) -> pd.DataFrame:
    rows = [(f"{code}-{n}", "heat_pump", year, 10_000.0 + n, 1.0, 20.0, 0.1, 0.1, "Coventry", "Earlsdon", code,
             "owner_occupied", 5) for code, homes in homes_per_lsoa.items() for n in range(homes)]
    return plan(rows)


def _coventry_lsoas(count: int) -> list[str]:
    from retrofit.reference import lsoas

    return lsoas().query("city == 'Coventry'")["lsoa_code"].head(count).tolist()


def test_small_area_figures_are_withheld_from_people_who_may_not_read_those_homes():
    one, seven, twelve, none = _coventry_lsoas(4)
    coventry = _coventry_plan({one: 1, seven: 7, twelve: 12})
    shown = {f["properties"]["lsoa_code"]: f["properties"]
             for f in views.plan_layer(coventry, "cost_gbp", cities=["Coventry"], open_cities=[])["features"]}
    # 1 home: its figures would be that home's; the smallest area beside it (7 homes) is withheld too,
    # or Coventry's total less the areas shown would give the one home away (1 + 7 = 8 >= 5 hidden)
    assert shown[one]["homes"] == views.WITHHELD_SMALL and shown[seven]["homes"] == views.WITHHELD_BESIDE
    assert shown[twelve]["homes"] == 12 and shown[twelve]["spend_text"] == "£120k"
    assert shown[none]["homes"] == 0
    for code in (one, seven):
        assert "cost_gbp" not in shown[code] or shown[code]["cost_gbp"] is None
        assert shown[code]["spend_text"] == "–" and shown[code]["fill_colour"] != shown[twelve]["fill_colour"]
    # someone who may read Coventry's homes sees every figure
    full = {f["properties"]["lsoa_code"]: f["properties"]
            for f in views.plan_layer(coventry, "cost_gbp", cities=["Coventry"], open_cities=["Coventry"])["features"]}
    assert full[one]["homes"] == 1 and full[one]["spend_text"] == "£10k" and full[seven]["homes"] == 7


def test_no_small_area_is_hidden_alone_and_years_are_not_shown_to_other_cities():
    two, three, eight = _coventry_lsoas(3)
    coventry = _coventry_plan({two: 2, three: 3, eight: 8})
    withheld = views.withheld_lsoas(views.lsoa_figures(coventry), None, ["Coventry"], [])
    assert withheld == {two: views.WITHHELD_SMALL, three: views.WITHHELD_SMALL}  # 2 + 3 hidden: enough together
    by_year = views.plan_layer(coventry, "homes", year=2026, cities=["Coventry"], open_cities=["Birmingham"])
    assert {f["properties"]["homes"] for f in by_year["features"]} == {views.WITHHELD_BY_YEAR}


def test_boundary_image_covers_the_cities_it_draws():
    from retrofit.geo import boundary_image
    from retrofit.reference import lsoas

    png, (west, south, east, north) = boundary_image(["Coventry"])
    assert png.startswith(b"\x89PNG") and west < east and south < north
    coventry = lsoas().query("city == 'Coventry'")
    assert coventry["lon"].between(west, east).all() and coventry["lat"].between(south, north).all()
    birmingham = lsoas().query("city == 'Birmingham'")
    assert not birmingham["lon"].between(west, east).all()  # only the cities asked for


def test_costliest_page_pages_by_cost():
    assert list(views.costliest_page(A, 1, 2)["home_id"]) == ["h3", "h2"]
    assert list(views.costliest_page(A, 2, 2)["home_id"]) == ["h1"]
    assert views.costliest_page(A, 3, 2).empty


def test_filter_choices_offer_wards_by_city():
    choices = views.filter_choices(A)
    assert choices["cities"] == ["Birmingham", "Coventry"] and choices["years"] == [2026, 2027]
    assert views.wards_of(choices, ["Coventry"]) == ["Earlsdon"]
    assert views.wards_of(choices) == ["Aston", "Earlsdon"]


def test_filter_plan_applies_every_filter():
    assert list(views.filter_plan(A, cities=["Birmingham"])["home_id"]) == ["h2", "h3"]
    assert list(views.filter_plan(A, cities=["Birmingham"], tenures=["private_rented"])["home_id"]) == ["h3"]
    assert list(views.filter_plan(A, imd_deciles=(1, 5))["home_id"]) == ["h1", "h2"]
    assert list(views.filter_plan(A, years=[2026], packages=["fabric_light"], wards=["Earlsdon"])["home_id"]) == ["h1"]
    assert len(views.filter_plan(A)) == 3 and views.filter_plan(A, years=[2030]).empty


def test_explain_home_in_and_out():
    explanations = pd.DataFrame({
        "home_id": ["h1", "h9"], "in_plan": [True, False], "best_package_id": ["fabric_light", "heat_pump"],
        "value": [2.0, 1.0], "cost_gbp": [10_000.0, 20_000.0], "value_per_gbp": [2e-4, 5e-5],
        "threshold_per_gbp": [1e-4, 1e-4], "margin": [1.0, -1.0]}).set_index("home_id")
    inside = views.explain_home("h1", A, explanations)
    assert inside["in_plan"] and "2.00 times" in inside["text"] and "fabric_light in 2026" in inside["text"]
    outside = views.explain_home("h9", A, explanations)
    assert not outside["in_plan"] and "0.50 times" in outside["text"] and "more good elsewhere" in outside["text"]
    unknown = views.explain_home("h404", A, explanations)
    assert not unknown["in_plan"] and "no package applies" in unknown["text"]


def test_marginal_values_against_the_average_pound():
    details = {"marginal": [{"city": "Coventry", "year": 2026, "value_of_1m_gbp": 0.5, "value_of_100_homes": 0.0}]}
    table = views.marginal_values(details, objective=10.0, spend_gbp=10e6)
    assert np.isclose(table["value_of_1m_gbp_pct_of_average"].iloc[0], 50.0)
    assert views.marginal_values({}).empty


def test_trade_off_points():
    points = views.trade_off_points({"A": {"lifetime_co2_t_saved": 5.0, "fuel_poor_lifted": 1.0}})
    assert points.iloc[0]["run"] == "A" and points.iloc[0]["lifetime_co2_t_saved"] == 5.0


def test_equal_figures_share_a_colour_and_areas_without_homes_are_grey():
    from retrofit.geo import EMPTY

    one, also_one, three, none = _coventry_lsoas(4)
    layer = views.plan_layer(_coventry_plan({one: 1, also_one: 1, three: 3}), "homes", cities=["Coventry"])
    colour = {f["properties"]["lsoa_code"]: f["properties"]["fill_colour"] for f in layer["features"]}
    assert colour[one] == colour[also_one] != colour[three]
    assert colour[none] == EMPTY
