"""The app's working set: stock files, measure library versions, example scenarios, runs' views
and EPC uploads.

Candidates are the pipeline's (`retrofit.pipeline`: appraised once per stock and library
version, cached on disk and in memory); a run from the app goes through `pipeline.run_scenario`
like `retrofit run`. Library versions edited in the app live under `var/library/<version>/`:
a full copy of the library files, validated by `load_library` before it is kept.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import pandas as pd

from retrofit.appraisal import load_library
from retrofit.errors import RetrofitError
from retrofit.frames import write_json
from retrofit.optimise import explain_homes
from retrofit.optimise.frontier import trace_frontier, weight_sensitivity
from retrofit.paths import DATA_DIR, default_stock_path, var_dir
from retrofit.pipeline import SHIPPED, library_dir, phase, run_inputs
from retrofit.reference import lsoas
from retrofit.scenario import Scenario, scenario_from_dict
from retrofit.service.access import allowed_home_cities, require
from retrofit.stock.epc import import_epc
from retrofit.stock.schema import write_stock
from retrofit.store import add_scenario, get_run, log_event, read_plan, scenario_names
from retrofit.store.runs import run_rows

Progress = Callable[[float, str], None] | None

EXAMPLES_DIR = DATA_DIR / "scenarios"


# --- stocks ------------------------------------------------------------------------------

def stock_files() -> list[Path]:
    """Stock files in var/stock/ (the default first), for the app's choice of stock."""
    folder = default_stock_path().parent
    found = sorted(p for p in folder.glob("*.parquet")) if folder.is_dir() else []
    default = default_stock_path()
    return ([default] if default in found else []) + [p for p in found if p != default]


def synthetic_share(path: str | Path | None) -> float | None:
    """Share of a stock file's homes that are synthetic (None when the file is not there)."""
    if path is None or not Path(path).exists():
        return None
    if Path(path).suffix.lower() == ".csv":
        column = pd.read_csv(path, usecols=["data_source"])["data_source"]
    else:
        column = pd.read_parquet(path, columns=["data_source"])["data_source"]
    return float((column.astype(str) == "synthetic").mean()) if len(column) else 0.0


# --- measure library versions -------------------------------------------------------------

def library_versions() -> list[dict]:
    """The shipped library, then saved versions (newest first): version, folder, note, who, when."""
    versions = [{"version": load_library().version, "key": SHIPPED, "folder": str(DATA_DIR),
                 "note": "shipped with the planner", "created_by": "", "created_at": ""}]
    root = var_dir() / "library"
    saved = []
    for folder in root.glob("*/") if root.is_dir() else []:
        meta_path = folder / "meta.json"
        if meta_path.exists():
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            saved.append({"version": folder.name, "key": folder.name, "folder": str(folder), **meta})
    return versions + sorted(saved, key=lambda m: m.get("created_at", ""), reverse=True)


LIBRARY_FILES = ("measures.csv", "packages.csv")


def library_table(version: str | None, name: str) -> pd.DataFrame:
    """One library file as text cells (so an unchanged table writes back unchanged)."""
    folder = library_dir(version) or DATA_DIR
    path = folder / name
    if not path.exists():
        raise RetrofitError(f"{path} does not exist")
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def library_table_names(version: str | None = None) -> list[str]:
    """The editable files of a library: measures.csv, packages.csv, then appraisal/*.csv."""
    folder = library_dir(version) or DATA_DIR
    return list(LIBRARY_FILES) + [f"appraisal/{p.name}" for p in sorted((folder / "appraisal").glob("*.csv"))]


