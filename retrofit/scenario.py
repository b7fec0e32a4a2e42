"""Scenario: the typed, validated description of one what-if (a TOML file a user writes).

Every key is documented beside its field; `data/scenarios/*.toml` shows each one in use.
Unknown keys and impossible values are errors that name the key (pydantic, strict).
Rules that are each valid but cannot all be met together (shares above the budget, too
little capacity) are checked by the optimiser, which says which rule fails and by how much.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from retrofit.candidates import TRADES
from retrofit.energy import BANDS
from retrofit.errors import RetrofitError
from retrofit.reference import CITIES
from retrofit.stock.schema import TENURES

NonNegative = Annotated[float, Field(ge=0)]
Share = Annotated[float, Field(ge=0, le=1)]
MAX_PROGRAMME_YEARS = 30


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Budget(_Strict):
    total_gbp: Annotated[float, Field(gt=0)]
    """All money the programme may spend on measures, £."""
    per_year_gbp: list[NonNegative] | None = None
    """Optional cap per programme year, £, one value per year from start to end."""


class Years(_Strict):
    start: Annotated[int, Field(ge=2000, le=2100)]
    end: Annotated[int, Field(ge=2000, le=2100)]
    """Programme years, both included."""

    @model_validator(mode="after")
    def _order(self):
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        if self.end - self.start + 1 > MAX_PROGRAMME_YEARS:
            raise ValueError(f"a programme of {self.end - self.start + 1} years is longer than {MAX_PROGRAMME_YEARS}")
        return self


class Weights(_Strict):
    carbon: NonNegative = 1.0
    """Weight on lifetime tCO2 saved (candidate column lifetime_co2_t_saved)."""
    fuel_poverty: NonNegative = 1.0
    """Weight on households lifted out of fuel poverty (fuel_poor_lifted)."""
    jobs: NonNegative = 0.0
    """Weight on FTE-years of work (jobs_fte_years)."""
    normalise: Literal["ideal", "none"] = "ideal"
    """"ideal": each objective divided by its best value alone under the same rules, so
    weight 1 on each gives each an equal say; "none": the raw weighted sum."""

    @model_validator(mode="after")
    def _some_weight(self):
        if self.carbon + self.fuel_poverty + self.jobs <= 0:
            raise ValueError("at least one of carbon, fuel_poverty, jobs must be above 0")
        return self


class TradeDays(_Strict):
    """Trade days a city can deliver per programme year, by trade (candidate columns
    trade_days_<trade>); a trade left out is not limited."""

    insulation: NonNegative | None = None
    heating: NonNegative | None = None
    electrical: NonNegative | None = None
    glazing: NonNegative | None = None
    coordination: NonNegative | None = None

    def limits(self) -> dict[str, float]:
        return {trade: getattr(self, trade) for trade in TRADES if getattr(self, trade) is not None}


class CityRules(_Strict):
    min_share: Share | None = None
    """At least this share of the total budget is spent in the city."""
    max_share: Share | None = None
    """At most this share of the total budget is spent in the city."""
    homes_per_year: Annotated[int, Field(ge=0)] | None = None
    """Homes the city's supply chain can retrofit per programme year."""
    trade_days_per_year: TradeDays | None = None
    """Trade days per programme year by trade, e.g. {insulation = 40000, heating = 25000}."""

    @model_validator(mode="after")
    def _shares(self):
        if self.min_share is not None and self.max_share is not None and self.min_share > self.max_share:
            raise ValueError(f"min_share ({self.min_share}) is above max_share ({self.max_share})")
        return self


