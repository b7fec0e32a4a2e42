"""Appraising the full three-city stock, every package: target under 15 s and under 3 GB.

Also prints the credibility figures of the README's Appraisal section: jobs per £1m of whole-house spend
(UK programmes land at about 5-14 FTE-years per £1m) and the whole-house results for
social homes against Birmingham's SHDF Wave 2 (about 2.5 tCO2 and £1,100 a year per home), in
use and as the certificates model them, and a typical gas-heated band D semi's whole-house
saving in use (target 1.5-3.0 tCO2 a year).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import peak_rss_mb, timed, verdict  # noqa: E402

from retrofit.appraisal import appraise, credibility  # noqa: E402
from retrofit.appraisal.measures import load_library  # noqa: E402
from retrofit.stock.synthetic import generate_stock  # noqa: E402

stock = generate_stock(seed=1)
memory_before = peak_rss_mb()
library = load_library()
results: dict = {}
with timed(results, "appraise"):
    candidates = appraise(stock, library)
figures = credibility(candidates)
print(f"homes appraised: {len(stock):,}; packages: {len(library.packages)}; candidates: {len(candidates):,}")
print(candidates["package_id"].value_counts(sort=False).to_string())
print(f"library version: {library.version}")
print(f"time:        {verdict(results['appraise'], 15, 's')}")
print(f"peak memory: {verdict(peak_rss_mb() / 1024, 3, 'GB')} (process, stock included; "
      f"{memory_before / 1024:.2f} GB before the appraisal)")
print(f"candidate table in memory: {candidates.memory_usage(deep=True).sum() / 2**20:,.0f} MB")
print(f"whole-house jobs per £1m: {figures['whole_house_jobs_per_gbp_million']:.1f} FTE-years "
      f"(published UK programmes: 5-14; WMCA 5.5, SHDF/HUG 8, Strathclyde 6)")
print(f"social homes, whole house ({figures['social_whole_house_homes']:,} homes): "
      f"{figures['social_whole_house_mean_co2_t_saved']:.2f} tCO2 and £{figures['social_whole_house_mean_bill_saving_gbp']:,.0f} "
      f"a year per home in use ({figures['social_whole_house_mean_modelled_co2_t_saved']:.2f} tCO2 as modelled); "
      f"Birmingham SHDF Wave 2 reports about 2.5 tCO2 and £1,100")
semis = stock[(stock["property_type"] == "house") & (stock["built_form"] == "semi_detached")
              & stock["floor_area_m2"].between(70, 100) & (stock["heating_system"] == "gas_boiler")
              & (stock["epc_band"] == "D")]
whole = candidates[(candidates["package_id"] == "whole_house") & candidates["home_id"].isin(semis["home_id"])]
saved = whole["annual_co2_t_saved"]
median = saved.median()
print(f"gas-heated band D semis of 70-100 m2, whole house ({len(whole):,} homes): median {median:.2f} tCO2 a year in use "
      f"(quartiles {saved.quantile(0.25):.2f}-{saved.quantile(0.75):.2f}; target 1.5-3.0: "
      f"{'met' if 1.5 <= median <= 3.0 else 'MISSED'}), {whole['modelled_annual_co2_t_saved'].median():.2f} as modelled; "
      f"by city {', '.join(f'{c} {v:.2f}' for c, v in saved.groupby(whole['city'], observed=True).median().items())}")
