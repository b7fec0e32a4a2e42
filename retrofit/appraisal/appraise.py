"""Appraisal: every home x every package that applies -> the candidate table.

`physics.home_model` gives each home's heat-loss model and calibrated baseline; for each
package, `package_masks` says which homes get which of its measures, and the stages of
`stages` (fabric, demand, heating system, PV, then costs, lifetime carbon and rating) turn
that into the package's candidate rows, once on the certificate's physics (the rating, sizes
and costs) and once in use (the savings). Each measure acts through its effect's row of
`effects.EFFECTS`. Everything is vectorised over homes; loops run over packages and
measures only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from retrofit import energy
from retrofit.appraisal.effects import EFFECTS, Measure, measure_records
from retrofit.appraisal.measures import Library
from retrofit.appraisal.physics import Homes, home_model
from retrofit.appraisal.stages import (account, candidate_columns, cost_stage, in_use, lifetime_co2_t_saved,
                                       package_over, sap_after)
from retrofit.candidates import COST_PARTS, TRADES

Progress = Callable[[float, str], None]

STOCK_COLUMNS = ("home_id", "city", "lsoa_code", "tenure", "imd_decile", "ward", "main_fuel")
COLUMN_ORDER = (
    "home_id", "package_id", "measures", "cost_gbp", *COST_PARTS, "annual_kwh_saved", "annual_co2_t_saved",
    "modelled_annual_co2_t_saved", "lifetime_co2_t_saved", "annual_bill_saving_gbp", "sap_before", "band_before",
    "sap_after", "band_after",
    "fuel_poverty_probability", "fuel_poor_lifted", "fp_bill_saving_gbp", "labour_days", "jobs_fte_years",
    *(f"trade_days_{trade}" for trade in TRADES), "heat_pump_kw", "pv_kwp",
    "city", "lsoa_code", "ward", "tenure", "imd_decile", "main_fuel",
)


def recommended(stock: pd.DataFrame, library: Library) -> dict[str, np.ndarray]:
    """Which homes may take each measure under their EPC recommendations.

    Where `epc_recommended_measures` is present and non-empty for a home, only the measures
    the assessor recommended (and those the EPC never recommends) are allowed; elsewhere all.
    """
    allowed = {measure_id: np.ones(len(stock), dtype=bool) for measure_id in library.measures.index}
    if "epc_recommended_measures" not in stock:
        return allowed
    texts = stock["epc_recommended_measures"].astype("str").fillna("")
    codes, uniques = pd.factorize(texts, use_na_sentinel=False)
    sets = [{part.strip() for part in str(text).split(";") if part.strip()} for text in uniques]
    has_recommendations = np.array([bool(ids) for ids in sets])[codes]
    for measure_id, measure in library.measures.iterrows():
        if not measure["epc_recommendable"]:
            continue
        recommended_here = np.array([measure_id in ids for ids in sets])[codes]
        allowed[measure_id] = ~has_recommendations | recommended_here
    return allowed


def package_masks(measures: tuple[Measure, ...], core_measure: str, rules: dict[str, np.ndarray],
                  allowed: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Which homes get each of the package's measures, and which homes the package applies to.

    A measure applies where its rule holds and the EPC allows it. A measure that would treat
    what an earlier measure of the package already treats for a home (two wall insulations,
    two heating systems: `Effect.element_treated`) is skipped for that home. The package
    applies where any of its measures does, and where its core measure (if any) does.
    """
    masks: dict[str, np.ndarray] = {}
    treated: dict[str, np.ndarray] = {}
    for measure in measures:
        element = EFFECTS[measure.effect].element_treated(measure)
        mask = rules[measure.measure_id] & allowed[measure.measure_id]
        if element in treated:
            mask &= ~treated[element]
            treated[element] |= mask
        else:
            treated[element] = mask.copy()
        masks[measure.measure_id] = mask
    applies = np.logical_or.reduce(list(masks.values()))
    if core_measure:
        applies &= masks[core_measure]
    return masks, applies


def _stock_columns(stock: pd.DataFrame, rows: np.ndarray) -> dict[str, pd.Series]:
    """The candidate table's columns copied from the stock (an absent optional column is empty)."""
    return {column: stock[column].take(rows).reset_index(drop=True) if column in stock
            else pd.Series(pd.NA, index=range(len(rows)), dtype="str")
            for column in STOCK_COLUMNS}


