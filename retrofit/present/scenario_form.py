"""The scenario builder's form: a Scenario as flat field values, and back, with errors per field.

The app shows money in £m and shares in %, so each form key says its unit
(`budget.total_gbp_m`, `cities.Coventry.min_share_pct`); grant awards and caps are written in
pounds as people write them (`£40,000,000`, `£40m`). `from_form` validates through the
Scenario model itself and files each pydantic error under the form field it concerns, so
the page can show the message right next to that field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from pydantic import ValidationError

from retrofit.candidates import TRADES
from retrofit.energy import BANDS
from retrofit.errors import printable
from retrofit.paths import FUNDING_DIR
from retrofit.reference import CITIES
from retrofit.scenario import COST_CATEGORIES, MAX_GBP, Delivery, Scenario, Scheme, shipped_scheme, shipped_schemes
from retrofit.stock.schema import MAIN_FUELS, TENURES

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
for _tenure in TENURES:
    _SCALED[f"delivery.uptake.{_tenure}"] = (f"delivery.uptake.{_tenure}_pct", 100.0)
_SCALED["delivery.confidence"] = ("delivery.confidence_pct", 100.0)
_SCALED["delivery.cost_confidence"] = ("delivery.cost_confidence_pct", 100.0)
_SCALED["delivery.max_ramp"] = ("delivery.max_ramp_pct", 100.0)


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
    values.update(_delivery_to_form(s))
    values.update(_funding_to_form(s))
    return values


def _delivery_to_form(s: Scenario) -> dict:
    """[delivery] as form fields: on or off, uptake by tenure (empty: the shipped figure), the two
    confidences, the reserve ratio; LSOA overrides are carried as they are (not edited here)."""
    d = s.delivery if s.delivery is not None else Delivery()
    values = {"delivery.on": s.delivery is not None}
    for tenure in TENURES:
        given = getattr(d.uptake, tenure)
        values[f"delivery.uptake.{tenure}_pct"] = None if given is None else 100 * given
    values.update({"delivery.confidence_pct": 100 * d.confidence, "delivery.cost_confidence_pct": 100 * d.cost_confidence,
                   "delivery.reserve_ratio": float(d.reserve_ratio),
                   "delivery.max_ramp_pct": None if d.max_ramp is None else 100 * d.max_ramp,
                   **{f"delivery.ramp_start.{city}": d.ramp_start_of(city) for city in CITIES},
                   "delivery.uptake_by_lsoa": {k: v if isinstance(v, float) else v.model_dump(exclude_none=True)
                                               for k, v in d.uptake_by_lsoa.items()}})
    return values


def _delivery_from_form(v: dict) -> dict | None:
    if not v.get("delivery.on"):
        return None
    uptake = {t: v[f"delivery.uptake.{t}_pct"] / 100 for t in TENURES if v.get(f"delivery.uptake.{t}_pct") is not None}
    out = {"uptake": uptake, "confidence": (v.get("delivery.confidence_pct") or 0) / 100,
           "cost_confidence": (v.get("delivery.cost_confidence_pct") or 0) / 100,
           "reserve_ratio": v.get("delivery.reserve_ratio")}
    if v.get("delivery.uptake_by_lsoa"):
        out["uptake_by_lsoa"] = v["delivery.uptake_by_lsoa"]
    if v.get("delivery.max_ramp_pct") is not None:
        out["max_ramp"] = v["delivery.max_ramp_pct"] / 100
    starts = {city: v[f"delivery.ramp_start.{city}"] for city in CITIES
              if v.get(f"delivery.ramp_start.{city}") is not None}
    if starts:  # one number when every city has the same
        same = len(starts) == len(CITIES) and len(set(starts.values())) == 1
        out["ramp_start"] = next(iter(starts.values())) if same else starts
    return {k: _number(x) if k == "reserve_ratio" else x for k, x in out.items() if x is not None}


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
    delivery = _delivery_from_form(v)
    if delivery is not None:
        data["delivery"] = delivery
    ids = v.get(FUNDING) or []
    if ids:
        programme = _programme(v)
        data["funding"] = {funding_id: _section_from_form(funding_id, v, programme, errors) for funding_id in ids}
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
    failed = _check_schemes(data, errors)
    unread = set(errors)  # fields that could not be read: their message says so already
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as error:
        for item in error.errors():
            message = item["msg"].removeprefix("Value error, ")
            loc = tuple(item["loc"])
            if loc[:1] == (FUNDING,) or (not loc and message.startswith(FUNDING + ".")):
                filed = _funding_error(loc, message, list(values.get(FUNDING) or []), failed)
                if filed is not None and filed[0] not in unread:
                    errors.setdefault(filed[0], []).append(filed[1])
                continue
            key = _form_key(loc, message, values)
            if key == "budget.total_gbp_m" and "greater than 0" in message:
                message = "the budget must be above £0m"
            if key == "name" and (item["type"] == "string_too_short" or message.startswith("is blank")):
                message = "give the scenario a name"  # other name errors (too long, control characters) say so
            errors.setdefault(key, []).append(message)
        return None, errors
    return (None, errors) if errors else (scenario, {})


# --- funding: the scenario's [funding.<id>] sections ---------------------------------------------
# Each section is a set of form fields `funding.<id>.<field>`; FUNDING holds the ids in order. A
# section that takes a shipped scheme (`use`) shows every rule as resolved (shipped, or as the
# scenario overrides it), and is written back as `use` plus only the rules that differ from the
# shipped file, so the TOML stays small. Money is written as people write it (£40,000,000, £40m).

FUNDING = "funding"
AWARD_FIELDS = ("total_gbp", "per_year_gbp", "years")
HIDDEN_FIELDS = ("use", "kept")  # the shipped scheme taken; rules the form does not show (summary, sources)
KEPT_KEYS = ("summary", "sources")
TENURE_WORDS = {"owner_occupied": "owner-occupied", "private_rented": "private rented",
                "social_rented": "social rented", "unknown": "tenure unknown"}
CATEGORY_WORDS = {"fabric": "fabric", "heating": "heating", "pv": "solar PV", "other": "other"}
FUEL_WORDS = {"mains_gas": "mains gas", "electricity": "electricity", "oil": "oil", "lpg": "LPG",
              "solid_fuel": "solid fuel", "biomass": "biomass"}
STATUS_WORDS = {"awarded": "awarded", "assumed": "assumed (a future round, not yet won)"}
CAP_BASIS_WORDS = {"average": "on average over the homes funded", "per_home": "for each home"}
MONEY_EXAMPLE = "write an amount in pounds, e.g. £40,000,000 or £40m"
_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


@dataclass(frozen=True)
class Rule:
    """One scheme rule as the form shows it: the scheme key, its label, how the form holds it."""

    key: str
    label: str
    kind: str  # text, choice, date, many, flag, pct, gbp, price, bands, caps, shares
    help: str
    group: str  # award, homes, costs, cofunding, window

    @property
    def fields(self) -> list[str]:
        """The form fields (after `funding.<id>.`) that hold this rule."""
        if self.kind == "shares":
            return [f"{self.key}.{tenure}_pct" for tenure in TENURES]
        return [f"{self.key}_pct" if self.kind == "pct" else self.key]


RULES = (
    Rule("status", "Status", "choice", "Awarded: money the programme holds. Assumed: a future round it expects "
         "but has not won; reports keep the two apart.", "award"),
    Rule("name", "Scheme name", "text", "The name plans and reports show.", "window"),
    Rule("opens", "Window opens", "date", "The first day work may be paid for.", "window"),
    Rule("closes", "Window closes", "date", "The last day work may be paid for. A programme year runs from "
         "1 April; the scheme can pay in every year its window overlaps.", "window"),
    Rule("tenures", "Tenures it funds", "many", "Homes of other tenures are not eligible.", "homes"),
    Rule("bands_before", "EPC bands before", "many", "The EPC bands a home may start in.", "homes"),
    Rule("private_rented_bands_before", "Private rented homes: EPC bands before", "many",
         "Narrower bands for private rented homes, where the scheme sets them; empty: as for other homes.", "homes"),
    Rule("band_c_heat_pump_share", "Band C homes with a heat pump, at most (% of homes funded)", "pct",
         "Band C homes funded for low-carbon heating only, up to this share of the homes the scheme funds; "
         "0: band C homes are not funded.", "homes"),
    Rule("low_income_only", "Low-income households only", "flag",
         "The stock holds no income: a home counts as low income when its fuel-poverty probability is at least "
         "the 'fuel poor' threshold, or its IMD decile is within the priority deciles (Equity and eligibility).",
         "homes"),
    Rule("min_band_after", "Band a home must reach", "bands",
         "By the band it starts in, e.g. 'F to D, G to D, D to C'; empty: no minimum.", "homes"),
    Rule("packages", "Packages it funds", "many", "Empty: any package.", "homes"),
    Rule("requires_heat_pump", "Only packages with a heat pump", "flag", "The scheme funds heat pumps only.", "homes"),
    Rule("replaces_fuels", "Heating it must replace", "many", "The home's main fuel before; empty: any fuel.",
         "homes"),
    Rule("pays_for", "Costs it pays for", "many", "The parts of a package's cost the grant may pay.", "costs"),
    Rule("cap_gbp", "Caps per home", "caps",
         "One cap per line: the cost parts it covers, then the amount, e.g. 'fabric + solar PV + other: £15,000'; "
         "'total: £7,500' for one cap on the whole cost; empty: no cap. A part the scheme pays for but no cap "
         "names is not capped.", "costs"),
    Rule("cap_basis", "Caps hold", "choice", "On average: the homes funded may together take their caps times "
         "their number, so one home may take more than its cap. For each home: no home above its cap.", "costs"),
    Rule("off_gas_heating_cap_gbp", "Extra heating allowance off the gas grid (£ per home)", "gbp",
         "A further allowance for a heat pump in a home not on mains gas; empty or £0: none.", "costs"),
    Rule("heating_must_be_low_carbon", "Pays for heating only when it is a heat pump", "flag",
         "Fossil-fuel boilers are not funded.", "costs"),
    Rule("gbp_per_annual_bill_saving", "Grant per £1 of annual bill saving (£)", "price",
         "Score-based schemes: the grant is the home's annual bill saving times this; empty: not score-based.",
         "costs"),
    Rule("co_funding_share", "Owner's share of the cost (%)", "shares",
         "What the owner or landlord pays (co-funding), as a share of the whole cost, by tenure.", "cofunding"),
    Rule("stacks_with", "May fund a home together with", "many",
         "Other funding sections of this scenario that may pay for the same home (never the same cost part).",
         "cofunding"),
)
RULE_BY_KEY = {rule.key: rule for rule in RULES}
AWARD_LABELS = {"total_gbp": "Award (£)", "per_year_gbp": "Amount per year (£, optional)",
                "years": "Years it may be spent"}
AWARD_HELP = {
    "total_gbp": "The award this programme holds (or assumes), e.g. £40,000,000 or £40m.",
    "per_year_gbp": "One line per programme year, e.g. '2026: £20,000,000'; a year left out gets £0; "
                    "empty: no yearly limit beyond the award.",
    "years": "Programme years the award may be spent in; empty: every year the scheme's window overlaps.",
}
# Optional rules a TOML override cannot set back to "none": the value that means the same.
_NEUTRAL = {"band_c_heat_pump_share": lambda rules: 0.0, "off_gas_heating_cap_gbp": lambda rules: 0.0,
            "private_rented_bands_before": lambda rules: list(rules["bands_before"]),
            "replaces_fuels": lambda rules: list(MAIN_FUELS)}
_ORDER = {"tenures": TENURES, "bands_before": BANDS, "private_rented_bands_before": BANDS,
          "pays_for": COST_CATEGORIES, "replaces_fuels": MAIN_FUELS}


def field(funding_id: str, name: str) -> str:
    """The form key of one field of a funding section."""
    return f"{FUNDING}.{funding_id}.{name}"


def funding_keys(funding_id: str) -> list[str]:
    """Every form key of one funding section."""
    names = [*HIDDEN_FIELDS, *AWARD_FIELDS] + [name for rule in RULES for name in rule.fields]
    return [field(funding_id, name) for name in names]


def form_keys(keys: list[str], funding_ids: list[str]) -> list[str]:
    """The form's keys: ``keys`` less any funding section's, then FUNDING and each section's."""
    plain = [key for key in keys if key != FUNDING and not key.startswith(FUNDING + ".")]
    return plain + [FUNDING] + [key for funding_id in funding_ids for key in funding_keys(funding_id)]


