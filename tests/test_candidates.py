"""The candidate table's contract: every number finite and within reach, every category known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retrofit.candidates import OPTIONAL, REQUIRED, check_candidates, read_candidates, validate_candidates
from retrofit.errors import RetrofitError
from retrofit.testing.synthetic import synthetic_candidates


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return synthetic_candidates(20, seed=3)


def test_the_synthetic_table_is_valid_and_has_every_column(table):
    assert validate_candidates(table) == []
    assert set(REQUIRED) | set(OPTIONAL) <= set(table.columns)


@pytest.mark.parametrize("column, value, words", [
    ("cost_gbp", np.inf, "cost_gbp: infinite in 1 rows"),
    ("lifetime_co2_t_saved", -np.inf, "lifetime_co2_t_saved: infinite"),
    ("annual_bill_saving_gbp", np.nan, "annual_bill_saving_gbp: empty or not a number"),
    ("trade_days_heating", np.inf, "trade_days_heating: infinite"),
    ("trade_days_glazing", np.nan, "trade_days_glazing: empty or not a number"),
    ("fuel_poverty_probability", 1.5, "fuel_poverty_probability: above 1"),
    ("cost_gbp", 1e9, "cost_gbp: above 10,000,000 in 1 rows (e.g. 1000000000.0)"),
    ("lifetime_co2_t_saved", 1e300, "lifetime_co2_t_saved: above 100,000"),
    ("annual_co2_t_saved", -1e6, "annual_co2_t_saved: below -10,000"),
    ("labour_days", -1.0, "labour_days: negative"),
    ("imd_decile", 0, "imd_decile: below 1"),
    ("imd_decile", 11, "imd_decile: above 10"),
    ("imd_decile", 2.5, "imd_decile: not a whole number"),
    ("city", "Leeds", "city: values not in ['Birmingham', 'Coventry', 'Wolverhampton'] in 1 rows (e.g. 'Leeds')"),
    ("city", None, "city: values not in"),
    ("tenure", "council", "tenure: values not in ['owner_occupied', 'private_rented', 'social_rented', 'unknown']"),
    ("band_after", "Z", "band_after: values not in ['A', 'B', 'C', 'D', 'E', 'F', 'G']"),
    ("band_before", "H", "band_before: values not in"),
    ("home_id", None, "home_id: empty values in 1 rows"),
    ("cost_heating_gbp", 1.0, "cost_fabric_gbp, cost_heating_gbp, cost_pv_gbp, cost_other_gbp: do not add up to "
                              "cost_gbp in 1 rows"),
    ("cost_pv_gbp", -5.0, "cost_pv_gbp: negative"),
    ("main_fuel", "coal", "main_fuel: values not in"),
])
def test_bad_values_are_named_by_column(table, column, value, words):
    bad = table.astype({column: object})
    bad.loc[3, column] = value
    with pytest.raises(RetrofitError) as caught:
        check_candidates(bad, "cands.csv")
    message = str(caught.value)
    assert message.startswith("cands.csv is not a valid candidate table (1 problems): ") and words in message
    assert "\n" not in message and "candidate table in README" in message


def test_optional_information_may_be_empty(table):
    table = table.copy()
    table.loc[0, ["sap_before", "band_before"]] = [np.nan, None]
    assert validate_candidates(table) == []


def test_every_problem_is_listed_on_one_line_with_control_characters_escaped(table):
    bad = table.astype({"city": object})
    bad.loc[0, "city"] = "\x1b[2J" + "x" * 1000
    bad.loc[1, "cost_gbp"] = np.inf
    message = str(pytest.raises(RetrofitError, check_candidates, bad).value)
    assert "(2 problems)" in message and "\n" not in message and "\x1b" not in message
    assert r"'\x1b[2Jxxx" in message and len(message) < 600


def test_a_csv_with_inf_is_refused_when_read(table, tmp_path):
    bad = table.copy()
    bad.loc[0, "cost_gbp"] = np.inf
    bad.to_csv(tmp_path / "c.csv", index=False)
    assert "inf" in (tmp_path / "c.csv").read_text()
    with pytest.raises(RetrofitError, match=r"c\.csv is not a valid candidate table \(1 problems\): cost_gbp: inf"):
        read_candidates(tmp_path / "c.csv")