def _package_columns(package_id: str, library: Library, records: dict[str, dict[str, Measure]], homes: Homes,
                     stock: pd.DataFrame, rules: dict[str, np.ndarray], allowed: dict[str, np.ndarray],
                     assumptions: energy.EnergyAssumptions) -> dict[str, np.ndarray | pd.Categorical | pd.Series]:
    """The package's candidate columns, one value per home it applies to (`measure_bits` for the measures).

    ``records`` holds the measures twice: "modelled" (every realisation 1) and "in_use".
    """
    ids = library.package_measures(package_id)
    measures = tuple(records["modelled"][measure_id] for measure_id in ids)
    masks, applies = package_masks(measures, library.packages.at[package_id, "core_measure"], rules, allowed)
    rows = np.flatnonzero(applies)
    package = package_over(homes.take(rows), measures, {m: mask[rows] for m, mask in masks.items()}, library,
                           assumptions)
    modelled = account(package)
    realised = account(in_use(package, tuple(records["in_use"][measure_id] for measure_id in ids)))
    costs = cost_stage(package, modelled.system.design_heat_pump_kw, modelled.solar.kwp)
    probability = stock["fuel_poverty_probability"].to_numpy(dtype="float64")[rows]
    packages = list(library.packages.index)
    return {
        **_stock_columns(stock, rows),
        "package_id": pd.Categorical.from_codes(np.full(len(rows), packages.index(package_id)), categories=packages),
        **candidate_columns(modelled, realised, probability, costs, lifetime_co2_t_saved(realised), sap_after(modelled)),
    }


def _measure_labels(bits_by_package: list[np.ndarray], names: pd.Index) -> pd.Categorical:
    """The `measures` column of the packages' rows, in order: each row's measure ids, ";"-separated.

    Categories are the combinations that occur, in order of their bits; codes are found
    package by package (the combinations are few, the rows millions).
    """
    combinations = np.unique(np.concatenate([np.unique(bits) for bits in bits_by_package]))
    codes = np.concatenate([np.searchsorted(combinations, bits) for bits in bits_by_package]).astype("int32")
    labels = [";".join(names[position] for position in range(len(names)) if combination >> position & 1)
              for combination in combinations]
    return pd.Categorical.from_codes(codes, categories=pd.Index(labels))


def _package_frames(stock: pd.DataFrame, library: Library, report: Progress) -> list[pd.DataFrame]:
    """Each package's candidate rows; the home model lives only while the packages are appraised."""
    assumptions = energy.load_assumptions()
    report(0.02, f"heat-loss model of {len(stock):,} homes")
    homes = home_model(stock, library, assumptions)
    rules = {measure_id: rule.mask(stock) for measure_id, rule in library.rules.items()}
    allowed = recommended(stock, library)
    records = {"modelled": measure_records(library.measures, realised=False),
               "in_use": measure_records(library.measures)}
    frames = []
    packages = list(library.packages.index)
    for done, package_id in enumerate(packages):
        report(0.1 + 0.8 * done / len(packages), f"package {package_id}")
        # the frame is built after _package_columns returns, so its copy never meets the stages' arrays
        frames.append(pd.DataFrame(_package_columns(package_id, library, records, homes, stock, rules, allowed,
                                                    assumptions)))
    return frames


def appraise(stock: pd.DataFrame, library: Library, progress: Progress | None = None) -> pd.DataFrame:
    """The candidate table: one row per (home, package) where at least one of its measures applies.

    Columns follow `retrofit.candidates` (every required and optional column) plus
    `measures` (the measure ids applied, ";"-separated), `heat_pump_kw` and `pv_kwp`.
    """
    report = progress or (lambda fraction, message: None)
    frames = _package_frames(stock, library, report)
    report(0.92, "assembling candidates")
    measures = _measure_labels([frame.pop("measure_bits").to_numpy() for frame in frames], library.measures.index)
    candidates = pd.concat(frames, ignore_index=True)
    del frames
    candidates["measures"] = measures
    candidates["home_id"] = candidates["home_id"].astype("str")
    candidates["imd_decile"] = candidates["imd_decile"].astype("int8")
    report(1.0, f"{len(candidates):,} candidates")
    return candidates[list(COLUMN_ORDER)]


def credibility(candidates: pd.DataFrame) -> dict:
    """Figures to hold against published anchors (see the README's Appraisal section).

    - jobs per GBP 1m of whole-house spend (UK programmes: about 5-14 FTE-years per GBP 1m);
    - whole-house tCO2 and bill saving a year per social home (Birmingham SHDF Wave 2:
      about 2.5 tCO2 and GBP 1,100 a year per home), in use and as the certificate models it.
    """
    whole = candidates[candidates["package_id"] == "whole_house"]
    if whole.empty:
        return {}
    social = whole[whole["tenure"] == "social_rented"]
    return {
        "whole_house_jobs_per_gbp_million": float(whole["jobs_fte_years"].sum() / whole["cost_gbp"].sum() * 1e6),
        "whole_house_mean_cost_gbp": float(whole["cost_gbp"].mean()),
        "social_whole_house_homes": int(len(social)),
        "social_whole_house_mean_co2_t_saved": float(social["annual_co2_t_saved"].mean()) if len(social) else None,
        "social_whole_house_mean_modelled_co2_t_saved": (  # absent from a table appraised before in-use savings
            float(social["modelled_annual_co2_t_saved"].mean())
            if len(social) and "modelled_annual_co2_t_saved" in social else None),
        "social_whole_house_mean_bill_saving_gbp": float(social["annual_bill_saving_gbp"].mean()) if len(social) else None,
        "shdf_birmingham_co2_t_per_home": 2.5,
        "shdf_birmingham_bill_saving_gbp_per_home": 1100.0,
    }
