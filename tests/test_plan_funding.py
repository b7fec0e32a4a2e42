"""How each plan row is paid for: `check_plan`'s funding rules and the funding KPIs, on four homes
whose grants, co-funding and council money are worked out by hand from the schemes' rules.

Every home costs as `tests.test_funding.row` makes it unless said: £28,000 (fabric £10,000,
heating £12,000, PV £5,000, other £1,000), owner-occupied, band E, with a heat pump.

- h1 (low income) takes Warm Homes: Local Grant (whlg) alone: it may pay the whole £28,000; its
  averaged caps allow £15,000 (fabric+pv+other, £16,000) + £12,000 (heating) = £27,000. Paid
  £28,000 in 2026: above its own allowance, fine on average.
- h2 (low income, private rented) is funded by BUS and WH:LG together: BUS pays the heat pump,
  at most £7,500; WH:LG the rest, the landlord co-funding half (£14,000), so WH:LG pays at most
  £28,000 - £14,000 - £7,500 = £6,500 (its cap allowance: £14,000). 2027, no council money.
- h3 (not low income) takes a fabric package (£14,000, no heat pump) on council money, 2028.
- h4 (not low income) takes a heat pump (£12,000, all heating): BUS pays £7,500, 2026.

So WH:LG pays £34,500 (allowances £41,000), BUS £15,000, owners £14,000 and the council
£0 + £0 + £14,000 + £4,500 = £18,500 of the £82,000.
"""

import pandas as pd
import pytest

from retrofit.plan import breakdown, check_plan, check_plan_alone, plan_kpis
from retrofit.scenario import parse_scenario

from tests.test_funding import row

HOMES = pd.DataFrame([
    row(home_id="h1"),
    row(home_id="h2", tenure="private_rented"),
    row(home_id="h3", package_id="fabric_deep", cost_gbp=14_000.0, cost_heating_gbp=3_000.0, cost_pv_gbp=0.0,
        heat_pump_kw=0.0, fuel_poverty_probability=0.2),
    row(home_id="h3", fuel_poverty_probability=0.2),  # h3's whole-house package, not chosen
    row(home_id="h4", package_id="heat_pump", cost_gbp=12_000.0, cost_fabric_gbp=0.0, cost_pv_gbp=0.0,
        cost_other_gbp=0.0, fuel_poverty_probability=0.1),
]).assign(city="Birmingham", lsoa_code="E01000001")

# (home, package, year, grants, co-funding)
PICKS = [
    ("h1", "whole_house", 2026, {"whlg": 28_000.0}, 0.0),
    ("h2", "whole_house", 2027, {"bus": 7_500.0, "whlg": 6_500.0}, 14_000.0),
    ("h3", "fabric_deep", 2028, {}, 0.0),
    ("h4", "heat_pump", 2026, {"bus": 7_500.0}, 0.0),
]


WHLG = {"use": '"warm_homes_local_grant"', "total_gbp": "60_000", "per_year_gbp": "[40_000, 40_000, 40_000]",
        "stacks_with": '["bus"]'}
BUS = {"use": '"boiler_upgrade_scheme"', "status": '"assumed"', "total_gbp": "20_000"}


def scenario(budget: str = "total_gbp = 20_000", whlg: dict | None = None, bus: dict | None = None,
             rules: str = ""):
    """Programme 2026-2028: WH:LG and BUS may be spent in 2026 and 2027 (their windows end March 2028).
    ``whlg`` and ``bus``: keys of the funding sections changed, as TOML text."""
    def section(keys: dict, changes: dict | None) -> str:
        return "\n".join(f"{key} = {value}" for key, value in {**keys, **(changes or {})}.items())

    return parse_scenario(f"""name = "funded"
[budget]
{budget}
[years]
start = 2026
end = 2028
[rules]
{rules}
[funding.whlg]
{section(WHLG, whlg)}
[funding.bus]
{section(BUS, bus)}
""")


def plan_of(picks=PICKS, ids=("bus", "whlg")) -> pd.DataFrame:
    """The chosen candidate rows with their year and how each is paid for (council money: the rest)."""
    rows = [HOMES.index[(HOMES.home_id == h) & (HOMES.package_id == p)][0] for h, p, *_ in picks]
    plan = HOMES.loc[rows].reset_index(drop=True)
    plan.insert(2, "year", [year for _, _, year, *_ in picks])
    grants = [pick[3] for pick in picks]
    plan["grant_gbp"] = [sum(g.values()) for g in grants]
    plan["co_funding_gbp"] = [pick[4] for pick in picks]
    plan["council_gbp"] = plan["cost_gbp"] - plan["grant_gbp"] - plan["co_funding_gbp"]
    plan["funding"] = [";".join(sorted(g)) for g in grants]
    for key in ids:
        plan[f"grant_{key}_gbp"] = [g.get(key, 0.0) for g in grants]
    return plan