def save_library(engine, principal, edits: dict[str, pd.DataFrame], base: str | None = None, note: str = ""):
    """Save ``base`` with ``edits`` (file name -> table) as a new library version; the Library.

    Only for those who may edit the library (``principal``). The copy is validated by
    `load_library` before it is kept, so an invalid edit raises its RetrofitError (file, line,
    column) and leaves nothing behind. Saving content that an existing version already has
    returns that version. A new version is recorded in the audit log (`library.save`).
    """
    require(principal, "edit_library")
    source = library_dir(base) or DATA_DIR
    root = var_dir() / "library"
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        (staging / "appraisal").mkdir()
        for name in library_table_names(base):
            shutil.copyfile(source / name, staging / name)
        shutil.copyfile(source / "appraisal" / "appraisal.toml", staging / "appraisal" / "appraisal.toml")
        for name, table in edits.items():
            if name not in library_table_names(base):
                raise RetrofitError(f"{name} is not a file of the measure library")
            table.to_csv(staging / name, index=False)
        try:
            library = load_library(staging)
        except RetrofitError as error:
            raise RetrofitError(str(error).replace(str(staging), "edited library")) from None
        if library.version == load_library().version:
            return load_library()  # the shipped content: nothing new to keep
        target = root / library.version
        if not target.exists():
            based_on = load_library(library_dir(base)).version
            write_json(staging / "meta.json", {
                "note": note, "based_on": based_on, "created_by": principal.who,
                "created_at": datetime.now(timezone.utc).isoformat()})
            staging.rename(target)
            log_event(engine, principal.who, "library.save", f"library:{library.version}",
                      {"based_on": based_on, "files": sorted(edits), "note": note})
        return load_library(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# --- scenarios --------------------------------------------------------------------------

def seed_examples(engine) -> list[str]:
    """Store the example scenarios of data/scenarios/ when the database has none; their names."""
    if scenario_names(engine):
        return []
    added = []
    for path in sorted(EXAMPLES_DIR.glob("*.toml")):
        added.append(add_scenario(engine, path.read_text(encoding="utf-8"), source=str(path)).record.name)
    return added


def full_stock_homes() -> int:
    """Households of the three cities (DESNZ 2022): the size the example scenarios are made for."""
    return int(lsoas()["households"].sum())


def scale_scenario(scenario: Scenario, factor: float) -> Scenario:
    """The scenario with money and capacity multiplied by ``factor`` (shares and rules kept).

    For trying a full-stock scenario on a sample stock: 5,000 homes of 686,261 get 0.73% of
    the budget and of each city's crews.
    """
    data = scenario.model_dump(exclude_none=True)
    data["budget"]["total_gbp"] = round(data["budget"]["total_gbp"] * factor, 2)
    if "per_year_gbp" in data["budget"]:
        data["budget"]["per_year_gbp"] = [round(v * factor, 2) for v in data["budget"]["per_year_gbp"]]
    for funding in data.get("funding", {}).values():
        funding["total_gbp"] = round(funding["total_gbp"] * factor, 2)
        if "per_year_gbp" in funding:
            funding["per_year_gbp"] = [round(v * factor, 2) for v in funding["per_year_gbp"]]
    for city in data.get("cities", {}).values():
        if "homes_per_year" in city:
            city["homes_per_year"] = int(round(city["homes_per_year"] * factor))
        if "trade_days_per_year" in city:
            city["trade_days_per_year"] = {k: round(v * factor, 2) for k, v in city["trade_days_per_year"].items()}
    start = data.get("delivery", {}).get("ramp_start")  # a first year's homes: capacity too
    if isinstance(start, dict):
        data["delivery"]["ramp_start"] = {k: int(round(v * factor)) for k, v in start.items()}
    elif start is not None:
        data["delivery"]["ramp_start"] = int(round(start * factor))
    return scenario_from_dict(data, source=f"{scenario.name} scaled by {factor:.4g}")


# --- runs ---------------------------------------------------------------------------------

RUN_COLUMNS = ("id", "scenario_name", "scenario_version", "status", "gap", "solve_seconds", "plan_rows",
               "stock_source", "library_version", "kpis", "created_by", "created_at")


def run_table(engine) -> pd.DataFrame:
    """Every stored run, newest first, without its details (which can be large): one row each."""
    table = run_rows(engine, RUN_COLUMNS)
    if table.empty:
        return table
    kpis = pd.DataFrame(list(table["kpis"]))
    table["label"] = [f"#{i} {n} v{v}" for i, n, v in zip(table["id"], table["scenario_name"], table["scenario_version"])]
    return pd.concat([table, kpis.reindex(columns=["homes", "spend_gbp", "annual_co2_t_saved",
                                                   "lifetime_co2_t_saved", "fuel_poor_lifted",
                                                   "jobs_fte_years"])], axis=1)


def run_summary(engine, run_id: int):
    """A stored run: its scenario version, inputs, status, KPIs and (small) details, with no home row.

    Runs stored before prices replaced per-home explanations kept one per home in
    ``details["homes"]``; it is left out (tens of MB, and home-level).
    """
    run = get_run(engine, run_id)
    if "homes" in (run.details or {}):
        run.details = {key: value for key, value in run.details.items() if key != "homes"}
    return run


def run_explanations(engine, principal, run_id: int, home_ids: list[str]) -> pd.DataFrame:
    """Why each of ``home_ids`` is in or out of a stored run, by home_id, for the homes ``principal``
    may read (a viewer is refused; another city's home is left out, as a home that does not exist).

    Recomputed from the run's inputs (its scenario version and candidates, which must hash
    as the run's did) and the prices it stored: a run never carries one row per home.
    """
    cities = allowed_home_cities(principal)  # refuse before reading anything
    run = get_run(engine, run_id)
    scenario, candidates = run_inputs(engine, run_id)
    wanted = [str(h) for h in home_ids]
    mine = candidates[candidates["home_id"].astype(str).isin(wanted) & candidates["city"].isin(cities)]
    plan = read_plan(engine, run_id)
    explanations = explain_homes(mine, scenario, run.details or {}, wanted, plan=plan[plan["city"].isin(cities)])
    explanations["home_id"] = explanations["home_id"].astype(str)
    return explanations.set_index("home_id")


def frontier_for_run(engine, run_id: int, first: str = "carbon", second: str = "fuel_poverty", points: int = 5,
                     progress: Progress = None, cancel: threading.Event | None = None) -> pd.DataFrame:
    """The carbon / fuel poverty / jobs frontier around a stored run's scenario: one row per point."""
    scenario, candidates = run_inputs(engine, run_id, phase(progress, 0.0, 0.1))
    curve, _ = trace_frontier(candidates, scenario, first, second, points, progress=phase(progress, 0.1, 1.0),
                              cancel=cancel)
    return curve


def sensitivity_for_run(engine, run_id: int, weight: str, values: list[float], progress: Progress = None,
                        cancel: threading.Event | None = None) -> pd.DataFrame:
    """How a stored run's KPIs move as one weight of its scenario moves."""
    scenario, candidates = run_inputs(engine, run_id, phase(progress, 0.0, 0.1))
    return weight_sensitivity(candidates, scenario, weight, values, phase(progress, 0.1, 1.0), cancel)


# --- EPC import from the app --------------------------------------------------------------

MAX_UPLOAD_BYTES = 2 << 30  # what one import from the app may hold on disk


def save_uploads(files: dict[str, list[tuple[str, bytes]]]) -> dict[str, list[Path]]:
    """Write uploaded files (role -> [(name, bytes)]) to a fresh folder under var/uploads/."""
    total = sum(len(content) for items in files.values() for _, content in items)
    if total > MAX_UPLOAD_BYTES:
        raise RetrofitError(f"the uploads hold {total / 2**20:,.0f} MB, above {MAX_UPLOAD_BYTES / 2**20:,.0f} MB; "
                            "import large files with `retrofit stock import-epc` on the server")
    root = var_dir() / "uploads"
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="epc-", dir=root))
    saved: dict[str, list[Path]] = {}
    for role, items in files.items():
        saved[role] = []
        for i, (name, content) in enumerate(items):
            path = folder / f"{role}-{i}-{Path(name).name}"
            path.write_bytes(content)
            saved[role].append(path)
    return saved


