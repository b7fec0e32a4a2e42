"""Scenario: the typed, validated description of one what-if (a TOML file a user writes).

Every key is documented beside its field; `data/scenarios/*.toml` shows each one in use.
Unknown keys and impossible values are errors that name the key (pydantic, strict). Numbers
must be finite (TOML allows `inf` and `nan`) and below limits far above any real programme,
so that nothing overflows later; text holds no control characters. Rules that cannot all be
met whatever the homes (city minimum shares above the budget) are refused here; those that
depend on the candidates (too little capacity, too few eligible homes) are checked by the
optimiser, which says which rule fails and by how much.
"""

from __future__ import annotations

import json
import tomllib
import unicodedata
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_serializer,
                      model_validator)

from retrofit.candidates import TRADES
from retrofit.energy import BANDS
from retrofit.errors import INVISIBLE_CATEGORIES, RetrofitError, printable
from retrofit.reference import CITIES
from retrofit.paths import FUNDING_DIR
from retrofit.stock.schema import MAIN_FUELS, TENURES

MAX_PROGRAMME_YEARS = 30
# Upper limits: a thousand times any real programme, low enough that the optimiser's integer
# scaling (pounds, pence and hundredths of a day in 64-bit integers) cannot overflow.
MAX_GBP = 1e12  # any amount of money: £1 trillion
MAX_WEIGHT = 1e6  # an objective weight (only their ratios matter)
MAX_TRADE_DAYS_PER_YEAR = 1e9
MAX_HOMES_PER_YEAR = 10_000_000  # the three cities hold about 686,000 homes
MAX_NAME_CHARS = 120  # a scenario name: shown in lists, titles and file names
MAX_DESCRIPTION_CHARS = 4_000
MAX_ID_CHARS = 200  # a home or package id in the rules
MAX_SCENARIO_BYTES = 64 << 20  # a scenario file: room for every home id in must_include
# Allowed in a description, though control characters: line breaks and tabs.
DESCRIPTION_WHITESPACE = "\n\t"
# Bidi embeddings, overrides and isolates: they reorder how a line reads on screen.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _one_line_text(value: str) -> str:
    """No control, format or separator characters: a name or id that looks like what it is."""
    if value.isprintable():
        return value
    for position, ch in enumerate(value):
        if unicodedata.category(ch) in INVISIBLE_CATEGORIES:
            raise ValueError(f"holds an invisible or control character ({printable(ch)} at position {position + 1}); "
                             "use letters, digits, spaces and punctuation only")
    return value


def _name(value: str) -> str:
    if not value.strip():
        raise ValueError("is blank; give the scenario a name")
    return _one_line_text(value)


def _description(value: str) -> str:
    """Line breaks and tabs are fine; other control characters and bidi overrides are not."""
    for position, ch in enumerate(value):
        if ch in DESCRIPTION_WHITESPACE:
            continue
        if unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") or ch in BIDI_CONTROLS:
            raise ValueError(f"holds a control character ({printable(ch)} at position {position + 1}); "
                             "only line breaks and tabs are allowed")
    return value


Share = Annotated[float, Field(ge=0, le=1)]
Money = Annotated[float, Field(ge=0, le=MAX_GBP)]
Weight = Annotated[float, Field(ge=0, le=MAX_WEIGHT)]
TradeDaysPerYear = Annotated[float, Field(ge=0, le=MAX_TRADE_DAYS_PER_YEAR)]
Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS), AfterValidator(_one_line_text)]


