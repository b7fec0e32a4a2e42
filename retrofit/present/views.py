"""What the app's pages show, computed from plans and runs (the pages only lay it out).

Headline KPIs with units, several runs side by side, the map's plan layers per LSOA, the
plan explorer's filters and a home's explanation, exports as bytes, weight sensitivity and
the marginal value of budget and capacity; how a plan is paid for (council money, each grant
scheme, owners' co-funding), what each award leaves unused and why, and whether a home can
be funded by each scheme; under [delivery], the expected figures with their P10-P90 range, and
for a run with actuals, what was planned against what was delivered.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from retrofit.errors import RetrofitError
from retrofit.funding import scheme_terms
from retrofit.geo import MAP_DIGITS, WITHHELD, add_fill_colours, lsoa_feature_collection
from retrofit.pipeline import run_inputs
from retrofit.plan import breakdown, grant_column
from retrofit.present.format import count, gbp, per_tonne, tonnes
from retrofit.reference import lsoas
from retrofit.scenario import Scenario
from retrofit.service.access import allowed_home_cities, require
from retrofit.store import get_scenario, parse
from retrofit.actuals import delivered_rows, planned_and_delivered
from retrofit.store.actuals import actuals_versions, read_actuals
from retrofit.store.compare import compare_plans
from retrofit.store.export import export_run

# (KPI, label, how it is written)
KPIS = (
    ("spend_gbp", "Spend", gbp),
    ("homes", "Homes retrofitted", lambda v: count(v, "homes")),
    ("homes_approached", "Homes to approach (so many expected to go ahead)", lambda v: count(v, "homes")),
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


# --- funding: how the plan is paid for ----------------------------------------------------------

COUNCIL = "Council"
CO_FUNDING = "Co-funding (owners and landlords)"
STATUS_WORDS = {"awarded": "Awarded", "assumed": "Assumed (not yet awarded)"}
UNUSED_AT_MOST_GBP = 0.5  # an award with less than this left is all used (rounding)
PART_WORDS = {"fabric": "fabric", "heating": "heating", "pv": "solar PV", "other": "other work"}
OWNER_WORDS = {"owner_occupied": "the owner", "private_rented": "the landlord", "social_rented": "the landlord"}


def _years_text(years) -> str:
    """2026-2027 for a run of years, else 2026, 2028 ("" for none)."""
    years = sorted(int(y) for y in years or [])
    if not years:
        return ""
    if years == list(range(years[0], years[-1] + 1)):
        return str(years[0]) if len(years) == 1 else f"{years[0]}-{years[-1]}"
    return ", ".join(map(str, years))


def _listed(words: list[str]) -> str:
    """a, b and c."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _pounds(value: float) -> str:
    """Exact pounds with separators (one home's money): £12,398, or £851.50 where there are pence."""
    sign, size = ("-", -value) if value < 0 else ("", value)
    return f"{sign}£{size:,.0f}" if abs(size - round(size)) < 0.005 else f"{sign}£{size:,.2f}"