def changed(home: str, grants: dict | None = None, co_funding: float | None = None, year: int | None = None):
    """PICKS with one home's funding or year changed."""
    return [(h, p, year if h == home and year is not None else y,
             grants if h == home and grants is not None else g,
             co_funding if h == home and co_funding is not None else c) for h, p, y, g, c in PICKS]


def problems(plan: pd.DataFrame, scen=None) -> str:
    return " | ".join(check_plan(plan, HOMES, scen or scenario()))


def test_a_funded_plan_that_keeps_every_rule():
    # the council pays £18,500 against a £20,000 budget, though the homes cost £82,000
    assert check_plan(plan_of(), HOMES, scenario()) == []
    assert check_plan_alone(plan_of(), scenario()) == []


def test_parts_that_do_not_add_up_or_go_negative():
    plan = plan_of()
    plan.loc[3, "council_gbp"] = 5_000.0  # h4: 5,000 + 7,500 + 0 against 12,000
    found = problems(plan)
    assert "1 rows' council_gbp, grant_gbp and co_funding_gbp do not add up to cost_gbp, e.g. home h4: " \
        "£5,000.00 + £7,500.00 + £0.00 against £12,000.00" in found
    plan = plan_of(changed("h4", {"bus": 7_500.0}, co_funding=6_000.0))  # council -1,500
    assert "1 rows have a negative council_gbp, grant_gbp or co_funding_gbp, e.g. home h4" in problems(plan)


def test_grant_columns_must_match_the_funding_named():
    plan = plan_of()
    plan.loc[2, "grant_whlg_gbp"] = 100.0  # h3 names no scheme
    found = problems(plan)
    assert "1 rows have grant_whlg_gbp without naming whlg in funding, e.g. home h3" in found
    assert "1 rows' grant_gbp is not the sum of their grant_<id>_gbp, e.g. home h3: £0.00 against £100.00" in found
    plan = plan_of()
    plan.loc[3, "grant_bus_gbp"] = 0.0
    assert "1 rows name Boiler Upgrade Scheme (bus) in funding but grant_bus_gbp is 0" in problems(plan)
    missing = plan_of().drop(columns=["grant_bus_gbp"])
    assert "2 rows are funded by Boiler Upgrade Scheme (bus) but the plan has no grant_bus_gbp column" \
        in problems(missing)
    partial = plan_of().drop(columns=["funding"])
    assert "but no funding: a plan paid by grants has council_gbp" in problems(partial)


def test_unknown_ids_too_many_and_unsorted():
    plan = plan_of()
    plan.loc[2, "funding"] = "eco"
    plan.loc[0, "funding"] = "whlg;bus"
    found = problems(plan)
    assert "1 rows are funded by 'eco', which is not a funding section of this scenario (bus, whlg)" in found
    assert "1 rows name their funding 'whlg;bus': each id once, sorted" in found


def test_a_pair_that_does_not_stack():
    scen = scenario(whlg={"stacks_with": "[]"})
    assert scen.stacks() == []
    assert "1 rows are funded by Boiler Upgrade Scheme (bus) and Warm Homes: Local Grant (whlg) together, which " \
        "do not stack" in problems(plan_of(), scen)


def test_a_pair_paying_for_the_same_parts():
    scen = scenario(whlg={"stacks_with": "[]"}, bus={"use": '"eco4"', "status": '"awarded"', "stacks_with": '["whlg"]'})
    plan = plan_of([("h1", "whole_house", 2026, {"bus": 1_000.0, "whlg": 1_000.0}, 0.0)])
    assert "are funded by Energy Company Obligation 4 (bus) and Warm Homes: Local Grant (whlg) together, but " \
        "they pay for the same cost parts" in problems(plan, scen)


def test_an_ineligible_funded_row():
    plan = plan_of(changed("h3", {"whlg": 5_000.0}))  # h3 is not low income: no WH:LG
    found = problems(plan)
    assert "1 rows funded by Warm Homes: Local Grant (whlg) are not eligible, e.g. home h3: Warm Homes: Local " \
        "Grant funds low-income households only" in found
    # the plan alone says the same (it carries the candidate columns)
    assert "are not eligible, e.g. home h3" in " | ".join(check_plan_alone(plan, scenario()))


