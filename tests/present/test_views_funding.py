"""How a plan is paid for, as the pages show it: tiny funded plans whose answers are counted by hand.

The plan F (four homes, two schemes: `whlg` awarded, `next` an assumed round):

| home | city       | year | tenure         | cost    | council | whlg    | next   | co-funding |
|------|------------|------|----------------|---------|---------|---------|--------|------------|
| h1   | Coventry   | 2026 | owner_occupied | 10,000  | 0       | 10,000  | 0      | 0          |
| h2   | Birmingham | 2026 | private_rented | 20,000  | 0       | 10,000  | 0      | 10,000     |
| h3   | Birmingham | 2027 | social_rented  | 30,000  | 30,000  | 0       | 0      | 0          |
| h4   | Birmingham | 2028 | owner_occupied | 6,000   | 1,000   | 0       | 5,000  | 0          |

Totals: council 31,000, whlg 20,000, next 5,000, co-funding 10,000, investment 66,000
(£2.13 per £1 of council money). Birmingham 56,000 on 31,000 of council money (£1.81);
Coventry 10,000 on none.
"""

from __future__ import annotations

import pandas as pd
import pytest

from retrofit.plan import breakdown, plan_kpis
from retrofit.present import views
from retrofit.scenario import parse_scenario

COLUMNS = ["home_id", "package_id", "year", "city", "tenure", "cost_gbp", "council_gbp", "grant_whlg_gbp",
           "grant_next_gbp", "co_funding_gbp", "funding"]
F = pd.DataFrame([
    ("h1", "fabric_light", 2026, "Coventry", "owner_occupied", 10_000.0, 0.0, 10_000.0, 0.0, 0.0, "whlg"),
    ("h2", "heat_pump", 2026, "Birmingham", "private_rented", 20_000.0, 0.0, 10_000.0, 0.0, 10_000.0, "whlg"),
    ("h3", "fabric_light", 2027, "Birmingham", "social_rented", 30_000.0, 30_000.0, 0.0, 0.0, 0.0, ""),
    ("h4", "fabric_light", 2028, "Birmingham", "owner_occupied", 6_000.0, 1_000.0, 0.0, 5_000.0, 0.0, "next"),
], columns=COLUMNS)
F["grant_gbp"] = F["grant_whlg_gbp"] + F["grant_next_gbp"]

SCENARIO = parse_scenario("""
name = "Funded tiny"
[budget]
total_gbp = 100000
[years]
start = 2026
end = 2028
[funding.whlg]
use = "warm_homes_local_grant"
total_gbp = 50000
years = [2026, 2027]
[funding.bus]
use = "boiler_upgrade_scheme"
total_gbp = 7500
years = [2026, 2027]
[funding.next]
use = "warm_homes_local_grant"
name = "Warm Homes: Local Grant, next round"
status = "assumed"
opens = 2028-04-01
closes = 2031-03-31
total_gbp = 5000
years = [2028]
""")

NEXT = "Warm Homes: Local Grant, next round (assumed)"  # assumed money says so wherever it is added up

# what the optimiser writes (details["funding"]): ids sorted, the assumed round among them
ACCOUNT = [
    {"id": "next", "name": "Warm Homes: Local Grant, next round", "status": "assumed", "awarded_gbp": 5000.0,
     "used_gbp": 5000.0, "unused_gbp": 0.0, "eligible_gbp": 6000.0, "years": [2028], "value_of_1m_gbp": 10.0,
     "reason": ""},
    {"id": "whlg", "name": "Warm Homes: Local Grant", "status": "awarded", "awarded_gbp": 50000.0,
     "used_gbp": 20000.0, "unused_gbp": 30000.0, "eligible_gbp": 20000.0, "years": [2026, 2027],
     "value_of_1m_gbp": 0.0, "reason": "£50k awarded but only £20k of eligible work in 2026-2027"},
]


@pytest.fixture(scope="module")
def kpis():
    return plan_kpis(F, SCENARIO)


@pytest.fixture(scope="module")
def schemes(kpis):
    return views.funding_schemes(kpis, {"funding": ACCOUNT})


# --- which schemes, from what the run keeps ---------------------------------------------------------

