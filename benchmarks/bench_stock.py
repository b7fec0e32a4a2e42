"""Generating the full synthetic stock: target under 20 s and under 2 GB (2 cores).

Also prints the stock against what it is calibrated to, side by side: per city, gas per
gas-heated home and electricity per home, as modelled (the certificates), in use and metered
(DESNZ 2019; targets within 2%), the median difference per 2011 LSOA (target under 10%), and
the Census 2021 shares per LSOA (gas heating and tenure within 2 points at the median LSOA).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from measure import peak_rss_mb, timed, verdict  # noqa: E402

from retrofit.reference import census2021  # noqa: E402
from retrofit.stock.calibration import calibration_summary, gas_heated  # noqa: E402
from retrofit.stock.synthetic import generate_stock  # noqa: E402

results: dict = {}
with timed(results, "generate"):
    stock = generate_stock(seed=1)
print(f"homes generated: {len(stock):,}")
print(f"time:        {verdict(results['generate'], 20, 's')}")
print(f"peak memory: {verdict(peak_rss_mb(), 2048, 'MB')}")
print(f"homes per second: {len(stock) / results['generate']:,.0f}")

with timed(results, "report"):
    figures = calibration_summary(stock)
print(f"\nagainst metered energy ({figures['source']}; report {results['report']:.2f} s):")
rows = {}
for city, c in figures["cities"].items():
    for fuel, per in (("gas", "gas-heated home"), ("electricity", "home")):
        rows[(city, f"{fuel} kWh per {per}")] = {
            "modelled": f"{c[f'modelled_{fuel}_kwh']:,.0f}", "in use": f"{c[f'in_use_{fuel}_kwh']:,.0f}",
            "metered": f"{c[f'metered_{fuel}_kwh']:,.0f}",
            "modelled vs metered": f"{c[f'modelled_{fuel}_kwh'] / c[f'metered_{fuel}_kwh'] - 1:+.1%}",
            "in use vs metered": f"{c[f'{fuel}_difference']:+.1%} (target within 2%: "
                                 f"{'met' if abs(c[f'{fuel}_difference']) <= 0.02 else 'MISSED'})"}
print(pd.DataFrame(rows).T.to_string())
for fuel in ("gas", "electricity"):
    median = figures["median_absolute_difference"][fuel]
    print(f"{fuel}: median |difference| per 2011 LSOA {median:.1%} in use (target < 10%: "
          f"{'met' if median < 0.10 else 'MISSED'}), {figures['modelled_median_absolute_difference'][fuel]:.1%} "
          f"as modelled, over {figures['areas_compared'][fuel]:,} areas")

lsoa = stock["lsoa_code"].astype(str).to_numpy()
heating = census2021("heating")
census_gas = heating["mains_gas"] / heating.sum(axis=1)
stock_gas = pd.Series(gas_heated(stock)).groupby(lsoa).mean().reindex(census_gas.index)
tenure = census2021("tenure")
census_tenure = tenure.div(tenure.sum(axis=1), axis=0)
stock_tenure = pd.crosstab(lsoa, stock["tenure"].astype(str).to_numpy(), normalize="index").reindex(
    census_tenure.index)[census_tenure.columns]
print("\nCensus 2021 per LSOA, median |difference| (target within 2 points):")
print(f"  mains gas heating: {np.median(np.abs(stock_gas - census_gas)) * 100:.2f} points "
      f"(census LSOAs range {census_gas.min():.0%}-{census_gas.max():.0%})")
for column in census_tenure.columns:
    print(f"  {column}: {np.median(np.abs(stock_tenure[column] - census_tenure[column])) * 100:.2f} points")
