"""Exports carry the plan, its KPIs and the run's provenance, in each format."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from retrofit.errors import RetrofitError
from retrofit.store import RunInputs, add_scenario, save_run
from retrofit.store.export import export_run
from tests.store.plans import make_plan, make_result


@pytest.fixture
def stored(engine):
    scenario = add_scenario(engine, 'name = "s"\n[budget]\ntotal_gbp = 1e9\n[years]\nstart = 2026\nend = 2028\n').record
    plan = make_plan(400)
    run = save_run(engine, scenario, make_result(plan), RunInputs(candidates_hash="cafe", stock_hash="beef"))
    return run, plan


def test_csv_has_provenance_then_the_plan(engine, stored, tmp_path):
    run, plan = stored
    out = export_run(engine, run.id, "csv", tmp_path / "plan.csv")
    head = out.read_text().splitlines()[:2]
    about = json.loads(head[0].removeprefix("# provenance: "))
    assert (about["run_id"], about["scenario"], about["stock_hash"], about["plan_hash"]) == (run.id, "s", "beef", run.plan_hash)
    assert json.loads(head[1].removeprefix("# kpis: "))["homes"] == 400
    back = pd.read_csv(out, comment="#")
    assert len(back) == 400 and set(back["home_id"]) == set(plan["home_id"])
    assert back["cost_gbp"].sum() == pytest.approx(plan["cost_gbp"].sum())


def test_xlsx_has_every_sheet(engine, stored, tmp_path):
    run, plan = stored
    out = export_run(engine, run.id, "xlsx", tmp_path / "plan.xlsx")
    sheets = pd.read_excel(out, sheet_name=None)
    assert list(sheets) == ["plan", "kpis", "by_city", "by_year", "provenance"]
    assert len(sheets["plan"]) == 400
    assert sheets["by_city"]["homes"].sum() == 400
    assert sheets["provenance"].set_index("item").loc["plan_hash", "value"] == run.plan_hash


def test_geojson_is_by_lsoa(engine, stored, tmp_path):
    run, plan = stored
    out = export_run(engine, run.id, "geojson", tmp_path / "plan.geojson")
    collection = json.loads(out.read_text())
    assert collection["type"] == "FeatureCollection" and collection["provenance"]["run_id"] == run.id
    assert len(collection["features"]) == 1023  # every LSOA of the three cities
    homes = {f["properties"]["lsoa_code"]: f["properties"]["homes"] for f in collection["features"]}
    expected = plan["lsoa_code"].value_counts()
    assert {k: v for k, v in homes.items() if v} == expected.to_dict()
    assert sum(v is None for v in homes.values()) == 1023 - len(expected)


def test_bad_requests_write_nothing(engine, stored, tmp_path):
    run, _ = stored
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    with pytest.raises(RetrofitError, match="unknown export format 'pdf'; use one of csv, xlsx, geojson"):
        export_run(engine, run.id, "pdf", tmp_path / "plan.pdf")
    with pytest.raises(RetrofitError, match="no run with id 77"):
        export_run(engine, 77, "csv", tmp_path / "plan.csv")
    with pytest.raises(RetrofitError, match="folder .*missing does not exist"):
        export_run(engine, run.id, "csv", tmp_path / "missing" / "plan.csv")
    assert list(tmp_path.iterdir()) == []
