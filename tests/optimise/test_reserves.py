"""Reserve lists: the next-best eligible homes nearby, never a planned or ineligible one."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrofit.optimise.model import eligible_mask
from retrofit.optimise.reserves import reserve_list
from tests.optimise.helpers import candidates, scenario

RAW = {"carbon": 1.0, "fuel_poverty": 1.0, "jobs": 1.0}  # normalisers: raw units (the helper's scenario)


def _home(home, cost, co2, lsoa, ward, **extra):
    return (home, "p", cost, co2, {"lsoa_code": lsoa, "ward": ward, **extra})


def test_hand_case_lsoa_first_then_ward():
    table = candidates([
        _home("A", 100, 50, "L1", "W1"), _home("B", 100, 40, "L1", "W1"),
        _home("C", 100, 30, "L1", "W1"), _home("D", 100, 20, "L1", "W1"), _home("E", 100, 10, "L1", "W1"),
        _home("F", 100, 60, "L2", "W1"), _home("G", 100, 90, "L3", "W2"),
    ])
    plan = table[table["home_id"].isin(["A", "B", "F"])].assign(year=[2026, 2027, 2026])
    out = reserve_list(table, scenario(1000), plan, RAW, ratio=1.0)
    got = {(r.planned_home_id, r.reserve_rank): (r.reserve_home_id, r.same_area) for r in out.itertuples()}
    # L1: C (0.3 per £) to A (planned first by year), D to B; L2 has no homes left: E, the ward's best left
    assert got == {("A", 1): ("C", "lsoa"), ("B", 1): ("D", "lsoa"), ("F", 1): ("E", "ward")}
    assert out.set_index("planned_home_id").loc["B", "year"] == 2027
    two = reserve_list(table, scenario(1000), plan, RAW, ratio=2.0)
    assert len(two) == 3  # L1 wants 4 but has C, D, E (E now taken in L1), L2's ward has nothing left; G is W2
    assert set(two["reserve_home_id"]) == {"C", "D", "E"}


@st.composite
def cases(draw):
    n = draw(st.integers(2, 25))
    rows = []
    for i in range(n):
        lsoa = draw(st.integers(0, 3))
        extra = {"lsoa_code": f"L{lsoa}", "ward": f"W{lsoa // 2}",
                 "tenure": draw(st.sampled_from(["owner_occupied", "private_rented", "social_rented"]))}
        for k in range(draw(st.integers(1, 2))):
            rows.append((f"H{i:02d}", f"p{k}", draw(st.integers(10, 500)), draw(st.integers(0, 50)), extra))
    table = candidates(rows)
    homes = sorted(table["home_id"].unique())
    planned = draw(st.lists(st.sampled_from(homes), unique=True, max_size=len(homes)))
    excluded = draw(st.lists(st.sampled_from(homes), unique=True, max_size=3))
    tenures = draw(st.sampled_from([None, ["owner_occupied", "social_rented"]]))
    ratio = draw(st.sampled_from([0.5, 1.0, 2.0]))
    return table, planned, excluded, tenures, ratio


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_reserves_are_never_planned_or_ineligible_and_stay_nearby(case):
    table, planned_ids, excluded, tenures, ratio = case
    rules = {"exclude": [h for h in excluded if h not in planned_ids]}
    if tenures:
        rules["eligible_tenures"] = tenures
    scen = scenario(10_000, rules=rules)
    plan = table[table["home_id"].isin(planned_ids)].drop_duplicates("home_id").assign(year=2026)
    out = reserve_list(table, scen, plan, RAW, ratio=ratio)
    assert not set(out["reserve_home_id"]) & set(planned_ids)
    assert out["reserve_home_id"].is_unique
    keep, _ = eligible_mask(table, scen)
    eligible = set(zip(table["home_id"][keep], table["package_id"][keep]))
    assert all((h, p) in eligible for h, p in zip(out["reserve_home_id"], out["reserve_package_id"]))
    assert (out["reserve_lifetime_co2_t_saved"] > 0).all()  # value above 0 (carbon is the only weight)
    where = table.drop_duplicates("home_id").set_index("home_id")
    lsoa, ward = where["lsoa_code"].astype(str), where["ward"].astype(str)
    same_lsoa = out["same_area"] == "lsoa"
    assert (lsoa.loc[out["reserve_home_id"]].to_numpy()[same_lsoa] ==
            lsoa.loc[out["planned_home_id"]].to_numpy()[same_lsoa]).all()
    assert (ward.loc[out["reserve_home_id"]].to_numpy() == ward.loc[out["planned_home_id"]].to_numpy()).all()
    per_lsoa = out.groupby("lsoa_code").size()
    planned_per = plan.groupby(plan["lsoa_code"].astype(str)).size()
    assert (per_lsoa <= np.ceil(ratio * planned_per.reindex(per_lsoa.index)) + 1e-9).all()
