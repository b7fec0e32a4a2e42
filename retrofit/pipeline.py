"""The one way from a stored scenario to a stored run: candidates, optimise, check, store.

Every entry point goes through here: `retrofit run`, the app's builder, a run's trade-offs
and explanations (which need the run's own inputs again).

- **Candidates**: a partner's candidate file as given, or a stock's, appraised once per stock
  and measure library version and kept on disk under `var/candidates/<stock hash>-<library
  version>.parquet` (hashes beside it) and in memory once per process, shared by every user:
  the full stock's three million rows take a while to appraise, and every run needs them.
- **Optimise**: `retrofit.optimise.optimise`, which returns only a plan that keeps every rule.
- **Check and store**: `retrofit.store.save_run`, which refuses a plan that breaks its
  scenario's rules and stores the inputs' hashes (stock, library, candidates), so a run says
  exactly what it was computed from and `reproduce` can repeat it.

Measure library versions edited in the app live under `var/library/<version>/`
(`library_dir`); the shipped library is data/.
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import date
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import pandas as pd

from retrofit.actuals import check_actuals, read_status_file
from retrofit.appraisal import Library, appraise, load_library
from retrofit.candidates import read_candidates
from retrofit.errors import RetrofitError, printable
from retrofit.frames import write_json, write_table
from retrofit.hashing import table_hash
from retrofit.optimise import optimise
from retrofit.optimise.held import from_actuals
from retrofit.optimise.reserves import reserve_list
from retrofit.paths import default_stock_path, var_dir
from retrofit.plan import PlanResult
from retrofit.scenario import Scenario
from retrofit.stock.schema import read_stock
from retrofit.store import Run, RunInputs, get_run, get_scenario, parse, read_plan, save_run
from retrofit.store.actuals import StoredActuals, get_actuals, read_actuals, save_actuals

Progress = Callable[[float, str], None] | None

SHIPPED = "shipped"  # the library in data/ (not a folder under var/library/)
MEMORY_SLOTS = 2     # candidate tables kept in memory (the full stock's is ~350 MB)


def phase(progress: Progress, start: float, end: float) -> Progress:
    """Progress of one step mapped onto its share [start, end] of the whole."""
    if progress is None:
        return None
    return lambda fraction, message="": progress(start + (end - start) * max(0.0, min(1.0, fraction)), message)


# --- stocks and library versions -----------------------------------------------------------

_LOCK = threading.Lock()


def _stock_index_key(path: Path) -> str:
    stat = path.stat()
    return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


def _stock_index() -> tuple[Path, dict]:
    path = var_dir() / "candidates" / "stocks.json"
    with _LOCK:
        return path, json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _existing(stock: str | Path) -> Path:
    path = Path(stock)
    if not path.exists():
        raise RetrofitError(f"stock file {path} does not exist; build it with `make stock` "
                            f"(or `retrofit stock generate --out {path}`), or import EPC data on the Data page")
    return path


def stock_hash(path: str | Path) -> str:
    """The stock's content hash, remembered per file (path, size, modification time)."""
    path = _existing(path)
    key = _stock_index_key(path)
    index_path, index = _stock_index()
    if key in index:
        return index[key]["stock_hash"]
    stock = read_stock(path)
    value = table_hash(stock)
    with _LOCK:
        index = json.loads(index_path.read_text(encoding="utf-8")) if index_path.exists() else {}
        index[key] = {"stock_hash": value, "homes": len(stock)}
        write_json(index_path, index)
    return value


def stock_homes(path: str | Path) -> int:
    """Number of homes in a stock file (from the hash index when known)."""
    stock_hash(path)
    return int(_stock_index()[1][_stock_index_key(Path(path))]["homes"])


def library_dir(version: str | None) -> Path | None:
    """The folder of a saved library version (None for the shipped library)."""
    if version in (None, SHIPPED):
        return None
    folder = var_dir() / "library" / version
    if not (folder / "measures.csv").exists():
        raise RetrofitError(f"measure library version {version} is not saved in {folder.parent}; "
                            f"choose one listed on the Data page")
    return folder