def test_the_runs_own_account_comes_first_and_assumed_money_last(kpis, schemes):
    assert [s["id"] for s in schemes] == ["whlg", "next"]
    whlg = schemes[0]
    assert (whlg["awarded_gbp"], whlg["used_gbp"], whlg["unused_gbp"], whlg["eligible_gbp"]) == (50000, 20000, 30000,
                                                                                                  20000)
    assert whlg["reason"] == "£50k awarded but only £20k of eligible work in 2026-2027"
    assert schemes[1]["status"] == "assumed" and schemes[1]["years"] == [2028]


def test_without_the_account_the_scenario_names_the_schemes_and_their_awards(kpis):
    schemes = views.funding_schemes(kpis, {}, SCENARIO)
    assert [(s["id"], s["name"], s["status"]) for s in schemes] == [
        ("whlg", "Warm Homes: Local Grant", "awarded"), ("bus", "Boiler Upgrade Scheme", "awarded"),
        ("next", "Warm Homes: Local Grant, next round", "assumed")]
    assert [(s["awarded_gbp"], s["used_gbp"], s["unused_gbp"]) for s in schemes] == [
        (50000, 20000, 30000), (7500, 0, 7500), (5000, 5000, 0)]
    assert schemes[0]["years"] == [2026, 2027] and schemes[0]["eligible_gbp"] is None


def test_without_account_or_scenario_the_kpis_give_ids(kpis):
    alone = views.funding_schemes(plan_kpis(F))  # KPIs of the plan alone: no awards
    assert [(s["id"], s["name"], s["status"], s["used_gbp"]) for s in alone] == [
        ("whlg", "whlg", None, 20000), ("next", "next", None, 5000)]
    assert alone[0]["awarded_gbp"] is None and alone[0]["unused_gbp"] is None


def test_run_funding_reads_the_scenario_only_when_the_run_does_not_report_its_grants(kpis):
    def refuse():
        raise AssertionError("the scenario was read")

    assert [s["id"] for s in views.run_funding(kpis, {"funding": ACCOUNT}, refuse)] == ["whlg", "next"]
    assert views.run_funding({"spend_gbp": 1.0, "homes": 1}, {}, refuse) == []  # a run from before funding
    assert len(views.run_funding(kpis, {}, lambda: SCENARIO)) == 3

    def unreadable():
        from retrofit.errors import RetrofitError
        raise RetrofitError("scenario gone")

    assert [s["name"] for s in views.run_funding(plan_kpis(F), {}, unreadable)] == ["whlg", "next"]


def test_runs_without_funding_have_nothing_to_say():
    before = {"homes": 3, "spend_gbp": 60000.0}  # stored before funding: no money keys at all
    assert views.funding_schemes(before) == [] and not views.has_funding(before, [])
    council_only = plan_kpis(F[["home_id", "year", "city", "cost_gbp"]])
    assert council_only["council_gbp"] == 66000 and council_only["grant_gbp_by_scheme"] == {}
    assert not views.has_funding(council_only, views.funding_schemes(council_only))


def test_has_funding_when_a_scheme_is_in_the_scenario_even_unused(kpis, schemes):
    assert views.has_funding(kpis, schemes)
    assert views.has_funding({"grant_gbp": 0.0, "co_funding_gbp": 0.0}, [{"id": "x"}])


# --- money by source ------------------------------------------------------------------------------

def test_money_by_source_by_year_stacks_council_schemes_then_co_funding(schemes):
    _, by_year_city = views.city_year(F)
    money = views.money_by_source(by_year_city, schemes, "year")
    assert list(money["source"].unique()) == ["Council", "Warm Homes: Local Grant", NEXT, views.CO_FUNDING]
    table = money.pivot(index="year", columns="source", values="money_gbp")
    assert table.loc[2026].to_dict() == {"Council": 0.0, "Warm Homes: Local Grant": 20000.0, NEXT: 0.0,
                                         views.CO_FUNDING: 10000.0}
    assert table.loc[2027, "Council"] == 30000 and table.loc[2028, "Council"] == 1000
    assert table.loc[2028, NEXT] == 5000
    assert money["money_gbp"].sum() == 66000 and money["money_m"].sum() == pytest.approx(0.066)
    assert money.set_index("source")["kind"].to_dict() == {"Council": "council", "Warm Homes: Local Grant": "awarded",
                                                           NEXT: "assumed", views.CO_FUNDING: "co-funding"}
    assert list(money["order"][:4]) == [0, 1, 2, 3]