def test_the_plan_alone_skips_what_it_lacks_the_columns_for():
    plan = plan_of(changed("h3", {"whlg": 5_000.0})).drop(columns=["heat_pump_kw"])
    scen = scenario(whlg={"total_gbp": "35_000"})  # WH:LG now pays £39,500 of £35,000
    found = " | ".join(check_plan_alone(plan, scen))
    assert "not eligible" not in found and "cannot check" not in found  # both schemes read heat_pump_kw
    assert "Warm Homes: Local Grant (whlg) pays £39,500, above its award funding.whlg.total_gbp £35,000" in found


def test_a_per_home_cap():
    found = problems(plan_of(changed("h4", {"bus": 8_000.0})))  # council 4,000
    assert "1 rows get more from Boiler Upgrade Scheme (bus) than its per-home caps allow, e.g. home h4: " \
        "£8,000.00 against £7,500.00" in found


def test_a_stacked_grant_above_its_share():
    # WH:LG may pay h2 only £6,500 beside BUS's £7,500 and the landlord's £14,000
    found = problems(plan_of(changed("h2", {"bus": 6_500.0, "whlg": 7_500.0})))
    assert "1 rows get more from Warm Homes: Local Grant (whlg) than it may pay for them (the payable cost less " \
        "the owner's share), e.g. home h2: £7,500.00 against £6,500.00" in found


def test_an_averaged_cap():
    # h1 alone: £28,000 against its £27,000 allowance, with no other home to average with
    found = problems(plan_of(PICKS[:1]))
    assert "Warm Homes: Local Grant (whlg) pays £28,000 for the homes it funds (1), above the £27,000 its caps " \
        "allow on average" in found
    assert problems(plan_of(changed("h1", {"whlg": 27_000.0}))[:1]) == ""


def test_co_funding():
    found = problems(plan_of(changed("h2", co_funding=10_000.0)))  # council 4,000
    assert "1 rows funded by Boiler Upgrade Scheme (bus) and Warm Homes: Local Grant (whlg) have co_funding_gbp " \
        "other than the owner's share, e.g. home h2: £10,000.00, required £14,000.00" in found
    found = problems(plan_of(changed("h3", co_funding=1_000.0)))
    assert "1 rows funded by council money only have co_funding_gbp other than the owner's share, e.g. home h3: " \
        "£1,000.00, required £0.00" in found


def test_band_c_share():
    social = pd.DataFrame([row(home_id="s1", tenure="social_rented"),
                           row(home_id="s2", tenure="social_rented", band_before="C")]).assign(city="Coventry")
    scen = parse_scenario("""name = "social"
[budget]
total_gbp = 100_000
[years]
start = 2026
end = 2026
[funding.shf]
use = "warm_homes_social_housing_fund_wave_3"
total_gbp = 100_000
""")
    # each: the landlord co-funds £14,000, the fund pays its £7,500 average cap, the council £6,500
    plan = social.assign(year=2026, grant_gbp=7_500.0, co_funding_gbp=14_000.0, council_gbp=6_500.0,
                         funding="shf", grant_shf_gbp=7_500.0)
    assert "Warm Homes: Social Housing Fund Wave 3 (shf) funds 1 band C homes of 2, above its " \
        "band_c_heat_pump_share of 10%" in " | ".join(check_plan(plan, social, scen))
    council_only = plan.assign(grant_gbp=[7_500.0, 0.0], co_funding_gbp=[14_000.0, 0.0],
                               council_gbp=[6_500.0, 28_000.0], funding=["shf", ""], grant_shf_gbp=[7_500.0, 0.0])
    assert check_plan(council_only, social, scen) == []


def test_award_total():
    found = problems(plan_of(), scenario(bus={"total_gbp": "10_000"}))
    assert "Boiler Upgrade Scheme (bus) pays £15,000, above its award funding.bus.total_gbp £10,000" in found


def test_yearly_limits_and_the_window():
    found = problems(plan_of(), scenario(whlg={"per_year_gbp": "[20_000, 40_000, 40_000]"}))
    assert "Warm Homes: Local Grant (whlg) pays £28,000 in 2026, above funding.whlg.per_year_gbp £20,000" in found
    # programme year 2028 starts April 2028, after WH:LG's window closes (March 2028)
    found = problems(plan_of(changed("h1", year=2028)))
    assert "Warm Homes: Local Grant (whlg) pays £28,000 in 2028, outside the years its award may be spent " \
        "(2026, 2027; 2025-04-01 to 2028-03-31)" in found


