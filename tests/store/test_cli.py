"""`retrofit scenario`, `retrofit run` and `retrofit runs` as a user runs them (real processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from retrofit.testing.synthetic import synthetic_candidates
from retrofit.stock.synthetic import generate_stock
from retrofit.testing.throwaway import free_port
from tests.invoke import assert_one_line_error, invoke

SCENARIO = """name = "pilot"
description = "a small test"
[budget]
total_gbp = 300000
[years]
start = 2026
end = 2027
[solver]
time_limit_s = 20
"""


def retrofit(*args, database: str | None = None, check: bool = True, env: dict | None = None):
    environment = {**os.environ, **(env or {})}
    environment.pop("RETROFIT_DATABASE_URL", None)
    if database:
        environment["RETROFIT_DATABASE_URL"] = database
    result = subprocess.run([sys.executable, "-m", "retrofit", *args], capture_output=True, text=True, env=environment)
    if check and result.returncode != 0:
        raise AssertionError(result.stderr)
    return result


def one_line_error(result, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_scenarios_runs_compare_and_export(database_url, tmp_path):
    path = tmp_path / "pilot.toml"
    path.write_text(SCENARIO)
    added = json.loads(retrofit("scenario", "add", str(path), "--json", database=database_url).stdout)
    assert (added["name"], added["version"], added["created"]) == ("pilot", 1, True)
    again = retrofit("scenario", "add", str(path), database=database_url).stdout
    assert "unchanged: same content as version 1; nothing stored" in again
    path.write_text(SCENARIO.replace("300000", "500000"))
    assert "version 2" in retrofit("scenario", "add", str(path), database=database_url).stdout

    candidates = tmp_path / "candidates.csv"
    synthetic_candidates(200, seed=2).to_csv(candidates, index=False)
    first = retrofit("run", "pilot", "--version", "1", "--candidates", str(candidates), "--json", database=database_url)
    assert "run:" in first.stderr and "100.0%" in first.stderr  # progress on stderr
    a = json.loads(first.stdout)
    b = json.loads(retrofit("run", "pilot", "--candidates", str(candidates), "--json", database=database_url).stdout)
    assert (a["scenario_version"], b["scenario_version"]) == (1, 2)
    assert a["kpis"]["spend_gbp"] <= 300_000 < b["kpis"]["spend_gbp"] <= 500_000

    runs = json.loads(retrofit("runs", "list", "--json", database=database_url).stdout)["runs"]
    assert [r["id"] for r in runs] == [a["id"], b["id"]]
    compared = json.loads(retrofit("runs", "compare", str(a["id"]), str(b["id"]), "--json", database=database_url).stdout)
    assert compared["homes"]["both"] + compared["homes"]["only_b"] == b["plan_rows"]
    assert compared["kpis"]["spend_gbp"]["delta"] == pytest.approx(b["kpis"]["spend_gbp"] - a["kpis"]["spend_gbp"])
    out = tmp_path / "b.csv"
    retrofit("runs", "export", str(b["id"]), "--format", "csv", "--out", str(out), database=database_url)
    assert len(pd.read_csv(out, comment="#")) == b["plan_rows"]


def test_run_appraises_a_stock_and_shows_it(tmp_path):
    database = f"sqlite:///{tmp_path / 'retrofit.db'}"
    stock = tmp_path / "stock.parquet"
    generate_stock(seed=3, homes=150).to_parquet(stock)
    scenario = tmp_path / "pilot.toml"
    scenario.write_text(SCENARIO)
    retrofit("scenario", "add", str(scenario), database=database)
    stored = json.loads(retrofit("run", "pilot", "--stock", str(stock), "--json", database=database).stdout)
    assert stored["stock_hash"] and stored["library_version"] and stored["plan_rows"] > 0
    text = retrofit("runs", "show", str(stored["id"]), database=database).stdout
    assert f"plan: {stored['plan_rows']:,} homes, hash {stored['plan_hash']}" in text
    assert f"stock {stored['stock_hash']} ({stock})" in text and "Birmingham" in text
    listed = retrofit("scenario", "list", "--database", database).stdout.splitlines()
    assert listed[0].split()[:4] == ["name", "latest", "versions", "description"] and "a small test" in listed[1]
    shown = retrofit("scenario", "show", "pilot", database=database).stdout
    assert shown.startswith("# scenario 'pilot' version 1 of 1") and shown.endswith(SCENARIO)
    # Without --stock or --candidates: the default stock, which this fresh var/ folder lacks.
    missing = retrofit("run", "pilot", database=database, check=False, env={"RETROFIT_VAR_DIR": str(tmp_path / "var")})
    one_line_error(missing, "stock file", "default.parquet does not exist", "retrofit stock generate")


def test_user_errors_are_one_line(tmp_path):
    database = f"sqlite:///{tmp_path / 'retrofit.db'}"
    scenario = tmp_path / "pilot.toml"
    scenario.write_text(SCENARIO)
    retrofit("scenario", "add", str(scenario), database=database)
    one_line_error(retrofit("run", "plot", "--candidates", "x.csv", database=database, check=False),
                   "no scenario named 'plot'; known scenarios: 'pilot'")
    one_line_error(retrofit("runs", "show", "12", database=database, check=False), "no run with id 12")
    one_line_error(retrofit("run", "pilot", "--candidates", str(tmp_path / "none.csv"), database=database,
                            check=False), "none.csv does not exist")
    scenario.write_text(SCENARIO.replace("300000", "-5"))
    one_line_error(retrofit("scenario", "add", str(scenario), database=database, check=False),
                   "budget.total_gbp")
    bad_format = retrofit("runs", "export", "1", "--format", "pdf", "--out", "x.pdf", database=database, check=False)
    assert bad_format.returncode == 2 and "'pdf' is not one of 'csv', 'xlsx', 'geojson'" in bad_format.stderr


def test_database_problems_are_one_line(tmp_path):
    unreachable = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/postgres"
    one_line_error(retrofit("scenario", "list", "--database", unreachable, check=False),
                   "cannot reach the database server at postgresql+psycopg://postgres@127.0.0.1")
    one_line_error(retrofit("runs", "list", database=f"sqlite:///{tmp_path / 'no' / 'r.db'}", check=False),
                   "database folder", "does not exist")


@pytest.mark.parametrize("damage", ["truncated", "pages overwritten", "not a database"])
def test_a_damaged_database_file_is_one_line_and_left_as_it_is(tmp_path, damage):
    path = tmp_path / "retrofit.db"
    scenario = tmp_path / "pilot.toml"
    scenario.write_text(SCENARIO)
    retrofit("scenario", "add", str(scenario), database=f"sqlite:///{path}")
    whole = path.read_bytes()
    page = int.from_bytes(whole[16:18], "big")
    damaged = {"truncated": whole[:len(whole) // 2], "pages overwritten": whole[:page] + b"\xff" * (len(whole) - page),
               "not a database": b"my notes\n" * 1000}[damage]
    path.write_bytes(damaged)
    for command in (["scenario", "add", str(scenario)], ["runs", "list"]):
        result = retrofit(*command, database=f"sqlite:///{path}", check=False)
        one_line_error(result, str(path), "mv ", "so that a new")
        assert "is damaged" in result.stderr or damage == "not a database"
    assert path.read_bytes() == damaged and sorted(p.name for p in tmp_path.iterdir()) == ["pilot.toml", "retrofit.db"]


BAD_SCENARIOS = [  # (change to SCENARIO, words in the error)
    pytest.param(("300000", "inf"), "budget.total_gbp: Input should be a finite number", id="inf"),
    pytest.param(("300000", "nan"), "budget.total_gbp: Input should be a finite number", id="nan"),
    pytest.param(("300000", "1e308"), "budget.total_gbp: Input should be less than or equal to 1000000000000",
                 id="huge"),
    pytest.param(("[solver]", "[weights]\ncarbon = inf\n[solver]"), "weights.carbon: Input should be a finite number",
                 id="weight-inf"),
    pytest.param(("[solver]", "[cities.Coventry]\nmin_share = 0.7\n[cities.Birmingham]\nmin_share = 0.5\n[solver]"),
                 "minimum shares (cities.*.min_share) add to 120.0% of the budget", id="min-shares"),
    pytest.param(("total_gbp = 300000", "total_gbp = 300000\nper_year_gbp = [100000]"),
                 "budget.per_year_gbp has 1 values but the programme has 2 years", id="per-year-length"),
    pytest.param(('name = "pilot"', f'name = "{"p" * 10_000}"'), "name: String should have at most 120 characters",
                 id="long-name"),
    pytest.param(('name = "pilot"', 'name = "pi\\u001b[2Jlot"'),
                 r"name: holds an invisible or control character (\x1b at", id="escape-in-name"),
]


@pytest.mark.parametrize("change, words", BAD_SCENARIOS)
def test_a_bad_scenario_is_refused_when_added_and_nothing_is_written(tmp_path, monkeypatch, change, words):
    monkeypatch.setenv("RETROFIT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("RETROFIT_DATABASE_URL", f"sqlite:///{tmp_path / 'retrofit.db'}")
    path = tmp_path / "bad.toml"
    path.write_text(SCENARIO.replace(*change))
    assert_one_line_error(invoke("scenario", "add", path), words)
    assert not (tmp_path / "retrofit.db").exists()  # refused before the database is even opened


@pytest.mark.parametrize("content, words", [
    (SCENARIO.replace("a small test", "café").encode("latin-1"), "is not UTF-8 text: byte 33 (line 2, 0xe9)"),
    (b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)), "is a binary file (it holds NUL bytes, first at byte 7)"),
], ids=["latin-1", "binary"])
def test_a_scenario_file_that_is_not_utf8_text_is_one_line(tmp_path, monkeypatch, content, words):
    monkeypatch.setenv("RETROFIT_DATABASE_URL", f"sqlite:///{tmp_path / 'retrofit.db'}")
    (tmp_path / "bad.toml").write_bytes(content)
    assert_one_line_error(invoke("scenario", "add", tmp_path / "bad.toml"), words, "bad.toml")
    assert not (tmp_path / "retrofit.db").exists()


def test_bad_candidates_are_refused_by_run_and_nothing_is_stored(tmp_path, monkeypatch):
    monkeypatch.setenv("RETROFIT_DATABASE_URL", f"sqlite:///{tmp_path / 'retrofit.db'}")
    (tmp_path / "pilot.toml").write_text(SCENARIO)
    assert invoke("scenario", "add", tmp_path / "pilot.toml").code == 0
    for column, value, words in (("city", "Leeds", "city: values not in"), ("cost_gbp", np.inf, "cost_gbp: infinite"),
                                 ("trade_days_heating", np.nan, "trade_days_heating: empty or not a number")):
        table = synthetic_candidates(40, seed=2).astype({column: object})
        table.loc[[0, 5], column] = value
        table.to_csv(tmp_path / "c.csv", index=False)
        assert_one_line_error(invoke("run", "pilot", "--candidates", tmp_path / "c.csv"), words, "c.csv")
    assert invoke("runs", "list", "--json").stdout.count('"id"') == 0
