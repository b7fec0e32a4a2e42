"""How each home is paid for (council money, grants by scheme, co-funding) is stored with its run,
read back to the penny, covered by the plan hash and exported; runs stored before it existed
read as council money.

The funded plans here are made up: their money adds up, but no scheme's rules were applied to
them, so `save_run`'s recheck of the scenario's rules (`check_plan_alone`, tested with hand-worked
funded plans in tests/test_plan_funding.py) is switched off for them by the `unchecked` fixture.
"""

from __future__ import annotations

import importlib
import json

import numpy as np
import pandas as pd
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import make_url

from retrofit.errors import RetrofitError
from retrofit.hashing import table_hash
from retrofit.store import RunInputs, add_scenario, get_run, open_database, plan_hash, read_plan, save_run
from retrofit.store.database import MIGRATIONS_DIR, _create_engine, schema_revision, _head_on_disk
from retrofit.store.export import export_run
from retrofit.store.runs import CHUNK_ROWS, plan_table
from tests.invoke import invoke
from tests.store.plans import make_plan, make_result

SCENARIO = 'name = "pilot"\n[budget]\ntotal_gbp = 1e10\n[years]\nstart = 2026\nend = 2028\n'
INPUTS = RunInputs(candidates_hash="c0ffee")
SCHEMES = ("whlg", "shf3", "bus-2_x")  # ids are the scenario's own: letters, digits, _ and -
COUNCIL_ONLY = {"council_gbp": None, "grant_gbp": 0.0, "co_funding_gbp": 0.0, "funding": ""}


@pytest.fixture
def scenario(engine):
    return add_scenario(engine, SCENARIO).record


@pytest.fixture
def unchecked(monkeypatch):
    """No recheck of the scenario's rules on storing (see the module docstring)."""
    monkeypatch.setattr("retrofit.store.runs.check_plan_alone", lambda plan, scenario: [])


def funded(plan: pd.DataFrame, seed: int = 5) -> pd.DataFrame:
    """``plan`` with its cost split: a quarter of the homes council money only, the others one or
    two of SCHEMES (awkward pence included), landlords co-funding some; every column to the penny."""
    rng = np.random.default_rng(seed)
    n, cost = len(plan), plan["cost_gbp"].to_numpy()
    pick = rng.integers(0, 5, n)  # 0: council only; 1-3: one scheme; 4: whlg and shf3 together
    grants = {key: np.zeros(n) for key in SCHEMES}
    for number, key in enumerate(SCHEMES, start=1):
        grants[key] = np.where(pick == number, np.round(cost * rng.uniform(0.1, 0.7, n), 2), 0.0)
    both = pick == 4
    grants["whlg"] = np.where(both, np.round(cost * 0.45, 2), grants["whlg"])
    grants["shf3"] = np.where(both, np.round(cost * 0.3 + 0.005, 2), grants["shf3"])
    co_funding = np.where((pick > 0) & (plan["tenure"].to_numpy() == "private_rented"), np.round(cost * 0.1, 2), 0.0)
    grant = np.round(sum(grants.values()), 2)
    names = np.array(["", "whlg", "shf3", "bus-2_x", "shf3;whlg"])[pick]
    return plan.assign(council_gbp=np.round(cost - grant - co_funding, 2), grant_gbp=grant,
                       co_funding_gbp=co_funding, funding=names,
                       **{f"grant_{key}_gbp": values for key, values in grants.items()})


def council_only(plan: pd.DataFrame) -> pd.DataFrame:
    return plan.assign(**{**COUNCIL_ONLY, "council_gbp": plan["cost_gbp"]})


def by_home(plan: pd.DataFrame, columns) -> pd.DataFrame:
    return plan.sort_values("home_id").reset_index(drop=True)[list(columns)]


def test_a_funded_plan_comes_back_to_the_penny(engine, scenario, unchecked):
    plan = funded(make_plan(CHUNK_ROWS + 500)).assign(grant_eco4_gbp=0.0)  # more than one bulk chunk
    run = save_run(engine, scenario, make_result(plan), INPUTS)
    back = read_plan(engine, run.id)
    # Every column back, each scheme that pays some home included; a scheme that pays none is no
    # column (the run cannot tell it from a scheme the scenario does not have).
    assert set(back.columns) == set(plan.columns) - {"grant_eco4_gbp"}
    assert list(back.columns)[3:11] == ["cost_gbp", "council_gbp", "grant_gbp", "co_funding_gbp", "funding",
                                        "grant_bus-2_x_gbp", "grant_shf3_gbp", "grant_whlg_gbp"]
    pd.testing.assert_frame_equal(back, by_home(plan, back.columns), check_exact=True)
    assert (back["council_gbp"] + back["grant_gbp"] + back["co_funding_gbp"] - back["cost_gbp"]).abs().max() < 0.005
    assert plan_hash(back) == run.plan_hash == plan_hash(plan)