def gbp_text(value: float | None) -> str:
    """£40,000,000 (pence only where there are any); empty for None."""
    if value is None:
        return ""
    return f"£{value:,.0f}" if abs(value - round(value)) < 0.005 else f"£{value:,.2f}"


_MULTIPLIERS = {"": 1, "k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6, "bn": 1e9, "billion": 1e9}


def parse_gbp(text: str) -> float | None:
    """£40,000,000, 40000000, £40m, 1.5 million, 15k: pounds (to the penny); None when empty.
    ValueError when it is not an amount."""
    cleaned = (text or "").strip().lower().replace("£", "").replace(",", "").replace(" ", "")
    if not cleaned:
        return None
    found = re.fullmatch(r"(\d+(?:\.\d+)?|\.\d+)(k|thousand|m|million|bn|billion)?", cleaned)
    if found is None:
        raise ValueError(MONEY_EXAMPLE)
    return round(float(found.group(1)) * _MULTIPLIERS[found.group(2) or ""], 2)


def _years_text(years: list[int]) -> str:
    """2026-2028, or 2026, 2028 where they are not a run."""
    years = sorted(years)
    if not years:
        return "none"
    if len(years) > 1 and years == list(range(years[0], years[-1] + 1)):
        return f"{years[0]}-{years[-1]}"
    return ", ".join(str(year) for year in years)


def _per_year_text(per_year: list[float] | None, programme: list[int]) -> str:
    if per_year is None:
        return ""
    lines = [f"{year}: {gbp_text(amount)}" for year, amount in zip(programme, per_year) if amount]
    return "\n".join(lines or [f"{programme[0]}: £0"])


def _parse_per_year(text: str, programme: list[int]) -> list[float] | None:
    """Lines of 'year: amount'; a programme year left out gets £0. ValueError in words."""
    lines = [line.strip() for line in re.split(r"[\n;]+", text or "") if line.strip()]
    if not lines:
        return None
    amounts: dict[int, float] = {}
    for line in lines:
        found = re.fullmatch(r"(\d{4})\s*[:=]?\s*(.+)", line)
        if found is None:
            raise ValueError(f"'{line[:40]}': write one line per year, e.g. 2026: £20,000,000")
        year = int(found.group(1))
        if year not in programme:
            raise ValueError(f"{year} is not a programme year ({_years_text(programme)})")
        if year in amounts:
            raise ValueError(f"{year} is given twice")
        amounts[year] = parse_gbp(found.group(2)) or 0.0
    return [_number(amounts.get(year, 0.0)) for year in programme]


def _cap_words(key: str) -> str:
    return "total" if key == "total" else " + ".join(CATEGORY_WORDS.get(part, part) for part in key.split("+"))


_CAP_PARTS = {"fabric": "fabric", "heating": "heating", "solar pv": "pv", "solarpv": "pv", "pv": "pv",
              "solar": "pv", "other": "other", "total": "total"}


def _canonical_cap_key(parts: list[str]) -> str:
    return "+".join(sorted(parts, key=lambda part: COST_CATEGORIES.index(part) if part in COST_CATEGORIES else 99))


def _parse_caps(text: str) -> dict[str, float]:
    caps: dict[str, float] = {}
    for line in (line.strip() for line in re.split(r"[\n;]+", text or "")):
        if not line:
            continue
        words, colon, amount = line.rpartition(":")
        if not colon or not words.strip():
            raise ValueError(f"'{line[:40]}': write the cost parts, a colon, then the amount, e.g. heating: £15,000")
        parts = []
        for word in re.split(r"\s*(?:\+|,|\band\b)\s*", words.strip().lower()):
            if word not in _CAP_PARTS:
                raise ValueError(f"'{word[:30]}' is not a cost part; use fabric, heating, solar PV, other, "
                                 "or total for the whole cost")
            parts.append(_CAP_PARTS[word])
        if "total" in parts and len(parts) > 1:
            raise ValueError("'total' caps the whole cost: give it on its own line, alone")
        twice = sorted(set(parts) & {part for key in caps for part in key.split("+")})
        if twice or len(set(parts)) < len(parts):
            raise ValueError(f"{', '.join(CATEGORY_WORDS.get(p, p) for p in (twice or parts))} is in two caps")
        try:
            value = parse_gbp(amount)
        except ValueError:
            raise ValueError(f"'{amount.strip()[:30]}': {MONEY_EXAMPLE}") from None
        if value is None:
            raise ValueError(f"give an amount for {_cap_words('+'.join(parts))}")
        caps[_canonical_cap_key(parts)] = _number(value)
    if "total" in caps and len(caps) > 1:
        raise ValueError("'total' caps the whole cost: give it alone, or cap the parts instead")
    return caps


def _bands_text(mapping: dict[str, str]) -> str:
    return ", ".join(f"{before} to {mapping[before]}" for before in BANDS if before in mapping)


def _parse_bands(text: str) -> dict[str, str]:
    pairs = re.findall(r"\b([A-Ga-g])\s*(?:to|->|→|:)\s*([A-Ga-g])\b", text or "")
    leftover = re.sub(r"\b([A-Ga-g])\s*(?:to|->|→|:)\s*([A-Ga-g])\b", "", text or "")
    if leftover.strip(" ,;\n\t"):
        raise ValueError("write each as the band before, 'to', then the band it must reach, e.g. F to D, G to D")
    mapping: dict[str, str] = {}
    for before, after in pairs:
        before, after = before.upper(), after.upper()
        if before in mapping and mapping[before] != after:
            raise ValueError(f"band {before} is given twice")
        mapping[before] = after
    return mapping


def describe(key: str, value) -> str:
    """A rule's value in words (for 'shipped: ...')."""
    if value is None or value == [] or value == {}:
        return {"packages": "any package", "replaces_fuels": "any fuel", "stacks_with": "none",
                "min_band_after": "no minimum", "cap_gbp": "no cap", "co_funding_share": "none",
                "private_rented_bands_before": "as for other homes", "band_c_heat_pump_share": "none",
                "off_gas_heating_cap_gbp": "none", "gbp_per_annual_bill_saving": "not score-based"}.get(key, "none")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, date):
        return f"{value.day} {value:%b %Y}"
    words = {"tenures": TENURE_WORDS, "pays_for": CATEGORY_WORDS, "replaces_fuels": FUEL_WORDS,
             "status": STATUS_WORDS, "cap_basis": CAP_BASIS_WORDS}.get(key, {})
    if isinstance(value, list):
        return ", ".join(words.get(item, str(item)) for item in value)
    if key == "cap_gbp":
        return "; ".join(f"{_cap_words(part)} {gbp_text(amount)}" for part, amount in value.items())
    if key == "co_funding_share":
        return "; ".join(f"{TENURE_WORDS.get(tenure, tenure)} {100 * share:g}%" for tenure, share in value.items())
    if key == "min_band_after":
        return _bands_text(value)
    if key == "band_c_heat_pump_share":
        return f"{100 * value:g}%"
    if key in ("off_gas_heating_cap_gbp", "gbp_per_annual_bill_saving"):
        return gbp_text(value)
    return words.get(value, str(value))