def _number(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def run_scenario(engine, run) -> Scenario:
    """The scenario version a stored run was planned with."""
    return parse(get_scenario(engine, run.scenario_name, run.scenario_version))


def funding_schemes(kpis: dict, details: dict | None = None, scenario: Scenario | None = None) -> list[dict]:
    """Each grant scheme a run draws on (or could have): awarded ones first, then assumed.

    Each is a dict: id, name, status ("awarded" | "assumed" | None when unknown), awarded_gbp,
    used_gbp, unused_gbp, eligible_gbp (eligible work in its years), years, reason (why money is
    unused, in words; "" when all is used) and value_of_1m_gbp; None where the run does not say.
    From the run's own account (``details["funding"]``, written by the optimiser) where it keeps
    one; else from ``scenario`` and the KPIs; else from the KPIs alone (ids for names). A run
    without funding gives [].
    """
    used = kpis.get("grant_gbp_by_scheme") or {}
    unused = kpis.get("grant_unused_gbp_by_scheme") or {}
    account = (details or {}).get("funding")
    schemes = []
    if account:
        for entry in account:
            key = str(entry.get("id"))
            schemes.append({
                "id": key, "name": entry.get("name") or key, "status": entry.get("status"),
                "awarded_gbp": _number(entry.get("awarded_gbp")),
                "used_gbp": _number(entry.get("used_gbp", used.get(key))) or 0.0,
                "unused_gbp": _number(entry.get("unused_gbp", unused.get(key))),
                "eligible_gbp": _number(entry.get("eligible_gbp")), "years": list(entry.get("years") or []),
                "reason": str(entry.get("reason") or ""), "value_of_1m_gbp": _number(entry.get("value_of_1m_gbp"))})
    elif scenario is not None and scenario.funding:
        for key, award in scenario.funding.items():
            spent = float(used.get(key, 0.0))
            schemes.append({
                "id": key, "name": award.scheme.name, "status": award.scheme.status, "awarded_gbp": award.total_gbp,
                "used_gbp": spent, "unused_gbp": award.total_gbp - spent, "eligible_gbp": None,
                "years": award.spending_years(scenario.year_list), "reason": "", "value_of_1m_gbp": None})
    else:
        for key, spent in used.items():
            schemes.append({"id": key, "name": key, "status": None, "awarded_gbp": None, "used_gbp": float(spent),
                            "unused_gbp": _number(unused.get(key)), "eligible_gbp": None, "years": [],
                            "reason": "", "value_of_1m_gbp": None})
    return sorted(schemes, key=lambda s: s["status"] == "assumed")  # stable: the run's order within each


def run_funding(kpis: dict, details: dict | None, scenario_of: Callable[[], Scenario]) -> list[dict]:
    """`funding_schemes` of a stored run, calling ``scenario_of()`` for its scenario only where the run
    has grants but does not report them itself (runs planned before the optimiser did); a scenario
    that cannot be read (a RetrofitError) leaves the KPIs' own account (scheme ids, no awards)."""
    scenario = None
    if kpis.get("grant_gbp_by_scheme") and not (details or {}).get("funding"):
        try:
            scenario = scenario_of()
        except RetrofitError:
            scenario = None
    return funding_schemes(kpis, details, scenario)


def funding_line(kpis: dict, schemes: list[dict]) -> str:
    """One line of how some homes are paid for: "Paid by: council £1.2m, <scheme> £0.4m, co-funding
    £0.1m; £1.42 per £1 of council money" (the schemes these homes draw on only)."""
    used = kpis.get("grant_gbp_by_scheme") or {}
    spend = kpis.get("spend_gbp") or 0.0
    council = kpis.get("council_gbp", spend)
    parts = [f"council {gbp(council)}"]
    parts += [f"{scheme_label(s)} {gbp(used[s['id']])}" for s in schemes if used.get(s["id"], 0.0) > 0]
    if (kpis.get("co_funding_gbp") or 0.0) > 0:
        parts.append(f"co-funding {gbp(kpis['co_funding_gbp'])}")
    return f"Paid by: {', '.join(parts)}; {leverage_text(spend, council)}."


def has_funding(kpis: dict, schemes: list[dict]) -> bool:
    """Whether a run has anything to say about funding: a grant scheme, or money other than the council's."""
    return bool(schemes) or (kpis.get("grant_gbp") or 0) > 0 or (kpis.get("co_funding_gbp") or 0) > 0


def scheme_label(scheme: dict) -> str:
    """A scheme as the charts and tables name it: assumed money says so."""
    assumed = scheme["status"] == "assumed" and "assumed" not in scheme["name"].lower()
    return scheme["name"] + (" (assumed)" if assumed else "")


def source_labels(schemes: list[dict]) -> dict[str, str]:
    """Plan (or breakdown) column -> the source of money it holds, in the order reports stack them:
    the council, each awarded scheme, each assumed scheme, then owners' co-funding."""
    return {"council_gbp": COUNCIL, **{grant_column(s["id"]): scheme_label(s) for s in schemes},
            "co_funding_gbp": CO_FUNDING}


def _sources(table: pd.DataFrame, schemes: list[dict]) -> pd.DataFrame:
    """The table's money by source, one column per source (a missing grant column is £0; a table
    without council_gbp, from before funding, is council money)."""
    spend = table["spend_gbp"].astype("float64") if "spend_gbp" in table else pd.Series(0.0, index=table.index)
    out = pd.DataFrame(index=table.index)
    for column in source_labels(schemes):
        if column == "council_gbp" and column not in table:
            others = [c for c in table if c in ("grant_gbp", "co_funding_gbp")]
            out[column] = spend - table[others].astype("float64").sum(axis=1) if others else spend
        else:
            out[column] = table[column].astype("float64").fillna(0.0) if column in table else 0.0
    return out


def money_by_source(table: pd.DataFrame, schemes: list[dict], by: str | list[str],
                    city: str | None = None) -> pd.DataFrame:
    """Long table for a stacked chart: per ``by`` value (e.g. year) and source, the money in £ and £m.

    ``table`` is a breakdown (e.g. by year and city); ``city`` keeps that city's rows only, and
    rows of the same ``by`` value are added up (money adds across cities). Columns: ``by``...,
    source (its label), order (0 = council, then the schemes, then co-funding), kind ("council",
    "awarded", "assumed" or "co-funding"), money_gbp, money_m.
    """
    keys = [by] if isinstance(by, str) else list(by)
    labels = source_labels(schemes)
    kinds = {"council_gbp": "council", "co_funding_gbp": "co-funding",
             **{grant_column(s["id"]): s["status"] or "awarded" for s in schemes}}
    rows = table if city is None or "city" not in table else table[table["city"] == city]
    if rows.empty:
        return pd.DataFrame(columns=[*keys, "source", "order", "kind", "money_gbp", "money_m"])
    money = pd.concat([rows[keys].reset_index(drop=True), _sources(rows, schemes).reset_index(drop=True)], axis=1)
    money = money.groupby(keys, sort=True, observed=True)[list(labels)].sum().reset_index()
    long = money.melt(id_vars=keys, value_vars=list(labels), var_name="column", value_name="money_gbp")
    long["order"] = long["column"].map({column: i for i, column in enumerate(labels)})
    long["source"] = long["column"].map(labels)
    long["kind"] = long["column"].map(kinds)
    long["money_m"] = long["money_gbp"] / 1e6
    return long.sort_values([*keys, "order"], kind="stable")[[*keys, "source", "order", "kind", "money_gbp",
                                                            "money_m"]].reset_index(drop=True)


def leverage_text(total_gbp: float | None, council_gbp: float | None) -> str:
    """Total investment per £1 of council money, in words ("£3.62 per £1 of council money")."""
    if not total_gbp:
        return "–"
    if not council_gbp or council_gbp <= 0:
        return "no council money"
    return f"£{total_gbp / council_gbp:,.2f} per £1 of council money"


def money_table(table: pd.DataFrame, schemes: list[dict], keys: str | list[str] = "city",
                total: bool = True) -> pd.DataFrame:
    """Money by source as a report writes it: a row per ``keys`` value of a breakdown (e.g. per
    city), a column per source, the total and the leverage; with ``total``, an "All" row last."""
    keys = [keys] if isinstance(keys, str) else list(keys)
    labels = source_labels(schemes)
    money = _sources(table, schemes)
    money.insert(0, "_total", money.sum(axis=1))
    names = table[keys].astype(str).reset_index(drop=True)
    money = money.reset_index(drop=True)
    if total:
        names.loc[len(names)] = ["All"] * len(keys)
        money.loc[len(money)] = money.sum(axis=0)
    out = pd.DataFrame({key.replace("_", " ").capitalize(): names[key] for key in keys})
    for column, label in labels.items():
        out[label] = [gbp(v) for v in money[column]]
    out["Total"] = [gbp(v) for v in money["_total"]]
    out["Investment per £1 of council money"] = [
        "–" if not t else ("no council money" if c <= 0 else f"£{t / c:,.2f}")
        for t, c in zip(money["_total"], money["council_gbp"])]
    return out


def funding_figures(kpis: dict, schemes: list[dict]) -> list[tuple[str, str]]:
    """(label, value) headline figures of a run's funding: council money, awarded and assumed
    grant (apart), co-funding and leverage."""
    awarded = [s for s in schemes if s["status"] != "assumed"]
    assumed = [s for s in schemes if s["status"] == "assumed"]

    def grant(group: list[dict]) -> str:
        used = sum(s["used_gbp"] for s in group)
        held = [s["awarded_gbp"] for s in group]
        return gbp(used) + (f" of {gbp(sum(held))}" if held and None not in held else "")

    spend = kpis.get("spend_gbp")
    council = kpis.get("council_gbp", spend)
    figures = [("Council money", gbp(council))]
    if awarded or not assumed:
        figures.append(("Grants awarded, used", grant(awarded)))
    if assumed:
        figures.append(("Grants assumed (not yet awarded), used", grant(assumed)))
    figures += [("Co-funding (owners and landlords)", gbp(kpis.get("co_funding_gbp", 0.0))),
                ("Leverage: total investment", leverage_text(spend, council))]
    return figures


def unused_table(schemes: list[dict]) -> pd.DataFrame:
    """Per scheme: whether awarded or assumed, its years, the award, what the plan uses, what it
    leaves unused and why (in words)."""
    def why(scheme: dict) -> str:
        left = scheme["unused_gbp"]
        if left is None:
            return "–"
        if left < UNUSED_AT_MOST_GBP:
            return "All used"
        return scheme["reason"] or "The run does not record why (it was planned before the optimiser said so)"

    table = pd.DataFrame({
        "Scheme": [s["name"] for s in schemes],
        "Money": [STATUS_WORDS.get(s["status"], "–") for s in schemes],
        "Years": [_years_text(s["years"]) or "–" for s in schemes],
        "Award": [gbp(s["awarded_gbp"]) for s in schemes],
        "Used": [gbp(s["used_gbp"]) for s in schemes],
        "Left unused": [gbp(max(s["unused_gbp"], 0.0)) if s["unused_gbp"] is not None else "–" for s in schemes],
    })
    if any(s["eligible_gbp"] is not None for s in schemes):
        table["Eligible work in its years"] = [gbp(s["eligible_gbp"]) for s in schemes]
    table["Why any is left"] = [why(s) for s in schemes]
    return table


def funding_mix(kpis: dict[str, dict], schemes: dict[str, list[dict]]) -> pd.DataFrame:
    """Several runs' funding side by side: a row per source (council, each scheme by name, awarded
    before assumed, co-funding), then the total and the leverage; a column per run (its label).

    ``kpis`` and ``schemes`` map each run's label to its KPIs and its `funding_schemes`. A scheme
    a run does not draw on is "–" in its column; a run from before funding is council money.
    """
    rows: dict[str, str] = {}  # scheme id -> its row label, first run's name first
    for label in kpis:
        for scheme in schemes.get(label, []):
            rows.setdefault(scheme["id"], scheme_label(scheme))
    ordered = sorted(rows, key=lambda key: next(
        (s["status"] == "assumed" for group in schemes.values() for s in group if s["id"] == key), False))
    index = [COUNCIL, *(rows[key] for key in ordered), CO_FUNDING, "Total investment",
             "Investment per £1 of council money"]
    table = pd.DataFrame(index=index)
    for label, figures in kpis.items():
        spend = figures.get("spend_gbp") or 0.0
        council = figures.get("council_gbp", spend)
        used = {s["id"]: s["used_gbp"] for s in schemes.get(label, [])}
        table[label] = [gbp(council), *(gbp(used[key]) if key in used else "–" for key in ordered),
                        gbp(figures.get("co_funding_gbp", 0.0)), gbp(spend), leverage_text(spend, council)
                        .removesuffix(" per £1 of council money")]
    return table


# --- funding: one home ---------------------------------------------------------------------------

def funding_column_labels(schemes: list[dict]) -> dict[str, str]:
    """Plan columns of money by source -> plain labels, for the explorer's table."""
    return {"cost_gbp": "Cost (£)", "council_gbp": "Council (£)", "grant_gbp": "Grants (£)",
            **{grant_column(s["id"]): f"{scheme_label(s)} (£)" for s in schemes},
            "co_funding_gbp": "Co-funding (£)", "funding": "Paid by (scheme ids)"}


def home_split(row: pd.Series, schemes: list[dict]) -> tuple[str, pd.DataFrame]:
    """How one planned home is paid for: a sentence, and a table (source, amount, share of the cost)."""
    cost = float(row.get("cost_gbp", 0.0))
    council = row.get("council_gbp")
    council = cost - float(row.get("grant_gbp", 0) or 0) - float(row.get("co_funding_gbp", 0) or 0) \
        if council is None or pd.isna(council) else float(council)
    owner = OWNER_WORDS.get(str(row.get("tenure")), "the owner")
    # (table label, words in the sentence, amount)
    parts = [(COUNCIL, "the council", council)]
    parts += [(scheme_label(s), scheme_label(s), float(row.get(grant_column(s["id"]), 0.0) or 0.0)) for s in schemes]
    parts.append((f"Co-funding ({owner})", f"{owner} (co-funding)", float(row.get("co_funding_gbp", 0.0) or 0.0)))
    paying = [part for part in parts if part[2] >= UNUSED_AT_MOST_GBP]
    words = [f"{said} {_pounds(amount)}" for _, said, amount in paying]
    text = f"Paid for by {_listed(words)} (cost {_pounds(cost)})." if words else \
        f"Nothing to pay (cost {_pounds(cost)})."
    table = pd.DataFrame({"Paid by": [name for name, _, _ in paying], "Amount": [_pounds(a) for _, _, a in paying],
                          "Share of the cost": [f"{100 * a / cost:.0f}%" if cost > 0 else "–" for _, _, a in paying]})
    return text, table


def _caps_text(scheme) -> str:
    if not scheme.cap_gbp:
        return ""
    caps = ", ".join(f"£{amount:,.0f}" + ("" if part == "total" else " for " + _listed(
        [PART_WORDS.get(p, p) for p in part.split("+")])) for part, amount in scheme.cap_gbp.items())
    return f" Its caps ({caps}) hold " + ("on average over the homes it funds." if scheme.cap_basis == "average"
                                          else "for each home.")


def home_eligibility(rows: pd.DataFrame, scenario: Scenario, package_id: str | None = None,
                     year: int | None = None) -> pd.DataFrame:
    """Whether each scheme of ``scenario`` can fund one home, and why (not), in words.

    ``rows`` are the home's candidate rows (one per package that applies). With ``package_id``
    (and ``year``), for that package in that year (the plan's choice); without, for any of its
    packages. Columns: Scheme, Money (awarded or assumed), Pays for work in, Can it pay?, Why.
    """
    programme = scenario.year_list
    out = []
    for key, award in scenario.funding.items():
        scheme = award.scheme
        years = award.spending_years(programme)
        line = {"Scheme": scheme.name, "Money": STATUS_WORDS[scheme.status], "Pays for work in": _years_text(years)}
        try:
            terms = scheme_terms(rows, scheme, scenario.rules) if len(rows) else None
        except RetrofitError as error:
            out.append(line | {"Can it pay?": "Cannot tell", "Why": str(error)})
            continue
        if terms is None:
            out.append(line | {"Can it pay?": "No", "Why": "No package applies to this home."})
            continue
        packages = rows["package_id"].astype(str).to_numpy()
        if package_id is not None and (packages == str(package_id)).any():
            i = int(np.flatnonzero(packages == str(package_id))[0])
            term = terms.iloc[i]
            if not term["eligible"]:
                out.append(line | {"Can it pay?": "No", "Why": f"{term['reason']}."})
                continue
            most, share = float(term["grant_max_gbp"]), float(term["co_funding_gbp"])
            owner = OWNER_WORDS.get(str(rows["tenure"].iloc[i]), "the owner") if "tenure" in rows else "the owner"
            why = (f"It may pay up to {_pounds(most)} of {package_id}"
                   + (f"; {owner} pays {_pounds(share)} of it" if share >= UNUSED_AT_MOST_GBP else "") + "."
                   + _caps_text(scheme))
            if year is not None and int(year) not in years:
                out.append(line | {"Can it pay?": f"Not in {int(year)}",
                                   "Why": f"{package_id} is eligible, but {scheme.name} pays only for work in "
                                          f"{_years_text(years)}; this home is planned for {int(year)}."})
            else:
                out.append(line | {"Can it pay?": "Yes", "Why": why})
            continue
        eligible = terms["eligible"].to_numpy(dtype=bool)
        if eligible.any():
            best = int(np.argmax(np.where(eligible, terms["grant_max_gbp"].to_numpy(dtype="float64"), -np.inf)))
            out.append(line | {"Can it pay?": f"Yes, for {int(eligible.sum())} of its {len(rows)} packages",
                               "Why": f"Up to {_pounds(float(terms['grant_max_gbp'].iloc[best]))} "
                                      f"(for {packages[best]})." + _caps_text(scheme)})
        else:
            reasons = list(dict.fromkeys(str(r) for r in terms["reason"]))
            out.append(line | {"Can it pay?": "No", "Why": "; ".join(reasons) + "."})
    return pd.DataFrame(out, columns=["Scheme", "Money", "Pays for work in", "Can it pay?", "Why"])


def home_funding_eligibility(engine, principal, run_id: int, home_id: str, package_id: str | None = None,
                             year: int | None = None) -> pd.DataFrame:
    """`home_eligibility` of one home of a stored run that ``principal`` may read (a viewer is
    refused; another city's home reads as one with no package), from the run's own inputs."""
    cities = allowed_home_cities(principal)  # refuse before reading anything
    scenario, candidates = run_inputs(engine, run_id)
    rows = candidates[(candidates["home_id"].astype(str) == str(home_id)) & candidates["city"].isin(cities)]
    return home_eligibility(rows.reset_index(drop=True), scenario, package_id, year)


# --- delivery: uptake and actuals ---------------------------------------------------------------

def delivery_lines(details: dict) -> list[str]:
    """A run under [delivery] in words: its confidence, the contingency held back, the P50/P90 cost."""
    delivery = details.get("delivery")
    if not delivery:
        return []
    yearly = [c for c in delivery["contingency"] if c["rule"].startswith("budget.per_year_gbp")]
    held = sum(c["uptake"] + c["cost"] for c in yearly or
               [c for c in delivery["contingency"] if c["rule"] == "budget.total_gbp"])
    uptake = sum(c["uptake"] for c in yearly)
    cost = delivery["programme_cost"]
    return [
        f"Each household goes ahead with its uptake probability, so the plan approaches more homes than it expects "
        f"to retrofit. Each year's budget, the city shares and capacity hold with {delivery['confidence']:.0%} "
        f"confidence for uptake and {delivery['cost_confidence']:.0%} for costs.",
        f"Contingency held back from the yearly budgets: {gbp(held)} ({gbp(uptake)} for uptake, "
        f"{gbp(held - uptake)} for costs). Programme cost: P50 {gbp(cost['p50_gbp'])}, P90 {gbp(cost['p90_gbp'])}.",
    ]


def delivery_table(details: dict) -> pd.DataFrame | None:
    """Expected homes and spend by city and year with their P10-P90 range (None without [delivery])."""
    records = (details.get("delivery") or {}).get("by_city_year")
    if not records:
        return None
    t = pd.DataFrame(records)
    return pd.DataFrame({
        "Year": t["year"].astype(str), "City": t["city"], "Homes to approach": t["homes_approached"].map(count),
        "Expected homes": t["expected_homes"].map(count),
        "Homes P10-P90": [f"{count(a)} to {count(b)}" for a, b in zip(t["homes_p10"], t["homes_p90"])],
        "Expected spend": t["expected_spend_gbp"].map(gbp),
        "Spend P10-P90": [f"{gbp(a)} to {gbp(b)}" for a, b in zip(t["spend_p10_gbp"], t["spend_p90_gbp"])],
    })


def run_delivery(engine, run_id: int, plan: pd.DataFrame) -> dict | None:
    """A run's latest actuals against its plan (None when it has none): per city and year the
    planned and delivered figures (`planned_and_delivered`), the long form the chart draws, and
    how many committed homes are reserves outside the plan (their city is not in it)."""
    versions = actuals_versions(engine, run_id)
    if not versions:
        return None
    latest = versions[-1]
    delivered, outside = delivered_rows(read_actuals(engine, run_id, latest.version), plan)
    table = planned_and_delivered(plan, delivered)
    chart = pd.concat([
        pd.DataFrame({"city": table["city"], "year": table["year"], "series": series,
                      "spend_m": table[f"spend_gbp_{side}"] / 1e6, "homes": table[f"homes_{side}"]})
        for series, side in (("Planned", "planned"), ("Delivered or under way", "delivered"))], ignore_index=True)
    return {"version": latest.version, "source": latest.source, "table": table, "chart": chart, "outside": outside,
            "delivered_homes": int(len(delivered)), "delivered_gbp": float(delivered["cost_gbp"].sum())}


def reserve_table(reserves: pd.DataFrame) -> pd.DataFrame:
    """A reserve list (`retrofit.optimise.reserves.COLUMNS`) as the explorer shows it."""
    return pd.DataFrame({
        "Planned home": reserves["planned_home_id"], "Year": reserves["year"].astype(str),
        "Reserve": reserves["reserve_rank"].map(lambda r: f"#{r}"), "Reserve home": reserves["reserve_home_id"],
        "Package": reserves["reserve_package_id"], "Cost": reserves["reserve_cost_gbp"].map(gbp),
        "Lifetime carbon": reserves["reserve_lifetime_co2_t_saved"].map(tonnes),
        "Fuel-poor lifted": reserves["reserve_fuel_poor_lifted"].map(lambda v: f"{v:.2f}"),
        "Tenure": reserves["reserve_tenure"].str.replace("_", " "),
        "Uptake": reserves["reserve_uptake"].map(lambda v: f"{v:.0%}"),
        "Where": reserves["same_area"].map({"lsoa": "same LSOA", "ward": "same ward"}),
    })


def replan_lines(replan: dict) -> list[str]:
    """A re-plan against its parent in words: delivered, money left and moved, homes added."""
    unspent = sum(replan["unspent_in_closed_years_gbp"].values())
    moved = replan["open_years_spend_gbp"]
    return [
        f"As of {replan['as_of']} (actuals version {replan['actuals_version']}): "
        f"{count(replan['delivered_homes'], 'homes')} contracted, under way or done for "
        f"{gbp(replan['delivered_spend_gbp'])}; {count(replan['declined_or_withdrawn'], 'households')} declined or "
        "withdrew.",
        f"The years that are over left {gbp(unspent)} unspent. New work in the open years: "
        f"{gbp(moved['replan'])}, against {gbp(moved['parent'])} the run planned there.",
        f"{count(replan['homes_added'], 'homes')} added that the run did not plan, "
        f"{count(replan['homes_added_near_declined'])} of them in a neighbourhood where a household declined or "
        "withdrew (its reserves).",
    ]


def replan_table(replan: dict) -> pd.DataFrame:
    """Planned (by the parent) and delivered, by year and city, as the Compare page shows them."""
    t = replan["by_city_year"]
    out = pd.DataFrame({"Year": t["year"].astype(str), "City": t["city"]})
    for key, label, write in (("homes", "Homes", count), ("spend_gbp", "Spend", gbp),
                              ("lifetime_co2_t_saved", "Lifetime carbon", tonnes),
                              ("fuel_poor_lifted", "Fuel-poor lifted", count)):
        out[f"{label} planned"] = t[f"{key}_planned"].map(write)
        out[f"{label} delivered"] = t[f"{key}_delivered"].map(write)
    return out


def binding_table(details: dict) -> pd.DataFrame | None:
    """Per programme year, the rules the plan meets at their limit (None for a run stored before this)."""
    records = details.get("binding_by_year")
    if not records:
        return None
    return pd.DataFrame({"Year": [str(r["year"]) for r in records],
                         "Shaped by (rules at their limit)": ["; ".join(r["rules"]) or "none: room left under every "
                                                              "yearly rule" for r in records]})
