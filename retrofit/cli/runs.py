"""`retrofit run NAME` plans a stored scenario and stores the run; `retrofit runs ...` reads runs back.

Imports are inside the commands for start-up time (see retrofit/cli/__init__.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import pandas as pd

from retrofit.cli.common import TerminalProgress, emit_json, json_option
from retrofit.cli.plan import delivery_note, stop_note
from retrofit.cli.scenario import database_option, open_store
from retrofit.present.format import count, gbp, percent, tonnes


def _summary(run) -> dict:
    return {"id": run.id, "scenario": run.scenario_name, "scenario_version": run.scenario_version,
            "status": run.status, "objective": run.objective, "bound": run.bound, "gap": run.gap,
            "solve_seconds": run.solve_seconds, "plan_rows": run.plan_rows, "plan_hash": run.plan_hash,
            "stock_hash": run.stock_hash, "library_version": run.library_version,
            "candidates_hash": run.candidates_hash, "created_by": run.created_by,
            "created_at": run.created_at.isoformat(), "kpis": run.kpis,
            "stopped_by": (run.details or {}).get("stopped_by"), "reproducible": (run.details or {}).get("reproducible"),
            "replan": (run.details or {}).get("replan"), "delivery": (run.details or {}).get("delivery")}


def _headline(kpis: dict) -> str:
    return (f"{count(kpis.get('homes'), 'homes')}, {gbp(kpis.get('spend_gbp'))}, "
            f"{tonnes(kpis.get('annual_co2_t_saved'), 'yr')} saved, "
            f"{count(kpis.get('fuel_poor_lifted'))} fuel-poor households lifted, "
            f"{count(kpis.get('jobs_fte_years'))} FTE-years")


@click.command(name="run")
@click.argument("name")
@click.option("--version", "version", type=click.IntRange(min=1), default=None,
              help="Scenario version (default: the latest).")
@click.option("--stock", "stock", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Appraise this stock, then plan (default: var/stock/default.parquet).")
@click.option("--candidates", "candidates", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Plan on this candidate table (CSV or Parquet) instead of appraising a stock.")
@click.option("--from", "from_run", type=int, default=None, metavar="RUN_ID",
              help="Re-plan from this run's latest actuals (`retrofit actuals import`): contracted, in-progress and "
                   "completed homes are held as they are, declined and withdrawn ones left out, years that are over "
                   "closed, the rest planned again (on that run's inputs unless --stock or --candidates is given).")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, metavar="YYYY-MM-DD",
              help="With --from: the date to re-plan as of (default: today); the programme years before its own "
                   "are over.")
@database_option
@json_option
def run(name: str, version: int | None, stock: Path | None, candidates: Path | None, from_run: int | None,
        as_of, database: str | None, as_json: bool) -> None:
    """Plan a stored scenario (by its name) and store the run."""
    from retrofit.errors import RetrofitError
    from retrofit.pipeline import run_scenario

    if as_of is not None and from_run is None:
        raise RetrofitError("--as-of is the date of a re-plan: give it with --from RUN_ID")
    stored = run_scenario(open_store(database), name, version, stock=stock, candidates=candidates,
                          progress=TerminalProgress("run"), from_run=from_run,
                          today=as_of.date() if as_of is not None else None)
    if as_json:
        emit_json(_summary(stored))
        return
    click.echo(f"stored run {stored.id}: scenario {stored.scenario_name!r} version {stored.scenario_version}, "
               f"{stored.status}, gap {percent(100 * stored.gap, 2)}, {stored.solve_seconds:.1f} s")
    if stop_note(stored.details or {}):
        click.echo(f"  {stop_note(stored.details or {})}")
    if replan_note(stored.details or {}):
        click.echo(f"  {replan_note(stored.details or {})}")
    if delivery_note(stored.details or {}, stored.kpis):
        click.echo(f"  {delivery_note(stored.details or {}, stored.kpis)}")
    click.echo(f"  {_headline(stored.kpis)}")


def replan_note(details: dict) -> str:
    """One line on what a re-plan came from and kept ("" for a plan from the start)."""
    replan = details.get("replan")
    if not replan:
        return ""
    closed = replan["closed_years"]
    years = f"years {closed[0]}-{closed[-1]} closed" if len(closed) > 1 else \
        f"year {closed[0]} closed" if closed else "no year closed yet"
    return (f"re-planned from run {replan['from_run']} (actuals version {replan['actuals_version']}) as of "
            f"{replan['as_of']}: homes held {count(replan['held_homes'])} ({gbp(replan['held_spend_gbp'])}), "
            f"declined or withdrawn left out {count(replan['dropped_homes'])}, {years}")


@click.group()
def runs() -> None:
    """List, show, compare and export stored runs."""


@runs.command(name="list")
@click.option("--scenario", "scenario", default=None, help="Only the runs of this scenario.")
@database_option
@json_option
def list_(scenario: str | None, database: str | None, as_json: bool) -> None:
    """Every stored run, oldest first."""
    from retrofit.store import list_runs

    stored = list_runs(open_store(database), scenario)
    if as_json:
        emit_json({"runs": [_summary(r) for r in stored]})
        return
    if not stored:
        click.echo("no run stored yet; plan one with `retrofit run SCENARIO`")
        return
    table = pd.DataFrame({
        "id": [r.id for r in stored],
        "scenario": [f"{r.scenario_name} v{r.scenario_version}" for r in stored],
        "status": [r.status for r in stored],
        "gap": [percent(100 * r.gap, 2) for r in stored],
        "homes": [count(r.kpis.get("homes")) for r in stored],
        "spend": [gbp(r.kpis.get("spend_gbp")) for r in stored],
        "tCO2/yr": [tonnes(r.kpis.get("annual_co2_t_saved")) for r in stored],
        "by": [r.created_by for r in stored],
        "when (UTC)": [f"{r.created_at:%Y-%m-%d %H:%M}" for r in stored],
    })
    click.echo(table.to_string(index=False))


@runs.command()
@click.argument("run_id", metavar="ID", type=int)
@database_option
@json_option
def show(run_id: int, database: str | None, as_json: bool) -> None:
    """A run's provenance, KPIs and breakdown by city."""
    from retrofit.plan import breakdown
    from retrofit.store import get_run, read_plan
    from retrofit.store.compare import HEADLINE
    from retrofit.store.export import provenance

    engine = open_store(database)
    stored = get_run(engine, run_id)
    about = provenance(engine, stored)
    by_city = breakdown(read_plan(engine, run_id), "city")
    if as_json:
        emit_json({**_summary(stored), "provenance": about, "by_city": json.loads(by_city.to_json(orient="records"))})
        return
    click.echo(f"run {stored.id}: scenario {stored.scenario_name!r} version {stored.scenario_version}, "
               f"stored by {stored.created_by} on {stored.created_at:%Y-%m-%d %H:%M} UTC")
    click.echo(f"  solver: {stored.status}, objective {stored.objective:.6g}, bound {stored.bound:.6g}, "
               f"gap {percent(100 * stored.gap, 2)}, {stored.solve_seconds:.1f} s")
    if stop_note(stored.details or {}):
        click.echo(f"  solver: {stop_note(stored.details or {})}")
    click.echo(f"  inputs: stock {stored.stock_hash or '-'} ({stored.stock_source or 'candidates given'}), "
               f"library {stored.library_version or '-'}, candidates {stored.candidates_hash}, "
               f"scenario content {about['scenario_hash']}")
    click.echo(f"  plan: {stored.plan_rows:,} homes, hash {stored.plan_hash}")
    if replan_note(stored.details or {}):
        click.echo(f"  {replan_note(stored.details or {})}")
    if delivery_note(stored.details or {}, stored.kpis):
        click.echo(f"  {delivery_note(stored.details or {}, stored.kpis)}")
    click.echo(f"  {_headline(stored.kpis)}")
    click.echo(by_city[["city", *[k for k in HEADLINE if k in by_city.columns]]]
               .to_string(index=False, float_format="{:,.1f}".format))
    risk = (stored.details or {}).get("delivery", {}).get("by_city_year")
    if risk:
        click.echo("expected homes and spend by city and year, with the P10-P90 range (uptake and costs random):")
        click.echo(_risk_table(risk).to_string(index=False))