# --- shipped schemes and their sources ----------------------------------------------------------

@lru_cache(maxsize=32)
def _shipped(scheme_id: str, modified_ns: int) -> Scheme:
    return shipped_scheme(scheme_id)


def shipped(scheme_id: str | None) -> Scheme | None:
    """A shipped scheme by id (read again when its file changes); None when there is no such file."""
    if not scheme_id or scheme_id not in shipped_schemes():
        return None
    return _shipped(scheme_id, (FUNDING_DIR / f"{scheme_id}.toml").stat().st_mtime_ns)


_LINK = re.compile(r"(?:https?://)?(?:www\.)?((?:[a-z0-9-]+\.)+(?:uk|com|org|net|eu)/[^\s,;()]+)", re.IGNORECASE)


def links(text: str) -> list[str]:
    """The web addresses a source names (gov.uk/... written without https://), as full URLs."""
    urls = []
    for found in _LINK.finditer(text or ""):
        address = found.group(1).rstrip(".:")
        if address.lower().startswith("gov.uk/"):
            address = "www." + address
        urls.append("https://" + address)
    return urls


_SOURCE_NAMES = {"scheme": "the scheme as a whole", "window": "the window"}


def _sources(scheme: Scheme) -> dict[str, tuple[str, tuple[str, ...]]]:
    """{source key: (text, links)}; a source that reads "Same: ..." (as the one above it in the
    file) says which rule it shares its source with, and takes that one's links."""
    resolved: dict[str, tuple[str, tuple[str, ...]]] = {}
    previous = None
    for key, text in scheme.sources.items():
        urls = tuple(links(text))
        if text.startswith("Same") and previous is not None:
            name = _SOURCE_NAMES.get(previous) or (RULE_BY_KEY[previous].label if previous in RULE_BY_KEY
                                                   else previous)
            text = f"Same source as {name.lower() if previous in _SOURCE_NAMES else repr(name)}{text[4:]}"
            urls = urls or resolved[previous][1]
        resolved[key] = (text, urls)
        previous = key
    return resolved


