"""`retrofit plan` and `retrofit frontier` as a user runs them: real processes, files and JSON."""

import json
import subprocess
import sys

import pandas as pd

from retrofit.candidates import REQUIRED
from retrofit.testing.synthetic import synthetic_candidates

SCENARIO = """
name = "cli"
[budget]
total_gbp = 2000000
per_year_gbp = [1000000, 1000000]
[years]
start = 2026
end = 2027
[cities.Birmingham]
min_share = 0.4
homes_per_year = 80
[rules]
equity_min_share = 0.3
[solver]
time_limit_s = 4
relative_gap = 0.01
"""


def retrofit(*args):
    return subprocess.run([sys.executable, "-m", "retrofit", *args], capture_output=True, text=True)


def test_plan_from_candidates_csv_writes_plan_and_json(tmp_path):
    cands = tmp_path / "cands.csv"
    synthetic_candidates(1500, seed=4).to_csv(cands, index=False)
    scenario = tmp_path / "s.toml"
    scenario.write_text(SCENARIO)
    out = tmp_path / "plan.csv"
    result = retrofit("plan", "--scenario", str(scenario), "--candidates", str(cands), "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert {"status", "objective", "bound", "gap", "solve_seconds", "kpis"} <= set(payload)
    assert payload["status"] in ("OPTIMAL", "FEASIBLE") and payload["bound"] >= payload["objective"]
    # what stopped the search, and whether the same inputs give this plan again
    assert payload["stopped_by"] in ("gap", "work_limit", "time_limit") and isinstance(payload["reproducible"], bool)
    plan = pd.read_csv(out)
    assert list(plan.columns[:4]) == ["home_id", "package_id", "year", "cost_gbp"]
    assert set(REQUIRED) <= set(plan.columns)
    assert len(plan) == payload["kpis"]["homes"] and plan["home_id"].is_unique
    assert plan["cost_gbp"].sum() <= 2_000_000
    assert "plan:" in result.stderr  # progress


def test_infeasible_scenario_exits_2_with_the_rule(tmp_path):
    cands = tmp_path / "cands.parquet"
    synthetic_candidates(200, seed=4).to_parquet(cands)
    scenario = tmp_path / "s.toml"
    scenario.write_text(SCENARIO.replace("min_share = 0.4", "min_share = 0.4\n[cities.Coventry]\nmin_share = 0.7"))
    out = tmp_path / "plan.csv"
    result = retrofit("plan", "--scenario", str(scenario), "--candidates", str(cands), "--out", str(out))
    assert result.returncode == 2
    assert "minimum shares" in result.stderr and "more than the budget" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


def test_unknown_scenario_key_exits_2(tmp_path):
    cands = tmp_path / "cands.parquet"
    synthetic_candidates(50, seed=4).to_parquet(cands)
    scenario = tmp_path / "s.toml"
    scenario.write_text(SCENARIO.replace("[rules]\n", "[rules]\nequity = 1\n"))
    result = retrofit("plan", "--scenario", str(scenario), "--candidates", str(cands), "--out", str(tmp_path / "p.csv"))
    assert result.returncode == 2 and "rules.equity" in result.stderr


def test_frontier_writes_one_row_per_point(tmp_path):
    cands = tmp_path / "cands.parquet"
    synthetic_candidates(800, seed=5).to_parquet(cands)
    scenario = tmp_path / "s.toml"
    scenario.write_text(SCENARIO)
    out = tmp_path / "frontier.csv"
    result = retrofit("frontier", "--scenario", str(scenario), "--candidates", str(cands), "--points", "3",
                      "--out", str(out), "--plans-dir", str(tmp_path / "plans"), "--json")
    assert result.returncode == 0, result.stderr
    curve = pd.read_csv(out)
    assert len(curve) == 3 and len(json.loads(result.stdout)["points"]) == 3
    # more weight on fuel poverty never lifts fewer households (up to the solver's gap)
    lifted = curve["fuel_poor_lifted"].to_numpy()
    assert lifted[-1] >= lifted[0] * 0.99
    assert len(list((tmp_path / "plans").glob("point_*.csv"))) == 3


def test_plan_under_delivery_says_what_it_expects_and_reads_its_uptake_file(tmp_path):
    cands = tmp_path / "cands.csv"
    table = synthetic_candidates(600, seed=5)
    table.to_csv(cands, index=False)
    (tmp_path / "uptake.csv").write_text(f"lsoa_code,tenure,uptake\n{table['lsoa_code'].iloc[0]},,0.95\n")
    scenario = tmp_path / "s.toml"
    scenario.write_text(SCENARIO + '[delivery]\nuptake_file = "uptake.csv"\nconfidence = 0.8\nmax_ramp = 0.5\n')
    out = tmp_path / "plan.csv"
    said = retrofit("plan", "--scenario", str(scenario), "--candidates", str(cands), "--out", str(out))
    assert said.returncode == 0, said.stderr
    assert "homes approached" in said.stdout and "expected to go ahead" in said.stdout
    assert "with the contingency held back, pass 2" in said.stderr  # progress names the passes
    plan = pd.read_csv(out)
    assert plan.loc[plan["lsoa_code"] == table["lsoa_code"].iloc[0], "uptake"].eq(0.95).all()
    payload = json.loads(retrofit("plan", "--scenario", str(scenario), "--candidates", str(cands), "--out",
                                  str(out), "--json").stdout)
    assert payload["kpis"]["homes_approached"] == len(plan) and payload["delivery"]["confidence"] == 0.8
    (tmp_path / "uptake.csv").write_text("lsoa_code,uptake\nE01,2\n")
    bad = retrofit("plan", "--scenario", str(scenario), "--candidates", str(cands), "--out", str(out))
    assert bad.returncode == 2 and "line 2: uptake '2' is not a probability" in bad.stderr
    assert "Traceback" not in bad.stderr
