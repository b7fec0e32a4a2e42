"""[delivery]: uptake figures, the uptake file, and the rules at a confidence, against hand counts."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from retrofit.delivery import DELIVERY_DIR, cost_spread, default_uptake, plan_risk, uptake_of
from retrofit.errors import RetrofitError
from retrofit.plan import check_plan
from retrofit.scenario import load_scenario, parse_scenario
from tests.optimise.helpers import candidates, scenario

BASE = """
name = "delivery"
[budget]
total_gbp = 1000.0
[years]
start = 2026
end = 2026
"""


def test_shipped_figures_name_their_sources():
    for name in ("uptake.csv", "cost_ranges.csv"):
        table = pd.read_csv(DELIVERY_DIR / name)
        assert table["source"].str.len().min() > 20, name
    assert default_uptake()["owner_occupied"] == 0.35
    assert default_uptake()["social_rented"] == 0.85
    # fabric: 0.79-1.21 read as P10-P90, so sd = 0.42 / 2 / 1.2816 of the cost
    assert cost_spread()["fabric"] == pytest.approx(0.21 / 1.2815516, rel=1e-6)


def test_uptake_by_tenure_lsoa_and_the_tables_own_column():
    table = pd.DataFrame({"tenure": ["owner_occupied", "social_rented", "private_rented", "owner_occupied", "unknown"],
                          "lsoa_code": ["L1", "L1", "L2", "L3", "L3"],
                          "uptake": [np.nan, np.nan, np.nan, np.nan, 0.6]})
    delivery = parse_scenario(BASE + """
[delivery]
uptake = { private_rented = 0.3 }
uptake_by_lsoa = { L1 = { social_rented = 0.95 }, L3 = 0.5 }
""").delivery
    assert uptake_of(table, delivery).tolist() == [0.35, 0.95, 0.3, 0.5, 0.6]
    assert uptake_of(table, None).tolist() == [1.0] * 5


def test_uptake_file_is_read_into_the_scenario(tmp_path):
    (tmp_path / "overrides.csv").write_text("lsoa_code,tenure,uptake\nE01000001,,0.5\nE01000001,social_rented,0.9\n"
                                            "E01000002,owner_occupied,0.2\n")
    (tmp_path / "s.toml").write_text(BASE + '[delivery]\nuptake_file = "overrides.csv"\n')
    delivery = load_scenario(tmp_path / "s.toml").delivery
    assert delivery.uptake_file is None
    assert delivery.uptake_by_lsoa["E01000001"].social_rented == 0.9
    assert delivery.uptake_by_lsoa["E01000001"].owner_occupied == 0.5
    assert delivery.uptake_by_lsoa["E01000002"].owner_occupied == 0.2
    assert delivery.uptake_by_lsoa["E01000002"].social_rented is None


def test_uptake_file_problems_are_all_listed(tmp_path):
    (tmp_path / "bad.csv").write_text("lsoa_code,tenure,uptake\nE1,,1.5\n,owner_occupied,0.2\nE2,council,0.3\n"
                                      "E3,,x\nE3,,0.4\nE3,,0.4\n")
    (tmp_path / "s.toml").write_text(BASE + '[delivery]\nuptake_file = "bad.csv"\n')
    with pytest.raises(RetrofitError) as error:
        load_scenario(tmp_path / "s.toml")
    text = str(error.value)
    for said in ("line 2: uptake '1.5'", "line 3: lsoa_code is empty", "line 4: tenure 'council'",
                 "line 5: uptake 'x'", "line 7: E3 (every tenure) is given twice", "nothing was read"):
        assert said in text, said


def test_scenario_text_names_no_file_and_delivery_waits_for_funding():
    with pytest.raises(RetrofitError, match="uptake_file .* is read when the scenario file is saved or run"):
        parse_scenario(BASE + '[delivery]\nuptake_file = "x.csv"\n')
    with pytest.raises(RetrofitError, match="not built yet"):
        parse_scenario(BASE + '[delivery]\n[funding.bus]\nuse = "boiler_upgrade_scheme"\ntotal_gbp = 10.0\n')
    with pytest.raises(RetrofitError, match="confidence"):
        parse_scenario(BASE + "[delivery]\nconfidence = 0.3\n")


# Two homes in one year, hand-counted. Costs 100 (p 0.5) and 200 (p 0.85), no cost parts:
# E = 50 + 170 = 220; sd_uptake = sqrt(0.25 * 100^2 + 0.1275 * 200^2) = sqrt(2500 + 5100) = 87.18
TWO = candidates([("A", "p", 100, 10, {"tenure": "owner_occupied", "lsoa_code": "L1"}),
                  ("B", "p", 200, 20, {"tenure": "social_rented"})])
TWO_PLAN = TWO.assign(year=2026)


def _two(total: float, confidence: float):
    return scenario(total, delivery={"confidence": confidence, "uptake": {"owner_occupied": 0.5}})


def test_budget_at_confidence_is_the_hand_count():
    z = NormalDist().inv_cdf(0.9)
    needed = 220 + z * np.sqrt(2500 + 5100)  # 331.7
    assert check_plan(TWO_PLAN, TWO, _two(needed + 0.5, 0.9)) == []
    problems = check_plan(TWO_PLAN, TWO, _two(needed - 0.5, 0.9))
    assert problems and "expected £220 + contingency £112" in problems[0]
    # in expectation only, 220 is all it needs
    assert check_plan(TWO_PLAN, TWO, _two(220.5, 0.5)) == []
    assert check_plan(TWO_PLAN, TWO, _two(219.5, 0.5)) != []


def test_min_share_at_confidence_subtracts_the_contingency():
    table = candidates([("A", "p", 100, 10, {"tenure": "owner_occupied"}),
                        ("B", "p", 100, 10, {"tenure": "owner_occupied", "city": "Coventry"})])
    plan = table.assign(year=2026)
    z = NormalDist().inv_cdf(0.8)
    coventry = 50 - z * np.sqrt(0.25 * 100 ** 2)  # 50 - 0.8416 x 50 = 7.9
    base = {"confidence": 0.8, "uptake": {"owner_occupied": 0.5}}
    ok = scenario(1000, delivery=base, cities={"Coventry": {"min_share": (coventry - 0.5) / 1000}})
    short = scenario(1000, delivery=base, cities={"Coventry": {"min_share": (coventry + 0.5) / 1000}})
    assert check_plan(plan, table, ok) == []
    assert "below its min_share" in check_plan(plan, table, short)[0]


def test_homes_per_year_counts_expected_homes():
    plan_two = scenario(1000, delivery={"confidence": 0.5, "uptake": {"owner_occupied": 0.5}},
                        cities={"Birmingham": {"homes_per_year": 1}})
    # expected homes: 0.5 + 0.85 = 1.35 > 1
    assert "1.4 (expected 1.4 + contingency 0.0) homes in 2026" in check_plan(TWO_PLAN, TWO, plan_two)[0]


def test_plan_risk_by_city_and_year():
    risk = plan_risk(TWO_PLAN, _two(1000, 0.9))
    row = risk.iloc[0]
    assert row["homes_approached"] == 2 and row["expected_homes"] == pytest.approx(1.35)
    assert row["expected_spend_gbp"] == pytest.approx(220)
    # spend sd: uptake 87.18 and cost (widest spread s of the cost: p (c s)^2 summed)
    s = max(cost_spread().values())
    sd = np.hypot(np.sqrt(7600), np.sqrt(0.5 * (100 * s) ** 2 + 0.85 * (200 * s) ** 2))
    assert row["spend_p90_gbp"] == pytest.approx(220 + 1.2815516 * sd, rel=1e-6)
