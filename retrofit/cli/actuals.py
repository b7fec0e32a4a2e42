"""`retrofit actuals ...`: import what happened to a run's homes (delivery status files), list
and show the stored versions.

Imports are inside the commands for start-up time (see retrofit/cli/__init__.py).
"""

from __future__ import annotations

from pathlib import Path

import click

from retrofit.cli.common import TerminalProgress, emit_json, json_option
from retrofit.cli.scenario import database_option, open_store
from retrofit.present.format import count, gbp


def _homes(n: int) -> str:
    return f"{count(n)} home{'' if n == 1 else 's'}"


def _record_json(record) -> dict:
    return {"run": record.run_id, "version": record.version, "source": record.source, "rows": record.rows,
            "counts": record.counts, "content_hash": record.content_hash, "created_by": record.created_by,
            "created_at": record.created_at.isoformat()}


def _echo_summary(summary: dict) -> None:
    for status, homes in summary["by_status"].items():
        reserves = f", {count(homes['not_in_plan'])} not in the plan" if homes["not_in_plan"] else ""
        click.echo(f"  {status.replace('_', ' ')}: {_homes(homes['homes'])}{reserves}")
    click.echo(f"  planned homes with no news yet: {count(summary['planned_homes_without_news'])}")
    if summary["committed_homes_with_cost"]:
        click.echo(f"  actual cost reported for {_homes(summary['committed_homes_with_cost'])}: "
                   f"{gbp(summary['committed_actual_cost_gbp'])}"
                   + (f" (planned {gbp(summary['planned_cost_of_costed_homes_gbp'])} for the "
                      f"{count(summary['costed_homes_in_plan'])} of them in the plan)"
                      if summary["costed_homes_in_plan"] else ""))


@click.group()
def actuals() -> None:
    """Import delivery status files against a run (versioned, audited); list and show them."""


@actuals.command(name="import")
@click.argument("run_id", metavar="RUN_ID", type=int)
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@database_option
@json_option
def import_(run_id: int, path: Path, database: str | None, as_json: bool) -> None:
    """Check a delivery status file (CSV or XLSX: home_id, status, date[, actual_cost_gbp, package_id])
    against run RUN_ID and store it as the run's next actuals version. Every problem is listed; a
    file with any stores nothing."""
    from retrofit.actuals import actuals_summary
    from retrofit.pipeline import import_actuals
    from retrofit.store import read_plan
    from retrofit.store.actuals import read_actuals

    engine = open_store(database)
    stored = import_actuals(engine, run_id, path, progress=TerminalProgress("actuals"))
    summary = actuals_summary(read_actuals(engine, run_id, stored.record.version), read_plan(engine, run_id))
    if as_json:
        emit_json({**_record_json(stored.record), "created": stored.created, "summary": summary})
        return
    record = stored.record
    if stored.created:
        click.echo(f"stored actuals version {record.version} of run {run_id}: {_homes(record.rows)} "
                   f"from {record.source}")
    else:
        click.echo(f"unchanged: same content as actuals version {record.version} of run {run_id}; nothing stored")
    _echo_summary(summary)


@actuals.command(name="list")
@click.argument("run_id", metavar="RUN_ID", type=int)
@database_option
@json_option
def list_(run_id: int, database: str | None, as_json: bool) -> None:
    """Every stored actuals version of run RUN_ID, oldest first."""
    from retrofit.store import get_run
    from retrofit.store.actuals import actuals_versions

    engine = open_store(database)
    get_run(engine, run_id)
    versions = actuals_versions(engine, run_id)
    if as_json:
        emit_json({"run": run_id, "versions": [_record_json(r) for r in versions]})
        return
    if not versions:
        click.echo(f"run {run_id} has no actuals yet; import one with `retrofit actuals import {run_id} FILE`")
        return
    for r in versions:
        statuses = ", ".join(f"{count(n)} {s.replace('_', ' ')}" for s, n in r.counts.items())
        click.echo(f"v{r.version}  {r.created_at:%Y-%m-%d %H:%M} UTC  by {r.created_by}  {_homes(r.rows)} "
                   f"({statuses})  from {r.source}")


@actuals.command()
@click.argument("run_id", metavar="RUN_ID", type=int)
@click.option("--version", "version", type=click.IntRange(min=1), default=None,
              help="Actuals version (default: the latest).")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write its rows to this file (CSV, else Parquet, by its name).")
@database_option
@json_option
def show(run_id: int, version: int | None, out: Path | None, database: str | None, as_json: bool) -> None:
    """One actuals version of run RUN_ID against the run's plan (default: the latest version)."""
    from retrofit.actuals import actuals_summary
    from retrofit.frames import write_table
    from retrofit.store import read_plan
    from retrofit.store.actuals import get_actuals, read_actuals

    engine = open_store(database)
    record = get_actuals(engine, run_id, version)
    table = read_actuals(engine, run_id, record.version)
    summary = actuals_summary(table, read_plan(engine, run_id))
    if out is not None:
        write_table(table.assign(date=table["date"].dt.strftime("%Y-%m-%d")), out)
    if as_json:
        emit_json({**_record_json(record), "summary": summary})
        return
    click.echo(f"actuals version {record.version} of run {run_id}: {_homes(record.rows)} from {record.source}, "
               f"imported by {record.created_by} on {record.created_at:%Y-%m-%d %H:%M} UTC")
    _echo_summary(summary)
    if out is not None:
        click.echo(f"wrote its rows to {out}")
