"""`retrofit appraise`: turn a stock into the candidate table the optimiser reads.

Imports are inside the commands for start-up time (see retrofit/cli/__init__.py).
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from retrofit.frames import write_table
from retrofit.cli.common import TerminalProgress, emit_json, json_option


@click.command()
@click.argument("stock_path", metavar="STOCK", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the candidates (.parquet, or .csv).")
@click.option("--library", "library_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder holding measures.csv, packages.csv and appraisal/ (default: the shipped data/).")
@json_option
def appraise(stock_path: Path, out: Path, library_dir: Path | None, as_json: bool) -> None:
    """Appraise every home against every package: cost, carbon, bills, rating, fuel poverty, jobs."""
    from retrofit.appraisal import appraise as run_appraisal, credibility
    from retrofit.appraisal.measures import load_library
    from retrofit.stock.schema import read_stock

    started = time.perf_counter()
    library = load_library(library_dir)
    stock = read_stock(stock_path)
    candidates = run_appraisal(stock, library, progress=TerminalProgress("appraise"))
    seconds = time.perf_counter() - started
    write_table(candidates, out)
    figures = {
        "out": str(out),
        "candidates": len(candidates),
        "homes": int(candidates["home_id"].nunique()),
        "packages": {str(k): int(v) for k, v in candidates["package_id"].value_counts(sort=False).items()},
        "library_version": library.version,
        "seconds": round(seconds, 2),
        **credibility(candidates),
    }
    if as_json:
        emit_json(figures)
        return
    click.echo(f"wrote {len(candidates):,} candidates for {figures['homes']:,} homes to {out} "
               f"(library {library.version}, {seconds:.1f} s)")
    if "whole_house_jobs_per_gbp_million" in figures:
        click.echo(f"whole house: {figures['whole_house_jobs_per_gbp_million']:.1f} FTE-years per £1m "
                   f"(UK programmes 5-14); social homes save {figures['social_whole_house_mean_co2_t_saved']:.2f} tCO2 "
                   f"and £{figures['social_whole_house_mean_bill_saving_gbp']:,.0f} a year "
                   f"(Birmingham SHDF: about 2.5 tCO2 and £1,100)")