def stock_target(name: str) -> Path:
    """var/stock/<name>.parquet for a name a person typed (letters, digits, - and _ only)."""
    name = (name or "").strip().removesuffix(".parquet")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", name):
        raise RetrofitError(f"stock name {name!r}: use letters, digits, - and _ (up to 64), e.g. epc-birmingham")
    if name == default_stock_path().stem:
        raise RetrofitError(f"{name!r} is the default synthetic stock's name; choose another")
    return default_stock_path().parent / f"{name}.parquet"


def import_epc_stock(engine, principal, uploads: dict[str, list[Path]], target: Path,
                     progress: Progress = None) -> dict:
    """Import uploaded EPC files into a stock file; the import's summary and where it went.

    Only for those who may import a stock (``principal``); the import, or its failure, is
    recorded in the audit log (`stock.import`, `stock.import_failed`: the files as uploaded,
    rows read, homes, who). Errors and progress name each file as the user uploaded it, not
    as saved on the server (`save_uploads` writes `<role>-<i>-<name>` in a temporary folder).
    """
    as_uploaded = {}  # saved path, then its bare name (longest first) -> the uploaded name
    for role, paths in uploads.items():
        for i, path in enumerate(paths):
            as_uploaded[str(path)] = as_uploaded[path.name] = path.name.removeprefix(f"{role}-{i}-")

    def uploaded_names(text: str) -> str:
        for saved in sorted(as_uploaded, key=len, reverse=True):
            text = text.replace(saved, as_uploaded[saved])
        return text

    report = None if progress is None else (lambda fraction, message="": progress(fraction, uploaded_names(message)))
    files = {role: [as_uploaded[str(path)] for path in paths] for role, paths in uploads.items() if paths}
    try:
        require(principal, "import_stock")  # refused: the uploads are removed all the same
        result = import_epc(uploads["certificates"], (uploads.get("recommendations") or [None])[0],
                            (uploads.get("lookup") or [None])[0], progress=phase(report, 0.0, 0.95))
        write_stock(result.stock, target)
    except RetrofitError as error:
        error.args = (uploaded_names(str(error)),)  # the same kind of error, in the user's names
        log_event(engine, principal.who, "stock.import_failed", f"stock:{target.name}",
                  {"files": files, "error": str(error)})
        raise
    finally:
        for paths in uploads.values():
            for path in paths:
                path.unlink(missing_ok=True)
        folders = {p.parent for paths in uploads.values() for p in paths}
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
    log_event(engine, principal.who, "stock.import", f"stock:{target.name}",
              {"files": files, "rows_read": result.summary.get("rows_read"), "homes": result.summary.get("homes")})
    if progress:
        progress(1.0, f"wrote {target.name}")
    return {"path": str(target), "summary": result.summary}


def import_report(summary: dict) -> pd.DataFrame:
    """The import summary as a two-column table a person can read (what, how many)."""
    rows = []

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}: {key}" if prefix else str(key), inner)
        else:
            rows.append({"item": prefix.replace("_", " "), "count": value})

    walk("", summary)
    return pd.DataFrame(rows, columns=["item", "count"]).astype({"count": "str"})