def test_funded_rows_are_stored_once_each_way(engine, scenario, unchecked):
    """`grants` holds the non-zero grants of a row (null for council money only), council money
    only is funding "" (not null), and the `grants` column itself is never shown."""
    plan = funded(make_plan(6)).reset_index(drop=True)
    plan.loc[0, ["council_gbp", "grant_gbp", "co_funding_gbp", "funding", *(f"grant_{k}_gbp" for k in SCHEMES)]] = (
        plan.loc[0, "cost_gbp"], 0.0, 0.0, "", 0.0, 0.0, 0.0)
    plan.loc[1, ["council_gbp", "grant_gbp", "co_funding_gbp", "funding", "grant_whlg_gbp", "grant_shf3_gbp",
                 "grant_bus-2_x_gbp"]] = (plan.loc[1, "cost_gbp"] - 1234.57, 1234.57, 0.0, "whlg", 1234.57, 0.0, 0.0)
    run = save_run(engine, scenario, make_result(plan), INPUTS)
    with engine.connect() as connection:
        stored = dict(connection.execute(text("SELECT home_id, grants FROM plan_row WHERE run_id = :r"),
                                         {"r": run.id}).all())
        funding = dict(connection.execute(text("SELECT home_id, funding FROM plan_row WHERE run_id = :r"),
                                          {"r": run.id}).all())
    assert stored[plan.loc[0, "home_id"]] is None and funding[plan.loc[0, "home_id"]] == ""
    assert json.loads(stored[plan.loc[1, "home_id"]]) == {"whlg": 1234.57}
    back = read_plan(engine, run.id)
    assert "grants" not in back.columns
    pd.testing.assert_frame_equal(back, by_home(plan, back.columns), check_exact=True)


def test_a_plan_without_funding_is_council_money(engine, scenario):
    plan = make_plan(300)
    run = save_run(engine, scenario, make_result(plan), INPUTS)
    back = read_plan(engine, run.id)
    assert set(back.columns) == set(plan.columns) | set(COUNCIL_ONLY)
    pd.testing.assert_frame_equal(back, by_home(council_only(plan), back.columns), check_exact=True)
    assert not any(c.startswith("grant_") and c != "grant_gbp" for c in back.columns)
    # Stored as a plan was before funding existed: the funding columns are left null.
    with engine.connect() as connection:
        filled = connection.execute(text("SELECT count(*) FROM plan_row WHERE council_gbp IS NOT NULL OR grant_gbp "
                                         "IS NOT NULL OR co_funding_gbp IS NOT NULL OR funding IS NOT NULL OR grants "
                                         "IS NOT NULL")).scalar_one()
    assert filled == 0
    # The same plan with its all-council columns written out is the same run.
    again = save_run(engine, scenario, make_result(council_only(plan).assign(grant_whlg_gbp=0.0)), INPUTS)
    assert again.plan_hash == run.plan_hash
    pd.testing.assert_frame_equal(read_plan(engine, again.id), back, check_exact=True)


def test_the_plan_hash_of_council_money_is_as_before_and_a_funded_one_covers_who_pays():
    plan = make_plan(40)
    decisions = table_hash(pd.DataFrame({"home_id": plan["home_id"], "package_id": plan["package_id"],
                                         "year": plan["year"]}))
    assert plan_hash(plan) == decisions  # the hash every unfunded run was stored with
    assert plan_hash(council_only(plan)) == decisions
    assert plan_hash(council_only(plan).assign(grant_whlg_gbp=0.0)) == decisions
    assert plan_hash(plan_table(plan)) == decisions

    paid = funded(plan)
    assert plan_hash(paid) != decisions
    assert plan_hash(paid.iloc[::-1]) == plan_hash(paid) == plan_hash(paid.assign(grant_eco4_gbp=0.0))
    assert plan_hash(paid.assign(cost_gbp=1.0)) == plan_hash(paid)  # metrics are not decisions
    row = int(np.flatnonzero(paid["grant_whlg_gbp"].to_numpy() > 0)[0])
    moved = paid.copy()  # £1 of one home's grant becomes council money
    moved.loc[row, ["grant_whlg_gbp", "grant_gbp", "council_gbp"]] += np.array([-1.0, -1.0, 1.0])
    assert plan_hash(moved) != plan_hash(paid)
    renamed = paid.rename(columns={"grant_whlg_gbp": "grant_whlg2_gbp"})
    assert plan_hash(renamed) != plan_hash(paid)
    # A home paid in full by the council, but with co-funding or a funding id, is not council money.
    assert plan_hash(council_only(plan).assign(funding="whlg")) != decisions


