"""Appraisal: every home x every package that applies -> the candidate table.

The core is the steady-state heat-loss model of `physics.home_model`, calibrated per home to
the stock's recorded heat, so a measure changes heat in proportion to the heat-loss
coefficient it removes.

A package's measures are applied together, never as independent savings:
  1. fabric: every changed U-value and the air change rate give one new heat-loss
     coefficient; controls, cylinder and lighting factors scale what remains;
  2. heating system: the new efficiency (and fuel) turn that useful heat into delivered energy;
  3. solar PV offsets electricity last.
Delivered energy after each stage goes through `retrofit.energy.evaluate` (rating cost,
bill, carbon), so bills, prices and carbon factors come from one place. The rating after
retrofit is the SAP equation on the new rating cost, shifted by the home's own calibration
offset so the baseline reproduces its recorded score.

Everything is vectorised over homes; loops run over packages and measures only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from retrofit import energy
from retrofit.appraisal.measures import Library
from retrofit.appraisal.physics import BANDS, Homes, band_codes, home_model
from retrofit.candidates import TRADES

Progress = Callable[[float, str], None]

FP_BANDS_BEFORE = np.isin(BANDS, ["D", "E", "F", "G"])  # LILEE: fuel poor only in band D or worse
FP_BANDS_LIFTED = np.isin(BANDS, ["A", "B", "C"])
STOCK_COLUMNS = ("home_id", "city", "lsoa_code", "tenure", "imd_decile", "ward")


def recommended(stock: pd.DataFrame, library: Library) -> dict[str, np.ndarray]:
    """Which homes may take each measure under their EPC recommendations.

    Where `epc_recommended_measures` is present and non-empty for a home, only the measures
    the assessor recommended (and those the EPC never recommends) are allowed; elsewhere all.
    """
    n = len(stock)
    allowed = {m: np.ones(n, dtype=bool) for m in library.measures.index}
    if "epc_recommended_measures" not in stock:
        return allowed
    texts = stock["epc_recommended_measures"].astype("str").fillna("")
    codes, uniques = pd.factorize(texts, use_na_sentinel=False)
    sets = [{m.strip() for m in str(u).split(";") if m.strip()} for u in uniques]
    has = np.array([bool(s) for s in sets])[codes]
    for m, row in library.measures.iterrows():
        if not row["epc_recommendable"]:
            continue
        hit = np.array([m in s for s in sets])[codes]
        allowed[m] = ~has | hit
    return allowed


def _quantity(basis: str, homes: Homes, rows: np.ndarray, hp_kw: np.ndarray, pv_kwp: np.ndarray) -> np.ndarray:
    if basis in ("wall_m2", "roof_m2", "floor_m2", "window_m2"):
        return homes.areas[basis.removesuffix("_m2")][rows]
    if basis == "floor_area_m2":
        return homes.floor_area_m2[rows]
    if basis == "heat_pump_kw":
        return hp_kw
    if basis == "pv_kwp":
        return pv_kwp
    return np.ones(len(rows))


def _measure_cost(measure: pd.Series, measure_id: str, library: Library, homes: Homes, rows: np.ndarray,
                  hp_kw: np.ndarray, pv_kwp: np.ndarray) -> np.ndarray:
    """Cost (GBP, today's prices) of one measure for each home at ``rows``."""
    quantity = _quantity(measure["cost_basis"], homes, rows, hp_kw, pv_kwp)
    cost = (measure["cost_fixed_gbp"] + measure["cost_per_unit_gbp"] * quantity) * library.uplift(measure["price_base_year"])
    if measure["cost_basis"] == "segment":
        table = library.tables["segment_costs"]
        table = table[table["measure_id"] == measure_id].set_index("segment").loc[homes.segment_names]
        point = library.constants["costs"]["segment_cost_point"]
        by_segment = (table["low_gbp"] + point * (table["high_gbp"] - table["low_gbp"])).to_numpy()
        uplift = np.array([library.uplift(y) for y in table["price_base_year"]])
        cost = cost + (by_segment * uplift)[homes.segment_code[rows]]
    if measure["cost_basis"] == "heat_pump_kw":
        curve = library.tables["heat_pump_costs"].sort_values("capacity_kw")
        uplift = np.array([library.uplift(y) for y in curve["price_base_year"]])
        cost = measure["cost_fixed_gbp"] * library.uplift(measure["price_base_year"]) + np.interp(
            hp_kw, curve["capacity_kw"], curve["cost_gbp"] * uplift)
    return cost


def _package_masks(package_id: str, library: Library, rules: dict[str, np.ndarray],
                   allowed: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Which homes get each of the package's measures, and which homes the package applies to.

    A measure that would treat an element an earlier measure of the package already
    treats (two wall insulations, two heating systems) is skipped for that home.
    """
    measures = library.measures
    masks: dict[str, np.ndarray] = {}
    treated: dict[str, np.ndarray] = {}
    for m in library.package_measures(package_id):
        row = measures.loc[m]
        element = {"u_value": row["effect_target"], "heating_system": "system", "solar_pv": "pv"}.get(row["effect"], m)
        mask = rules[m] & allowed[m]
        if element in treated:
            mask &= ~treated[element]
            treated[element] |= mask
        else:
            treated[element] = mask.copy()
        masks[m] = mask
    applies = np.logical_or.reduce(list(masks.values()))
    core = library.packages.at[package_id, "core_measure"]
    if core:
        applies &= masks[core]
    return masks, applies


def _appraise_package(package_id: str, library: Library, homes: Homes, stock: pd.DataFrame,
                      rules: dict[str, np.ndarray], allowed: dict[str, np.ndarray],
                      a: energy.EnergyAssumptions) -> pd.DataFrame:
    masks, applies = _package_masks(package_id, library, rules, allowed)
    packages = list(library.packages.index)
    package_index = packages.index(package_id)
    rows = np.flatnonzero(applies)
    masks = {m: mask[rows] for m, mask in masks.items()}
    c = library.constants
    measures = library.measures
    vent = c["ventilation"]["air_heat_capacity_wh_m3k"]
    n = len(rows)

    # 1. fabric and demand: new U-values and air changes give one new heat-loss coefficient.
    u_old = {e: homes.u_values[e][rows] for e in homes.u_values}
    u_new = dict(u_old)
    ach_old = homes.air_changes[rows]
    ach_new = ach_old.copy()
    space_factor = np.ones(n)
    water_factor = np.ones(n)
    light_factor = np.ones(n)
    weights: dict[str, np.ndarray] = {}  # each demand measure's share of stage 1, for lifetimes
    hlc_old = homes.hlc_w_k(u_old, ach_old, rows, vent)
    for m, mask in masks.items():
        row = measures.loc[m]
        effect, value = row["effect"], row["effect_value"]
        if effect == "u_value":
            e = row["effect_target"]
            better = np.where(mask, np.minimum(u_new[e], value), u_new[e])
            weights[m] = (u_new[e] - better) * homes.areas[e][rows]
            u_new[e] = better
        elif effect == "air_change_reduction":
            floor = np.minimum(ach_new, c["ventilation"]["minimum_air_changes_per_hour"])
            better = np.where(mask, np.maximum(ach_new - value, floor), ach_new)
            weights[m] = vent * (ach_new - better) * homes.volume_m3[rows]
            ach_new = better
        elif effect == "space_heat_factor":
            space_factor = np.where(mask, space_factor * value, space_factor)
        elif effect == "hot_water_factor":
            water_factor = np.where(mask, water_factor * value, water_factor)
        elif effect == "lighting_factor":
            light_factor = np.where(mask, light_factor * value, light_factor)
    hlc_new = homes.hlc_w_k(u_new, ach_new, rows, vent)
    useful_fabric = homes.useful_space_kwh[rows] * hlc_new / hlc_old
    useful_space = useful_fabric * space_factor
    useful_water = homes.useful_water_kwh[rows] * water_factor
    lighting = homes.lighting_kwh[rows] * light_factor
    appliances = homes.appliances_kwh[rows]

    # stage-1 shares of carbon by demand measure (fabric in proportion to the W/K it removes)
    system_code = homes.system_code[rows]
    fuel_code = homes.fuel_code[rows]
    space_eff = a.systems["space_heating_efficiency"].to_numpy()[system_code]
    water_eff = a.systems["hot_water_efficiency"].to_numpy()[system_code]
    carbon = a.fuels["carbon_kg_per_kwh"].to_numpy()
    heat_carbon = carbon[fuel_code]
    fabric_w_k = sum(weights.values()) if weights else np.zeros(n)
    to_kwh = np.divide(homes.useful_space_kwh[rows] - useful_fabric, fabric_w_k,
                       out=np.zeros(n), where=fabric_w_k > 0) * heat_carbon / space_eff
    weights = {m: w * to_kwh for m, w in weights.items()}
    for m, mask in masks.items():
        row = measures.loc[m]
        value = row["effect_value"]
        if row["effect"] == "space_heat_factor":
            weights[m] = np.where(mask, useful_fabric * (1 - value), 0) * heat_carbon / space_eff
        elif row["effect"] == "hot_water_factor":
            weights[m] = np.where(mask, homes.useful_water_kwh[rows] * (1 - value), 0) * heat_carbon / water_eff
        elif row["effect"] == "lighting_factor":
            weights[m] = np.where(mask, homes.lighting_kwh[rows] * (1 - value), 0) * a.fuels.at["electricity", "carbon_kg_per_kwh"]

    def outcome(space_kwh, water_kwh, fuel, generation=0.0):
        fuels = pd.Categorical.from_codes(fuel, categories=a.fuels.index)
        return energy.evaluate(
            floor_area_m2=homes.floor_area_m2[rows], space_heating_kwh=space_kwh, space_fuel=fuels,
            hot_water_kwh=water_kwh, hot_water_fuel=fuels, lighting_kwh_=lighting, appliances_kwh_=appliances,
            assumptions=a, generation_kwh=generation, generation_self_use_share=c["solar_pv"]["self_use_share"],
            export_price_p_per_kwh=c["solar_pv"]["export_price_p_per_kwh"])

    stage_fabric = outcome(useful_space / space_eff, useful_water / water_eff, fuel_code)

    # 2. heating system: new efficiency and fuel, sized on the heat loss after the fabric.
    hp_kw = np.clip(hlc_new * c["climate"]["design_temperature_difference_k"] / 1000,
                    c["heat_pump"]["minimum_kw"], c["heat_pump"]["maximum_kw"])
    system_measure = np.full(n, -1)
    sized = np.zeros(n, dtype=bool)  # homes whose new system is costed by its kW
    for m, mask in masks.items():
        row = measures.loc[m]
        if row["effect"] != "heating_system":
            continue
        system, _, fuel = row["effect_target"].partition(":")
        s = a.systems.index.get_loc(system)
        space_eff = np.where(mask, a.systems["space_heating_efficiency"].iloc[s], space_eff)
        water_eff = np.where(mask, a.systems["hot_water_efficiency"].iloc[s], water_eff)
        if fuel != "keep":
            fuel_code = np.where(mask, a.fuels.index.get_loc(fuel), fuel_code)
        system_measure = np.where(mask, measures.index.get_loc(m), system_measure)
        sized |= mask & (row["cost_basis"] == "heat_pump_kw")
    space_kwh = useful_space / space_eff
    water_kwh = useful_water / water_eff
    stage_system = outcome(space_kwh, water_kwh, fuel_code) if (system_measure >= 0).any() else stage_fabric

    # 3. solar PV offsets electricity last.
    pv = c["solar_pv"]
    pv_kwp = np.zeros(n)
    pv_measure = np.full(n, -1)
    for m, mask in masks.items():
        row = measures.loc[m]
        if row["effect"] == "solar_pv":
            size = np.clip(homes.footprint_m2[rows] * pv["usable_roof_share"] / pv["panel_m2_per_kwp"],
                           pv["minimum_kwp"], row["effect_value"])
            pv_kwp = np.where(mask, size, pv_kwp)
            pv_measure = np.where(mask, measures.index.get_loc(m), pv_measure)
    generation = pv_kwp * pv["yield_kwh_per_kwp"]
    after = outcome(space_kwh, water_kwh, fuel_code, generation) if (pv_measure >= 0).any() else stage_system

    # Costs, labour by trade and PAS 2035 coordination.
    day_rates = library.tables["day_rates"].set_index("trade")["day_rate_gbp"]
    cost = np.zeros(n)
    trade_days = {trade: np.zeros(n) for trade in TRADES}
    measure_bits = np.zeros(n, dtype="int64")
    applied = np.zeros(n)
    for m, mask in masks.items():
        row = measures.loc[m]
        measure_cost = np.where(mask, _measure_cost(row, m, library, homes, rows, hp_kw, pv_kwp), 0.0)
        cost += measure_cost
        trade_days[row["trade"]] += measure_cost * row["labour_share"] / day_rates[row["trade"]]
        measure_bits |= mask.astype("int64") << measures.index.get_loc(m)
        applied += mask
    coordination = c["coordination"]["days_per_home"] + c["coordination"]["days_per_measure"] * applied
    trade_days["coordination"] += coordination
    cost += coordination * day_rates["coordination"]
    labour_days = sum(trade_days.values())

    # Lifetime carbon: each stage's saving over the lifetimes of the measures that made it.
    lifetimes = measures["lifetime_years"].to_numpy()
    before_co2 = homes.before.co2_t[rows]
    fabric_saving = before_co2 - stage_fabric.co2_t
    total_weight = sum(weights.values()) if weights else np.zeros(n)
    mean_life = np.divide(sum(w * measures.at[m, "lifetime_years"] for m, w in weights.items()) if weights else np.zeros(n),
                          total_weight, out=np.zeros(n), where=total_weight > 0)
    lifetime_co2 = (fabric_saving * mean_life
                    + (stage_fabric.co2_t - stage_system.co2_t) * np.where(system_measure >= 0, lifetimes[system_measure], 0)
                    + (stage_system.co2_t - after.co2_t) * np.where(pv_measure >= 0, lifetimes[pv_measure], 0))

    # Rating after, calibrated to the recorded score; fuel poverty.
    sap_before = homes.sap_before[rows]
    offset = sap_before - energy.sap_from_rating_cost(homes.before.rating_cost_gbp[rows], homes.floor_area_m2[rows], a)
    sap_after = np.round(np.clip(energy.sap_from_rating_cost(after.rating_cost_gbp, homes.floor_area_m2[rows], a)
                                 + offset, 1, 100), 1)
    band_after = band_codes(sap_after)
    band_before = homes.band_before[rows]
    probability = stock["fuel_poverty_probability"].to_numpy(dtype="float64")[rows]
    lifted = np.where(FP_BANDS_LIFTED[band_after] & FP_BANDS_BEFORE[band_before], probability, 0.0)
    bill_saving = homes.before.bill_gbp[rows] - after.bill_gbp
    kwh_before = homes.space_kwh[rows] + homes.water_kwh[rows] + homes.lighting_kwh[rows] + appliances
    kwh_after = space_kwh + water_kwh + lighting + appliances - generation

    f32 = "float32"
    frame = {column: stock[column].take(rows).reset_index(drop=True) if column in stock
             else pd.Series(pd.NA, index=range(n), dtype="str")
             for column in STOCK_COLUMNS}
    frame.update({
        "package_id": pd.Categorical.from_codes(np.full(n, package_index), categories=packages),
        "cost_gbp": np.round(cost, 0).astype(f32),
        "annual_kwh_saved": (kwh_before - kwh_after).astype(f32),
        "annual_co2_t_saved": (before_co2 - after.co2_t).astype(f32),
        "lifetime_co2_t_saved": lifetime_co2.astype(f32),
        "annual_bill_saving_gbp": bill_saving.astype(f32),
        "sap_before": sap_before.astype(f32),
        "band_before": pd.Categorical.from_codes(band_before, categories=energy.BANDS),
        "sap_after": sap_after.astype(f32),
        "band_after": pd.Categorical.from_codes(band_after, categories=energy.BANDS),
        "fuel_poverty_probability": probability.astype(f32),
        "fuel_poor_lifted": lifted.astype(f32),
        "fp_bill_saving_gbp": (probability * bill_saving).astype(f32),
        "labour_days": labour_days.astype(f32),
        "jobs_fte_years": (labour_days / c["jobs"]["working_days_per_fte_year"]).astype(f32),
        **{f"trade_days_{trade}": days.astype(f32) for trade, days in trade_days.items()},
        "heat_pump_kw": np.where(sized, hp_kw, 0).astype(f32),
        "pv_kwp": pv_kwp.astype(f32),
        "measure_bits": measure_bits,
    })
    return pd.DataFrame(frame)


COLUMN_ORDER = (
    "home_id", "package_id", "measures", "cost_gbp", "annual_kwh_saved", "annual_co2_t_saved",
    "lifetime_co2_t_saved", "annual_bill_saving_gbp", "sap_before", "band_before", "sap_after", "band_after",
    "fuel_poverty_probability", "fuel_poor_lifted", "fp_bill_saving_gbp", "labour_days", "jobs_fte_years",
    *(f"trade_days_{trade}" for trade in TRADES), "heat_pump_kw", "pv_kwp",
    "city", "lsoa_code", "ward", "tenure", "imd_decile",
)


def appraise(stock: pd.DataFrame, library: Library, progress: Progress | None = None) -> pd.DataFrame:
    """The candidate table: one row per (home, package) where at least one of its measures applies.

    Columns follow `retrofit.candidates` (every required and optional column) plus
    `measures` (the measure ids applied, ";"-separated), `heat_pump_kw` and `pv_kwp`.
    """
    report = progress or (lambda fraction, message: None)
    a = energy.load_assumptions()
    report(0.02, f"heat-loss model of {len(stock):,} homes")
    homes = home_model(stock, library, a)
    rules = {m: rule.mask(stock) for m, rule in library.rules.items()}
    allowed = recommended(stock, library)
    frames = []
    packages = list(library.packages.index)
    for i, package_id in enumerate(packages):
        report(0.1 + 0.8 * i / len(packages), f"package {package_id}")
        frames.append(_appraise_package(package_id, library, homes, stock, rules, allowed, a))
    report(0.92, "assembling candidates")
    candidates = pd.concat(frames, ignore_index=True)
    del frames
    bits, inverse = np.unique(candidates.pop("measure_bits").to_numpy(), return_inverse=True)
    names = library.measures.index
    labels = [";".join(names[j] for j in range(len(names)) if b >> j & 1) for b in bits]
    candidates["measures"] = pd.Categorical.from_codes(inverse.astype("int32"), categories=pd.Index(labels))
    candidates["home_id"] = candidates["home_id"].astype("str")
    candidates["imd_decile"] = candidates["imd_decile"].astype("int8")
    report(1.0, f"{len(candidates):,} candidates")
    return candidates[list(COLUMN_ORDER)]


def credibility(candidates: pd.DataFrame) -> dict:
    """Figures to hold against published anchors (see the README's Appraisal section).

    - jobs per GBP 1m of whole-house spend (UK programmes: about 5-14 FTE-years per GBP 1m);
    - whole-house tCO2 and bill saving a year per social home (Birmingham SHDF Wave 2:
      about 2.5 tCO2 and GBP 1,100 a year per home).
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
        "social_whole_house_mean_bill_saving_gbp": float(social["annual_bill_saving_gbp"].mean()) if len(social) else None,
        "shdf_birmingham_co2_t_per_home": 2.5,
        "shdf_birmingham_bill_saving_gbp_per_home": 1100.0,
    }