def library_of_version(version: str | None) -> str:
    """The key (`SHIPPED` or a saved version) of the library a run recorded as ``version``."""
    return SHIPPED if version in (None, load_library().version) else version


# --- candidates, appraised once -----------------------------------------------------------

_MEMORY: OrderedDict[tuple[str, str], tuple[pd.DataFrame, str]] = OrderedDict()  # -> (table, candidates hash)
_KEY_LOCKS: dict[tuple[str, str], threading.Lock] = {}


def candidates_for(stock: str | Path | None = None, library: str | None = None,
                   progress: Progress = None) -> tuple[pd.DataFrame, RunInputs]:
    """(candidates, RunInputs) for a stock file (default: var/stock/default.parquet) and library
    version (None: the shipped one), appraised at most once per content (two files holding the
    same homes share one appraisal; each run names its own file).

    Looked up in memory, then in `var/candidates/`; appraised (and saved there) when new.
    The returned table is shared: callers must not change it.
    """
    stock_path = _existing(stock if stock is not None else default_stock_path())  # before any progress is shown
    report = progress or (lambda fraction, message: None)
    report(0.0, f"checking {stock_path.name}")
    stock_key = stock_hash(stock_path)
    library_used = load_library(library_dir(library))
    key = (stock_key, library_used.version)
    with _LOCK:
        key_lock = _KEY_LOCKS.setdefault(key, threading.Lock())
    with key_lock:  # two users asking for the same new stock: one appraisal
        with _LOCK:
            kept = _MEMORY.get(key)
            if kept is not None:
                _MEMORY.move_to_end(key)
        if kept is None:
            table, meta = _appraised(stock_path, stock_key, library_used, progress)
            kept = (table, meta["candidates_hash"])
            with _LOCK:
                _MEMORY[key] = kept
                while len(_MEMORY) > MEMORY_SLOTS:
                    _MEMORY.popitem(last=False)
            report(1.0, f"{len(table):,} candidate rows")
    table, candidates_hash = kept
    return table, RunInputs(candidates_hash=candidates_hash, stock_hash=stock_key,
                            library_version=library_used.version, stock_source=str(stock_path))


def _appraised(stock_path: Path, stock_key: str, library: Library, progress: Progress) -> tuple[pd.DataFrame, dict]:
    """The stock's candidates from `var/candidates/`, or appraised now and kept there; and their hashes."""
    report = progress or (lambda fraction, message: None)
    table_path = var_dir() / "candidates" / f"{stock_key}-{library.version}.parquet"
    meta_path = table_path.with_suffix(".json")
    if table_path.exists() and meta_path.exists():
        report(0.2, "reading the appraised candidates")
        return pd.read_parquet(table_path), json.loads(meta_path.read_text(encoding="utf-8"))
    report(0.02, f"reading {stock_path.name}")
    homes = read_stock(stock_path)
    table = appraise(homes, library, progress=phase(progress, 0.05, 0.9))
    report(0.9, "saving the candidates for the next run")
    meta = {"candidates_hash": table_hash(table), "stock_hash": stock_key, "library_version": library.version,
            "homes": len(homes), "rows": len(table)}
    write_table(table, table_path)
    write_json(meta_path, meta)
    return table, meta


def candidates_from_file(path: str | Path, progress: Progress = None) -> tuple[pd.DataFrame, RunInputs]:
    """A partner's own candidate table (CSV or Parquet), checked, and its provenance."""
    if not Path(path).exists():
        raise RetrofitError(f"candidate file {path} does not exist; make one with "
                            f"`retrofit appraise STOCK --out {path}`")
    if progress:
        progress(0.0, f"reading {path}")
    table = read_candidates(path)
    return table, RunInputs(candidates_hash=table_hash(table), candidates_source=str(path))


# --- runs -------------------------------------------------------------------------------------