def test_the_council_budget_and_city_shares_count_council_money():
    found = problems(plan_of(), scenario(budget="total_gbp = 18_000\nper_year_gbp = [5_000, 5_000, 10_000]"))
    assert "spend £18,500 (council money) is above budget.total_gbp £18,000" in found
    assert "spend in 2028 £14,000 (council money) is above budget.per_year_gbp £10,000" in found
    assert "2026" not in found  # £4,500 of council money in 2026, though the homes cost £40,000 there
    scen = scenario(budget="total_gbp = 20_000\n[cities.Birmingham]\nmax_share = 0.9")  # at most £18,000
    assert "Birmingham spend £18,500 (council money) is above its max_share of £18,000" in problems(plan_of(), scen)
    # the same homes on council money alone: the whole £82,000
    bare = plan_of().drop(columns=["council_gbp", "grant_gbp", "co_funding_gbp", "funding", "grant_bus_gbp",
                                   "grant_whlg_gbp"])
    assert "spend £82,000 (council money) is above budget.total_gbp £20,000" in problems(bare)


def test_equity_counts_council_money():
    # priority homes h1 and h2 cost £56,000 of £82,000 (68%), but take none of the council's £18,500
    found = problems(plan_of(), scenario(rules="equity_min_share = 0.5"))
    assert "priority homes get 0.0 of 18,500.0 (spend, council money), below rules.equity_min_share 50%" in found
    assert problems(plan_of(), scenario(rules='equity_min_share = 0.5\nequity_basis = "homes"')) == ""


def test_funding_kpis_by_hand():
    kpis = plan_kpis(plan_of(), scenario())
    assert kpis["spend_gbp"] == 82_000 and kpis["council_gbp"] == 18_500
    assert kpis["grant_gbp"] == 28_000 + 14_000 + 7_500 and kpis["co_funding_gbp"] == 14_000
    assert kpis["grant_gbp_by_scheme"] == {"bus": 15_000, "whlg": 34_500}
    assert kpis["grant_unused_gbp_by_scheme"] == {"bus": 20_000 - 15_000, "whlg": 60_000 - 34_500}
    assert kpis["assumed_grant_gbp"] == 15_000  # BUS is taken as status = "assumed" here
    assert kpis["leverage"] == pytest.approx(82_000 / 18_500)
    # without the scenario: the plan's grant columns, nothing on awards
    alone = plan_kpis(plan_of())
    assert alone["grant_gbp_by_scheme"] == {"bus": 15_000, "whlg": 34_500}
    assert alone["grant_unused_gbp_by_scheme"] == {} and alone["assumed_grant_gbp"] == 0
    # a subset (h3 and h4): £26,000 of work for £18,500 of council money
    part = plan_kpis(plan_of()[plan_of().home_id.isin(["h3", "h4"])], scenario())
    assert part["council_gbp"] == 18_500 and part["leverage"] == pytest.approx(26_000 / 18_500)
    assert part["grant_gbp_by_scheme"] == {"bus": 7_500, "whlg": 0}
    # a plan without funding columns is council money; one with none has no leverage
    bare = plan_kpis(HOMES.assign(year=2026))
    assert bare["council_gbp"] == bare["spend_gbp"] == 110_000 and bare["leverage"] == 1.0
    assert bare["grant_gbp"] == 0 and bare["grant_gbp_by_scheme"] == {}
    assert plan_kpis(plan_of().iloc[:1])["leverage"] is None  # h1: all grant
    assert plan_kpis(plan_of().iloc[:0], scenario())["leverage"] is None


def test_breakdown_shows_each_schemes_grant():
    by_year = breakdown(plan_of(), "year", scenario()).set_index("year")
    assert by_year["grant_whlg_gbp"].tolist() == [28_000, 6_500, 0]
    assert by_year["grant_bus_gbp"].tolist() == [7_500, 7_500, 0]
    assert by_year["council_gbp"].tolist() == [4_500, 0, 14_000]
    assert "grant_unused_gbp_by_scheme" not in by_year  # an award is the programme's, not a year's
    assert "grant_whlg_gbp" in breakdown(plan_of().iloc[:0], "year", scenario())