def test_money_by_source_of_one_city(schemes):
    _, by_year_city = views.city_year(F)
    coventry = views.money_by_source(by_year_city, schemes, "year", "Coventry")
    assert set(coventry["year"]) == {2026}
    assert coventry.set_index("source")["money_gbp"].to_dict() == {
        "Council": 0.0, "Warm Homes: Local Grant": 10000.0, NEXT: 0.0, views.CO_FUNDING: 0.0}


def test_an_assumed_scheme_says_so_unless_its_name_does():
    assert views.scheme_label({"name": "Warm Homes", "status": "assumed"}) == "Warm Homes (assumed)"
    assert views.scheme_label({"name": "Round 2, assumed", "status": "assumed"}) == "Round 2, assumed"
    assert views.scheme_label({"name": "Warm Homes", "status": "awarded"}) == "Warm Homes"


def test_money_table_by_city_with_total_and_leverage(schemes):
    by_city, _ = views.city_year(F)
    table = views.money_table(by_city, schemes)
    assert list(table.columns) == ["City", "Council", "Warm Homes: Local Grant", NEXT, views.CO_FUNDING, "Total",
                                   "Investment per £1 of council money"]
    rows = table.set_index("City")
    assert rows.loc["Birmingham"].tolist() == ["£31k", "£10k", "£5,000", "£10k", "£56k", "£1.81"]
    assert rows.loc["Coventry"].tolist() == ["£0", "£10k", "£0", "£0", "£10k", "no council money"]
    assert rows.loc["All"].tolist() == ["£31k", "£20k", "£5,000", "£10k", "£66k", "£2.13"]


def test_money_table_by_year_and_city(schemes):
    _, by_year_city = views.city_year(F)
    table = views.money_table(by_year_city, schemes, ["year", "city"], total=False)
    assert list(table[["Year", "City"]].itertuples(index=False, name=None)) == [
        ("2026", "Birmingham"), ("2026", "Coventry"), ("2027", "Birmingham"), ("2028", "Birmingham")]
    assert table["Total"].tolist() == ["£20k", "£10k", "£30k", "£6,000"]
    assert table["Investment per £1 of council money"].tolist() == ["no council money", "no council money", "£1.00",
                                                                     "£6.00"]


def test_a_breakdown_from_before_funding_is_council_money():
    old = breakdown(F[["home_id", "year", "city", "cost_gbp"]], "city").drop(
        columns=["council_gbp", "grant_gbp", "co_funding_gbp"])
    table = views.money_table(old, []).set_index("City")
    assert table.loc["All"].tolist() == ["£66k", "£0", "£66k", "£1.00"]


def test_funding_figures_keep_awarded_and_assumed_apart(kpis, schemes):
    figures = dict(views.funding_figures(kpis, schemes))
    assert figures == {"Council money": "£31k", "Grants awarded, used": "£20k of £50k",
                       "Grants assumed (not yet awarded), used": "£5,000 of £5,000",
                       "Co-funding (owners and landlords)": "£10k",
                       "Leverage: total investment": "£2.13 per £1 of council money"}
    awarded_only = dict(views.funding_figures(kpis, schemes[:1]))
    assert "Grants assumed (not yet awarded), used" not in awarded_only
    assert views.leverage_text(66000, 0) == "no council money" and views.leverage_text(0, 0) == "–"


def test_unused_grant_and_why(schemes):
    table = views.unused_table(schemes).set_index("Scheme")
    assert table.loc["Warm Homes: Local Grant"].to_dict() == {
        "Money": "Awarded", "Years": "2026-2027", "Award": "£50k", "Used": "£20k", "Left unused": "£30k",
        "Eligible work in its years": "£20k",
        "Why any is left": "£50k awarded but only £20k of eligible work in 2026-2027"}
    assert table.loc["Warm Homes: Local Grant, next round", "Money"] == "Assumed (not yet awarded)"
    assert table.loc["Warm Homes: Local Grant, next round", "Why any is left"] == "All used"


def test_unused_grant_of_a_run_that_does_not_say_why(kpis):
    table = views.unused_table(views.funding_schemes(kpis, {}, SCENARIO)).set_index("Scheme")
    assert "Eligible work in its years" not in table  # nobody counted it
    assert table.loc["Boiler Upgrade Scheme", "Left unused"] == "£7,500"
    assert table.loc["Boiler Upgrade Scheme", "Why any is left"].startswith("The run does not record why")
    alone = views.unused_table(views.funding_schemes(plan_kpis(F))).set_index("Scheme")
    assert alone.loc["whlg"].tolist() == ["–", "–", "–", "£20k", "–", "–"]