def _risk_table(records: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(records)
    return pd.DataFrame({
        "city": table["city"], "year": table["year"], "approached": table["homes_approached"].map(count),
        "expected homes": table["expected_homes"].map(count),
        "homes P10-P90": [f"{count(a)}-{count(b)}" for a, b in zip(table["homes_p10"], table["homes_p90"])],
        "expected spend": table["expected_spend_gbp"].map(gbp),
        "spend P10-P90": [f"{gbp(a)}-{gbp(b)}" for a, b in zip(table["spend_p10_gbp"], table["spend_p90_gbp"])],
    })


@runs.command()
@click.argument("a", type=int)
@click.argument("b", type=int)
@database_option
@json_option
def compare(a: int, b: int, database: str | None, as_json: bool) -> None:
    """What B changes from A: KPIs by city and year, homes in both or one, spend moved between cities."""
    from retrofit.store.compare import HEADLINE, compare_runs

    comparison = compare_runs(open_store(database), a, b, progress=TerminalProgress("compare"))
    if as_json:
        emit_json(comparison.to_json())
        return
    click.echo(f"run {b} compared with run {a} (delta = {b} - {a})")
    click.echo(comparison.kpis.loc[[k for k in HEADLINE if k in comparison.kpis.index]].to_string(float_format="{:,.1f}".format))
    homes = comparison.homes
    click.echo(f"homes: {homes['both']:,} in both ({homes['same_package_and_year']:,} unchanged, "
               f"{homes['package_changed']:,} other package, {homes['year_changed_only']:,} other year only), "
               f"{homes['only_a']:,} only in {a}, {homes['only_b']:,} only in {b}")
    click.echo(f"spend moved between cities: {gbp(comparison.spend_moved_gbp)}")
    click.echo(comparison.spend_by_city.to_string(index=False, float_format="{:,.0f}".format))
    columns = ["city", "year"] + [f"{k}_delta" for k in HEADLINE if f"{k}_delta" in comparison.by_city_year.columns]
    click.echo("by city and year (B - A):")
    click.echo(comparison.by_city_year[columns].to_string(index=False, float_format="{:,.1f}".format))
    if comparison.replan is not None:
        _echo_replan(comparison.replan, a, b)


def _echo_replan(replan: dict, a: int, b: int) -> None:
    """A re-plan against its parent: delivered against planned, money, homes added."""
    unspent = sum(replan["unspent_in_closed_years_gbp"].values())
    moved = replan["open_years_spend_gbp"]
    click.echo(f"run {b} re-planned run {a} from its actuals (version {replan['actuals_version']}, as of "
               f"{replan['as_of']}): {count(replan['delivered_homes'], 'homes')} delivered or under way for "
               f"{gbp(replan['delivered_spend_gbp'])}; the years that are over left {gbp(unspent)} unspent; the open "
               f"years' new work {gbp(moved['replan'])} against {gbp(moved['parent'])} planned; "
               f"{count(replan['homes_added'], 'homes')} added ({count(replan['homes_added_near_declined'])} in an LSOA "
               f"where a household declined or withdrew: from its reserves), "
               f"{count(replan['declined_or_withdrawn'])} declined or withdrawn")
    table = replan["by_city_year"]
    shown = pd.DataFrame({"city": table["city"], "year": table["year"]})
    for key, label, show in (("homes", "homes", count), ("spend_gbp", "spend", gbp),
                             ("lifetime_co2_t_saved", "lifetime tCO2", count),
                             ("fuel_poor_lifted", "fuel poor lifted", count)):
        shown[f"{label} planned"] = table[f"{key}_planned"].map(show)
        shown[f"{label} delivered"] = table[f"{key}_delivered"].map(show)
    click.echo(f"planned (run {a}) and delivered, by city and year:")
    click.echo(shown.to_string(index=False))


@runs.command()
@click.argument("run_id", metavar="ID", type=int)
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx", "geojson"]), required=True,
              help="csv: plan rows; xlsx: plan, KPIs, breakdowns, provenance; geojson: KPIs by LSOA.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="File to write.")
@database_option
@json_option
def export(run_id: int, fmt: str, out: Path, database: str | None, as_json: bool) -> None:
    """Write a run's plan with its KPIs and provenance to a file."""
    from retrofit.store.export import export_run

    written = export_run(open_store(database), run_id, fmt, out, progress=TerminalProgress("export"))
    if as_json:
        emit_json({"run": run_id, "format": fmt, "out": str(written)})
    else:
        click.echo(f"wrote run {run_id} as {fmt} to {written}")


@runs.command()
@click.argument("run_id", metavar="ID", type=int)
@click.option("--lsoa", "lsoa", default=None, metavar="CODE", help="Only the reserves of this LSOA's planned homes.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="File to write: CSV, XLSX or (any other name) Parquet.")
@database_option
@json_option
def reserves(run_id: int, lsoa: str | None, out: Path, database: str | None, as_json: bool) -> None:
    """Reserve homes for each planned home of run ID: who to approach when a household says no."""
    from retrofit.frames import write_table
    from retrofit.pipeline import run_reserves

    table = run_reserves(open_store(database), run_id, lsoa, progress=TerminalProgress("reserves"))
    write_table(table, out)
    planned = table["planned_home_id"].nunique()
    local = int((table["same_area"] == "lsoa").sum())
    if as_json:
        emit_json({"run": run_id, "lsoa": lsoa, "out": str(out), "reserves": len(table), "planned_homes": planned,
                   "same_lsoa": local, "same_ward": len(table) - local})
        return
    click.echo(f"wrote {len(table):,} reserves for {planned:,} planned homes of run {run_id} to {out} "
               f"({local:,} in the same LSOA, {len(table) - local:,} elsewhere in the ward)")
