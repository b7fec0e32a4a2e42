"""The `retrofit` command as a user runs it: real processes, exit codes and JSON."""

import json
import subprocess
import sys


def retrofit(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "retrofit", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(result.stderr)
    return result


def test_generate_then_summarise(tmp_path):
    out = tmp_path / "stock.parquet"
    generated = json.loads(retrofit("stock", "generate", "--homes", "800", "--seed", "2", "--out", str(out), "--json").stdout)
    assert generated == {"out": str(out), "homes": 800, "seed": 2}
    summary = json.loads(retrofit("stock", "summary", str(out), "--json").stdout)
    assert summary["homes"] == 800
    assert set(summary["cities"]) == {"Birmingham", "Coventry", "Wolverhampton"}
    assert sum(c["homes"] for c in summary["cities"].values()) == 800
    text = retrofit("stock", "summary", str(out)).stdout
    assert "Birmingham" in text and "band D %" in text


def test_calibration_report_against_metered_energy(tmp_path):
    out = tmp_path / "stock.parquet"
    retrofit("stock", "generate", "--homes", "800", "--seed", "2", "--out", str(out))
    report = json.loads(retrofit("stock", "calibration", str(out), "--json").stdout)
    # DESNZ 2019 means per city (gas per consuming meter), read from the published file's totals
    assert round(report["cities"]["Coventry"]["metered_gas_kwh"]) == 12_921
    for city in report["cities"].values():
        assert abs(city["gas_difference"]) < 0.02 and abs(city["electricity_difference"]) < 0.02
        assert city["modelled_gas_kwh"] > city["in_use_gas_kwh"]
    # 800 homes are too few to compare any one neighbourhood
    assert report["areas_compared"] == {"gas": 0, "electricity": 0} and report["worst"] == []
    text = retrofit("stock", "calibration", str(out)).stdout
    assert "gas metered kWh" in text and "12,921" in text and "enough homes" in text


def test_calibration_report_says_when_a_stock_was_never_calibrated(tmp_path):
    import pandas as pd

    out = tmp_path / "stock.parquet"
    retrofit("stock", "generate", "--homes", "300", "--out", str(out))
    old = tmp_path / "old.parquet"  # as stocks were written before calibration: no modelled_* columns
    stock = pd.read_parquet(out)
    stock.drop(columns=[c for c in stock.columns if c.startswith("modelled_")]).to_parquet(old)
    assert json.loads(retrofit("stock", "calibration", str(old), "--json").stdout)["calibrated"] is False
    assert "not calibrated to metered use" in retrofit("stock", "calibration", str(old)).stdout
    assert json.loads(retrofit("stock", "calibration", str(out), "--json").stdout)["calibrated"] is True


def test_generate_progress_goes_to_stderr(tmp_path):
    result = retrofit("stock", "generate", "--homes", "300", "--out", str(tmp_path / "s.csv"))
    assert "generate:" in result.stderr and "100.0%" in result.stderr


def test_missing_stock_is_one_line_and_exit_2(tmp_path):
    result = retrofit("stock", "summary", str(tmp_path / "missing.parquet"), check=False)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_invalid_stock_lists_every_problem(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("home_id,city\n1,Leeds\n")
    result = retrofit("stock", "summary", str(path), check=False)
    assert result.returncode == 2
    assert "required column missing" in result.stderr and "Leeds" in result.stderr


def test_plan_refuses_bad_candidates_in_one_line_and_writes_nothing(tmp_path):
    import numpy as np

    from retrofit.testing.synthetic import synthetic_candidates
    from tests.invoke import assert_one_line_error, invoke

    scenario = tmp_path / "s.toml"
    scenario.write_text('name = "s"\n[budget]\ntotal_gbp = 100000\n[years]\nstart = 2026\nend = 2027\n')
    out = tmp_path / "plan.csv"
    for column, value, words in (("cost_gbp", np.inf, "cost_gbp: infinite"), ("city", "Leeds", "city: values not in"),
                                 ("city", "\x1b[2J", r"'\x1b[2J'"), ("tenure", "council", "tenure: values not in"),
                                 ("band_after", "Z", "band_after: values not in"), ("imd_decile", 11, "imd_decile: above 10"),
                                 ("cost_gbp", 1e12, "cost_gbp: above 10,000,000")):
        table = synthetic_candidates(30, seed=2).astype({column: object})
        table.loc[1, column] = value
        table.to_csv(tmp_path / "c.csv", index=False)
        result = invoke("plan", "--scenario", scenario, "--candidates", tmp_path / "c.csv", "--out", out)
        assert_one_line_error(result, "c.csv is not a valid candidate table", words)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["c.csv", "s.toml"]
