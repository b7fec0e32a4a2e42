"""Stored runs: written once, as a whole, and read back as they were.

A run row and all its plan rows go in one transaction through a bulk path (executemany on
SQLite, COPY on PostgreSQL), so a process killed half-way leaves no trace of the run. The
plan hash covers the decision (home, package, year) and, for a plan that draws on grants,
how each home is paid for: re-running a run's inputs must give the same hash. A plan that
breaks its scenario's rules is never stored, whatever route it came by (`save_run` is the
one place every route goes through).
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from datetime import timezone
from importlib.metadata import PackageNotFoundError, version
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.compute
import pyarrow.csv
import pyarrow.json
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection, Engine

from retrofit.errors import RetrofitError
from retrofit.hashing import table_hash
from retrofit.plan import GRANT_COLUMN, check_plan_alone, grant_column
from retrofit.store.audit import current_user, record_event
from retrofit.store.database import reading, retrying, writing
from retrofit.store.scenarios import parse
from retrofit.store.models import (
    PLAN_COLUMNS, PLAN_DELIVERY, PLAN_FUNDING, PLAN_GRANTS, PLAN_INTEGER, PLAN_OPTIONAL, PLAN_TEXT, PlanRow, Run, ScenarioVersion,
    utc_now,
)

Progress = Callable[[float, str], None] | None
CHUNK_ROWS = 20_000  # plan rows per bulk statement: progress between chunks, bounded memory


@dataclass(frozen=True)
class RunInputs:
    """What a run was computed from, by content hash (and where it was read, for people)."""

    candidates_hash: str
    stock_hash: str | None = None
    library_version: str | None = None
    stock_source: str | None = None
    candidates_source: str | None = None


def retrofit_version() -> str:
    try:
        return version("retrofit-planner")
    except PackageNotFoundError:
        return "unknown"


def plan_hash(plan: pd.DataFrame) -> str:
    """Hash of the plan's decisions: which home gets which package in which year, and who pays.

    A plan paid for by the council alone (no grant or co-funding anywhere, or no funding
    columns at all) hashes its decisions only, as every plan did before grants existed, so
    such runs keep their hashes. Otherwise the hash also covers each row's council_gbp,
    grant_gbp, co_funding_gbp (in whole pence), funding, and every grant_<id>_gbp column
    with a non-zero grant (a scheme's column of zeros counts as no column)."""
    key = pd.DataFrame({"home_id": plan["home_id"].astype("str"), "package_id": plan["package_id"].astype("str"),
                        "year": pd.to_numeric(plan["year"]).astype("int64")})
    if not _has_funding(plan):
        return table_hash(key)
    funding = funding_table(plan)
    if _council_only(plan, funding):
        return table_hash(key)
    paid = {c: _pence(funding[c]) for c in funding.columns if c != "funding" and
            (c in PLAN_FUNDING or funding[c].to_numpy().any())}
    return table_hash(key.assign(funding=funding["funding"].to_numpy(), **paid))


def funding_table(plan: pd.DataFrame) -> pd.DataFrame:
    """How each row of ``plan`` is paid for: council_gbp, grant_gbp, co_funding_gbp, funding, then one
    grant_<id>_gbp per scheme column of the plan (by id); what the plan lacks is council money
    (council_gbp = cost_gbp, no grant, no co-funding, funding ""). Missing values are kept (NaN)."""
    index = range(len(plan))
    cost = pd.to_numeric(pd.Series(plan["cost_gbp"].to_numpy()), errors="coerce").astype("float64")
    table = pd.DataFrame(index=index)
    for column in PLAN_FUNDING[:3]:
        table[column] = (_numbers(plan[column]) if column in plan.columns
                         else cost.copy() if column == "council_gbp" else 0.0)
    table["funding"] = (pd.Series(plan["funding"].to_numpy(), dtype="object").astype("str")
                        if "funding" in plan.columns else pd.Series("", index=index, dtype="str"))
    schemes = sorted((match.group(1), column) for column in plan.columns
                     if (match := GRANT_COLUMN.fullmatch(str(column))))
    for _, column in schemes:
        table[column] = _numbers(plan[column])
    return table


def _numbers(column: pd.Series) -> pd.Series:
    return pd.to_numeric(pd.Series(column.to_numpy()), errors="coerce").astype("float64")


def _pence(values: pd.Series) -> np.ndarray:
    return np.rint(values.to_numpy(dtype="float64") * 100).astype("int64")


def _has_funding(plan: pd.DataFrame) -> bool:
    """Whether the plan has any funding column (council_gbp, ..., grant_<id>_gbp)."""
    return any(c in PLAN_FUNDING or GRANT_COLUMN.fullmatch(str(c)) for c in plan.columns)


def _council_only(plan: pd.DataFrame, funding: pd.DataFrame) -> bool:
    """True when the council pays every row in full: the plan as it was before grants existed."""
    if not _has_funding(plan):
        return True
    others = funding.drop(columns=["council_gbp", "funding"]).to_numpy()
    return bool(not others.any() and (funding["funding"] == "").all()
                and np.array_equal(_pence(funding["council_gbp"]), _pence(_numbers(plan["cost_gbp"]))))


def plan_table(plan: pd.DataFrame) -> pd.DataFrame:
    """The plan's stored columns with their stored types; a clear error for what cannot be stored.

    Funding comes as `funding_table` gives it (council money where the plan has no funding
    columns), each scheme's grant_<id>_gbp after `funding`; the `grants` column is made on storing."""
    required = [c for c in PLAN_COLUMNS if c not in PLAN_OPTIONAL]
    missing = [c for c in required if c not in plan.columns]
    if missing:
        raise RetrofitError(f"the plan cannot be stored: column(s) {', '.join(missing)} missing")
    table = pd.DataFrame(index=range(len(plan)))
    for column in PLAN_COLUMNS:
        if column == PLAN_GRANTS or column in PLAN_FUNDING:
            continue
        values = plan[column].to_numpy() if column in plan.columns else np.full(len(plan), np.nan)
        if column in PLAN_TEXT:
            table[column] = pd.Series(values, dtype="object").astype("str")
        elif column in PLAN_INTEGER:
            table[column] = pd.to_numeric(pd.Series(values), errors="coerce")
        else:
            table[column] = pd.to_numeric(pd.Series(values), errors="coerce").astype("float64")
        _refuse_empty(plan, table, column, optional=column in PLAN_OPTIONAL)
    funding = funding_table(plan)
    for column in funding.columns:  # a funding column the plan carries is filled in every row
        _refuse_empty(plan, funding, column, optional=False)
    for column in PLAN_INTEGER:
        table[column] = table[column].astype("int64")
    duplicated = table["home_id"].duplicated()
    if duplicated.any():
        raise RetrofitError(f"the plan cannot be stored: {int(duplicated.sum())} home(s) appear twice, "
                            f"e.g. {table.loc[duplicated, 'home_id'].iloc[0]}")
    at = list(table.columns).index("cost_gbp") + 1
    return pd.concat([table.iloc[:, :at], funding, table.iloc[:, at:]], axis=1)


def _refuse_empty(plan: pd.DataFrame, table: pd.DataFrame, column: str, optional: bool) -> None:
    empty = table[column].isna()
    if not optional and empty.any():
        raise RetrofitError(f"the plan cannot be stored: column {column} is empty in {int(empty.sum())} rows "
                            f"(e.g. home {plan['home_id'].iloc[int(np.argmax(empty.to_numpy()))]})")


def save_run(engine: Engine, scenario: ScenarioVersion, result, inputs: RunInputs, who: str | None = None,
             progress: Progress = None) -> Run:
    """Store a solved plan (a `retrofit.plan.PlanResult`) as a new run; returns the stored run.

    A plan that breaks the rules of ``scenario`` is refused (a RetrofitError, nothing stored):
    see `refuse_broken_plan`."""
    table = plan_table(result.plan)
    refuse_broken_plan(scenario, result, table)
    who = who or current_user()
    values = dict(
        scenario_id=scenario.id, scenario_name=scenario.name, scenario_version=scenario.version,
        stock_hash=inputs.stock_hash, stock_source=inputs.stock_source, library_version=inputs.library_version,
        candidates_hash=inputs.candidates_hash, candidates_source=inputs.candidates_source,
        status=str(result.status), objective=float(result.objective), bound=float(result.bound),
        gap=float(result.gap), solve_seconds=float(result.solve_seconds),
        kpis=_json_safe(result.kpis), details=_json_safe(getattr(result, "details", {}) or {}),
        plan_hash=plan_hash(table), plan_rows=len(table), retrofit_version=retrofit_version(),
        created_by=who,
    )

    def attempt() -> Run:
        with writing(engine) as connection:
            stamped = {**values, "created_at": utc_now()}
            run_id = connection.execute(insert(Run.__table__).values(**stamped)
                                        .returning(Run.__table__.c.id)).scalar_one()
            _insert_plan_rows(connection, run_id, table, progress)
            record_event(connection, who, "run.store", f"run:{run_id}",
                         {"scenario": f"{scenario.name}@{scenario.version}", "plan_hash": values["plan_hash"]})
            return Run(id=run_id, **stamped)

    run = retrying(attempt)
    if progress:
        progress(1.0, f"stored run {run.id}")
    return run


def refuse_broken_plan(scenario: ScenarioVersion, result, table: pd.DataFrame) -> None:
    """Raise a RetrofitError when the plan breaks the scenario's rules, by either of two checks.

    The optimiser's own independent check (`check_plan` against the candidate table, kept in
    details["problems"]) must have found nothing. That alone trusts the caller, so the rules are
    also recomputed here from the plan's own columns against the stored scenario version
    (`retrofit.plan.check_plan_alone`): a plan built, edited or mixed up anywhere on the way is
    caught too, and it costs milliseconds. What only the candidate table can say (each row is
    a candidate row at its cost) rests on the first check."""
    details = getattr(result, "details", None) or {}
    problems = list(details.get("problems") or [])
    source = "the independent check (check_plan) found"
    if not problems:
        problems, source = check_plan_alone(table, parse(scenario)), "checking it again on storing found"
    if problems:
        shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        raise RetrofitError(f"the plan was not stored: it breaks the rules of scenario {scenario.name!r} version "
                            f"{scenario.version} ({source}: {shown}); plan the scenario again "
                            f"(`retrofit run \"{scenario.name}\"`), and report it if it recurs")


def _json_safe(value):
    """KPIs and details as plain JSON: numpy numbers to Python, NaN and infinity to null."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, pd.DataFrame):  # by column (compact; pd.DataFrame(...) reads it back)
        return {str(c): _column_json(value[c]) for c in value.columns}
    if isinstance(value, pd.Series):
        return _json_safe(value.to_dict())
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _column_json(series: pd.Series) -> list:
    """A column as a JSON list, vectorised (per-home tables can hold every home of the stock)."""
    if series.dtype.kind == "f":
        return series.astype(object).where(np.isfinite(series.to_numpy()), None).tolist()
    if series.dtype.kind in "iub":
        return series.tolist()
    return series.astype("str").astype(object).where(series.notna(), None).tolist()


def _insert_plan_rows(connection: Connection, run_id: int, table: pd.DataFrame, progress: Progress) -> None:
    """All plan rows in the caller's transaction, in chunks, by the database's bulk path.

    A plan paid for by the council alone leaves the funding columns null (read back as council
    money), so it is stored exactly as fast as before they existed."""
    # a plan without [delivery] leaves its columns out too (null), as a schema before them stored it
    without = () if table[list(PLAN_DELIVERY)].notna().any().any() else PLAN_DELIVERY
    if _council_only(table, funding_table(table)):
        columns = ["run_id", *(c for c in PLAN_COLUMNS if c != PLAN_GRANTS and c not in PLAN_FUNDING
                               and c not in without)]
        table = table.assign(run_id=run_id)[columns]
    else:
        columns = ["run_id", *(c for c in PLAN_COLUMNS if c not in without)]
        table = table.assign(run_id=run_id, **{PLAN_GRANTS: grants_json(table)})[columns]
    chunks = range(0, max(len(table), 1), CHUNK_ROWS)
    dbapi = connection.connection
    if connection.dialect.name == "postgresql":
        # CSV written by Arrow (fast, shortest round-trip floats; text always quoted, so an
        # unquoted empty field is NULL and a quoted one an empty string).
        statement = f"COPY plan_row ({', '.join(columns)}) FROM STDIN (FORMAT csv)"
        options = pyarrow.csv.WriteOptions(include_header=False)
        with dbapi.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
            for number, start in enumerate(chunks):
                buffer = io.BytesIO()
                chunk = pyarrow.Table.from_pandas(table.iloc[start:start + CHUNK_ROWS], preserve_index=False)
                pyarrow.csv.write_csv(chunk, buffer, options)
                copy.write(buffer.getbuffer())
                _report(progress, number + 1, len(chunks), len(table))
        return
    statement = f"INSERT INTO plan_row ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    cursor = dbapi.cursor()
    try:
        for number, start in enumerate(chunks):
            chunk = table.iloc[start:start + CHUNK_ROWS]
            # Column lists turn numpy values into Python ones; NaN (optional columns) into None.
            lists = [_python_values(chunk[c]) for c in columns]
            cursor.executemany(statement, zip(*lists))
            _report(progress, number + 1, len(chunks), len(table))
    finally:
        cursor.close()


def grants_json(table: pd.DataFrame) -> pd.Series:
    """Per row, its schemes' non-zero grants as a JSON object {id: £} (None for a row with none).

    Built column by column in Arrow (no Python loop over rows); a float is written in its
    shortest form that reads back to the same float."""
    parts = []
    for column in sorted(table.columns):
        match = GRANT_COLUMN.fullmatch(str(column))
        if match is None:
            continue
        values = pyarrow.array(table[column].to_numpy(dtype="float64"))
        text = pyarrow.compute.binary_join_element_wise(f", {json.dumps(match.group(1))}: ",
                                                        pyarrow.compute.cast(values, pyarrow.string()), "")
        parts.append(pyarrow.compute.if_else(pyarrow.compute.not_equal(values, 0.0), text, ""))
    if not parts:
        return pd.Series([None] * len(table), dtype="object")
    # Each part ", <id>: <£>" or "": joined, the first ", " cut (Arrow's null_handling="skip" drops
    # the rows where every part is null, in pyarrow 26, so no nulls go in).
    joined = pyarrow.compute.binary_join_element_wise(*parts, "")
    wrapped = pyarrow.compute.binary_join_element_wise(
        "{", pyarrow.compute.utf8_slice_codeunits(joined, 2), "}", "")
    return pd.Series(pyarrow.compute.if_else(pyarrow.compute.equal(joined, ""), None, wrapped).to_pylist(),
                     dtype="object")


def expand_grants(grants: pd.Series) -> pd.DataFrame:
    """The `grants` column back to one grant_<id>_gbp column per id that appears (by id), 0.0 where
    a row has none (null or empty text)."""
    has = (grants.notna() & grants.astype("str").ne("")).to_numpy(dtype=bool)
    text = grants.to_numpy(dtype="object")
    out = pd.DataFrame(index=range(len(grants)))
    if not has.any():
        return out
    data = "\n".join(text[has]).encode("utf-8")
    # One block: types are inferred over every row (a scheme's £5000 and £5000.5 are both doubles).
    parsed = pyarrow.json.read_json(io.BytesIO(data), pyarrow.json.ReadOptions(use_threads=False,
                                                                              block_size=len(data) + 1))
    for scheme_id in sorted(parsed.column_names):
        values = np.zeros(len(grants))
        column = parsed.column(scheme_id).cast(pyarrow.float64()).to_numpy(zero_copy_only=False)
        values[has] = np.nan_to_num(column, nan=0.0)
        out[grant_column(scheme_id)] = values
    return out


def _python_values(series: pd.Series) -> list:
    """Python values for the DB-API (numpy ints are not accepted), None for missing."""
    if series.isna().any():
        return series.astype(object).where(series.notna(), None).tolist()
    return series.tolist()


def _report(progress: Progress, done: int, total: int, rows: int) -> None:
    if progress:
        progress(0.99 * done / total, f"stored {min(done * CHUNK_ROWS, rows):,} of {rows:,} plan rows")


def _run(row) -> Run:
    run = Run.model_validate(dict(row._mapping))
    if run.created_at.tzinfo is None:
        run.created_at = run.created_at.replace(tzinfo=timezone.utc)
    return run


def get_run(engine: Engine, run_id: int) -> Run:
    with reading(engine) as connection:
        row = connection.execute(select(Run).where(Run.id == run_id)).first()
        if row is not None:
            return _run(row)
        low, high, count = connection.execute(select(func.min(Run.id), func.max(Run.id), func.count())).one()
    stored = f"stored runs have ids {low} to {high} ({count} runs)" if count else "no run is stored yet"
    raise RetrofitError(f"no run with id {run_id}; {stored} (see `retrofit runs list`)")


def list_runs(engine: Engine, scenario: str | None = None) -> list[Run]:
    with reading(engine) as connection:
        query = select(Run).order_by(Run.id)
        if scenario is not None:
            query = query.where(Run.scenario_name == scenario)
        return [_run(row) for row in connection.execute(query).all()]


def run_rows(engine: Engine, columns: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """Every stored run, newest first, with only ``columns`` of the run table (its details can be large)."""
    with reading(engine) as connection:
        rows = connection.execute(select(*(getattr(Run, column) for column in columns))
                                  .order_by(Run.id.desc())).all()
    return pd.DataFrame([tuple(row) for row in rows], columns=list(columns))


def read_plan(engine: Engine, run_id: int) -> pd.DataFrame:
    """A stored run's plan, one row per home (by home_id); optional columns it lacked are left out.

    Funding always comes back: council_gbp, grant_gbp, co_funding_gbp, funding, then one
    grant_<id>_gbp column per scheme that pays some row of the run (0.0 for the others). A run
    stored before funding existed (schema 0002 or older), or paid for by the council alone, has
    them null in the database and reads as council_gbp = cost_gbp, grant_gbp 0, co_funding_gbp 0,
    funding "" (and no grant_<id>_gbp column)."""
    run = get_run(engine, run_id)
    columns = list(PLAN_COLUMNS)
    select = f"SELECT {', '.join(columns)} FROM plan_row WHERE run_id = {int(run.id)}"
    with reading(engine) as connection:
        if connection.dialect.name == "postgresql":
            table = _copy_out(connection, select, columns)
        else:
            cursor = connection.connection.cursor()
            try:
                rows = cursor.execute(select).fetchall()
            finally:
                cursor.close()
            table = pd.DataFrame.from_records(rows, columns=columns, coerce_float=True)
    for column in columns:
        if column in PLAN_TEXT:
            table[column] = table[column].astype("str")
        elif column in PLAN_INTEGER:
            table[column] = table[column].astype("int64")
        else:
            table[column] = table[column].astype("float64")
    table["council_gbp"] = table["council_gbp"].fillna(table["cost_gbp"])
    table[["grant_gbp", "co_funding_gbp"]] = table[["grant_gbp", "co_funding_gbp"]].fillna(0.0)
    table["funding"] = table["funding"].fillna("")
    grants = expand_grants(table.pop(PLAN_GRANTS))
    at = list(table.columns).index("funding") + 1
    table = pd.concat([table.iloc[:, :at], grants, table.iloc[:, at:]], axis=1)
    optional = [c for c in PLAN_OPTIONAL if c != PLAN_GRANTS and c not in PLAN_FUNDING]
    absent = [c for c in optional if table[c].isna().all()] if len(table) else optional
    # Sorted here, not by the database, whose text collation may differ from one server to another.
    return table.drop(columns=absent).sort_values("home_id", ignore_index=True)


def _copy_out(connection: Connection, select: str, columns: list[str]) -> pd.DataFrame:
    """Rows out of PostgreSQL by COPY, parsed by Arrow (several times faster than fetching tuples)."""
    buffer = io.BytesIO()
    with connection.connection.driver_connection.cursor() as cursor:
        with cursor.copy(f"COPY ({select}) TO STDOUT (FORMAT csv, FORCE_QUOTE ({', '.join(PLAN_TEXT)}))") as copy:
            for block in copy:
                buffer.write(block)
    if buffer.tell() == 0:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    types = {c: pyarrow.string() if c in PLAN_TEXT else pyarrow.int64() if c in PLAN_INTEGER else pyarrow.float64()
             for c in columns}
    parsed = pyarrow.csv.read_csv(
        io.BytesIO(buffer.getvalue()), pyarrow.csv.ReadOptions(column_names=columns),
        convert_options=pyarrow.csv.ConvertOptions(column_types=types, strings_can_be_null=True,
                                                    quoted_strings_can_be_null=False))
    return parsed.to_pandas()


def plan_row_count(engine: Engine, run_id: int | None = None) -> int:
    with reading(engine) as connection:
        query = select(func.count()).select_from(PlanRow)
        if run_id is not None:
            query = query.where(PlanRow.run_id == run_id)
        return int(connection.execute(query).scalar_one())

