"""A stored run written out for people and other tools: the plan, its KPIs and where it came from.

- csv: the plan rows, after `# ` lines holding the provenance and KPIs as JSON
  (pandas reads it with ``comment="#"``);
- xlsx: sheets plan, kpis, by_city, by_year, provenance;
- geojson: one feature per 2021 LSOA of the three cities with the plan's KPIs there
  (null where the plan has no home), and the run's provenance and KPIs as top-level members.

The plan rows (csv, and xlsx's plan sheet) are `read_plan`'s: with how each home is paid for,
council_gbp, grant_gbp, co_funding_gbp, funding and one grant_<id>_gbp column per scheme that
pays some home of the run (a run without grants: council_gbp = cost_gbp, the others 0 and "").

Files are written to a temporary name and renamed, so a failed export leaves no half file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pandas as pd

from retrofit.errors import RetrofitError
from retrofit.frames import atomic_write
from retrofit.geo import lsoa_feature_collection
from retrofit.plan import breakdown
from retrofit.store.models import Run
from retrofit.store.runs import get_run, read_plan
from retrofit.store.scenarios import get_scenario

FORMATS = ("csv", "xlsx", "geojson")
Progress = Callable[[float, str], None] | None


def provenance(engine, run: Run) -> dict:
    """Everything needed to say what a run was computed from, and to compute it again."""
    scenario = get_scenario(engine, run.scenario_name, run.scenario_version)
    return {
        "run_id": run.id, "scenario": run.scenario_name, "scenario_version": run.scenario_version,
        "scenario_hash": scenario.content_hash, "stock_hash": run.stock_hash, "stock_source": run.stock_source,
        "library_version": run.library_version, "candidates_hash": run.candidates_hash,
        "candidates_source": run.candidates_source, "plan_hash": run.plan_hash, "plan_rows": run.plan_rows,
        "status": run.status, "objective": run.objective, "bound": run.bound, "gap": run.gap,
        "solve_seconds": run.solve_seconds, "retrofit_version": run.retrofit_version,
        "created_by": run.created_by, "created_at": run.created_at.isoformat(),
    }


def _grouped(plan: pd.DataFrame, by: str) -> pd.DataFrame:
    table = breakdown(plan, by)
    return table if by in table.columns else table.reset_index()


def export_run(engine, run_id: int, fmt: str, out: str | Path, progress: Progress = None) -> Path:
    """Write run ``run_id`` to ``out`` as csv, xlsx or geojson; returns the path written."""
    if fmt not in FORMATS:
        raise RetrofitError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    out = Path(out)
    if not out.parent.is_dir():
        raise RetrofitError(f"cannot write {out}: folder {out.parent} does not exist")
    run = get_run(engine, run_id)
    if progress:
        progress(0.1, f"reading run {run_id}")
    plan = read_plan(engine, run_id)
    about = provenance(engine, run)
    if progress:
        progress(0.4, f"writing {fmt}")
    with atomic_write(out) as temporary:
        {"csv": _csv, "xlsx": _xlsx, "geojson": _geojson}[fmt](plan, run.kpis, about, temporary)
    if progress:
        progress(1.0, f"wrote {out}")
    return out


def _csv(plan: pd.DataFrame, kpis: dict, about: dict, path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(f"# provenance: {json.dumps(about)}\n# kpis: {json.dumps(kpis)}\n")
        plan.to_csv(handle, index=False)


def _xlsx(plan: pd.DataFrame, kpis: dict, about: dict, path: Path) -> None:
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        plan.to_excel(writer, sheet_name="plan", index=False)
        pd.DataFrame({"kpi": list(kpis), "value": list(kpis.values())}).to_excel(writer, sheet_name="kpis", index=False)
        _grouped(plan, "city").to_excel(writer, sheet_name="by_city", index=False)
        _grouped(plan, "year").to_excel(writer, sheet_name="by_year", index=False)
        pd.DataFrame({"item": list(about), "value": [str(v) for v in about.values()]}).to_excel(
            writer, sheet_name="provenance", index=False)


def _geojson(plan: pd.DataFrame, kpis: dict, about: dict, path: Path) -> None:
    collection = lsoa_feature_collection(_grouped(plan, "lsoa_code"))
    collection["provenance"] = about  # foreign members (RFC 7946 section 6.1)
    collection["kpis"] = kpis
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(collection, handle)