class _Strict(BaseModel):
    # allow_inf_nan=False: TOML's inf and nan are refused wherever a number goes.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class Budget(_Strict):
    total_gbp: Annotated[float, Field(gt=0, le=MAX_GBP)]
    """All money the programme may spend on measures, £ (above 0, at most £1e12)."""
    per_year_gbp: list[Money] | None = None
    """Optional cap per programme year, £, one value per year from start to end (each at most £1e12)."""


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
    """Weights are 0 to 1e6; only their ratios matter."""

    carbon: Weight = 1.0
    """Weight on lifetime tCO2 saved (candidate column lifetime_co2_t_saved)."""
    fuel_poverty: Weight = 1.0
    """Weight on households lifted out of fuel poverty (fuel_poor_lifted)."""
    jobs: Weight = 0.0
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
    trade_days_<trade>); a trade left out is not limited. Each is 0 to 1e9 days."""

    insulation: TradeDaysPerYear | None = None
    heating: TradeDaysPerYear | None = None
    electrical: TradeDaysPerYear | None = None
    glazing: TradeDaysPerYear | None = None
    coordination: TradeDaysPerYear | None = None

    def limits(self) -> dict[str, float]:
        return {trade: getattr(self, trade) for trade in TRADES if getattr(self, trade) is not None}


class CityRules(_Strict):
    min_share: Share | None = None
    """At least this share of the total budget is spent in the city."""
    max_share: Share | None = None
    """At most this share of the total budget is spent in the city."""
    homes_per_year: Annotated[int, Field(ge=0, le=MAX_HOMES_PER_YEAR)] | None = None
    """Homes the city's supply chain can retrofit per programme year (at most 10 million)."""
    trade_days_per_year: TradeDays | None = None
    """Trade days per programme year by trade, e.g. {insulation = 40000, heating = 25000}."""

    @model_validator(mode="after")
    def _shares(self):
        if self.min_share is not None and self.max_share is not None and self.min_share > self.max_share:
            raise ValueError(f"min_share ({self.min_share}) is above max_share ({self.max_share})")
        if self.min_share and self.homes_per_year == 0:
            raise ValueError(f"min_share ({self.min_share}) needs spending in the city but homes_per_year is 0; "
                             "raise homes_per_year or drop min_share")
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
    eligible_packages: list[Id] | None = None
    """Only these package ids may be used (all when left out)."""
    min_band_after: Literal[BANDS] | None = None  # type: ignore[valid-type]
    """Only packages that bring the home to this EPC band or better."""
    must_include: list[Id] = []
    """Home ids that must get a package (the optimiser picks which package and year)."""
    exclude: list[Id] = []
    """Home ids that must not be retrofitted."""
    mobilisation_cost_gbp: Money = 0.0
    """Fixed cost of opening works in one area for one year, £ (see mobilisation_area; at most £1e12).
    It is not drawn from the budget; it is subtracted from the objective at the programme's
    average value of £1 (README "Planning")."""
    mobilisation_area: Literal["lsoa_code", "ward"] = "lsoa_code"
    """The area a mobilisation cost is paid for: a candidate column."""

    @property
    def bands_allowed(self) -> tuple[str, ...]:
        """The EPC bands a package may bring a home to: min_band_after or better (all when unset)."""
        if self.min_band_after is None:
            return BANDS
        return BANDS[: BANDS.index(self.min_band_after) + 1]

    @model_validator(mode="after")
    def _lists(self):
        both = sorted(set(self.must_include) & set(self.exclude))
        if both:
            raise ValueError(f"homes both in must_include and exclude: {both[:5]}")
        for key in ("eligible_tenures", "eligible_packages"):
            if getattr(self, key) is not None and not getattr(self, key):
                raise ValueError(f"{key} is empty: leave it out to allow all, or name at least one")
        return self


# --- funding schemes -------------------------------------------------------------------------
# A grant scheme's rules, as `data/funding/<id>.toml` ships them with their sources. What a grant
# may pay for is told by the candidate table's cost parts (COST_CATEGORIES).
COST_CATEGORIES = ("fabric", "heating", "pv", "other")