# --- several runs ---------------------------------------------------------------------------------

def test_funding_mix_side_by_side(kpis, schemes):
    before = {"homes": 1, "spend_gbp": 40000.0}  # a run stored before funding
    mix = views.funding_mix({"#2 funded": kpis, "#1 council": before}, {"#2 funded": schemes, "#1 council": []})
    assert list(mix.index) == ["Council", "Warm Homes: Local Grant", NEXT, views.CO_FUNDING, "Total investment",
                               "Investment per £1 of council money"]
    assert mix["#2 funded"].tolist() == ["£31k", "£20k", "£5,000", "£10k", "£66k", "£2.13"]
    assert mix["#1 council"].tolist() == ["£40k", "–", "–", "£0", "£40k", "£1.00"]


def test_funding_mix_keeps_assumed_schemes_after_awarded_ones_across_runs(schemes):
    other = [{"id": "bus", "name": "Boiler Upgrade Scheme", "status": "awarded", "used_gbp": 7500.0}]
    mix = views.funding_mix({"a": {"spend_gbp": 1.0}, "b": {"spend_gbp": 1.0}}, {"a": schemes[::-1], "b": other})
    assert list(mix.index[1:4]) == ["Warm Homes: Local Grant", "Boiler Upgrade Scheme", NEXT]


# --- one home ---------------------------------------------------------------------------------------

def test_a_homes_split_in_words(schemes):
    text, table = views.home_split(F.iloc[1], schemes)
    assert text == ("Paid for by Warm Homes: Local Grant £10,000 and the landlord (co-funding) £10,000 "
                    "(cost £20,000).")
    assert table.values.tolist() == [["Warm Homes: Local Grant", "£10,000", "50%"],
                                     ["Co-funding (the landlord)", "£10,000", "50%"]]
    text, _ = views.home_split(F.iloc[3], schemes)
    assert text == f"Paid for by the council £1,000 and {NEXT} £5,000 (cost £6,000)."


def test_a_homes_split_keeps_pence_and_reads_old_rows():
    row = pd.Series({"cost_gbp": 1703.0, "council_gbp": 0.0, "grant_x_gbp": 851.5, "grant_gbp": 851.5,
                     "co_funding_gbp": 851.5, "tenure": "private_rented"})
    text, _ = views.home_split(row, [{"id": "x", "name": "X", "status": "awarded"}])
    assert text == "Paid for by X £851.50 and the landlord (co-funding) £851.50 (cost £1,703)."
    text, table = views.home_split(pd.Series({"cost_gbp": 2126.0, "tenure": "owner_occupied"}), [])
    assert text == "Paid for by the council £2,126 (cost £2,126)." and len(table) == 1


def candidates(tenure="owner_occupied", band="E", probability=0.6, decile=5, **extra) -> pd.DataFrame:
    """One home's two packages: insulation (£8,000 of fabric) and a heat pump (£12,000 of heating)."""
    rows = pd.DataFrame({
        "home_id": ["h9", "h9"], "package_id": ["fabric_light", "heat_pump"], "cost_gbp": [8000.0, 12000.0],
        "cost_fabric_gbp": [8000.0, 0.0], "cost_heating_gbp": [0.0, 12000.0], "cost_pv_gbp": [0.0, 0.0],
        "cost_other_gbp": [0.0, 0.0], "heat_pump_kw": [0.0, 5.0], "main_fuel": ["mains_gas", "mains_gas"],
        "band_before": [band, band], "band_after": ["C", "C"], "tenure": [tenure, tenure],
        "fuel_poverty_probability": [probability, probability], "imd_decile": [decile, decile],
        "annual_bill_saving_gbp": [300.0, -50.0], "city": ["Coventry", "Coventry"]})
    return rows.assign(**extra)


