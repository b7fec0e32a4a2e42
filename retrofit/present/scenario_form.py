"""The scenario builder's form: a Scenario as flat field values, and back, with errors per field.

The app shows money in £m and shares in %, so each form key says its unit
(`budget.total_gbp_m`, `cities.Coventry.min_share_pct`). `from_form` validates through the
Scenario model itself and files each pydantic error under the form field it concerns, so
the page can show the message right next to that field.
"""

from __future__ import annotations

import re

from pydantic import ValidationError

from retrofit.candidates import TRADES
from retrofit.reference import CITIES
from retrofit.scenario import Scenario
from retrofit.stock.schema import TENURES

GBP_M = 1e6
TOP = "scenario"  # errors that belong to no field
NO_MINIMUM = ""   # the minimum band choice that means "no minimum"

# scenario key -> (form key, factor from scenario units to form units)
_SCALED = {"budget.total_gbp": ("budget.total_gbp_m", 1 / GBP_M)}
for _city in CITIES:
    _SCALED[f"cities.{_city}.min_share"] = (f"cities.{_city}.min_share_pct", 100.0)
    _SCALED[f"cities.{_city}.max_share"] = (f"cities.{_city}.max_share_pct", 100.0)
_SCALED["rules.equity_min_share"] = ("rules.equity_min_share_pct", 100.0)
_SCALED["budget.per_year_gbp"] = ("budget.per_year_gbp_m", None)  # text: comma-separated £m


def _ids_text(ids: list[str]) -> str:
    return "\n".join(ids)


def _ids(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,;]+", text or "") if part]


def to_form(scenario: Scenario, packages: list[str] | None = None) -> dict:
    """Form values for a scenario (keys as used by the builder's widgets).

    Eligible tenures and packages left out (all allowed) become the full lists of
    ``TENURES`` and ``packages``, as a multiselect shows them.
    """
    s = scenario
    values = {
        "name": s.name, "description": s.description,
        "budget.total_gbp_m": s.budget.total_gbp / GBP_M,
        "budget.per_year_gbp_m": ", ".join(f"{v / GBP_M:g}" for v in s.budget.per_year_gbp or []),
        "years.start": s.years.start, "years.end": s.years.end,
        "weights.carbon": float(s.weights.carbon), "weights.fuel_poverty": float(s.weights.fuel_poverty),
        "weights.jobs": float(s.weights.jobs), "weights.normalise": s.weights.normalise,
        "rules.equity_min_share_pct": 100 * s.rules.equity_min_share, "rules.equity_basis": s.rules.equity_basis,
        "rules.fuel_poor_probability": float(s.rules.fuel_poor_probability),
        "rules.priority_imd_deciles": s.rules.priority_imd_deciles,
        "rules.eligible_tenures": list(s.rules.eligible_tenures) if s.rules.eligible_tenures is not None else list(TENURES),
        "rules.eligible_packages": (list(s.rules.eligible_packages) if s.rules.eligible_packages is not None
                                    else list(packages) if packages is not None else None),
        "rules.min_band_after": s.rules.min_band_after or NO_MINIMUM,
        "rules.must_include": _ids_text(s.rules.must_include), "rules.exclude": _ids_text(s.rules.exclude),
        "rules.mobilisation_cost_gbp": float(s.rules.mobilisation_cost_gbp),
        "rules.mobilisation_area": s.rules.mobilisation_area,
        "solver.time_limit_s": float(s.solver.time_limit_s), "solver.relative_gap_pct": 100 * s.solver.relative_gap,
        "solver.seed": s.solver.seed,
    }
    for city in CITIES:
        rules = s.cities.get(city)
        values[f"cities.{city}.min_share_pct"] = None if rules is None or rules.min_share is None else 100 * rules.min_share
        values[f"cities.{city}.max_share_pct"] = None if rules is None or rules.max_share is None else 100 * rules.max_share
        values[f"cities.{city}.homes_per_year"] = None if rules is None else rules.homes_per_year
        days = rules.trade_days_per_year if rules is not None else None
        for trade in TRADES:
            values[f"cities.{city}.trade_days.{trade}"] = None if days is None else getattr(days, trade)
    return values


