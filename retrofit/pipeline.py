"""Plan a stored scenario and store the run: the whole flow behind `retrofit run NAME`.

The inputs are hashed as they go in (stock, measure library, candidates), so the stored run
says exactly what it was computed from; `rerun` repeats a stored run from those inputs.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

import pandas as pd

from retrofit.candidates import read_candidates
from retrofit.errors import RetrofitError
from retrofit.hashing import table_hash
from retrofit.paths import default_stock_path
from retrofit.store.models import Run
from retrofit.store.runs import RunInputs, save_run
from retrofit.store.scenarios import get_scenario, parse

Progress = Callable[[float, str], None] | None


def phase(progress: Progress, start: float, end: float) -> Progress:
    """Progress of one step mapped onto its share [start, end] of the whole."""
    if progress is None:
        return None
    return lambda fraction, message="": progress(start + (end - start) * max(0.0, min(1.0, fraction)), message)


def candidates_from_stock(stock_path: str | Path, progress: Progress = None) -> tuple[pd.DataFrame, RunInputs]:
    """Appraise a stock file with the current measure library; the candidates and their provenance."""
    from retrofit.appraisal import appraise
    from retrofit.appraisal.measures import load_library
    from retrofit.stock.schema import read_stock

    stock_path = Path(stock_path)
    if not stock_path.exists():
        raise RetrofitError(f"stock file {stock_path} does not exist; make one with "
                            f"`retrofit stock generate --out {stock_path}`, or give --stock or --candidates")
    if progress:
        progress(0.0, f"reading {stock_path}")
    stock = read_stock(stock_path)
    library = load_library()
    candidates = appraise(stock, library, progress=phase(progress, 0.1, 1.0))
    return candidates, RunInputs(candidates_hash=table_hash(candidates), stock_hash=table_hash(stock),
                                 library_version=library.version, stock_source=str(stock_path))


def plan_and_store(engine, name: str, version: int | None = None, stock: str | Path | None = None,
                   candidates: str | Path | None = None, who: str | None = None, progress: Progress = None,
                   cancel: threading.Event | None = None) -> Run:
    """Plan scenario ``name`` (latest version unless given) on a stock or a candidate file; store the run.

    With neither, the default stock (`var/stock/default.parquet`) is appraised.
    """
    from retrofit.optimise import optimise

    if stock is not None and candidates is not None:
        raise RetrofitError("give a stock (--stock) or a candidate file (--candidates), not both")
    record = get_scenario(engine, name, version)
    scenario = parse(record)
    if candidates is not None and not Path(candidates).exists():
        raise RetrofitError(f"candidate file {candidates} does not exist; make one with "
                            f"`retrofit appraise STOCK --out {candidates}`")
    if candidates is not None:
        if progress:
            progress(0.0, f"reading {candidates}")
        table = read_candidates(candidates)
        inputs = RunInputs(candidates_hash=table_hash(table), candidates_source=str(candidates))
    else:
        table, inputs = candidates_from_stock(stock or default_stock_path(), phase(progress, 0.0, 0.3))
    result = optimise(table, scenario, progress=phase(progress, 0.3, 0.9), cancel=cancel)
    return save_run(engine, record, result, inputs, who=who, progress=phase(progress, 0.9, 1.0))


def reproduce(engine, run_id: int, stock: str | Path | None = None, candidates: str | Path | None = None,
              progress: Progress = None):
    """Solve a stored run again from its inputs (a `PlanResult`): its scenario version, and the
    stock or candidate file given, which must hash as the run's did (else a RetrofitError)."""
    from retrofit.optimise import optimise
    from retrofit.store.runs import get_run

    run = get_run(engine, run_id)
    record = get_scenario(engine, run.scenario_name, run.scenario_version)
    if candidates is not None:
        table = read_candidates(candidates)
        inputs = RunInputs(candidates_hash=table_hash(table))
    else:
        stock = stock or run.stock_source
        if stock is None:
            raise RetrofitError(f"run {run_id} was planned on a candidate file ({run.candidates_source}); "
                                f"give that file (candidates hash {run.candidates_hash})")
        table, inputs = candidates_from_stock(stock, phase(progress, 0.0, 0.3))
        if inputs.stock_hash != run.stock_hash:
            raise RetrofitError(f"stock {stock} is not the stock run {run_id} used "
                                f"(hash {inputs.stock_hash}, the run's {run.stock_hash})")
    if inputs.candidates_hash != run.candidates_hash:
        raise RetrofitError(f"the candidates are not those run {run_id} used (hash {inputs.candidates_hash}, "
                            f"the run's {run.candidates_hash}); was the measure library changed? "
                            f"(run: {run.library_version}, now: {inputs.library_version})")
    return optimise(table, parse(record), progress=phase(progress, 0.3, 1.0))