def test_a_funding_column_the_plan_carries_must_be_filled(engine, scenario, unchecked):
    plan = funded(make_plan(10))
    plan.loc[3, "grant_shf3_gbp"] = np.nan
    with pytest.raises(RetrofitError, match="column grant_shf3_gbp is empty in 1 rows"):
        save_run(engine, scenario, make_result(plan), INPUTS)
    with pytest.raises(RetrofitError, match="column funding is empty in 10 rows"):
        save_run(engine, scenario, make_result(funded(make_plan(10)).assign(funding=None)), INPUTS)


def test_exports_carry_how_each_home_is_paid_for(engine, scenario, unchecked, tmp_path, monkeypatch):
    plan = funded(make_plan(200))
    run = save_run(engine, scenario, make_result(plan), INPUTS)
    columns = ["home_id", "cost_gbp", "council_gbp", "grant_gbp", "co_funding_gbp", "funding",
               *(f"grant_{key}_gbp" for key in SCHEMES)]
    expected = by_home(plan, columns)

    csv = export_run(engine, run.id, "csv", tmp_path / "plan.csv")
    back = pd.read_csv(csv, comment="#", dtype={"home_id": "str", "funding": "str"}, keep_default_na=False)
    pd.testing.assert_frame_equal(by_home(back, columns), expected, check_exact=True, check_dtype=False)
    sheet = pd.read_excel(export_run(engine, run.id, "xlsx", tmp_path / "plan.xlsx"), sheet_name="plan",
                          dtype={"home_id": "str"}, keep_default_na=False)
    pd.testing.assert_frame_equal(by_home(sheet, columns), expected, check_exact=True, check_dtype=False)

    # `retrofit runs export` writes the same file (on this test's engine: one the command opened
    # itself would stay open after it, in this process).
    out = tmp_path / "cli.csv"
    monkeypatch.setattr(importlib.import_module("retrofit.cli.runs"), "open_store", lambda database: engine)
    result = invoke("runs", "export", run.id, "--format", "csv", "--out", out)
    assert result.code == 0, result.stderr
    assert out.read_text() == csv.read_text()


def _at_revision(url: str, revision: str):
    """An engine on ``url`` with the schema at ``revision`` (not the newest), as an older retrofit left it."""
    engine = _create_engine(make_url(url))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.execution_options(sqlite_begin="IMMEDIATE").begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return engine


def test_runs_stored_before_funding_existed_read_as_council_money(database_url):
    old = _at_revision(database_url, "0001")
    assert schema_revision(old) == "0001"
    scenario = add_scenario(old, SCENARIO).record
    plans = [make_plan(120, seed=1), make_plan(30, seed=2, prefix="K").drop(columns=["ward", "sap_before"])]
    runs = [save_run(old, scenario, make_result(plan), INPUTS) for plan in plans]  # into the 0001 table
    old.dispose()

    engine = open_database(database_url)  # upgraded on opening
    try:
        assert schema_revision(engine) == _head_on_disk()  # the newest, whatever came after funding
        for plan, run in zip(plans, runs):
            back = read_plan(engine, run.id)
            assert set(back.columns) == set(plan.columns) | set(COUNCIL_ONLY)
            pd.testing.assert_frame_equal(back, by_home(council_only(plan), back.columns), check_exact=True)
            assert plan_hash(back) == get_run(engine, run.id).plan_hash
        # and the upgraded database stores funded runs beside them
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("retrofit.store.runs.check_plan_alone", lambda plan, scenario: [])
            paid = funded(make_plan(50, seed=3, prefix="F"))
            run = save_run(engine, scenario, make_result(paid), INPUTS)
        back = read_plan(engine, run.id)
        pd.testing.assert_frame_equal(back, by_home(paid, back.columns), check_exact=True)
    finally:
        engine.dispose()