class Rules(_Strict):
    equity_min_share: Share = 0.0
    """At least this share of the spend (or of the homes, see equity_basis) goes to priority
    homes: fuel poor, or in the most deprived IMD deciles. 0 turns the rule off."""
    equity_basis: Literal["spend", "homes"] = "spend"
    fuel_poor_probability: Annotated[float, Field(gt=0, le=1)] = 0.5
    """A home counts as fuel poor when its fuel_poverty_probability is at least this (when the
    candidate table has no such column: its best fuel_poor_lifted over packages)."""
    priority_imd_deciles: Annotated[int, Field(ge=0, le=10)] = 2
    """Homes in IMD deciles 1..this count as priority homes (0: deprivation does not count)."""
    eligible_tenures: list[Literal[TENURES]] | None = None  # type: ignore[valid-type]
    """Only these tenures may be retrofitted (all when left out)."""
    eligible_packages: list[str] | None = None
    """Only these package ids may be used (all when left out)."""
    min_band_after: Literal[BANDS] | None = None  # type: ignore[valid-type]
    """Only packages that bring the home to this EPC band or better."""
    must_include: list[str] = []
    """Home ids that must get a package (the optimiser picks which package and year)."""
    exclude: list[str] = []
    """Home ids that must not be retrofitted."""
    mobilisation_cost_gbp: NonNegative = 0.0
    """Fixed cost of opening works in one area for one year, £ (see mobilisation_area).
    It is not drawn from the budget; it is subtracted from the objective at the programme's
    average value of £1 (README "Planning")."""
    mobilisation_area: Literal["lsoa_code", "ward"] = "lsoa_code"
    """The area a mobilisation cost is paid for: a candidate column."""

    @model_validator(mode="after")
    def _lists(self):
        both = sorted(set(self.must_include) & set(self.exclude))
        if both:
            raise ValueError(f"homes both in must_include and exclude: {both[:5]}")
        for key in ("eligible_tenures", "eligible_packages"):
            if getattr(self, key) is not None and not getattr(self, key):
                raise ValueError(f"{key} is empty: leave it out to allow all, or name at least one")
        return self


class Solver(_Strict):
    time_limit_s: Annotated[float, Field(gt=0, le=86_400)] = 60.0
    """Wall-clock limit: the best plan found by then is returned with its gap."""
    relative_gap: Annotated[float, Field(ge=0, lt=1)] = 0.0005
    """Stop when the plan is within this fraction of the proven upper bound."""
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 1
    """The same seed gives the same plan (when the solve finishes within the time limit)."""


class Scenario(_Strict):
    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    budget: Budget
    years: Years
    weights: Weights = Weights()
    cities: dict[Literal[CITIES], CityRules] = {}  # type: ignore[valid-type]
    rules: Rules = Rules()
    solver: Solver = Solver()

    @model_validator(mode="after")
    def _per_year(self):
        per_year = self.budget.per_year_gbp
        if per_year is not None and len(per_year) != self.n_years:
            raise ValueError(f"budget.per_year_gbp has {len(per_year)} values but the programme has "
                             f"{self.n_years} years ({self.years.start}-{self.years.end})")
        return self

    @property
    def n_years(self) -> int:
        return self.years.end - self.years.start + 1

    @property
    def year_list(self) -> list[int]:
        return list(range(self.years.start, self.years.end + 1))


def _error_text(error: ValidationError, source: str) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"] if str(part) != "[key]")
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (check its spelling; see data/scenarios/ for every key)"
        lines.append(f"{key or 'scenario'}: {message}")
    return f"{source}: invalid scenario: " + "; ".join(lines)


def scenario_from_dict(data: dict, source: str = "scenario") -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as error:
        raise RetrofitError(_error_text(error, source)) from None


def parse_scenario(text: str, source: str = "scenario") -> Scenario:
    """A Scenario from TOML text; RetrofitError naming the key on bad input."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RetrofitError(f"{source}: not valid TOML: {error}") from None
    return scenario_from_dict(data, source)


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    if not path.exists():
        raise RetrofitError(f"scenario file {path} does not exist (examples in data/scenarios/)")
    return parse_scenario(path.read_text(encoding="utf-8"), str(path))


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} as TOML")


def scenario_to_toml(scenario: Scenario) -> str:
    """TOML text that parses back to the same Scenario (keys left at None are left out)."""
    data = scenario.model_dump(exclude_none=True)
    lines = [f"name = {_toml_value(data.pop('name'))}", f"description = {_toml_value(data.pop('description'))}"]
    cities = data.pop("cities")
    for section, table in data.items():
        lines += ["", f"[{section}]"] + [f"{key} = {_toml_value(value)}" for key, value in table.items()]
    for city, table in cities.items():
        lines += ["", f"[cities.{city}]"] + [f"{key} = {_toml_value(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"


def canonical_json(scenario: Scenario) -> str:
    """A stable text form (for hashes and caches)."""
    return json.dumps(scenario.model_dump(mode="json"), sort_keys=True)