def rule_source(scheme: Scheme, key: str) -> tuple[str, list[str]]:
    """Where the shipped rule comes from, and the web addresses it names (else the scheme's)."""
    sources = _sources(scheme)
    general = list(sources.get("scheme", ("", ()))[1])
    key = "window" if key in ("opens", "closes") else "scheme" if key == "name" else key
    if key in sources:
        text, urls = sources[key]
        return text, list(urls) or general
    if key == "status":
        return "a shipped scheme is money awarded; an assumed future round is set in the scenario", []
    if key in scheme.model_fields_set:
        return "the scheme file names no source for this", general
    return "the scheme file does not set this: the default applies", []


def shipped_scheme_rows() -> list[dict]:
    """One row per shipped scheme: id, name, summary, window, source and its links."""
    rows = []
    for scheme_id in shipped_schemes():
        scheme = shipped(scheme_id)
        source, urls = rule_source(scheme, "name")
        rows.append({"id": scheme_id, "name": scheme.name, "summary": scheme.summary,
                     "window": f"{describe('opens', scheme.opens)} to {describe('closes', scheme.closes)}",
                     "source": source, "links": urls})
    return rows


def rule_rows(scheme_id: str | None) -> list[dict]:
    """Each rule of a shipped scheme: its label, TOML key, shipped value in words, source and links."""
    scheme = shipped(scheme_id)
    if scheme is None:
        return []
    rows = []
    for rule in RULES:
        source, urls = rule_source(scheme, rule.key)
        rows.append({"label": rule.label, "key": rule.key, "shipped": describe(rule.key, getattr(scheme, rule.key)),
                     "source": source, "links": urls})
    return rows


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def _md(text: str) -> str:
    return _MARKDOWN.sub(r"\\\1", str(text))