def _number(value):
    """Whole floats as int (TOML and the strict model like 1200000000, not 1.2e9 as float)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _per_year(text: str, errors: dict) -> list | None:
    if not (text or "").strip():
        return None
    try:
        return [_number(round(float(part) * GBP_M, 2)) for part in re.split(r"[\s,;]+", text.strip()) if part]
    except ValueError:
        errors.setdefault("budget.per_year_gbp_m", []).append(
            "write one amount in £m per programme year, separated by commas (e.g. 60, 80, 100)")
        return None


def form_to_dict(values: dict, errors: dict | None = None, packages: list[str] | None = None) -> dict:
    """The scenario as a plain dict (as TOML would give it) from form values.

    A full list of tenures (or of ``packages``) means "all": the key is left out.
    """
    errors = {} if errors is None else errors
    v = values
    total = v.get("budget.total_gbp_m")
    budget = {"total_gbp": _number(round(total * GBP_M, 2)) if isinstance(total, (int, float)) else total}
    per_year = _per_year(v.get("budget.per_year_gbp_m", ""), errors)
    if per_year is not None:
        budget["per_year_gbp"] = per_year
    data = {
        "name": (v.get("name") or "").strip(), "description": v.get("description") or "",
        "budget": budget,
        "years": {"start": v.get("years.start"), "end": v.get("years.end")},
        "weights": {"carbon": v.get("weights.carbon"), "fuel_poverty": v.get("weights.fuel_poverty"),
                    "jobs": v.get("weights.jobs"), "normalise": v.get("weights.normalise")},
        "cities": {},
        "rules": {
            "equity_min_share": (v.get("rules.equity_min_share_pct") or 0) / 100,
            "equity_basis": v.get("rules.equity_basis"),
            "fuel_poor_probability": v.get("rules.fuel_poor_probability"),
            "priority_imd_deciles": v.get("rules.priority_imd_deciles"),
            "must_include": _ids(v.get("rules.must_include", "")), "exclude": _ids(v.get("rules.exclude", "")),
            "mobilisation_cost_gbp": v.get("rules.mobilisation_cost_gbp"),
            "mobilisation_area": v.get("rules.mobilisation_area"),
        },
        "solver": {"time_limit_s": v.get("solver.time_limit_s"),
                   "relative_gap": (v.get("solver.relative_gap_pct") or 0) / 100, "seed": v.get("solver.seed")},
    }
    everything = {"eligible_tenures": set(TENURES), "eligible_packages": set(packages or ())}
    for key in ("eligible_tenures", "eligible_packages", "min_band_after"):
        chosen = v.get(f"rules.{key}")
        if chosen is None or chosen == NO_MINIMUM:
            continue
        if not (key in everything and set(chosen) == everything[key]):
            data["rules"][key] = list(chosen) if key != "min_band_after" else chosen
    for city in CITIES:
        rules = {}
        for share in ("min_share", "max_share"):
            pct = v.get(f"cities.{city}.{share}_pct")
            if pct is not None:
                rules[share] = pct / 100
        if v.get(f"cities.{city}.homes_per_year") is not None:
            rules["homes_per_year"] = v[f"cities.{city}.homes_per_year"]
        days = {t: _number(v[f"cities.{city}.trade_days.{t}"]) for t in TRADES
                if v.get(f"cities.{city}.trade_days.{t}") is not None}
        if days:
            rules["trade_days_per_year"] = days
        if rules:
            data["cities"][city] = rules
    for section in ("weights", "rules", "solver"):
        data[section] = {k: _number(x) if k != "fuel_poor_probability" else x
                         for k, x in data[section].items() if x is not None}
    return data


def _form_key(loc: tuple, message: str, values: dict) -> str:
    """The form field an error at ``loc`` belongs to (the section, or TOP, when no field fits)."""
    parts = [str(p) for p in loc if not isinstance(p, int)]
    if parts[:2] == ["cities", "[key]"] or parts[-1:] == ["[key]"]:
        return TOP
    dotted = ".".join(parts)
    if dotted.startswith("cities.") and ".trade_days_per_year." in dotted:
        city, trade = parts[1], parts[-1]
        return f"cities.{city}.trade_days.{trade}"
    if dotted == "years":
        return "years.end"
    if dotted in _SCALED:
        return _SCALED[dotted][0]
    if dotted in values:
        return dotted
    # a rule over several fields: the first field its message names, else the section
    fields = [k for k in values if k.startswith(dotted + ".") or not dotted]
    for key in fields:
        tail = key.split(".")[-1]
        for name in (tail, tail.removesuffix("_pct"), tail.removesuffix("_m")):
            if re.search(rf"\b{re.escape(name)}\b", message):
                return key
    return dotted or TOP


def from_form(values: dict, packages: list[str] | None = None) -> tuple[Scenario | None, dict[str, list[str]]]:
    """(the Scenario, {}) when the form is valid, else (None, {form key: [messages]})."""
    errors: dict[str, list[str]] = {}
    data = form_to_dict(values, errors, packages)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as error:
        for item in error.errors():
            message = item["msg"].removeprefix("Value error, ")
            key = _form_key(tuple(item["loc"]), message, values)
            if key == "budget.total_gbp_m" and "greater than 0" in message:
                message = "the budget must be above £0m"
            if key == "name" and (item["type"] == "string_too_short" or message.startswith("is blank")):
                message = "give the scenario a name"  # other name errors (too long, control characters) say so
            errors.setdefault(key, []).append(message)
        return None, errors
    return (None, errors) if errors else (scenario, {})