class Scheme(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS), AfterValidator(_name)]
    """The scheme's published name."""
    summary: Annotated[str, Field(max_length=MAX_DESCRIPTION_CHARS), AfterValidator(_description)] = ""
    status: Literal["awarded", "assumed"] = "awarded"
    """`awarded`: money the programme holds; `assumed`: a future round it expects, kept apart in reports."""
    opens: date
    closes: date
    """The spending window, both days included: work in a programme (financial) year that overlaps it."""
    tenures: list[Literal[TENURES]]  # type: ignore[valid-type]
    bands_before: list[Literal[BANDS]]  # type: ignore[valid-type]
    """EPC bands a home may start in."""
    private_rented_bands_before: list[Literal[BANDS]] | None = None  # type: ignore[valid-type]
    """Narrower bands for private rented homes (ECO4: E-G), where the scheme sets them."""
    band_c_heat_pump_share: Share | None = None
    """Band C homes allowed for low-carbon heating only, at most this share of the homes funded."""
    low_income_only: bool = False
    """Only low-income homes: fuel_poverty_probability >= [rules] fuel_poor_probability or IMD decile
    <= [rules] priority_imd_deciles (the documented proxies: the stock has no income)."""
    min_band_after: dict[Literal[BANDS], Literal[BANDS]] = {}  # type: ignore[valid-type]
    """The band a home must reach, by the band it starts in (ECO4: F/G to D, D/E to C)."""
    packages: list[Id] = []
    """Packages the scheme may fund; empty: any."""
    pays_for: list[Literal[COST_CATEGORIES]]  # type: ignore[valid-type]
    """Which cost parts the grant may pay (cost_fabric_gbp, cost_heating_gbp, cost_pv_gbp, cost_other_gbp)."""
    cap_gbp: dict[str, Money] = {}
    """Per home, by cost part or parts joined with "+" ("fabric+pv+other"), or `total`; a part in
    pays_for but in no cap is uncapped."""
    cap_basis: Literal["average", "per_home"] = "per_home"
    """`average`: the caps hold on average over the homes the scheme funds; `per_home`: for each."""
    off_gas_heating_cap_gbp: Money | None = None
    """A further heating allowance per home off the gas grid (main_fuel not mains_gas)."""
    co_funding_share: dict[Literal[TENURES], Share] = {}  # type: ignore[valid-type]
    """The owner's share of the cost of a funded home, by tenure (landlords' co-funding)."""
    stacks_with: list[Id] = []
    """Other schemes that may fund the same home."""
    heating_must_be_low_carbon: bool = False
    """The grant pays for heating only when the new system is a heat pump."""
    requires_heat_pump: bool = False
    """The scheme funds only packages with a heat pump (BUS)."""
    replaces_fuels: list[Literal[MAIN_FUELS]] | None = None  # type: ignore[valid-type]
    """The home's main fuel before must be one of these (BUS: fossil or direct electric)."""
    gbp_per_annual_bill_saving: Money | None = None
    """Score-based schemes (GBIS, ECO4): the grant is the annual bill saving times this price."""
    sources: dict[str, str] = {}
    """Where each rule comes from, by key (`window` for opens and closes; `scheme` for the whole)."""

    @model_validator(mode="after")
    def _consistent(self):
        if self.closes < self.opens:
            raise ValueError(f"closes ({self.closes}) is before opens ({self.opens})")
        seen: set[str] = set()
        for key in self.cap_gbp:
            parts = key.split("+")
            if key == "total":
                if len(self.cap_gbp) > 1:
                    raise ValueError("cap_gbp: `total` is the one cap for the whole cost; give it alone")
                continue
            unknown = [part for part in parts if part not in COST_CATEGORIES]
            if unknown:
                raise ValueError(f"cap_gbp: {', '.join(unknown)} is not a cost part; use {', '.join(COST_CATEGORIES)}, "
                                 "parts joined with '+', or total")
            twice = seen.intersection(parts)
            if twice:
                raise ValueError(f"cap_gbp: {', '.join(sorted(twice))} is in two caps")
            seen.update(parts)
            unpaid = [part for part in parts if part not in self.pays_for]
            if unpaid:
                raise ValueError(f"cap_gbp caps {', '.join(unpaid)}, which pays_for leaves out")
        return self

    def years_open(self, years: list[int]) -> list[int]:
        """The programme years whose financial year (1 April to 31 March) overlaps the window."""
        return [year for year in years if date(year, 4, 1) <= self.closes and date(year + 1, 3, 31) >= self.opens]


def shipped_schemes() -> list[str]:
    """The ids of the schemes in data/funding/."""
    return sorted(path.stem for path in FUNDING_DIR.glob("*.toml"))


def shipped_scheme(scheme_id: str) -> Scheme:
    """A shipped scheme by id; RetrofitError naming the shipped ids when there is none."""
    path = FUNDING_DIR / f"{scheme_id}.toml"
    if scheme_id not in shipped_schemes():
        raise RetrofitError(f"funding: no shipped scheme {printable(scheme_id)!r}; use one of "
                            f"{', '.join(shipped_schemes())} (data/funding/), or give its rules inline")
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    try:
        return Scheme.model_validate(data)
    except ValidationError as error:
        raise RetrofitError(_error_text(error, str(path), "scheme")) from None