def rule_help(rule: Rule | str, scheme_id: str | None, funding_id: str) -> str:
    """The tooltip of a rule's field (Markdown): what it means, the shipped value and its source
    with a link, and the TOML key."""
    rule = RULE_BY_KEY[rule] if isinstance(rule, str) else rule
    parts = [_md(rule.help)]
    scheme = shipped(scheme_id)
    if scheme is not None:
        parts.append(f"**Shipped:** {_md(describe(rule.key, getattr(scheme, rule.key)))}")
        source, urls = rule_source(scheme, rule.key)
        parts.append(f"**Source:** {_md(source)}" + "".join(f" [link]({url})" for url in urls))
    parts.append(f"Scenario key: `funding.{funding_id}.{rule.key}`")
    return "\n\n".join(parts)


def award_help(name: str, funding_id: str) -> str:
    return f"{_md(AWARD_HELP[name])}\n\nScenario key: `funding.{funding_id}.{name}`"


# --- a section's form fields, and back ----------------------------------------------------------

def _rule_to_form(rule: Rule, value) -> dict:
    """{field: form value} for one rule's resolved value."""
    if rule.kind == "shares":
        return {f"{rule.key}.{tenure}_pct": 100 * value.get(tenure, 0.0) for tenure in TENURES}
    if rule.kind == "many":
        return {rule.key: list(value) if value is not None else []}
    if rule.kind == "pct":
        return {f"{rule.key}_pct": 100 * value if value else 0.0}
    if rule.kind == "gbp":
        return {rule.key: gbp_text(value) if value else ""}
    if rule.kind == "price":
        return {rule.key: None if value is None else float(value)}
    if rule.kind == "bands":
        return {rule.key: _bands_text(value)}
    if rule.kind == "caps":
        return {rule.key: "\n".join(f"{_cap_words(key)}: {gbp_text(amount)}" for key, amount in value.items())}
    return {rule.key: value}


