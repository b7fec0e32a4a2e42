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