AWARD_KEYS = ("use", "total_gbp", "per_year_gbp", "years")


def _date_of(value):
    """A window date as given (TOML) or as ISO text (JSON carries dates so); anything else as it is,
    for the scheme's own check to name."""
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value
    return value


class Funding(_Strict):
    """One `[funding.<id>]` section: a scheme the programme draws on and the award it holds.

    ``use`` takes a shipped scheme (data/funding/<id>.toml); any scheme key given beside it
    overrides the shipped rule, and without ``use`` every required rule is given inline. The
    award is the programme's own: its total, optionally per programme year, and the years it may
    be spent (by default the programme years the scheme's window overlaps)."""

    use: Id | None = None
    """A shipped scheme id (file name in data/funding/)."""
    total_gbp: Annotated[float, Field(gt=0, le=MAX_GBP)]
    """The award this programme holds, £."""
    per_year_gbp: list[Money] | None = None
    """Optional cap per programme year, £, one value per year (years outside `years` are 0 anyway)."""
    years: list[Annotated[int, Field(ge=2000, le=2100)]] | None = None
    """Programme years the award may be spent in; by default those the scheme's window overlaps."""
    rules: dict = {}
    """The scheme keys given in the section (overrides of the shipped scheme, or all of them)."""
    _scheme: Scheme | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _split(cls, data):
        """The section is flat (award keys beside scheme keys): the scheme keys go to `rules`."""
        if not isinstance(data, dict) or "rules" in data:
            return data
        unknown = [key for key in data if key not in AWARD_KEYS and key not in Scheme.model_fields]
        if unknown:
            raise ValueError(f"{printable(str(unknown[0]), limit=60)}: unknown key (a funding section takes "
                             f"{', '.join(AWARD_KEYS)} and the scheme keys of data/funding/README.md)")
        rules = {key: _date_of(value) if key in ("opens", "closes") else value
                 for key, value in data.items() if key not in AWARD_KEYS}
        return {**{key: data[key] for key in AWARD_KEYS if key in data}, "rules": rules}

    @model_validator(mode="after")
    def _resolve(self):
        if self.use is not None:
            try:
                base = shipped_scheme(self.use)
            except RetrofitError as error:
                raise ValueError(f"use: {str(error).removeprefix('funding: ')}") from None
            data = {**base.model_dump(), **self.rules}
        else:
            data = dict(self.rules)
        try:
            self._scheme = Scheme.model_validate(data)
        except ValidationError as error:
            raise ValueError(_error_lines(error, "scheme")
                             + ("" if self.use else " (or take a shipped scheme with use = \"<id>\")")) from None
        return self

    @model_serializer
    def _flat(self) -> dict:
        data = {"use": self.use, "total_gbp": self.total_gbp, "per_year_gbp": self.per_year_gbp, "years": self.years}
        return {key: value for key, value in {**data, **self.rules}.items() if value is not None}

    @property
    def scheme(self) -> Scheme:
        """The scheme's rules: the shipped ones with this section's overrides."""
        return self._scheme

    def spending_years(self, programme: list[int]) -> list[int]:
        """The programme years the award may be spent in."""
        return list(self.years) if self.years is not None else self.scheme.years_open(programme)

    def year_limits(self, programme: list[int]) -> list[float]:
        """The most the award may pay in each programme year, £ (0 outside its years)."""
        years = set(self.spending_years(programme))
        per_year = self.per_year_gbp or [self.total_gbp] * len(programme)
        return [min(amount, self.total_gbp) if year in years else 0.0 for year, amount in zip(programme, per_year)]


# --- delivery: households who say no, costs that overrun ------------------------------------
Probability = Annotated[float, Field(ge=0, le=1)]
Confidence = Annotated[float, Field(ge=0.5, le=0.999)]
MAX_RESERVE_RATIO = 10.0