def run_scenario(engine, name: str, version: int | None = None, *, stock: str | Path | None = None,
                 candidates: str | Path | None = None, library: str | None = None, who: str | None = None,
                 progress: Progress = None, cancel: threading.Event | None = None,
                 from_run: int | None = None, today: date | None = None) -> Run | None:
    """Plan scenario ``name`` (latest version unless given) and store the run; None when cancelled.

    On a candidate file, or on a stock (default: var/stock/default.parquet) appraised with
    ``library`` (a saved version; None: the shipped one), read from the cache when it was
    appraised before. The stored run is checked again by `save_run` before it is kept.

    ``from_run``: a re-plan from that run's latest actuals (on its inputs, unless others are
    given): what is contracted, in progress or completed is held, declined and withdrawn homes are
    left out, the years before ``today``'s programme year are over, and the rest is planned again
    (`retrofit.optimise.held`). The run records which run and actuals it came from."""
    if stock is not None and candidates is not None:
        raise RetrofitError("give a stock (--stock) or a candidate file (--candidates), not both")
    record = get_scenario(engine, name, version)
    scenario = parse(record)
    if candidates is not None:
        table, inputs = candidates_from_file(candidates, phase(progress, 0.0, 0.25))
    elif stock is None and from_run is not None:
        table, inputs = _run_candidates(engine, get_run(engine, from_run), phase(progress, 0.0, 0.25))
    else:
        table, inputs = candidates_for(stock, library, phase(progress, 0.0, 0.25))
    if cancel is not None and cancel.is_set():
        return None
    replan = None
    if from_run is not None:
        actuals = get_actuals(engine, from_run)
        replan = from_actuals(table, scenario, read_actuals(engine, from_run, actuals.version),
                              read_plan(engine, from_run), today or date.today())
        replan.summary.update(from_run=from_run, actuals_version=actuals.version, actuals_hash=actuals.content_hash)
    try:
        if replan is None:
            result = optimise(table, scenario, progress=phase(progress, 0.25, 0.9), cancel=cancel)
        else:
            result = optimise(replan.candidates, replan.scenario, progress=phase(progress, 0.25, 0.9), cancel=cancel,
                              held=replan.held)
            result = replace(result, details={**result.details, "replan": replan.summary})
    except RetrofitError:
        if cancel is not None and cancel.is_set():
            return None  # cancelled before a plan was found: nothing to store, as when cancelled after
        raise
    if cancel is not None and cancel.is_set():
        return None
    return save_run(engine, record, result, inputs, who=who, progress=phase(progress, 0.9, 1.0))


def _run_candidates(engine, run: Run, progress: Progress = None) -> tuple[pd.DataFrame, RunInputs]:
    """The candidates a stored run was planned on, which must hash as the run's did (else a
    RetrofitError: the stock, library or file changed since)."""
    if run.stock_source is None:
        if not run.candidates_source:
            raise RetrofitError(f"run {run.id} names neither the stock nor the candidate file it was planned on")
        candidates, inputs = candidates_from_file(run.candidates_source, progress)
    else:
        candidates, inputs = candidates_for(run.stock_source, library_of_version(run.library_version), progress)
    if inputs.candidates_hash != run.candidates_hash:
        changed = run.candidates_source or f"the stock or library of run {run.id}"
        raise RetrofitError(f"{changed} changed since run {run.id} was planned (candidates hash now "
                            f"{inputs.candidates_hash}, the run's {run.candidates_hash}); run the scenario again first")
    return candidates, inputs


def run_inputs(engine, run_id: int, progress: Progress = None) -> tuple[Scenario, pd.DataFrame]:
    """The scenario version and the candidates a stored run was planned on (see `_run_candidates`)."""
    run = get_run(engine, run_id)
    scenario = parse(get_scenario(engine, run.scenario_name, run.scenario_version))
    return scenario, _run_candidates(engine, run, progress)[0]


