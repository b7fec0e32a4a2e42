"""`retrofit stock ...`: make, import and summarise housing stocks.

Imports are inside the commands for start-up time (see retrofit/cli/__init__.py).
"""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

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


@stock.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--worst", type=click.IntRange(min=0), default=10, show_default=True,
              help="How many of the worst-matched areas to list.")
@json_option
def calibration(path: Path, worst: int, as_json: bool) -> None:
    """The stock's gas and electricity against DESNZ metered use, per city and 2011 LSOA."""
    from retrofit.stock.calibration import calibration_summary

    figures = calibration_summary(read_stock(path), worst=worst)
    if as_json:
        emit_json(figures)
        return
    click.echo(f"Against {figures['source']}.")
    if not figures["calibrated"]:
        click.echo("this stock has no modelled_* columns: its energy is the certificates' modelled figure, not "
                   "calibrated to metered use; generate or import it again to calibrate it")
    rows = {city: {"gas-heated homes": f"{c['gas_heated_homes']:,.0f}",
                   "gas modelled kWh": f"{c['modelled_gas_kwh']:,.0f}", "gas in use kWh": f"{c['in_use_gas_kwh']:,.0f}",
                   "gas metered kWh": f"{c['metered_gas_kwh']:,.0f}", "gas in use vs metered": f"{c['gas_difference']:+.1%}",
                   "electricity modelled kWh": f"{c['modelled_electricity_kwh']:,.0f}",
                   "electricity in use kWh": f"{c['in_use_electricity_kwh']:,.0f}",
                   "electricity metered kWh": f"{c['metered_electricity_kwh']:,.0f}",
                   "electricity in use vs metered": f"{c['electricity_difference']:+.1%}"}
            for city, c in figures["cities"].items()}
    click.echo(pd.DataFrame(rows).to_string())
    median, before = figures["median_absolute_difference"], figures["modelled_median_absolute_difference"]
    for fuel in ("gas", "electricity"):
        compared = figures["areas_compared"][fuel]
        click.echo(f"{fuel}: median difference per 2011 LSOA over {compared:,} areas: {median[fuel]:.1%} in use, "
                   f"{before[fuel]:.1%} as modelled" if compared else
                   f"{fuel}: no 2011 LSOA has enough homes in this stock to compare on its own")
    if figures["worst"]:
        click.echo("worst-matched areas (in use vs metered):")
        for area in figures["worst"]:
            gas = "no gas-heated homes" if area["gas_difference"] is None else f"gas {area['gas_difference']:+.0%}"
            click.echo(f"  {area['area']} {area['city']}: {gas} ({area['gas_meters']:,} meters), "
                       f"electricity {area['electricity_difference']:+.0%}")


@stock.command("import-epc")
@click.argument("certificates", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--recommendations", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The download's recommendations.csv: keeps each home's recommended measures.")
@click.option("--postcode-lookup", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="ONS postcode directory (pcds/pcd, lsoa21cd/lsoa21) to place homes in their LSOA.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the stock (.parquet, or .csv).")
@json_option
def import_epc_command(certificates: tuple[Path, ...], recommendations: Path | None, postcode_lookup: Path | None,
                       out: Path, as_json: bool) -> None:
    """Import EPC register bulk files (certificates.csv, one or more) as a stock."""
    from retrofit.stock.epc import import_epc

    result = import_epc(list(certificates), recommendations=recommendations, postcode_lookup=postcode_lookup,
                        progress=TerminalProgress("import-epc"))
    write_stock(result.stock, out)
    figures = {**result.summary, "out": str(out)}
    if as_json:
        emit_json(figures)
        return
    dropped = ", ".join(f"{reason} {n:,}" for reason, n in figures["dropped"].items() if n) or "none"
    unknown = ", ".join(f"{name} {n:,}" for name, n in figures["unknown"].items() if n) or "none"
    click.echo(f"read {figures['rows_read']:,} certificates; kept {figures['homes']:,} homes "
               f"({', '.join(f'{k}: {v:,}' for k, v in figures['homes_by_city'].items())}) in {out}")
    click.echo(f"superseded by a later certificate: {figures['superseded']:,}; left out: {dropped}")
    click.echo(f"fell back to an earlier certificate: {figures['fell_back_to_earlier_certificate']:,}; "
               f"properties with no usable certificate: {figures['properties_without_usable_certificate']:,}")
    click.echo(f"homes without an LSOA (local authority values used): {figures['homes_without_lsoa']:,}")
    click.echo(f"unknown text put in other/unknown: {unknown}")
    if "recommendations" in figures:
        recs = figures["recommendations"]
        click.echo(f"recommendations: {recs['homes_with_recommendations']:,} homes, "
                   f"{recs['unrecognised_rows']:,} of {recs['rows_for_homes']:,} rows not recognised")