class Uptake(_Strict):
    """The probability that an approached household goes ahead, by tenure; a tenure left out
    takes its figure from data/delivery/uptake.csv (with its source)."""

    owner_occupied: Probability | None = None
    private_rented: Probability | None = None
    social_rented: Probability | None = None
    unknown: Probability | None = None


class Delivery(_Strict):
    """[delivery]: plan for what delivery meets. Without this section every chosen household goes
    ahead at its modelled cost (the plan as it always was)."""

    uptake: Uptake = Uptake()
    """By tenure, e.g. {owner_occupied = 0.35, private_rented = 0.25, social_rented = 0.85}."""
    uptake_by_lsoa: dict[Id, Probability | Uptake] = {}
    """Per LSOA code: one probability for every tenure there, or a table by tenure; it replaces
    the tenure figure for the homes of that LSOA (a tenure a table leaves out keeps its figure)."""
    uptake_file: str | None = None
    """A CSV of LSOA overrides (columns lsoa_code, uptake, and optionally tenure), beside the
    scenario file: read into uptake_by_lsoa when the file is saved or run (so a stored scenario
    holds its figures, not a path)."""
    reserve_ratio: Annotated[float, Field(ge=0, le=MAX_RESERVE_RATIO)] = 1.0
    """Reserve homes kept ready per planned home (`retrofit runs reserves`)."""
    confidence: Confidence = 0.9
    """Each budget, share and capacity rule holds with this probability when uptake is random
    (normal approximation per rule, i.e. per year and city): a contingency held back from the
    limit, z x the standard deviation of what the plan uses. 0.5: in expectation only."""
    cost_confidence: Confidence = 0.5
    """Each money rule also holds with this probability when costs fall within their ranges
    (data/delivery/cost_ranges.csv): a cost contingency, shown beside the uptake one. 0.5: costs
    at their point values (P50); P50 and P90 programme cost are reported either way."""
    max_ramp: Annotated[float, Field(gt=0, le=10)] | None = None
    """Crews cannot double overnight: each city's (expected) homes and spend in a year at most
    1 + max_ramp times the year before's, and at least 1 - max_ramp times it (0.25: within 25%)."""
    ramp_start: Annotated[int, Field(ge=0, le=MAX_HOMES_PER_YEAR)] | dict[Literal[CITIES], Annotated[int, Field(  # type: ignore[valid-type]
        ge=0, le=MAX_HOMES_PER_YEAR)]] | None = None
    """Homes a city may do in the programme's first year: one number for each city, or by city
    ({Birmingham = 3000, Coventry = 1200}); with max_ramp, where the ramp starts from."""

    def ramp_start_of(self, city: str) -> int | None:
        """The first-year homes of ``city`` (None: no first-year level)."""
        if isinstance(self.ramp_start, dict):
            return self.ramp_start.get(city)
        return self.ramp_start


class Solver(_Strict):
    time_limit_s: Annotated[float, Field(gt=0, le=86_400)] = 60.0
    """The user's wall-clock limit, a hard stop: by then the best plan found that keeps every rule
    is returned with its gap (or an error says none was found). Each step of the solve stops on
    counted work sized from this limit, so the same scenario gives the same plan however busy
    the machine; a solve the clock cut says so (stopped_by time_limit, not reproducible)."""
    relative_gap: Annotated[float, Field(ge=0, lt=1)] = 0.0005
    """Stop when the plan is within this fraction of the proven upper bound."""
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 1
    """The same seed (and scenario and candidates) gives the same plan, unless the time limit cut the solve."""


