"""The stock page renders the default stock, or says how to build one."""

from streamlit.testing.v1 import AppTest

from retrofit.stock.schema import write_stock

from retrofit.paths import ROOT

APP = str(ROOT / "app" / "main.py")


def test_stock_page_summarises_the_default_stock(sample_stock, tmp_path, monkeypatch):
    monkeypatch.setenv("RETROFIT_VAR_DIR", str(tmp_path))
    write_stock(sample_stock, tmp_path / "stock" / "default.parquet")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert at.metric[0].value == "5,000"
    assert any("synthetic" in info.value for info in at.info)


def test_stock_page_without_a_stock_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("RETROFIT_VAR_DIR", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("does not exist" in e.value for e in at.error)
    assert any("make stock" in info.value for info in at.info)