def test_eligibility_of_the_planned_package_and_year():
    table = views.home_eligibility(candidates(), SCENARIO, "heat_pump", 2026).set_index("Scheme")
    assert table.loc["Warm Homes: Local Grant", "Can it pay?"] == "Yes"
    assert table.loc["Warm Homes: Local Grant", "Why"].startswith("It may pay up to £12,000 of heat_pump.")
    assert "on average over the homes it funds" in table.loc["Warm Homes: Local Grant", "Why"]
    assert table.loc["Boiler Upgrade Scheme", "Can it pay?"] == "Yes"
    assert table.loc["Boiler Upgrade Scheme", "Why"] == ("It may pay up to £7,500 of heat_pump. Its caps (£7,500 for "
                                                         "heating) hold for each home.")
    next_round = table.loc["Warm Homes: Local Grant, next round"]
    assert (next_round["Money"], next_round["Pays for work in"], next_round["Can it pay?"]) == (
        "Assumed (not yet awarded)", "2028", "Not in 2026")
    assert next_round["Why"] == ("heat_pump is eligible, but Warm Homes: Local Grant, next round pays only for "
                                 "work in 2028; this home is planned for 2026.")


def test_eligibility_says_what_the_landlord_pays():
    table = views.home_eligibility(candidates(tenure="private_rented"), SCENARIO, "fabric_light", 2027)
    why = table.set_index("Scheme").loc["Warm Homes: Local Grant", "Why"]
    assert why.startswith("It may pay up to £4,000 of fabric_light; the landlord pays £4,000 of it.")
    bus = table.set_index("Scheme").loc["Boiler Upgrade Scheme"]
    assert (bus["Can it pay?"], bus["Why"]) == ("No", "Boiler Upgrade Scheme funds heat pumps only.")


def test_eligibility_of_a_home_not_in_the_plan_counts_its_packages():
    table = views.home_eligibility(candidates(), SCENARIO).set_index("Scheme")
    assert table.loc["Warm Homes: Local Grant", "Can it pay?"] == "Yes, for 2 of its 2 packages"
    assert table.loc["Warm Homes: Local Grant", "Why"].startswith("Up to £12,000 (for heat_pump).")
    assert table.loc["Boiler Upgrade Scheme", "Can it pay?"] == "Yes, for 1 of its 2 packages"


def test_why_a_home_is_not_eligible_in_words():
    table = views.home_eligibility(candidates(tenure="social_rented", band="C", probability=0.1), SCENARIO)
    rows = table.set_index("Scheme")
    assert rows.loc["Warm Homes: Local Grant", "Can it pay?"] == "No"
    assert rows.loc["Warm Homes: Local Grant", "Why"] == ("Warm Homes: Local Grant funds only owner-occupied and "
                                                          "private rented homes.")
    low = views.home_eligibility(candidates(band="D", probability=0.1, decile=5), SCENARIO).set_index("Scheme")
    assert "low-income households only" in low.loc["Warm Homes: Local Grant", "Why"]
    assert "fuel-poverty probability at least 0.5 or IMD decile at most 2" in low.loc["Warm Homes: Local Grant", "Why"]


def test_eligibility_when_a_rule_cannot_be_read_or_nothing_applies():
    table = views.home_eligibility(candidates().drop(columns=["main_fuel"]), SCENARIO).set_index("Scheme")
    assert table.loc["Boiler Upgrade Scheme", "Can it pay?"] == "Cannot tell"
    assert "main_fuel" in table.loc["Boiler Upgrade Scheme", "Why"]
    assert table.loc["Warm Homes: Local Grant", "Can it pay?"].startswith("Yes")
    none = views.home_eligibility(candidates().iloc[:0], SCENARIO)
    assert none["Can it pay?"].tolist() == ["No", "No", "No"]
    assert list(none.columns) == ["Scheme", "Money", "Pays for work in", "Can it pay?", "Why"]


def test_funding_column_labels_are_plain(schemes):
    labels = views.funding_column_labels(schemes)
    assert labels["grant_whlg_gbp"] == "Warm Homes: Local Grant (£)"
    assert labels["grant_next_gbp"] == f"{NEXT} (£)"
    assert labels["council_gbp"] == "Council (£)" and labels["co_funding_gbp"] == "Co-funding (£)"


def test_funding_line_of_some_homes(schemes):
    line = views.funding_line(plan_kpis(F.iloc[:2]), schemes)
    assert line == ("Paid by: council £0, Warm Homes: Local Grant £20k, co-funding £10k; "
                    "no council money.")
    assert views.funding_line(plan_kpis(F), schemes) == (
        f"Paid by: council £31k, Warm Homes: Local Grant £20k, {NEXT} £5,000, co-funding £10k; "
        "£2.13 per £1 of council money.")