class Scenario(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS), AfterValidator(_name)]
    """Up to 120 characters: letters, digits, spaces, punctuation (no control characters)."""
    description: Annotated[str, Field(max_length=MAX_DESCRIPTION_CHARS), AfterValidator(_description)] = ""
    """Up to 4,000 characters; line breaks and tabs allowed, other control characters not."""
    budget: Budget
    years: Years
    weights: Weights = Weights()
    cities: dict[Literal[CITIES], CityRules] = {}  # type: ignore[valid-type]
    rules: Rules = Rules()
    funding: dict[Id, Funding] = {}
    """Grant schemes the programme draws on, by an id of the scenario's choosing ([funding.<id>])."""
    delivery: Delivery | None = None
    """Uptake, reserves and cost ranges ([delivery]); left out, every chosen home goes ahead at its cost."""
    solver: Solver = Solver()

    @model_validator(mode="after")
    def _delivery(self):
        if self.delivery is None:
            return self
        if self.funding:
            raise ValueError("[delivery] with [funding] is not built yet: grants would be drawn in expectation; "
                             "plan the funded scenario without [delivery], or the uptake-aware one without [funding]")
        if self.delivery.uptake_file is not None:
            raise ValueError(f"delivery.uptake_file ({printable(self.delivery.uptake_file, limit=80)}) is read when the "
                             "scenario file is saved or run (`retrofit scenario save FILE`, `retrofit plan FILE`); "
                             "in scenario text, give delivery.uptake_by_lsoa instead")
        return self

    @model_validator(mode="after")
    def _per_year(self):
        per_year = self.budget.per_year_gbp
        if per_year is not None and len(per_year) != self.n_years:
            raise ValueError(f"budget.per_year_gbp has {len(per_year)} values but the programme has "
                             f"{self.n_years} years ({self.years.start}-{self.years.end})")
        return self

    @model_validator(mode="after")
    def _min_shares(self):
        """City minimum shares that no set of homes could meet: more than the budget, or more
        than the yearly caps allow in total (shares are of total_gbp)."""
        minimum = {city: rules.min_share for city, rules in self.cities.items() if rules.min_share}
        shares = sum(minimum.values())
        named = ", ".join(f"{city} {share:.0%}" for city, share in minimum.items())
        if shares > 1 + 1e-9:
            raise ValueError(f"minimum shares (cities.*.min_share) add to {shares:.1%} of the budget ({named}): "
                             f"they need £{(shares - 1) * self.budget.total_gbp:,.0f} more than the budget; "
                             "lower them to 100% or less in all")
        per_year = self.budget.per_year_gbp
        if per_year is not None and shares * self.budget.total_gbp > sum(per_year) * (1 + 1e-9):
            raise ValueError(f"budget.per_year_gbp allows £{sum(per_year):,.0f} in all, less than the "
                             f"£{shares * self.budget.total_gbp:,.0f} the cities' min_share need ({named} of the "
                             "total budget); raise the yearly caps or lower the shares")
        return self

    @model_validator(mode="after")
    def _funding(self):
        """Each award's years inside the programme and its scheme's window; stacks name schemes here."""
        programme = self.year_list
        for key, funding in self.funding.items():
            where, scheme = f"funding.{printable(key, limit=60)}", funding.scheme
            if funding.years is not None:
                outside = [year for year in funding.years if year not in programme]
                if outside:
                    raise ValueError(f"{where}.years: {outside[0]} is outside the programme "
                                     f"({self.years.start}-{self.years.end})")
                closed = [year for year in funding.years if year not in scheme.years_open([year])]
                if closed and scheme.status == "awarded":
                    raise ValueError(f"{where}.years: {closed[0]} is outside {scheme.name}'s window ({scheme.opens} to "
                                     f"{scheme.closes}); a future round not yet awarded is status = \"assumed\"")
            if not funding.spending_years(programme):
                raise ValueError(f"{where}: {scheme.name}'s window ({scheme.opens} to {scheme.closes}) does not "
                                 f"overlap the programme ({self.years.start}-{self.years.end}, each year April to "
                                 "March); leave the scheme out, or set `years` for an assumed future round")
            if funding.per_year_gbp is not None and len(funding.per_year_gbp) != self.n_years:
                raise ValueError(f"{where}.per_year_gbp has {len(funding.per_year_gbp)} values but the programme has "
                                 f"{self.n_years} years ({self.years.start}-{self.years.end})")
            unknown = [other for other in scheme.stacks_with if other not in self.funding or other == key]
            if unknown:
                raise ValueError(f"{where}.stacks_with: {printable(unknown[0], limit=60)} is not another funding "
                                 f"section of this scenario (they are {', '.join(self.funding)})")
        return self

    def stacks(self) -> list[tuple[str, str]]:
        """Pairs of funding ids that may fund the same home: either one lists the other in stacks_with."""
        ids = sorted(self.funding)
        return [(a, b) for i, a in enumerate(ids) for b in ids[i + 1:]
                if b in self.funding[a].scheme.stacks_with or a in self.funding[b].scheme.stacks_with]

    @property
    def n_years(self) -> int:
        return self.years.end - self.years.start + 1

    @property
    def year_list(self) -> list[int]:
        return list(range(self.years.start, self.years.end + 1))


