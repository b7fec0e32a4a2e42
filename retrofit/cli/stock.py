"""`retrofit stock ...`: make, import and summarise housing stocks."""

from __future__ import annotations

from pathlib import Path

import click

from retrofit.cli.common import TerminalProgress, emit_json, json_option
from retrofit.stock.schema import read_stock, write_stock
from retrofit.stock.summary import summarise, summary_table


@click.group()
def stock() -> None:
    """Generate, import and summarise housing stocks."""


@stock.command()
@click.option("--seed", default=1, show_default=True, help="Random seed: the same seed gives the same stock.")
@click.option("--homes", type=click.IntRange(min=1), default=None,
              help="Draw a sample of N homes stratified by LSOA instead of every household.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the stock (.parquet, or .csv).")
@json_option
def generate(seed: int, homes: int | None, out: Path, as_json: bool) -> None:
    """Generate the calibrated synthetic stock of the three cities."""
    from retrofit.stock.synthetic import generate_stock

    table = generate_stock(seed=seed, homes=homes, progress=TerminalProgress("generate"))
    write_stock(table, out)
    if as_json:
        emit_json({"out": str(out), "homes": len(table), "seed": seed})
    else:
        click.echo(f"wrote {len(table):,} synthetic homes to {out}")


@stock.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@json_option
def summary(path: Path, as_json: bool) -> None:
    """Homes, EPC bands, tenure and fuel-poor households by city."""
    figures = summarise(read_stock(path))
    if as_json:
        emit_json(figures)
        return
    click.echo(f"{figures['homes']:,} homes ({', '.join(f'{k}: {v:,}' for k, v in figures['data_source'].items())}); "
               f"{figures['fuel_poor_households']:,.0f} fuel-poor households")
    click.echo(summary_table(figures).T.to_string())
