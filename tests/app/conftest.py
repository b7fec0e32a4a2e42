"""A var folder for app tests: the 5,000-home sample stock, a SQLite database and two stored runs.

Built once per session (the runs are real solves on the sample); tests that only read runs
share it, tests that create runs copy nothing and use their own folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from retrofit.paths import ROOT
from retrofit.stock.schema import write_stock

APP = ROOT / "app"

SMALL = """
name = "Small test"
description = "A few million pounds over three years, for tests on the sample stock."
[budget]
total_gbp = {budget}
[years]
start = 2026
end = 2028
[weights]
carbon = {carbon}
fuel_poverty = 1.0
jobs = 0.0
normalise = "none"
[solver]
time_limit_s = 20
relative_gap = 0.01
"""


def small_scenario(budget: float = 3_000_000, carbon: float = 1.0, name: str = "Small test") -> str:
    return SMALL.format(budget=budget, carbon=carbon).replace('"Small test"', f'"{name}"')


def page(name: str) -> str:
    return str(APP / "screens" / f"{name}.py")


@pytest.fixture(scope="session")
def stored_var(tmp_path_factory, sample_stock) -> Path:
    """var/ with the sample stock and runs #1 (carbon weight 1) and #2 (carbon weight 0.02:
    low enough that fuel poverty, at most one household a home, outweighs lifetime tonnes)."""
    import os

    from retrofit import pipeline
    from retrofit.store import add_scenario, open_database

    var = tmp_path_factory.mktemp("app-stored")
    write_stock(sample_stock, var / "stock" / "default.parquet")
    before = os.environ.get("RETROFIT_VAR_DIR")
    os.environ["RETROFIT_VAR_DIR"] = str(var)
    try:
        engine = open_database()
        add_scenario(engine, small_scenario())
        pipeline.run_scenario(engine, "Small test")
        add_scenario(engine, small_scenario(carbon=0.02))
        pipeline.run_scenario(engine, "Small test")
        engine.dispose()
    finally:
        if before is None:
            os.environ.pop("RETROFIT_VAR_DIR")
        else:
            os.environ["RETROFIT_VAR_DIR"] = before
    return var


@pytest.fixture
def with_runs(stored_var, monkeypatch) -> Path:
    monkeypatch.setenv("RETROFIT_VAR_DIR", str(stored_var))
    monkeypatch.delenv("RETROFIT_DATABASE_URL", raising=False)
    return stored_var


@pytest.fixture
def fresh_var(tmp_path, sample_stock, monkeypatch) -> Path:
    """An empty database beside the sample stock."""
    write_stock(sample_stock, tmp_path / "stock" / "default.parquet")
    monkeypatch.setenv("RETROFIT_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("RETROFIT_DATABASE_URL", raising=False)
    return tmp_path