def _error_lines(error: ValidationError, what: str = "scenario") -> str:
    """Each bad key and what is wrong with it, `; `-joined; keys the user wrote are escaped and
    shortened (a key may hold an escape sequence, or be thousands of characters long)."""
    lines = []
    for item in error.errors():
        key = ".".join(printable(str(part), limit=60) for part in item["loc"] if str(part) != "[key]")
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (check its spelling; see data/scenarios/ for every key)"
        lines.append(f"{key or what}: {message}")
    return "; ".join(lines)


def _error_text(error: ValidationError, source: str, what: str = "scenario") -> str:
    """One line naming each bad key, after the source it came from."""
    return f"{printable(source)}: invalid {what}: " + _error_lines(error, what)


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
        raise RetrofitError(f"{printable(source)}: not valid TOML: {printable(str(error))}") from None
    except RecursionError:
        raise RetrofitError(f"{printable(source)}: not valid TOML: arrays or tables nested too deeply") from None
    return scenario_from_dict(data, source)


def read_scenario_text(path: str | Path) -> str:
    """The text of a scenario file; a file that is not UTF-8 text says where and how to fix it.

    A UTF-8 byte-order mark (as some Windows editors write) is dropped.
    """
    path = Path(path)
    if not path.exists():
        raise RetrofitError(f"scenario file {path} does not exist (examples in data/scenarios/)")
    try:
        size = path.stat().st_size
        if size > MAX_SCENARIO_BYTES:
            raise RetrofitError(f"scenario file {path} holds {size / 2**20:,.0f} MB; a scenario is a TOML text of "
                                f"at most {MAX_SCENARIO_BYTES // 2**20} MB: is this the right file?")
        data = path.read_bytes()
    except OSError as error:
        raise RetrofitError(f"cannot read scenario file {path}: {error.strerror or error}") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise RetrofitError(f"scenario file {path} is UTF-16 text; save it as UTF-8 (a scenario is a UTF-8 TOML file)")
    if b"\x00" in data:
        raise RetrofitError(f"scenario file {path} is a binary file (it holds NUL bytes, first at byte "
                            f"{data.index(0)}), not TOML text; give a .toml file like those in data/scenarios/")
    try:
        return _inline_files(data.decode("utf-8-sig"), path)
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise RetrofitError(f"scenario file {path} is not UTF-8 text: byte {error.start} (line {line}, "
                            f"0x{data[error.start]:02x}) is not UTF-8; save the file as UTF-8 "
                            "(e.g. in your editor, Save As with encoding UTF-8)") from None


def _inline_files(text: str, path: Path) -> str:
    """The scenario text with any file it names read in (delivery.uptake_file, beside the
    scenario file), so that what is stored and run holds the figures, not a path. Text that
    names no file is returned as it is (comments and layout kept)."""
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError):
        return text  # parse_scenario says what is wrong
    delivery = data.get("delivery")
    if not isinstance(delivery, dict) or "uptake_file" not in delivery:
        return text
    name = delivery.pop("uptake_file")
    if not isinstance(name, str) or not name:
        raise RetrofitError(f"{path}: delivery.uptake_file must be the name of a CSV file beside the scenario")
    from_file = read_uptake_file(path.parent / name)
    given = delivery.get("uptake_by_lsoa", {})
    delivery["uptake_by_lsoa"] = {**from_file, **given} if isinstance(given, dict) else given
    return scenario_to_toml(scenario_from_dict(data, str(path)))


UPTAKE_FILE_MAX_PROBLEMS = 20