def reproduce(engine, run_id: int, stock: str | Path | None = None, candidates: str | Path | None = None,
              progress: Progress = None) -> PlanResult:
    """Solve a stored run again from its inputs (a `PlanResult`): its scenario version, and the
    stock or candidate file given (default: the run's stock), which must hash as the run's did."""
    run = get_run(engine, run_id)
    record = get_scenario(engine, run.scenario_name, run.scenario_version)
    if candidates is not None:
        table, inputs = candidates_from_file(candidates)
    else:
        stock = stock or run.stock_source
        if stock is None:
            raise RetrofitError(f"run {run_id} was planned on a candidate file ({run.candidates_source}); "
                                f"give that file (candidates hash {run.candidates_hash})")
        table, inputs = candidates_for(stock, library_of_version(run.library_version), phase(progress, 0.0, 0.3))
        if inputs.stock_hash != run.stock_hash:
            raise RetrofitError(f"stock {stock} is not the stock run {run_id} used "
                                f"(hash {inputs.stock_hash}, the run's {run.stock_hash})")
    if inputs.candidates_hash != run.candidates_hash:
        raise RetrofitError(f"the candidates are not those run {run_id} used (hash {inputs.candidates_hash}, "
                            f"the run's {run.candidates_hash}); was the measure library changed? "
                            f"(run: {run.library_version}, now: {inputs.library_version})")
    return optimise(table, parse(record), progress=phase(progress, 0.3, 1.0))


# --- delivery actuals -------------------------------------------------------------------------

def import_actuals(engine, run_id: int, path: str | Path, who: str | None = None, today=None,
                   progress: Progress = None) -> StoredActuals:
    """Check a delivery status file against run ``run_id`` (its candidate homes and packages, its
    programme's start) and store it as the run's next actuals version; every problem raises
    one `ActualsError` and nothing is stored."""
    report = progress or (lambda fraction, message: None)
    report(0.0, f"reading {Path(path).name}")
    raw = read_status_file(path)
    report(0.1, f"the homes and packages of run {run_id}")
    scenario, candidates = run_inputs(engine, run_id, phase(progress, 0.1, 0.8))
    report(0.8, f"checking {len(raw):,} rows")
    table = check_actuals(raw, candidates[["home_id", "package_id"]], scenario.years.start, str(path), today)
    report(0.9, f"storing {len(table):,} rows")
    stored = save_actuals(engine, run_id, table, str(path), who)
    report(1.0, f"stored actuals version {stored.record.version} of run {run_id}" if stored.created
           else f"unchanged: same content as version {stored.record.version}")
    return stored


def run_reserves(engine, run_id: int, lsoa: str | None = None, progress: Progress = None) -> pd.DataFrame:
    """The reserve list of a stored run (`retrofit.optimise.reserves`), on its own inputs and
    normalisers; a re-plan never offers a home its actuals already settled (held, declined or
    withdrawn). ``lsoa``: only that LSOA's planned homes."""
    report = progress or (lambda fraction, message: None)
    run = get_run(engine, run_id)
    report(0.0, f"the inputs of run {run_id}")
    scenario, candidates = run_inputs(engine, run_id, phase(progress, 0.0, 0.6))
    plan = read_plan(engine, run_id)
    if lsoa is not None and not (plan["lsoa_code"].astype(str) == lsoa).any():
        raise RetrofitError(f"run {run_id} plans no home in LSOA {printable(lsoa, limit=40)}; "
                            f"its plan's LSOAs are in `retrofit runs export {run_id} --format csv`")
    replan = (run.details or {}).get("replan")
    settled = set(read_actuals(engine, replan["from_run"], replan["actuals_version"])["home_id"].astype(str)) \
        if replan else set()
    normalisers = (run.details or {}).get("lagrange", {}).get("normalisers") or {}
    report(0.6, f"reserves for {len(plan):,} planned homes")
    out = reserve_list(candidates, scenario, plan, normalisers, exclude=settled)
    if lsoa is not None:  # the whole run's list, then the area's: a ward's reserves go where the whole list puts them
        out = out[out["lsoa_code"] == lsoa].reset_index(drop=True)
    report(1.0, f"{len(out):,} reserves")
    return out