def _section_values(funding_id: str, use: str | None, scheme: Scheme, programme: list[int],
                    total: float | None = None, per_year: list[float] | None = None, years: list[int] | None = None,
                    kept: dict | None = None) -> dict:
    values = {field(funding_id, "use"): use, field(funding_id, "kept"): dict(kept or {}),
              field(funding_id, "total_gbp"): gbp_text(total),
              field(funding_id, "per_year_gbp"): _per_year_text(per_year, programme),
              field(funding_id, "years"): list(years or [])}
    for rule in RULES:
        for name, value in _rule_to_form(rule, getattr(scheme, rule.key)).items():
            values[field(funding_id, name)] = value
    return values


def _funding_to_form(scenario: Scenario) -> dict:
    values = {FUNDING: list(scenario.funding)}
    for funding_id, funding in scenario.funding.items():
        kept = {key: funding.rules[key] for key in KEPT_KEYS if key in funding.rules}
        values.update(_section_values(funding_id, funding.use, funding.scheme, scenario.year_list, funding.total_gbp,
                                      funding.per_year_gbp, funding.years, kept))
    return values


def _programme(values: dict) -> list[int]:
    start, end = values.get("years.start"), values.get("years.end")
    if not isinstance(start, int) or not isinstance(end, int) or end < start:
        return []
    return list(range(start, min(end, start + 99) + 1))


def _rule_from_form(rule: Rule, funding_id: str, values: dict, errors: dict):
    """The rule's value in scenario terms from its fields (None: not set); errors filed by field."""
    get = lambda name: values.get(field(funding_id, name))  # noqa: E731
    if rule.kind == "shares":
        shares = {tenure: get(f"{rule.key}.{tenure}_pct") for tenure in TENURES}
        return {tenure: _number(round(pct / 100, 6)) for tenure, pct in shares.items() if pct}
    value = get(rule.fields[0])
    try:
        if rule.kind == "text":
            return (value or "").strip()
        if rule.kind == "many":
            chosen = list(value or [])
            if rule.key in _ORDER:
                chosen = sorted(chosen, key=lambda item: _ORDER[rule.key].index(item)
                                if item in _ORDER[rule.key] else 99)
            if not chosen and rule.key in ("private_rented_bands_before", "replaces_fuels"):
                return None
            return chosen
        if rule.kind == "pct":
            return None if not value else _number(round(value / 100, 6))
        if rule.kind == "gbp":
            amount = parse_gbp(value)
            return None if not amount else _number(amount)
        if rule.kind == "price":
            return None if value is None else _number(value)
        if rule.kind == "bands":
            return _parse_bands(value)
        if rule.kind == "caps":
            return _parse_caps(value)
    except ValueError as error:
        errors.setdefault(field(funding_id, rule.fields[0]), []).append(str(error))
        return _ERROR
    return value


_ERROR = object()  # a field that could not be read (its error is filed)


def _comparable(key: str, value):
    """The value as the optimiser reads it: lists as sets, caps keyed in one order, zero shares dropped."""
    if isinstance(value, list):
        return frozenset(value)
    if key == "cap_gbp":
        return {_canonical_cap_key(part.split("+")): float(amount) for part, amount in value.items()}
    if key == "co_funding_share":
        return {tenure: float(share) for tenure, share in value.items() if share}
    if key in ("band_c_heat_pump_share", "off_gas_heating_cap_gbp"):
        return value or None
    return value