def read_uptake_file(path: Path) -> dict:
    """LSOA uptake overrides from a CSV (lsoa_code, uptake, optional tenure) as uptake_by_lsoa:
    every problem listed with its line, or a RetrofitError."""
    import pandas as pd  # only here: the scenario module is imported by every command

    if not path.exists():
        raise RetrofitError(f"delivery.uptake_file {path} does not exist (it is read beside the scenario file)")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as error:
        raise RetrofitError(f"delivery.uptake_file {path}: not a readable CSV ({printable(str(error), limit=200)}); "
                            "save it as UTF-8 CSV with columns lsoa_code, uptake and optionally tenure") from None
    table.columns = [str(c).strip().lower() for c in table.columns]
    missing = [c for c in ("lsoa_code", "uptake") if c not in table]
    unknown = [c for c in table.columns if c not in ("lsoa_code", "uptake", "tenure")]
    if missing or unknown:
        raise RetrofitError(f"delivery.uptake_file {path}: columns must be lsoa_code, uptake and optionally tenure"
                            + (f"; missing {missing}" if missing else "")
                            + (f"; unknown {[printable(c, limit=40) for c in unknown]}" if unknown else ""))
    problems, out, seen = [], {}, set()
    for line, row in enumerate(table.to_dict("records"), start=2):
        code, tenure = row["lsoa_code"].strip(), row.get("tenure", "").strip()
        try:
            value = float(row["uptake"])
        except ValueError:
            value = float("nan")
        if not code:
            problems.append(f"line {line}: lsoa_code is empty")
        if not 0 <= value <= 1:  # NaN fails too
            problems.append(f"line {line}: uptake {printable(row['uptake'], limit=40)!r} is not a probability "
                            "from 0 to 1")
        if tenure and tenure not in TENURES:
            problems.append(f"line {line}: tenure {printable(tenure, limit=40)!r} is not one of {', '.join(TENURES)} "
                            "(leave it empty for every tenure)")
        if (code, tenure) in seen:
            problems.append(f"line {line}: {printable(code, limit=40)} {tenure or '(every tenure)'} is given twice")
        seen.add((code, tenure))
        if problems:
            continue
        if tenure:
            entry = out.get(code, {})
            out[code] = {**(entry if isinstance(entry, dict) else {t: entry for t in TENURES}), tenure: value}
        elif code in out and isinstance(out[code], dict):
            out[code] = {**{t: value for t in TENURES}, **out[code]}
        else:
            out[code] = value
    if problems:
        shown = problems[:UPTAKE_FILE_MAX_PROBLEMS]
        more = f"\n  ... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        raise RetrofitError(f"delivery.uptake_file {path}: {len(problems)} problems, nothing was read:\n  "
                            + "\n  ".join(shown) + more)
    return out


def load_scenario(path: str | Path) -> Scenario:
    return parse_scenario(read_scenario_text(path), str(path))


def _toml_key(key: str) -> str:
    """A bare key where TOML allows one, else a quoted one."""
    return key if key and all(ch.isascii() and (ch.isalnum() or ch in "_-") for ch in key) else _toml_value(key)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        # A JSON string is a valid TOML basic string, as long as characters beyond U+FFFF stay
        # themselves (JSON's surrogate-pair escapes are not valid TOML) and DEL is escaped.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} as TOML")


def scenario_to_toml(scenario: Scenario) -> str:
    """TOML text that parses back to the same Scenario (keys left at None are left out)."""
    data = scenario.model_dump(exclude_none=True)
    lines = [f"name = {_toml_value(data.pop('name'))}", f"description = {_toml_value(data.pop('description'))}"]
    named = {"cities": data.pop("cities"), "funding": data.pop("funding")}
    for section, table in data.items():
        lines += ["", f"[{section}]"] + [f"{key} = {_toml_value(value)}" for key, value in table.items()]
    for section, tables in named.items():
        for name, table in tables.items():
            lines += ["", f"[{section}.{_toml_key(name)}]"] + [f"{key} = {_toml_value(value)}"
                                                               for key, value in table.items()]
    return "\n".join(lines) + "\n"


def canonical_json(scenario: Scenario) -> str:
    """A stable text form (for hashes and caches): with each funding section's rules as resolved,
    so that a change to a shipped scheme is a change of scenario."""
    data = scenario.model_dump(mode="json")
    data["funding"] = {key: {**funding.model_dump(mode="json"), "scheme": funding.scheme.model_dump(mode="json")}
                       for key, funding in scenario.funding.items()}
    return json.dumps(data, sort_keys=True)
