"""A run under [delivery] as a programme manager makes one: expected figures, contingency, reserves."""

from __future__ import annotations

import json

import pandas as pd

from retrofit.testing.synthetic import synthetic_candidates
from tests.store.test_cli import SCENARIO, retrofit

DELIVERY = SCENARIO.replace('name = "pilot"', 'name = "pilot uptake"') + """
[delivery]
uptake = { owner_occupied = 0.4 }
uptake_file = "overrides.csv"
confidence = 0.9
cost_confidence = 0.8
reserve_ratio = 1.0
"""


def test_a_run_expects_uptake_and_lists_reserves(database_url, tmp_path):
    candidates = synthetic_candidates(300, seed=4)
    candidates.to_csv(tmp_path / "candidates.csv", index=False)
    lsoa = str(candidates["lsoa_code"].iloc[0])
    (tmp_path / "overrides.csv").write_text(f"lsoa_code,uptake\n{lsoa},0.9\n")
    (tmp_path / "pilot.toml").write_text(DELIVERY)
    retrofit("scenario", "add", str(tmp_path / "pilot.toml"), database=database_url)
    (tmp_path / "overrides.csv").unlink()  # the stored scenario holds the figures, not the path
    shown = retrofit("scenario", "show", "pilot uptake", database=database_url).stdout
    assert lsoa in shown and "uptake_file" not in shown

    run = json.loads(retrofit("run", "pilot uptake", "--candidates", str(tmp_path / "candidates.csv"), "--json",
                              database=database_url).stdout)
    delivery = run["delivery"]
    assert delivery["confidence"] == 0.9 and delivery["passes"] >= 2
    assert run["kpis"]["homes_approached"] == run["plan_rows"] > run["kpis"]["homes"]
    held = {c["name"]: c for c in delivery["contingency"]}
    assert held["total budget"]["uptake"] > 0 and held["total budget"]["cost"] > 0
    assert delivery["programme_cost"]["p90_gbp"] > delivery["programme_cost"]["p50_gbp"]
    text = retrofit("runs", "show", str(run["id"]), database=database_url).stdout
    assert "homes approached" in text and "contingency held back" in text and "P10-P90" in text

    out = tmp_path / "reserves.csv"
    said = retrofit("runs", "reserves", str(run["id"]), "--out", str(out), database=database_url)
    assert "reserves for" in said.stdout and "reserves:" in said.stderr  # progress
    table = pd.read_csv(out, dtype={"planned_home_id": str, "reserve_home_id": str})
    retrofit("runs", "export", str(run["id"]), "--format", "csv", "--out", str(tmp_path / "plan.csv"),
             database=database_url)
    plan = pd.read_csv(tmp_path / "plan.csv", comment="#", dtype={"home_id": str})
    assert len(table) > 0 and not set(table["reserve_home_id"]) & set(plan["home_id"])
    assert set(table["planned_home_id"]) <= set(plan["home_id"])
    one = plan["lsoa_code"].iloc[0]
    only = retrofit("runs", "reserves", str(run["id"]), "--lsoa", one, "--out", str(tmp_path / "one.xlsx"), "--json",
                    database=database_url)
    assert json.loads(only.stdout)["lsoa"] == one
    assert set(pd.read_excel(tmp_path / "one.xlsx")["lsoa_code"]) <= {one}
    missing = retrofit("runs", "reserves", str(run["id"]), "--lsoa", "E0NOWHERE", "--out", str(tmp_path / "x.csv"),
                       database=database_url, check=False)
    assert missing.returncode == 2 and "plans no home in LSOA E0NOWHERE" in missing.stderr
    assert not (tmp_path / "x.csv").exists()