def _section_from_form(funding_id: str, values: dict, programme: list[int], errors: dict) -> dict:
    """One [funding.<id>] section as TOML would give it: `use`, the award, and the rules that differ."""
    section: dict = {}
    use = values.get(field(funding_id, "use"))
    if use:
        section["use"] = use
    key = field(funding_id, "total_gbp")
    try:
        total = parse_gbp(values.get(key))
        if total is None:
            errors.setdefault(key, []).append("give the award this programme holds, e.g. £40,000,000")
        else:
            section["total_gbp"] = _number(total)
    except ValueError as error:
        errors.setdefault(key, []).append(str(error))
    key = field(funding_id, "per_year_gbp")
    try:
        per_year = _parse_per_year(values.get(key), programme)
        if per_year is not None:
            section["per_year_gbp"] = per_year
    except ValueError as error:
        errors.setdefault(key, []).append(str(error))
    years = values.get(field(funding_id, "years")) or []
    if years:
        section["years"] = sorted(int(year) for year in years)
    rules = {rule.key: _rule_from_form(rule, funding_id, values, errors) for rule in RULES}
    base = shipped(use)
    for rule_key, value in rules.items():
        if value is _ERROR:
            continue
        if base is not None:
            shipped_value = getattr(base, rule_key)
            if _comparable(rule_key, value) == _comparable(rule_key, shipped_value):
                continue
            if value is None:
                if rule_key not in _NEUTRAL:
                    errors.setdefault(field(funding_id, RULE_BY_KEY[rule_key].fields[0]), []).append(
                        f"the shipped scheme sets this ({describe(rule_key, shipped_value)}); give a value")
                    continue
                value = _NEUTRAL[rule_key](rules)
        elif value is None:
            continue
        section[rule_key] = value
    section.update(values.get(field(funding_id, "kept")) or {})
    return section


def overridden(values: dict, funding_id: str) -> list[str]:
    """The scheme keys this section changes from its shipped scheme (none without `use`)."""
    if shipped(values.get(field(funding_id, "use"))) is None:
        return []
    section = _section_from_form(funding_id, values, _programme(values), {})
    return [key for key in section if key in RULE_BY_KEY]


def window_years(values: dict, funding_id: str) -> list[int]:
    """The programme years the section may spend in: its chosen years, else those its window overlaps."""
    chosen = values.get(field(funding_id, "years")) or []
    if chosen:
        return sorted(int(year) for year in chosen)
    opens, closes = values.get(field(funding_id, "opens")), values.get(field(funding_id, "closes"))
    if not isinstance(opens, date) or not isinstance(closes, date):
        return []
    return [year for year in _programme(values) if date(year, 4, 1) <= closes and date(year + 1, 3, 31) >= opens]


def funding_rows(values: dict) -> list[dict]:
    """The Funding section's list: each section's id, scheme, award, years and status, in words."""
    rows = []
    for funding_id in values.get(FUNDING) or []:
        use = values.get(field(funding_id, "use"))
        try:
            award = gbp_text(parse_gbp(values.get(field(funding_id, "total_gbp")))) or "not set"
        except ValueError:
            award = "not an amount"
        scheme = shipped(use)
        rows.append({"id": funding_id, "scheme": values.get(field(funding_id, "name")) or "",
                     "shipped": scheme.name if scheme is not None else "own rules (no shipped scheme)",
                     "award": award, "years": _years_text(window_years(values, funding_id)),
                     "status": values.get(field(funding_id, "status")) or "awarded",
                     "changed": ", ".join(RULE_BY_KEY[key].label for key in overridden(values, funding_id))})
    return rows


_CHOICES = {"tenures": TENURES, "bands_before": BANDS, "private_rented_bands_before": BANDS,
            "pays_for": COST_CATEGORIES, "replaces_fuels": MAIN_FUELS}
_WORDS = {"tenures": TENURE_WORDS, "pays_for": CATEGORY_WORDS, "replaces_fuels": FUEL_WORDS, "status": STATUS_WORDS,
          "cap_basis": CAP_BASIS_WORDS}


def rule_choices(values: dict, funding_id: str, key: str, packages: list[str] | None = None) -> list:
    """What a list rule's field offers: every allowed value (the library's packages, the other
    sections' ids), and whatever the section holds already."""
    if key == "years":
        offered = _programme(values)
    elif key == "packages":
        offered = list(packages or [])
    elif key == "stacks_with":
        offered = [other for other in values.get(FUNDING) or [] if other != funding_id]
    else:
        offered = list(_CHOICES.get(key, ()))
    current = values.get(field(funding_id, key)) or []
    return offered + [item for item in current if item not in offered]


def choice_words(key: str) -> dict:
    """Labels for a rule's choices (tenure ids as 'private rented'); empty where the values read as they are."""
    return _WORDS.get(key, {})


def shipped_words(scheme_id: str | None, key: str) -> str:
    """The shipped scheme's value of a rule, in words ('' without a shipped scheme)."""
    scheme = shipped(scheme_id)
    return "" if scheme is None else describe(key, getattr(scheme, key))


