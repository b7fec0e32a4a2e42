"""Stock validation reports every problem at once, with column, count and examples."""

import numpy as np
import pytest

from retrofit.stock.schema import StockValidationError, check_stock, read_stock, validate_stock, write_stock


def test_every_problem_is_reported_at_once(sample_stock):
    bad = sample_stock.head(50).copy()
    bad["wall_type"] = bad["wall_type"].astype(str)
    bad.loc[bad.index[:3], "wall_type"] = "straw_bale"
    bad["sap_score"] = bad["sap_score"].astype(float)
    bad.loc[bad.index[5], "sap_score"] = 140
    bad["tenure"] = bad["tenure"].astype(str)
    bad.loc[bad.index[7], "tenure"] = "squatted"
    bad.loc[bad.index[9], "home_id"] = bad.loc[bad.index[8], "home_id"]
    bad = bad.drop(columns=["glazing"])
    problems = {p.column: p for p in validate_stock(bad)}
    assert set(problems) >= {"wall_type", "sap_score", "tenure", "home_id", "glazing", "epc_band"}
    assert problems["wall_type"].rows == 3 and problems["wall_type"].examples == ["straw_bale"]
    assert problems["home_id"].rows == 2
    with pytest.raises(StockValidationError) as raised:
        check_stock(bad, "partner.csv")
    message = str(raised.value)
    assert "partner.csv" in message and "straw_bale" in message and "glazing" in message


def test_band_must_match_score(sample_stock):
    bad = sample_stock.head(10).copy()
    bad["epc_band"] = bad["epc_band"].astype(str)
    bad.loc[bad.index[0], "epc_band"] = "A" if bad["sap_score"].iloc[0] < 92 else "G"
    problems = validate_stock(bad)
    assert [p.column for p in problems] == ["epc_band"]
    assert problems[0].rows == 1


def test_empty_loft_is_allowed_but_empty_sap_is_not(sample_stock):
    stock = sample_stock.head(20).copy()
    stock["loft_insulation_mm"] = np.nan
    assert validate_stock(stock) == []
    stock["sap_score"] = stock["sap_score"].astype(float)
    stock.loc[stock.index[0], "sap_score"] = np.nan
    assert [p.column for p in validate_stock(stock)] == ["sap_score"]


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_round_trip_through_parquet_and_csv(sample_stock, tmp_path, suffix):
    path = write_stock(sample_stock.head(200), tmp_path / f"stock{suffix}")
    back = read_stock(path)
    assert len(back) == 200
    assert list(back["home_id"]) == list(sample_stock["home_id"].head(200))
    assert not (tmp_path / f"stock{suffix}.partial").exists()


def test_unreadable_file_is_a_clear_error(tmp_path):
    path = tmp_path / "stock.parquet"
    path.write_text("not parquet at all")
    with pytest.raises(Exception, match="cannot read stock file"):
        read_stock(path)
