"""`retrofit actuals ...` as a delivery manager runs it: a real run, then status files against it."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from retrofit.testing.synthetic import synthetic_candidates
from tests.store.test_cli import SCENARIO, retrofit


def test_a_status_file_is_checked_stored_and_shown(database_url, tmp_path):
    scenario = tmp_path / "pilot.toml"
    scenario.write_text(SCENARIO)
    retrofit("scenario", "add", str(scenario), database=database_url)
    candidates = synthetic_candidates(200, seed=2)
    candidates.to_csv(tmp_path / "candidates.csv", index=False)
    run = json.loads(retrofit("run", "pilot", "--candidates", str(tmp_path / "candidates.csv"), "--json",
                              database=database_url).stdout)
    retrofit("runs", "export", str(run["id"]), "--format", "csv", "--out", str(tmp_path / "plan.csv"),
             database=database_url)
    plan = pd.read_csv(tmp_path / "plan.csv", comment="#", dtype={"home_id": str})
    planned = plan["home_id"].tolist()
    reserve = sorted(set(candidates["home_id"]) - set(planned))[0]
    other_package = candidates.loc[(candidates["home_id"] == planned[0])
                                   & (candidates["package_id"] != plan["package_id"].iloc[0]), "package_id"]
    rows = pd.DataFrame({
        "home_id": [planned[0], planned[1], planned[2], reserve],
        "status": ["completed", "declined", "contracted", "in_progress"],
        "date": ["2026-06-01", "2026-07-15", "02/09/2026", "2026-10-01"],
        "actual_cost_gbp": [12_345.5, None, 4_000, None],
        "package_id": [other_package.iloc[0] if len(other_package) else None, None, None, None],
    })
    status = tmp_path / "q1.xlsx"
    rows.to_excel(status, index=False)
    first = retrofit("actuals", "import", str(run["id"]), str(status), "--json", database=database_url)
    assert "actuals:" in first.stderr  # progress
    stored = json.loads(first.stdout)
    assert (stored["version"], stored["rows"], stored["created"]) == (1, 4, True)
    assert stored["counts"] == {"contracted": 1, "in_progress": 1, "completed": 1, "declined": 1}
    summary = stored["summary"]
    assert summary["by_status"]["in_progress"] == {"homes": 1, "in_plan": 0, "not_in_plan": 1}
    assert summary["planned_homes_without_news"] == len(planned) - 3
    assert summary["committed_actual_cost_gbp"] == 16_345.5

    again = retrofit("actuals", "import", str(run["id"]), str(status), database=database_url).stdout
    assert again.startswith(f"unchanged: same content as actuals version 1 of run {run['id']}; nothing stored")

    bad = rows.assign(status=["completed", "finished", "contracted", "in_progress"],
                      date=["2026-06-01", "2026-07-15", "2025-01-01", "2026-10-01"])
    bad.loc[len(bad)] = ["NOT-A-HOME", "completed", "2026-06-01", None, None]
    bad.to_csv(tmp_path / "q2.csv", index=False)
    refused = retrofit("actuals", "import", str(run["id"]), str(tmp_path / "q2.csv"), database=database_url,
                       check=False)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "q2.csv is not a valid delivery status file (3 problems; nothing was stored)" in refused.stderr
    assert "line 6: home_id is not a home of this run" in refused.stderr
    assert "line 3: status is not a status (found 'finished')" in refused.stderr
    assert "line 4: date is before the programme starts (1 April 2026)" in refused.stderr

    listed = json.loads(retrofit("actuals", "list", str(run["id"]), "--json", database=database_url).stdout)
    assert [v["version"] for v in listed["versions"]] == [1]
    shown = retrofit("actuals", "show", str(run["id"]), "--out", str(tmp_path / "back.csv"),
                     database=database_url).stdout
    assert f"actuals version 1 of run {run['id']}: 4 homes" in shown and "not in the plan" in shown
    back = pd.read_csv(tmp_path / "back.csv", dtype={"home_id": str})
    assert sorted(back["home_id"]) == sorted(rows["home_id"])
    assert back.set_index("home_id").loc[planned[2], "date"] == "2026-09-02"  # day first


def test_a_re_plan_holds_what_happened_and_says_where_it_came_from(tmp_path):
    database = f"sqlite:///{tmp_path / 'retrofit.db'}"
    scenario = tmp_path / "pilot.toml"
    scenario.write_text(SCENARIO)  # 2026-2027, £300k
    retrofit("scenario", "add", str(scenario), database=database)
    synthetic_candidates(200, seed=2).to_csv(tmp_path / "candidates.csv", index=False)
    parent = json.loads(retrofit("run", "pilot", "--candidates", str(tmp_path / "candidates.csv"), "--json",
                                 database=database).stdout)
    retrofit("runs", "export", str(parent["id"]), "--format", "csv", "--out", str(tmp_path / "plan.csv"),
             database=database)
    plan = pd.read_csv(tmp_path / "plan.csv", comment="#", dtype={"home_id": str})
    done, declined = plan.iloc[0], plan.iloc[1]
    pd.DataFrame({"home_id": [done.home_id, declined.home_id], "status": ["completed", "declined"],
                  "date": ["2026-06-01", "2026-06-01"], "actual_cost_gbp": [done.cost_gbp + 1000, None]}
                 ).to_csv(tmp_path / "q1.csv", index=False)
    retrofit("actuals", "import", str(parent["id"]), str(tmp_path / "q1.csv"), database=database)

    again = retrofit("run", "pilot", "--from", str(parent["id"]), "--as-of", "2027-04-15", "--json",
                     database=database)
    child = json.loads(again.stdout)
    assert child["replan"]["from_run"] == parent["id"] and child["replan"]["actuals_version"] == 1
    assert child["replan"]["closed_years"] == [2026] and child["replan"]["held_homes"] == 1
    retrofit("runs", "export", str(child["id"]), "--format", "csv", "--out", str(tmp_path / "child.csv"),
             database=database)
    new = pd.read_csv(tmp_path / "child.csv", comment="#", dtype={"home_id": str}).set_index("home_id")
    assert new.loc[done.home_id, ["package_id", "year"]].tolist() == [done.package_id, 2026]
    assert new.loc[done.home_id, "cost_gbp"] == done.cost_gbp + 1000
    assert declined.home_id not in new.index
    assert (new.drop(index=[done.home_id])["year"] == 2027).all()
    assert new["cost_gbp"].sum() <= 300_000 + 1e-6
    shown = retrofit("runs", "show", str(child["id"]), database=database).stdout
    assert f"re-planned from run {parent['id']} (actuals version 1) as of 2027-04-15: homes held 1 (" in shown

    # the re-plan against its parent: what was delivered, by hand from the two plans and the status file
    compared = json.loads(retrofit("runs", "compare", str(parent["id"]), str(child["id"]), "--json",
                                   database=database).stdout)["replan"]
    assert compared["delivered_homes"] == 1 and compared["delivered_spend_gbp"] == done.cost_gbp + 1000
    assert compared["declined_or_withdrawn"] == 1
    spent_2026 = plan.loc[plan["year"] == 2026, "cost_gbp"].sum()
    row = next(r for r in compared["by_city_year"] if r["year"] == 2026 and r["city"] == done.city)
    assert row["homes_delivered"] == 1 and row["spend_gbp_delivered"] == done.cost_gbp + 1000
    assert sum(r["spend_gbp_planned"] for r in compared["by_city_year"] if r["year"] == 2026) == \
        pytest.approx(spent_2026)
    added = set(new.index) - set(plan["home_id"])
    assert compared["homes_added"] == len(added)
    assert compared["open_years_spend_gbp"]["replan"] == pytest.approx(new.loc[new["year"] == 2027, "cost_gbp"].sum())
    text = retrofit("runs", "compare", str(parent["id"]), str(child["id"]), database=database).stdout
    assert f"re-planned run {parent['id']} from its actuals" in text and "planned (run" in text
