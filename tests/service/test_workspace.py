"""The app's working set: candidates appraised once, library versions, example scenarios, runs."""

from __future__ import annotations

import json
import threading

import pandas as pd
import pytest

from retrofit import pipeline
from retrofit.service import access, workspace
from retrofit.errors import RetrofitError
from retrofit.hashing import table_hash
from retrofit.scenario import load_scenario
from retrofit.paths import DATA_DIR
from retrofit.stock.schema import write_stock
from retrofit.store import list_runs, open_database, read_plan, scenario_names, add_scenario
from tests.app.conftest import small_scenario
from tests.reviewing import ANALYST, MANAGER, VIEWER


@pytest.fixture
def var(tmp_path, sample_stock, monkeypatch):
    write_stock(sample_stock, tmp_path / "stock" / "default.parquet")
    monkeypatch.setenv("RETROFIT_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("RETROFIT_DATABASE_URL", raising=False)
    pipeline._MEMORY.clear()
    return tmp_path


def test_candidates_are_appraised_once_then_read_from_memory_or_disk(var, sample_stock):
    from retrofit.appraisal import appraise
    from retrofit.appraisal.measures import load_library

    table, inputs = pipeline.candidates_for()
    again, _ = pipeline.candidates_for()
    assert again is table  # the same object from memory: no copy per user
    files = sorted((var / "candidates").glob("*.parquet"))
    assert [f.name for f in files] == [f"{inputs.stock_hash}-{inputs.library_version}.parquet"]
    assert inputs.stock_hash == table_hash(sample_stock)
    assert inputs.candidates_hash == table_hash(appraise(sample_stock, load_library()))

    pipeline._MEMORY.clear()  # a new process: read from disk, no appraisal
    modified = files[0].stat().st_mtime_ns
    from_disk, inputs_disk = pipeline.candidates_for()
    assert files[0].stat().st_mtime_ns == modified
    assert inputs_disk == inputs and len(from_disk) == len(table)


def test_a_missing_stock_says_how_to_make_one(var):
    with pytest.raises(RetrofitError, match="make stock"):
        pipeline.candidates_for(var / "stock" / "nope.parquet")


def test_run_scenario_stores_the_run_with_its_inputs(var):
    engine = open_database()
    add_scenario(engine, small_scenario())
    seen = []
    run = pipeline.run_scenario(engine, "Small test", progress=lambda f, m: seen.append(f))
    assert run.id == 1 and run.plan_rows == len(read_plan(engine, 1)) > 0
    assert run.stock_source.endswith("default.parquet") and run.library_version
    assert seen[-1] == 1.0 and seen == sorted(seen)
    table = workspace.run_table(engine)
    assert list(table["id"]) == [1] and table["label"].iloc[0] == "#1 Small test v1"
    assert table["homes"].iloc[0] == run.plan_rows
    stored = workspace.run_summary(engine, 1)
    assert "homes" not in stored.details and "marginal" in stored.details
    chosen = read_plan(engine, 1)["home_id"].astype(str).tolist()
    manager = access.local_principal()
    explanations = workspace.run_explanations(engine, manager, 1, chosen[:3] + ["not-a-home"])
    assert explanations["in_plan"].sum() == 3 and "not-a-home" not in explanations.index

    from retrofit.present.views import export_bytes

    assert export_bytes(engine, manager, 1, "csv").startswith(b"# provenance: ")
    assert export_bytes(engine, manager, 1, "xlsx")[:2] == b"PK"  # a zip: the Excel workbook
    assert json.loads(export_bytes(engine, manager, 1, "geojson"))["type"] == "FeatureCollection"


def test_a_cancelled_run_stores_nothing(var):
    engine = open_database()
    add_scenario(engine, small_scenario())
    cancel = threading.Event()
    cancel.set()
    assert pipeline.run_scenario(engine, "Small test", cancel=cancel) is None
    assert list_runs(engine) == []


def test_examples_are_seeded_into_an_empty_database_only(var):
    engine = open_database()
    examples = [load_scenario(p).name for p in sorted((DATA_DIR / "scenarios").glob("*.toml"))]
    assert "Balanced 2026-2035" in examples
    assert workspace.seed_examples(engine) == examples
    assert workspace.seed_examples(engine) == []
    assert scenario_names(engine) == sorted(examples)


def test_scale_scenario_scales_money_and_capacity_not_shares():
    scenario = load_scenario(DATA_DIR / "scenarios" / "balanced-2026-2035.toml")
    half = workspace.scale_scenario(scenario, 0.5)
    assert half.budget.total_gbp == 600_000_000
    assert half.budget.per_year_gbp[0] == 30_000_000
    assert half.cities["Birmingham"].homes_per_year == 4500
    assert half.cities["Birmingham"].trade_days_per_year.insulation == 60000
    assert half.cities["Birmingham"].min_share == 0.5 and half.rules == scenario.rules


def test_full_stock_homes_is_the_published_household_count():
    assert workspace.full_stock_homes() == 686_261


def test_an_invalid_library_edit_is_refused_and_leaves_nothing(var):
    measures = workspace.library_table(None, "measures.csv")
    measures.loc[measures["measure_id"] == "loft_insulation", "trade"] = "plumbing"
    engine = open_database()
    with pytest.raises(RetrofitError, match="trade") as error:
        workspace.save_library(engine, ANALYST, {"measures.csv": measures})
    engine.dispose()
    assert "edited library" in str(error.value) and ".staging" not in str(error.value)
    assert [p for p in (var / "library").iterdir()] == []


def test_a_valid_library_edit_becomes_a_version_runs_can_use(var):
    measures = workspace.library_table(None, "measures.csv")
    measures.loc[measures["measure_id"] == "loft_insulation", "cost_fixed_gbp"] = "999"
    engine = open_database()
    with pytest.raises(RetrofitError, match="may not edit the measure library"):
        workspace.save_library(engine, VIEWER, {"measures.csv": measures})
    library = workspace.save_library(engine, ANALYST, {"measures.csv": measures}, note="dearer lofts")
    versions = workspace.library_versions()
    assert versions[0]["key"] == workspace.SHIPPED and versions[1]["version"] == library.version
    assert versions[1]["note"] == "dearer lofts" and versions[1]["created_by"] == ANALYST.who
    saved = access.audit_events(engine, MANAGER, action="library.save")
    assert saved[["who", "target"]].values.tolist() == [[ANALYST.who, f"library:{library.version}"]]
    assert saved["details"].iloc[0]["files"] == ["measures.csv"] and saved["details"].iloc[0]["note"] == "dearer lofts"
    shipped, _ = pipeline.candidates_for()
    edited, inputs = pipeline.candidates_for(library=library.version)
    assert inputs.library_version == library.version
    loft = edited["measures"].astype(str).str.contains("loft_insulation")
    assert (edited.loc[loft, "cost_gbp"].sum() > shipped.loc[shipped["measures"].astype(str)
                                                                .str.contains("loft_insulation"), "cost_gbp"].sum())
    # saving the same content again gives the same version, and unchanged content is the shipped one
    assert workspace.save_library(engine, ANALYST, {"measures.csv": measures}).version == library.version
    assert workspace.save_library(engine, ANALYST, {}).version == versions[0]["version"]
    assert len(access.audit_events(engine, MANAGER, action="library.save")) == 1  # nothing new was kept
    engine.dispose()


def test_stock_names_typed_in_the_app_are_checked(var):
    assert workspace.stock_target("epc-2025").name == "epc-2025.parquet"
    for bad in ("../x", "", "default", "a b"):
        with pytest.raises(RetrofitError):
            workspace.stock_target(bad)


def test_import_report_flattens_the_summary():
    report = workspace.import_report({"rows_read": 10, "dropped": {"no_sap": 2}})
    assert report.to_dict(orient="records") == [{"item": "rows read", "count": "10"},
                                                 {"item": "dropped: no sap", "count": "2"}]


def test_synthetic_share(var):
    assert workspace.synthetic_share(var / "stock" / "default.parquet") == 1.0
    assert workspace.synthetic_share(var / "nope.parquet") is None
    assert isinstance(pd.read_parquet(var / "stock" / "default.parquet", columns=["data_source"]), pd.DataFrame)


def test_import_errors_name_the_uploaded_file_not_the_server_copy(tmp_path, monkeypatch):
    from tests.stock.test_epc import OLDER

    monkeypatch.setenv("RETROFIT_VAR_DIR", str(tmp_path))
    header = OLDER.read_bytes().splitlines(keepends=True)[0]
    uploads = workspace.save_uploads({"certificates": [("good.csv", OLDER.read_bytes()), ("my-epc.csv", header)]})
    assert "uploads" in str(uploads["certificates"][1])
    target = tmp_path / "stock" / "epc.parquet"
    messages = []
    engine = open_database()
    with pytest.raises(RetrofitError) as caught:
        workspace.import_epc_stock(engine, ANALYST, uploads, target,
                                   lambda fraction, message="": messages.append(message))
    assert str(caught.value).startswith("my-epc.csv has no certificate rows")
    assert "uploads" not in str(caught.value) and "certificates-1-" not in str(caught.value)
    assert any(m.startswith("good.csv: ") for m in messages) and not any("certificates-0-" in m for m in messages)
    assert not target.exists() and not list((tmp_path / "uploads").iterdir())
    failed = access.audit_events(engine, MANAGER, action="stock.import")
    assert failed["action"].tolist() == ["stock.import_failed"]
    assert failed["details"].iloc[0]["files"] == {"certificates": ["good.csv", "my-epc.csv"]}
    engine.dispose()


def test_an_import_is_for_those_who_may_and_is_audited_with_its_files_rows_and_homes(tmp_path, monkeypatch):
    from tests.stock.test_epc import OLDER

    monkeypatch.setenv("RETROFIT_VAR_DIR", str(tmp_path))
    engine = open_database()
    def uploads():
        return workspace.save_uploads({"certificates": [("birmingham.csv", OLDER.read_bytes())]})

    with pytest.raises(RetrofitError, match="may not import a housing stock"):
        workspace.import_epc_stock(engine, VIEWER, uploads(), tmp_path / "stock" / "epc.parquet")
    assert not list((tmp_path / "uploads").iterdir()) and not (tmp_path / "stock" / "epc.parquet").exists()
    result = workspace.import_epc_stock(engine, ANALYST, uploads(), tmp_path / "stock" / "epc.parquet")
    event = access.audit_events(engine, MANAGER, action="stock.import").iloc[0]
    assert (event["who"], event["action"], event["target"]) == (ANALYST.who, "stock.import", "stock:epc.parquet")
    assert event["details"] == {"files": {"certificates": ["birmingham.csv"]},
                                "rows_read": result["summary"]["rows_read"], "homes": result["summary"]["homes"]}
    assert result["summary"]["homes"] > 0
    engine.dispose()
