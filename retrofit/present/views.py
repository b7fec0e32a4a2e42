"""What the app's pages show, computed from plans and runs (the pages only lay it out).

Headline KPIs with units, several runs side by side, the map's plan layers per LSOA, the
plan explorer's filters and a home's explanation, exports as bytes, weight sensitivity and
the marginal value of budget and capacity.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from retrofit.geo import MAP_DIGITS, WITHHELD, add_fill_colours, lsoa_feature_collection
from retrofit.plan import breakdown
from retrofit.present.format import count, gbp, per_tonne, tonnes
from retrofit.reference import lsoas
from retrofit.service.access import require
from retrofit.store.compare import compare_plans
from retrofit.store.export import export_run

# (KPI, label, how it is written)
KPIS = (
    ("spend_gbp", "Spend", gbp),
    ("homes", "Homes retrofitted", lambda v: count(v, "homes")),
    ("annual_co2_t_saved", "Carbon saved a year", lambda v: tonnes(v, "yr")),
    ("modelled_annual_co2_t_saved", "Carbon a year as certificates model it", lambda v: tonnes(v, "yr")),
    ("lifetime_co2_t_saved", "Carbon saved over measure lifetimes", tonnes),
    ("gbp_per_lifetime_tco2", "Cost per lifetime tonne", per_tonne),
    ("fuel_poor_lifted", "Households lifted out of fuel poverty", lambda v: count(v, "households")),
    ("annual_bill_saving_gbp", "Bill savings a year", gbp),
    ("fp_bill_saving_gbp", "Fuel-poor households' bill savings a year", gbp),
    ("jobs_fte_years", "Jobs (FTE-years)", lambda v: count(v, "FTE-years")),
    ("jobs_per_gbp_million", "Jobs per £1m", lambda v: "–" if v is None else f"{v:.1f} FTE-years/£m"),
    ("peak_crews", "Peak workforce (FTE in the busiest year)", lambda v: count(v, "FTE")),
)
LABELS = {key: label for key, label, _ in KPIS}
FORMATS = {key: write for key, _, write in KPIS}

# Plan layers of the map: plan column summed per LSOA, and its label
MAP_LAYERS = {
    "homes": "Homes retrofitted",
    "cost_gbp": "Spend (£)",
    "annual_co2_t_saved": "Carbon saved (tCO2 a year)",
    "fuel_poor_lifted": "Fuel-poor households lifted",
}


def kpi_cards(kpis: dict) -> list[tuple[str, str]]:
    """(label, value with unit) for each headline KPI the run has."""
    return [(label, write(kpis.get(key))) for key, label, write in KPIS if key in kpis]


def city_year(plan: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """KPIs by city, and by year and city (for the overview's charts)."""
    return breakdown(plan, "city"), breakdown(plan, ["year", "city"])


def city_table(by_city: pd.DataFrame) -> pd.DataFrame:
    """The KPIs by city as a report writes them (a small static table: one row per city)."""
    return pd.DataFrame({
        "City": by_city["city"],
        "Homes": [count(v) for v in by_city["homes"]],
        "Spend": [gbp(v) for v in by_city["spend_gbp"]],
        "tCO2 a year": [count(v) for v in by_city["annual_co2_t_saved"]],
        "Fuel-poor households lifted": [f"{v:,.1f}" for v in by_city["fuel_poor_lifted"]],
        "Jobs (FTE-years)": [count(v) for v in by_city["jobs_fte_years"]],
    })


# --- several runs ---------------------------------------------------------------------------

def kpi_comparison(kpis: dict[str, dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(numbers, text): one row per KPI, a column per run, and "<run> vs <first>" deltas.

    ``kpis`` maps a run label to its KPIs, the first being the base of the deltas.
    """
    labels = list(kpis)
    base = labels[0]
    numbers = pd.DataFrame({label: [kpis[label].get(k) for k, _, _ in KPIS] for label in labels},
                           index=[k for k, _, _ in KPIS], dtype="float64")
    text = pd.DataFrame(index=[LABELS[k] for k in numbers.index])
    for label in labels:
        text[label] = [FORMATS[k](None if pd.isna(v) else v) for k, v in numbers[label].items()]
    for label in labels[1:]:
        delta = numbers[label] - numbers[base]
        numbers[f"{label} vs {base}"] = delta
        text[f"Δ {label}"] = [_signed(k, v) for k, v in delta.items()]
    return numbers, text


def _signed(key: str, value) -> str:
    if pd.isna(value):
        return "–"
    written = FORMATS[key](abs(value))
    return "±0" if value == 0 else ("+" if value > 0 else "-") + written


def runs_by(plans: dict[str, pd.DataFrame], by: str) -> pd.DataFrame:
    """Long table for charts: run, ``by`` value, then each KPI (homes, spend, carbon, FP, jobs)."""
    parts = []
    for label, plan in plans.items():
        table = breakdown(plan, by)
        table.insert(0, "run", label)
        parts.append(table)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["run", by])


def homes_in_common(plans: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """For each run after the first: homes in both, only in the first, only in it, same package."""
    labels = list(plans)
    base = labels[0]
    rows = []
    for label in labels[1:]:
        homes = compare_plans(plans[base], plans[label], {}, {}).homes
        rows.append({"run": label, "in both": homes["both"], f"only in {base}": homes["only_a"],
                     "only in this run": homes["only_b"], "same package and year": homes["same_package_and_year"],
                     "other package": homes["package_changed"], "other year only": homes["year_changed_only"]})
    return pd.DataFrame(rows)


# --- the map -------------------------------------------------------------------------------

def lsoa_figures(plan: pd.DataFrame, year: int | None = None, cities: list[str] | None = None) -> pd.DataFrame:
    """Per LSOA: homes, spend, carbon a year and fuel-poor households lifted (in the year/cities given)."""
    chosen = plan
    if year is not None:
        chosen = chosen[chosen["year"] == year]
    if cities:
        chosen = chosen[chosen["city"].isin(cities)]
    grouped = chosen.groupby("lsoa_code", observed=True)
    figures = grouped[["cost_gbp", "annual_co2_t_saved", "fuel_poor_lifted"]].sum()
    figures.insert(0, "homes", grouped.size())
    return figures


# Precision of the map's figures (the tooltips write them rounded further): £1, 0.1 tCO2, 0.01 households
MAP_FIGURE_DIGITS = {"cost_gbp": 0, "annual_co2_t_saved": 1, "fuel_poor_lifted": 2}
# Per-area plan figures of fewer homes than this are not shown to people who may not read those homes:
# a neighbourhood with one planned home would show that home's cost (ONS small-number practice).
DISCLOSURE_MIN_HOMES = 5
WITHHELD_SMALL = f"not shown: fewer than {DISCLOSURE_MIN_HOMES} homes"
WITHHELD_BESIDE = "not shown: it would reveal a small figure beside it"
WITHHELD_BY_YEAR = "not shown by year: only the whole programme, for cities whose homes you may not read"


def withheld_lsoas(figures: pd.DataFrame, year: int | None, cities: list[str] | None,
                   open_cities: list[str] | None) -> dict[str, str]:
    """The LSOAs whose plan figures are not shown, and why, for someone who may read the homes of
    ``open_cities`` only (None: every city; nothing is withheld).

    In the other cities: nothing by year (years of a neighbourhood set beside its total would tell
    one year's homes apart); over the whole programme, areas of 1 to DISCLOSURE_MIN_HOMES - 1
    homes, and, where those of a city hold fewer than that together, the smallest areas beside
    them until they do, so that the city's total (on the Overview) less the areas shown cannot
    give them away.
    """
    if open_cities is None:
        return {}
    areas = lsoas()[["lsoa_code", "city"]]
    closed = areas[~areas["city"].isin(open_cities) & (areas["city"].isin(cities) if cities else True)]
    if year is not None:
        return dict.fromkeys(closed["lsoa_code"], WITHHELD_BY_YEAR)
    homes = figures["homes"].reindex(closed["lsoa_code"]).fillna(0).to_numpy()
    withheld: dict[str, str] = {}
    for city in closed["city"].unique():
        mine = (closed["city"] == city).to_numpy()
        codes, counts = closed["lsoa_code"].to_numpy()[mine], homes[mine]
        small = (counts > 0) & (counts < DISCLOSURE_MIN_HOMES)
        withheld.update(dict.fromkeys(codes[small], WITHHELD_SMALL))
        hidden = counts[small].sum()
        beside = np.flatnonzero(~small & (counts > 0))
        for i in beside[np.argsort(counts[beside], kind="stable")]:
            if hidden == 0 or hidden >= DISCLOSURE_MIN_HOMES:
                break
            withheld[codes[i]] = WITHHELD_BESIDE
            hidden += counts[i]
    return withheld


def plan_layer(plan: pd.DataFrame, value: str, year: int | None = None, cities: list[str] | None = None,
               open_cities: list[str] | None = None) -> dict:
    """LSOA polygons coloured by ``value`` of the plan, with the figures written for tooltips.

    ``open_cities``: the cities whose homes the person may read (None: all); elsewhere small
    figures are withheld (`withheld_lsoas`): their tooltip says so, they take no colour class
    and carry no figure. Sized for the map: coordinates to about 1 m (geo.MAP_DIGITS) and
    figures to MAP_FIGURE_DIGITS once coloured.
    """
    figures = lsoa_figures(plan, year, cities)
    withheld = withheld_lsoas(figures, year, cities, open_cities)
    figures = figures.drop(index=[code for code in withheld if code in figures.index])
    figures["spend_text"] = [gbp(v) for v in figures["cost_gbp"]]
    figures["carbon_text"] = [tonnes(v, "yr") for v in figures["annual_co2_t_saved"]]
    figures["fuel_poor_text"] = [f"{v:,.1f}" for v in figures["fuel_poor_lifted"]]
    collection = lsoa_feature_collection(figures, list(cities) if cities else None, digits=MAP_DIGITS)
    add_fill_colours(collection, value)  # areas without a figure (no home, or withheld) stay out of the classes
    for feature in collection["features"]:
        properties = feature["properties"]
        reason = withheld.get(properties["lsoa_code"])
        if reason is not None:
            properties.update(homes=reason, spend_text="–", carbon_text="–", fuel_poor_text="–", fill_colour=WITHHELD)
        elif properties.get("homes") is None:
            properties.update(homes=0, spend_text="£0", carbon_text="0 tCO2/yr", fuel_poor_text="0")
        else:
            properties["homes"] = int(properties["homes"])
            for key, digits in MAP_FIGURE_DIGITS.items():
                if properties.get(key) is not None:
                    properties[key] = round(properties[key], digits)
    return collection


# --- the plan explorer ------------------------------------------------------------------------

def filter_plan(plan: pd.DataFrame, cities=None, wards=None, packages=None, years=None, tenures=None,
                imd_deciles: tuple[int, int] | None = None) -> pd.DataFrame:
    """The plan's rows that match every filter given (None or empty: no filter).

    When every row matches, the plan itself (not a copy): callers must not change it.
    """
    keep = np.ones(len(plan), dtype=bool)
    for column, wanted in (("city", cities), ("ward", wards), ("package_id", packages), ("year", years),
                           ("tenure", tenures)):
        if wanted and column in plan:
            keep &= plan[column].isin(list(wanted)).to_numpy()
    if imd_deciles is not None:
        low, high = imd_deciles
        keep &= plan["imd_decile"].between(low, high).to_numpy()
    return plan if keep.all() else plan[keep]


def costliest_page(table: pd.DataFrame, page: int, rows: int) -> pd.DataFrame:
    """Rows of page ``page`` (1 = the costliest ``rows`` homes) of the table sorted by cost, highest first."""
    order = np.argsort(-table["cost_gbp"].to_numpy(), kind="stable")
    start = (max(int(page), 1) - 1) * rows
    return table.iloc[order[start:start + rows]]


def filter_choices(plan: pd.DataFrame) -> dict:
    """What the explorer's filters offer for a plan: its cities, wards (by city), packages, years, tenures."""
    wards = ({city: sorted(group.dropna().unique()) for city, group in plan.groupby("city", observed=True)["ward"]}
             if "ward" in plan else {})
    return {"cities": sorted(plan["city"].unique()), "wards_by_city": wards,
            "packages": sorted(plan["package_id"].unique()), "years": sorted(int(y) for y in plan["year"].unique()),
            "tenures": sorted(plan["tenure"].unique())}


def wards_of(choices: dict, cities: list[str] | None = None) -> list[str]:
    """The wards the explorer offers for the chosen cities (every city's when none is chosen)."""
    by_city = choices["wards_by_city"]
    return sorted({ward for city in (cities or by_city) for ward in by_city.get(city, [])})


def explain_home(home_id: str, plan: pd.DataFrame, explanations: pd.DataFrame) -> dict:
    """Why a home is in the plan or not, in words, from the run's per-home explanation.

    The optimiser prices every limit (budget, capacity, shares); a home is worth including
    when its best package's value per £ beats the threshold those prices set.
    """
    home_id = str(home_id)
    row = plan[plan["home_id"] == home_id]
    in_plan = len(row) > 0
    found = home_id in explanations.index
    if not found:
        if in_plan:
            return {"in_plan": True, "text": f"Home {home_id} is in the plan. The run kept no explanation per home."}
        return {"in_plan": False, "text": f"Home {home_id} is not in the plan: no package applies to it, or the "
                                          "scenario's eligibility rules (tenure, packages, minimum band, "
                                          "exclusions) leave none."}
    why = explanations.loc[home_id]
    value_per_gbp, threshold = float(why["value_per_gbp"]), float(why["threshold_per_gbp"])
    ratio = value_per_gbp / threshold if threshold > 0 and np.isfinite(threshold) else np.inf
    best = why["best_package_id"]
    if in_plan:
        chosen = row.iloc[0]
        text = (f"Home {home_id} is in the plan: {chosen['package_id']} in {int(chosen['year'])} for "
                f"{gbp(chosen['cost_gbp'])}. Its best package ({best}) gives {_ratio(ratio)} the value per £ "
                f"that the binding limits (budget, capacity, shares) require, so it earns its place.")
    else:
        text = (f"Home {home_id} is not in the plan. Its best package ({best}, {gbp(why['cost_gbp'])}) gives "
                f"{_ratio(ratio)} the value per £ that the binding limits require: the money and crews do "
                f"more good elsewhere.")
        if ratio >= 1:
            text += " It sits at the margin: the rules' interplay (shares, capacity by year) left it out."
    return {"in_plan": in_plan, "text": text, "best_package_id": best, "value_per_gbp": value_per_gbp,
            "threshold_per_gbp": threshold, "ratio": ratio}


def _ratio(ratio: float) -> str:
    return "far more than" if not np.isfinite(ratio) else f"{ratio:.2f} times"


def export_bytes(engine, principal, run_id: int, fmt: str) -> bytes:
    """A stored run exported as csv, xlsx or geojson (see retrofit.store.export), as bytes: every
    city's homes, so only for those who may export a whole plan (a RetrofitError for anyone else)."""
    require(principal, "export_plan")
    with tempfile.TemporaryDirectory() as folder:
        path = export_run(engine, run_id, fmt, Path(folder) / f"run.{fmt}")
        return path.read_bytes()


def csv_bytes(table: pd.DataFrame) -> bytes:
    """A table as CSV bytes (the explorer's filtered homes)."""
    return table.to_csv(index=False).encode("utf-8")


# --- trade-offs ------------------------------------------------------------------------------

def marginal_values(details: dict, objective: float | None = None, spend_gbp: float | None = None) -> pd.DataFrame:
    """Per city and year: the objective gained by £1m more budget and by 100 more homes of capacity.

    With the run's objective and spend, the value of £1m more is also given against what an
    average £1m of the plan achieves (100% = as much as the average £1m).
    """
    marginal = pd.DataFrame(details.get("marginal") or [])
    if marginal.empty:
        return marginal
    if objective and spend_gbp:
        average = objective / (spend_gbp / 1e6)
        marginal["value_of_1m_gbp_pct_of_average"] = 100 * marginal["value_of_1m_gbp"] / average
    return marginal


def trade_off_points(runs: dict[str, dict]) -> pd.DataFrame:
    """Each run's position on the carbon / fuel poverty / jobs trade-off."""
    return pd.DataFrame([{"run": label, "lifetime_co2_t_saved": k.get("lifetime_co2_t_saved"),
                          "fuel_poor_lifted": k.get("fuel_poor_lifted"), "jobs_fte_years": k.get("jobs_fte_years"),
                          "spend_gbp": k.get("spend_gbp")} for label, k in runs.items()])
