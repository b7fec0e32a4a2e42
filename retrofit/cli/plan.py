"""`retrofit plan` and `retrofit frontier`: a scenario file in, a plan (or trade-off curve) out.

Imports are inside the commands for start-up time (see retrofit/cli/__init__.py).
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import pandas as pd

from retrofit.cli.common import TerminalProgress, emit_json, json_option
from retrofit.errors import RetrofitError
from retrofit.frames import atomic_write
from retrofit.present.format import count, gbp, percent


def _candidates(stock: Path | None, candidates: Path | None) -> pd.DataFrame:
    if (stock is None) == (candidates is None):
        raise RetrofitError("give exactly one of --stock STOCK or --candidates CANDIDATES")
    from retrofit.pipeline import candidates_for, candidates_from_file
    if candidates is not None:
        return candidates_from_file(candidates)[0]
    return candidates_for(stock, progress=TerminalProgress("appraise"))[0]


def _write_csv(table: pd.DataFrame, out: Path) -> None:
    """Write CSV atomically: a reader never sees half a file."""
    with atomic_write(out) as temporary:
        table.to_csv(temporary, index=False)


def _summary(result) -> dict:
    return {"status": result.status, "objective": result.objective, "bound": result.bound, "gap": result.gap,
            "solve_seconds": result.solve_seconds, "kpis": result.kpis, "ideal": result.ideal,
            "stopped_by": result.details.get("stopped_by"), "reproducible": result.details.get("reproducible"),
            "delivery": result.details.get("delivery")}


def stop_note(details: dict) -> str:
    """What stopped the search, in words (empty when it proved the gap target and can be repeated)."""
    stopped_by = details.get("stopped_by")
    if stopped_by == "time_limit":
        return "stopped by the time limit (solver.time_limit_s): the best plan found by then, not reproducible"
    if stopped_by == "cancelled":
        return "cancelled: the best plan found by then, not reproducible"
    if stopped_by == "work_limit":
        return "stopped by the solver's work limits before the gap target (reproducible: raise solver.time_limit_s for more)"
    return ""


def delivery_note(details: dict, kpis: dict) -> str:
    """One line on a plan under [delivery] ("" otherwise): homes approached and expected, the
    contingency held back, the price of that confidence and the P90 programme cost."""
    delivery = details.get("delivery")
    if not delivery:
        return ""
    budgets = [c for c in delivery["contingency"] if c["rule"].startswith("budget.per_year_gbp")] or \
        [c for c in delivery["contingency"] if c["rule"] == "budget.total_gbp"]
    held = sum(c["uptake"] + c["cost"] for c in budgets)
    cost = delivery["programme_cost"]
    return (f"delivery: {count(kpis.get('homes_approached'))} homes approached, {count(kpis.get('homes'))} expected to "
            f"go ahead; contingency held back {gbp(held)} of the budget (confidence {delivery['confidence']:.0%}, "
            f"cost confidence {delivery['cost_confidence']:.0%}); programme cost P50 {gbp(cost['p50_gbp'])}, "
            f"P90 {gbp(cost['p90_gbp'])}; {percent(100 * delivery['gap_to_expectation_bound'], 2)} below the "
            f"bound in expectation alone")


def _solve(candidates, scenario, label: str, warm_start=None):
    from retrofit.optimise import optimise
    result = optimise(candidates, scenario, progress=TerminalProgress(label), warm_start=warm_start)
    if result.details["problems"]:  # the independent check disagrees with the solver: never write such a plan
        raise RetrofitError("the plan breaks the scenario's rules (a bug, please report it): "
                            + "; ".join(result.details["problems"]))
    return result


source_options = [
    click.option("--scenario", "scenario_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
                 help="Scenario TOML file (examples in data/scenarios/)."),
    click.option("--stock", type=click.Path(dir_okay=False, path_type=Path), default=None,
                 help="Stock file: appraise it first."),
    click.option("--candidates", type=click.Path(dir_okay=False, path_type=Path), default=None,
                 help="Candidate table (.csv or .parquet), e.g. a partner's own appraisal."),
]


def _with_sources(function):
    for option in reversed(source_options):
        function = option(function)
    return function


@click.command()
@_with_sources
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the plan (CSV: one row per chosen home).")
@json_option
def plan(scenario_path: Path, stock: Path | None, candidates: Path | None, out: Path, as_json: bool) -> None:
    """Choose which homes get which package in which year under a scenario."""
    from retrofit.scenario import load_scenario
    scenario = load_scenario(scenario_path)
    table = _candidates(stock, candidates)
    result = _solve(table, scenario, "plan")
    _write_csv(result.plan, out)
    if as_json:
        emit_json(_summary(result))
        return
    k = result.kpis
    click.echo(f"{result.status}: objective {result.objective:.6g}, bound {result.bound:.6g}, gap {result.gap:.3%}, "
               f"{result.solve_seconds:.1f}s")
    if stop_note(result.details):
        click.echo(f"  {stop_note(result.details)}")
    if delivery_note(result.details, result.kpis):
        click.echo(f"  {delivery_note(result.details, result.kpis)}")
    click.echo(f"{k['homes']:,} homes, £{k['spend_gbp']:,.0f}; {k['lifetime_co2_t_saved']:,.0f} lifetime tCO2; "
               f"{k['fuel_poor_lifted']:,.1f} households out of fuel poverty; {k['jobs_fte_years']:,.1f} FTE-years")
    click.echo(f"wrote {out}")


@click.command()
@_with_sources
@click.option("--points", type=click.IntRange(min=2, max=50), default=5, show_default=True,
              help="Plans along the curve.")
@click.option("--axes", type=click.Choice(["carbon:fuel_poverty", "carbon:jobs", "fuel_poverty:jobs"]),
              default="carbon:fuel_poverty", show_default=True, help="The two objectives traded off.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="CSV: one row per point (weights, status, gap, KPIs).")
@click.option("--plans-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write each point's full plan here.")
@json_option
def frontier(scenario_path: Path, stock: Path | None, candidates: Path | None, points: int, axes: str,
             out: Path, plans_dir: Path | None, as_json: bool) -> None:
    """Trace the trade-off between two objectives by a weight sweep; each point is a full plan."""
    from retrofit.optimise.frontier import trace_frontier
    from retrofit.scenario import load_scenario
    scenario = load_scenario(scenario_path)
    table = _candidates(stock, candidates)
    first, second = axes.split(":")
    curve, results = trace_frontier(table, scenario, first, second, points, progress=TerminalProgress("frontier"))
    for result in results:
        if result.details["problems"]:
            raise RetrofitError("a frontier plan breaks the scenario's rules: " + "; ".join(result.details["problems"]))
    if plans_dir is not None:
        for i, result in enumerate(results):
            _write_csv(result.plan, plans_dir / f"point_{i:02d}.csv")
    _write_csv(curve, out)
    if as_json:
        emit_json({"points": curve.replace({np.nan: None}).to_dict(orient="records")})
    else:
        click.echo(curve.to_string(index=False))