def default_funding_id(scheme_id: str, taken: list[str]) -> str:
    """A short id for a new section: the scheme's initials (whlg, bus, eco4), numbered when taken."""
    words = scheme_id.split("_")
    short = words[0] if len(words) == 1 else "".join(word if word.isdigit() else word[0] for word in words)
    candidate, n = short, 2
    while candidate in taken:
        candidate, n = f"{short}_{n}", n + 1
    return candidate


def add_funding(values: dict, scheme_id: str, funding_id: str = "") -> tuple[dict, str | None]:
    """(the form values with a new section taking the shipped scheme, None), or (values, the error).

    The new section's rules are the shipped ones; its award is left for the user to give."""
    ids = list(values.get(FUNDING) or [])
    scheme = shipped(scheme_id)
    if scheme is None:
        return values, f"no shipped scheme {scheme_id!r}; choose one of {', '.join(shipped_schemes())}"
    funding_id = (funding_id or "").strip() or default_funding_id(scheme_id, ids)
    if not _ID.fullmatch(funding_id):
        return values, "an id is up to 40 letters, digits, '-' or '_' (e.g. whlg)"
    if funding_id in ids:
        return values, f"the scenario already has a funding section {funding_id}; give another id"
    new = dict(values)
    new[FUNDING] = ids + [funding_id]
    new.update(_section_values(funding_id, scheme_id, scheme, _programme(values)))
    return new, None


def remove_funding(values: dict, funding_id: str) -> dict:
    """The form values without the section (and without it in the others' stacks_with)."""
    gone = set(funding_keys(funding_id))
    new = {key: value for key, value in values.items() if key not in gone}
    new[FUNDING] = [other for other in values.get(FUNDING) or [] if other != funding_id]
    for other in new[FUNDING]:
        key = field(other, "stacks_with")
        new[key] = [item for item in new.get(key) or [] if item != funding_id]
    return new


def _scheme_key_field(funding_id: str, loc: tuple) -> str:
    """The form field of a scheme error's location, e.g. ('co_funding_share', 'social_rented')."""
    if not loc:
        return field(funding_id, "")
    key = str(loc[0])
    rule = RULE_BY_KEY.get(key)
    if rule is None:
        return field(funding_id, key)
    if rule.kind == "shares" and len(loc) > 1 and str(loc[1]) in TENURES:
        return field(funding_id, f"{key}.{loc[1]}_pct")
    return field(funding_id, rule.fields[0])


def _check_schemes(data: dict, errors: dict) -> set[str]:
    """Each section's rules checked as a scheme, errors filed by field; the ids that failed."""
    failed = set()
    for funding_id, section in (data.get(FUNDING) or {}).items():
        base = shipped(section.get("use"))
        if section.get("use") and base is None:
            continue  # the scenario's own check says which ids are shipped
        rules = {key: value for key, value in section.items() if key not in ("use", *AWARD_FIELDS)}
        try:
            Scheme.model_validate({**(base.model_dump() if base else {}), **rules})
        except ValidationError as error:
            failed.add(funding_id)
            for item in error.errors():
                message = item["msg"].removeprefix("Value error, ")
                key = _scheme_key_field(funding_id, tuple(item["loc"]))
                if not item["loc"]:
                    named = re.match(r"(\w+)[: (]", message)
                    if named and named.group(1) in RULE_BY_KEY:
                        key = _scheme_key_field(funding_id, (named.group(1),))
                        message = message.removeprefix(f"{named.group(1)}: ")
                    else:
                        key = f"{FUNDING}.{funding_id}"
                elif item["type"] == "missing":
                    message = "give a value (there is no shipped scheme to take it from)"
                errors.setdefault(key, []).append(message)
    return failed


def _funding_error(loc: tuple, message: str, ids: list[str], failed: set[str]) -> tuple[str, str] | None:
    """(form key, message in words) for a scenario error about a funding section; None to drop it
    (the section's own scheme check already said what is wrong)."""
    if loc[:1] == (FUNDING,) and len(loc) >= 2:
        funding_id = str(loc[1])
        if len(loc) == 2:
            return None if funding_id in failed else (f"{FUNDING}.{funding_id}", message)
        name = str(loc[2])
        if name == "total_gbp" and "greater than 0" in message:
            message = "the award must be above £0"
        elif "less than or equal to" in message:
            message = f"at most {gbp_text(MAX_GBP)}"
        return field(funding_id, name), message
    for funding_id in ids:
        prefix = f"{FUNDING}.{printable(funding_id, limit=60)}"
        if message.startswith(prefix + ".") or message.startswith(prefix + ":"):
            rest = message[len(prefix):]
            named = re.match(r"\.(\w+):? ?", rest)
            if named:
                name = named.group(1)
                key = field(funding_id, RULE_BY_KEY[name].fields[0] if name in RULE_BY_KEY else name)
                return key, rest[named.end():]
            return f"{FUNDING}.{funding_id}", rest.removeprefix(": ")
    return TOP, message
