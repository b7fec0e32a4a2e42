"""Stored delivery actuals: each run has numbered versions of what happened to its homes.

A checked status file (`retrofit.actuals.check_actuals`) is stored as the run's next version,
with its rows, in one transaction with its audit event: a failure keeps nothing. Importing the
same content again (by content hash) adds nothing, as adding an unchanged scenario does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timezone

import numpy as np
import pandas as pd
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from retrofit.errors import RetrofitError
from retrofit.hashing import table_hash
from retrofit.actuals import STATUSES
from retrofit.store.audit import current_user, record_event
from retrofit.store.database import reading, retrying, writing
from retrofit.store.models import ActualRow, Actuals, utc_now
from retrofit.store.runs import get_run

CHUNK_ROWS = 20_000


@dataclass(frozen=True)
class StoredActuals:
    record: Actuals
    created: bool  # False: the run's latest version already had this content


def actuals_hash(table: pd.DataFrame) -> str:
    """Content hash of a checked actuals table (independent of row order)."""
    return table_hash(table[["home_id", "status", "date", "actual_cost_gbp", "package_id"]]
                      .astype({"package_id": "str", "date": "str"}))


def save_actuals(engine: Engine, run_id: int, table: pd.DataFrame, source: str, who: str | None = None) -> StoredActuals:
    """Store a checked actuals table as run ``run_id``'s next version (unless unchanged)."""
    get_run(engine, run_id)  # a clear error for an unknown run
    if table["home_id"].duplicated().any() or not table["status"].isin(STATUSES).all():
        raise RetrofitError("actuals not stored: give a table checked by retrofit.actuals.check_actuals "
                            "(one row per home, known statuses)")
    who = who or current_user()
    content_hash = actuals_hash(table)
    counts = {status: int(n) for status, n in table["status"].value_counts().items()}
    counts = {status: counts[status] for status in STATUSES if status in counts}
    rows = pd.DataFrame({
        "home_id": table["home_id"].astype(str), "status": table["status"].astype(str),
        "day": pd.to_datetime(table["date"]).dt.date, "year": table["year"].astype("int64"),
        "actual_cost_gbp": table["actual_cost_gbp"].astype(float), "package_id": table["package_id"],
    })

    def attempt() -> StoredActuals:
        with writing(engine) as connection:
            latest = _latest(connection, run_id)
            if latest is not None and latest.content_hash == content_hash:
                return StoredActuals(latest, created=False)
            values = dict(run_id=run_id, version=1 if latest is None else latest.version + 1, source=source,
                          content_hash=content_hash, rows=len(table), counts=counts, created_by=who,
                          created_at=utc_now())
            new_id = connection.execute(insert(Actuals.__table__).values(**values)
                                        .returning(Actuals.__table__.c.id)).scalar_one()
            records = rows.assign(actuals_id=new_id).astype(object)
            records = records.where(records.notna(), None)
            for start in range(0, len(records), CHUNK_ROWS):
                connection.execute(insert(ActualRow.__table__),
                                   records.iloc[start:start + CHUNK_ROWS].to_dict("records"))
            record_event(connection, who, "actuals.import", f"run:{run_id}",
                         {"version": values["version"], "source": source, "rows": len(table), "counts": counts,
                          "content_hash": content_hash})
            return StoredActuals(Actuals(id=new_id, **values), created=True)

    # Two imports for one run at once: the loser's version number is taken; retry.
    return retrying(attempt, retry_on=(IntegrityError,))


def _record(row) -> Actuals:
    record = Actuals.model_validate(dict(row._mapping))
    if record.created_at.tzinfo is None:  # SQLite keeps no zone; we always write UTC
        record.created_at = record.created_at.replace(tzinfo=timezone.utc)
    return record


def _latest(connection, run_id: int) -> Actuals | None:
    row = connection.execute(select(Actuals).where(Actuals.run_id == run_id)
                             .order_by(Actuals.version.desc()).limit(1)).first()
    return None if row is None else _record(row)


def actuals_versions(engine: Engine, run_id: int) -> list[Actuals]:
    """Every stored version of a run's actuals, oldest first (none: an empty list)."""
    with reading(engine) as connection:
        return [_record(row) for row in connection.execute(
            select(Actuals).where(Actuals.run_id == run_id).order_by(Actuals.version)).all()]


def runs_with_actuals(engine: Engine) -> dict[int, int]:
    """Each run that has actuals, with its latest version (a light query: no rows)."""
    with reading(engine) as connection:
        rows = connection.execute(select(Actuals.run_id, func.max(Actuals.version)).group_by(Actuals.run_id)).all()
    return {int(run): int(version) for run, version in rows}


def get_actuals(engine: Engine, run_id: int, version: int | None = None) -> Actuals:
    """One version of a run's actuals (default: the latest)."""
    versions = actuals_versions(engine, run_id)
    if not versions:
        get_run(engine, run_id)
        raise RetrofitError(f"run {run_id} has no actuals yet; import a delivery status file with "
                            f"`retrofit actuals import {run_id} FILE`")
    if version is None:
        return versions[-1]
    for record in versions:
        if record.version == version:
            return record
    raise RetrofitError(f"run {run_id} has no actuals version {version}; it has versions "
                        f"{', '.join(str(r.version) for r in versions)}")


def read_actuals(engine: Engine, run_id: int, version: int | None = None) -> pd.DataFrame:
    """A version of a run's actuals (default: the latest), one row per home, as `check_actuals` gives it."""
    record = get_actuals(engine, run_id, version)
    columns = ["home_id", "status", "day", "year", "actual_cost_gbp", "package_id"]
    with reading(engine) as connection:
        rows = connection.execute(select(*(getattr(ActualRow, c) for c in columns))
                                  .where(ActualRow.actuals_id == record.id).order_by(ActualRow.home_id)).all()
    table = pd.DataFrame([tuple(r) for r in rows], columns=columns)
    return pd.DataFrame({
        "home_id": table["home_id"].astype(object), "status": table["status"].astype(object),
        "date": pd.to_datetime(table["day"]).astype("datetime64[ns]"), "year": table["year"].astype("int64"),
        "actual_cost_gbp": table["actual_cost_gbp"].astype(float),
        "package_id": pd.Series(np.where(table["package_id"].notna(), table["package_id"].to_numpy(dtype=object),
                                         None), dtype=object),
    })
