"""The measure library: measures, packages and the appraisal's assumption tables, as data.

Analysts edit `data/measures.csv`, `data/packages.csv` and the tables in `data/appraisal/`
(or a copy of them, `--library DIR`). `load_library` reads and checks them all, so an
invalid edit (an unknown trade, a negative cost, a package naming a missing measure, a
rule naming a category the stock does not have) stops with the file, line and column,
before any home is appraised. `Library.version` is a short hash of the files' content:
every run records it, so a result can be traced to the library that made it.

A measure's `effect` names a row of `retrofit.appraisal.effects.EFFECTS`, which also says what
its `effect_target` and `effect_value` must hold. `appraisal/in_use.csv` gives every measure its
in-use realisation: the share of its modelled change that measured homes show (the
performance gap), read into the measures table's `realisation` column.

Applicability rules (`applies_when`) are small expressions over the stock's columns:
``always``; ``COLUMN in A|B|C``; ``COLUMN not_in A|B``; ``COLUMN <= 150`` (also <, >, >=);
clauses joined with `` and ``. A number compared with an empty value (no loft) is false.
"""

from __future__ import annotations

import hashlib
import operator
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from retrofit.appraisal.effects import EFFECTS
from retrofit.candidates import TRADES
from retrofit.energy import load_assumptions
from retrofit.errors import RetrofitError
from retrofit.paths import DATA_DIR, ENERGY_DIR
from retrofit.stock.schema import AGE_BANDS, BUILT_FORMS, CATEGORIES, FLOOR_TYPES, GLAZING, NUMBERS, PROPERTY_TYPES, WALL_TYPES

ELEMENTS = ("wall", "roof", "floor", "window")
# What a measure's cost_per_unit_gbp is multiplied by; "segment" takes the BEIS (2017)
# range of the home's dwelling segment from appraisal/segment_costs.csv.
COST_BASES = ("segment", "wall_m2", "roof_m2", "floor_m2", "window_m2", "floor_area_m2", "dwelling",
              "heat_pump_kw", "pv_kwp")
MEASURE_COLUMNS = ("measure_id", "name", "applies_when", "effect", "effect_target", "effect_value", "cost_basis",
                   "cost_fixed_gbp", "cost_per_unit_gbp", "price_base_year", "labour_share", "trade",
                   "lifetime_years", "epc_recommendable", "source")
IN_USE_COLUMNS = ("measure_id", "realisation", "meaning", "source")
REALISATION_RANGE = (0.0, 1.5)  # above 1: a measure that does better in use than modelled, within reason
PACKAGE_COLUMNS = ("package_id", "name", "measures", "core_measure", "description")
APPRAISAL_TABLES = ("wall_u_values", "roof_u_values", "floor_u_values", "window_u_values", "geometry",
                    "built_form", "ventilation", "segments", "segment_costs", "heat_pump_costs", "day_rates",
                    "price_index")
COMPARISONS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}


@dataclass(frozen=True)
class Clause:
    column: str
    op: str  # "in", "not_in" or a comparison
    values: tuple[str, ...] = ()
    number: float = 0.0


@dataclass(frozen=True)
class Rule:
    """Which homes a measure applies to (all clauses must hold)."""

    text: str
    clauses: tuple[Clause, ...] = ()

    def mask(self, stock: pd.DataFrame) -> np.ndarray:
        result = np.ones(len(stock), dtype=bool)
        for clause in self.clauses:
            if clause.op in ("in", "not_in"):
                hit = stock[clause.column].isin(clause.values).to_numpy(dtype=bool)
                result &= hit if clause.op == "in" else ~hit
            else:
                values = pd.to_numeric(stock[clause.column], errors="coerce").to_numpy(dtype="float64")
                with np.errstate(invalid="ignore"):
                    result &= COMPARISONS[clause.op](values, clause.number)  # NaN compares false
        return result


@dataclass(frozen=True)
class Library:
    """A validated measure library: measures, packages and assumption tables."""

    directory: Path
    measures: pd.DataFrame  # indexed by measure_id, typed; `realisation` from appraisal/in_use.csv
    packages: pd.DataFrame  # indexed by package_id; `measures` holds a tuple of ids
    rules: dict[str, Rule]
    tables: dict[str, pd.DataFrame]
    constants: dict
    version: str
    files: tuple[str, ...] = field(default=())

    def uplift(self, base_year: int) -> float:
        """Price factor from a measure's base year to the library's price year."""
        index = self.tables["price_index"].set_index("year")["index"]
        return float(index[self.constants["costs"]["price_year"]] / index[int(base_year)])

    def package_measures(self, package_id: str) -> tuple[str, ...]:
        return self.packages.at[package_id, "measures"]


class _Checker:
    """Collects the location of a problem so every message names file, line and column."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, message: str, line: int | None = None, column: str | None = None):
        where = str(self.path)
        if line is not None:
            where += f" line {line}"
        if column is not None:
            where += f", column {column}"
        raise RetrofitError(f"{where}: {message}")

    def read(self, required: tuple[str, ...]) -> pd.DataFrame:
        if not self.path.exists():
            self.fail("file missing; copy it from the shipped data/ folder")
        try:
            table = pd.read_csv(self.path, dtype=str, keep_default_na=False)
        except (OSError, ValueError, pd.errors.ParserError) as error:
            self.fail(f"cannot read: {error}")
        missing = [c for c in required if c not in table.columns]
        if missing:
            self.fail(f"columns missing: {', '.join(missing)} (expected {', '.join(required)})")
        if table.empty:
            self.fail("has no rows")
        return table

    def number(self, table: pd.DataFrame, column: str, low: float | None = None, high: float | None = None,
               blank_ok: bool = False) -> pd.Series:
        """The column as numbers; a blank (when allowed) is NaN; anything else out of range fails."""
        out = pd.Series(np.nan, index=table.index, dtype="float64")
        for index, text in table[column].items():
            text = text.strip()
            if text == "":
                if blank_ok:
                    continue
                self.fail("empty; give a number", index + 2, column)
            try:
                value = float(text)
            except ValueError:
                self.fail(f"{text!r} is not a number", index + 2, column)
            if not np.isfinite(value) or (low is not None and value < low) or (high is not None and value > high):
                label = "negative" if low == 0 and value < 0 else f"outside {low}..{high}"
                self.fail(f"{value:g} is {label}", index + 2, column)
            out[index] = value
        return out

    def unique(self, table: pd.DataFrame, column: str) -> None:
        seen: dict[str, int] = {}
        for index, value in table[column].items():
            if value.strip() == "":
                self.fail("empty; every row needs an id", index + 2, column)
            if value in seen:
                self.fail(f"{value!r} repeats line {seen[value]}", index + 2, column)
            seen[value] = index + 2


def parse_rule(text: str, where: _Checker, line: int) -> Rule:
    """Parse an `applies_when` expression, checking columns and categories against the stock schema."""
    text = text.strip()
    if text == "always":
        return Rule(text)
    clauses = []
    for part in text.split(" and "):
        tokens = part.split()
        if len(tokens) != 3:
            where.fail(f"cannot read the rule {part!r}; write COLUMN in A|B, COLUMN not_in A|B or COLUMN <= NUMBER",
                       line, "applies_when")
        column, op, value = tokens
        if op in ("in", "not_in"):
            if column not in CATEGORIES:
                where.fail(f"unknown applicability column {column!r}; category columns: {', '.join(CATEGORIES)}",
                           line, "applies_when")
            values = tuple(value.split("|"))
            unknown = [v for v in values if v not in CATEGORIES[column]]
            if unknown:
                where.fail(f"unknown applicability category {unknown} for {column}; known: {', '.join(CATEGORIES[column])}",
                           line, "applies_when")
            clauses.append(Clause(column, op, values))
        elif op in COMPARISONS:
            if column not in NUMBERS:
                where.fail(f"unknown numeric column {column!r}; numeric columns: {', '.join(NUMBERS)}",
                           line, "applies_when")
            try:
                number = float(value)
            except ValueError:
                where.fail(f"{value!r} is not a number in {part!r}", line, "applies_when")
            clauses.append(Clause(column, op, number=number))
        else:
            where.fail(f"unknown operator {op!r} in {part!r}; use in, not_in, <, <=, >, >=", line, "applies_when")
    return Rule(text, tuple(clauses))


def _check_effect(row: pd.Series, check: _Checker, line: int) -> None:
    """The measure's effect is a row of `effects.EFFECTS`, and its effect_target is what that row asks for."""
    effect = EFFECTS.get(row["effect"])
    if effect is None:
        check.fail(f"unknown effect {row['effect']!r}; use one of {', '.join(EFFECTS)}", line, "effect")
    if effect.target == "element" and row["effect_target"] not in ELEMENTS:
        check.fail(f"a {row['effect']} effect needs an element: {', '.join(ELEMENTS)}", line, "effect_target")
    if effect.target == "system:fuel":
        systems = load_assumptions(ENERGY_DIR).systems.index
        fuels = load_assumptions(ENERGY_DIR).fuels.index
        system, _, fuel = row["effect_target"].partition(":")
        if system not in systems:
            check.fail(f"unknown heating system {system!r}; known (data/energy/heating_systems.csv): "
                       f"{', '.join(systems)}", line, "effect_target")
        if fuel != "keep" and fuel not in fuels:
            check.fail(f"write SYSTEM:FUEL with a fuel of data/energy/fuels.csv or 'keep', not {fuel!r}",
                       line, "effect_target")


def _read_measures(directory: Path, tables: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, dict[str, Rule]]:
    check = _Checker(directory / "measures.csv")
    raw = check.read(MEASURE_COLUMNS)
    check.unique(raw, "measure_id")
    years = set(tables["price_index"]["year"].astype(int))
    segment_costs = tables["segment_costs"]
    segments = _segment_names(tables["segments"])
    rules = {}
    for index, row in raw.iterrows():
        line = index + 2
        rules[row["measure_id"]] = parse_rule(row["applies_when"], check, line)
        _check_effect(row, check, line)
        if row["cost_basis"] not in COST_BASES:
            check.fail(f"unknown cost basis {row['cost_basis']!r}; use one of {', '.join(COST_BASES)}", line, "cost_basis")
        if row["cost_basis"] == "segment":
            have = set(segment_costs.loc[segment_costs["measure_id"] == row["measure_id"], "segment"])
            if set(segments) - have:
                check.fail(f"costed by segment but appraisal/segment_costs.csv lacks {sorted(set(segments) - have)}",
                           line, "cost_basis")
        if row["trade"] not in TRADES:
            check.fail(f"unknown trade {row['trade']!r}; use one of {', '.join(TRADES)}", line, "trade")
        if row["epc_recommendable"] not in ("true", "false"):
            check.fail(f"write true or false, not {row['epc_recommendable']!r}", line, "epc_recommendable")
        if row["price_base_year"].strip().isdigit() and int(row["price_base_year"]) not in years:
            check.fail(f"no price index for {row['price_base_year']} in appraisal/price_index.csv", line, "price_base_year")
    value_kind = raw["effect"].map(lambda name: EFFECTS[name].value)
    factor_effects = value_kind == "factor"
    value_needed = value_kind != "unused"
    measures = pd.DataFrame({
        "measure_id": raw["measure_id"],
        "name": raw["name"],
        "applies_when": raw["applies_when"],
        "effect": raw["effect"],
        "effect_target": raw["effect_target"],
        "effect_value": check.number(raw, "effect_value", 0, None, blank_ok=True),
        "cost_basis": raw["cost_basis"],
        "cost_fixed_gbp": check.number(raw, "cost_fixed_gbp", 0),
        "cost_per_unit_gbp": check.number(raw, "cost_per_unit_gbp", 0),
        "price_base_year": check.number(raw, "price_base_year", 1990, 2100).astype("int64"),
        "labour_share": check.number(raw, "labour_share", 0, 1),
        "trade": raw["trade"],
        "lifetime_years": check.number(raw, "lifetime_years", 1, 100),
        "epc_recommendable": raw["epc_recommendable"] == "true",
        "source": raw["source"],
    })
    for index in raw.index[value_needed & measures["effect_value"].isna()]:
        check.fail(f"a {raw.at[index, 'effect']} effect needs a value", index + 2, "effect_value")
    for index in raw.index[factor_effects & (measures["effect_value"] > 1)]:
        check.fail("a factor above 1 would add demand; give a value in 0..1", index + 2, "effect_value")
    for index in raw.index[raw["source"].str.strip() == ""]:
        check.fail("every measure needs a source", index + 2, "source")
    return measures.set_index("measure_id"), rules


def _read_in_use(directory: Path, measure_ids: pd.Index) -> pd.Series:
    """Each measure's in-use realisation (appraisal/in_use.csv): one row per measure, none for another."""
    check = _Checker(directory / "appraisal" / "in_use.csv")
    raw = check.read(IN_USE_COLUMNS)
    check.unique(raw, "measure_id")
    realisation = check.number(raw, "realisation", *REALISATION_RANGE)
    unknown = [m for m in raw["measure_id"] if m not in measure_ids]
    if unknown:
        check.fail(f"rows for measures not in measures.csv: {', '.join(unknown)}; remove them or add the measures",
                   column="measure_id")
    missing = [m for m in measure_ids if m not in set(raw["measure_id"])]
    if missing:
        check.fail(f"no row for measures {', '.join(missing)}; add one per measure of measures.csv "
                   f"({','.join(IN_USE_COLUMNS)}; realisation 1 takes the modelled saving as it is)",
                   column="measure_id")
    for index in raw.index[raw["source"].str.strip() == ""]:
        check.fail("every realisation needs a source", index + 2, "source")
    return pd.Series(realisation.to_numpy(), index=raw["measure_id"]).loc[measure_ids]


def _read_packages(directory: Path, measures: pd.DataFrame) -> pd.DataFrame:
    check = _Checker(directory / "packages.csv")
    raw = check.read(PACKAGE_COLUMNS)
    check.unique(raw, "package_id")
    lists = []
    for index, row in raw.iterrows():
        ids = tuple(m.strip() for m in row["measures"].split(";") if m.strip())
        if not ids:
            check.fail("a package needs at least one measure", index + 2, "measures")
        for measure_id in ids:
            if measure_id not in measures.index:
                check.fail(f"package {row['package_id']!r} names measure {measure_id!r}, which is not in measures.csv",
                           index + 2, "measures")
        if len(set(ids)) != len(ids):
            check.fail("a measure is listed twice", index + 2, "measures")
        core = row["core_measure"].strip()
        if core and core not in ids:
            check.fail(f"core measure {core!r} is not one of the package's measures", index + 2, "core_measure")
        lists.append(ids)
    packages = raw.assign(measures=lists, core_measure=raw["core_measure"].str.strip())
    return packages.set_index("package_id")


def _segment_names(segments: pd.DataFrame) -> list[str]:
    names = []
    for group, small in zip(segments["segment_group"], segments["small_below_m2"]):
        names += [group] if pd.isna(small) else [f"small_{group}", f"large_{group}"]
    return sorted(set(names))


def _read_tables(directory: Path) -> dict[str, pd.DataFrame]:
    """Read the assumption tables, checking numbers and that every stock category is covered."""
    tables = {}
    folder = directory / "appraisal"
    for name in APPRAISAL_TABLES:
        check = _Checker(folder / f"{name}.csv")
        raw = check.read(("source",))
        table = raw.copy()
        for column in raw.columns:
            if column in ("source", "property_type", "built_form", "segment_group", "age_band", "glazing", "trade",
                          "measure_id", "segment"):
                continue
            table[column] = check.number(raw, column, 0, None, blank_ok=(column == "small_below_m2"))
        tables[name] = table
    _covers(folder / "wall_u_values.csv", tables["wall_u_values"], "age_band", AGE_BANDS, WALL_TYPES)
    _covers(folder / "floor_u_values.csv", tables["floor_u_values"], "age_band", AGE_BANDS, FLOOR_TYPES)
    _covers(folder / "ventilation.csv", tables["ventilation"], "age_band", AGE_BANDS, ("air_changes_per_hour",))
    _covers(folder / "window_u_values.csv", tables["window_u_values"], "glazing", GLAZING, ("u_value_w_m2k",))
    _covers(folder / "geometry.csv", tables["geometry"], "property_type", PROPERTY_TYPES, ("storeys", "roof_share"))
    _covers(folder / "built_form.csv", tables["built_form"], "built_form", BUILT_FORMS, ("exposed_wall_share",))
    _covers(folder / "day_rates.csv", tables["day_rates"], "trade", TRADES, ("day_rate_gbp",))
    geometry_check = _Checker(folder / "geometry.csv")
    for index in tables["geometry"].index[tables["geometry"]["storeys"] < 1]:
        geometry_check.fail("a home has at least one storey", index + 2, "storeys")
    segments = tables["segments"]
    for property_type in PROPERTY_TYPES:
        rows = segments[segments["property_type"] == property_type]
        if rows.empty or ("*" not in set(rows["built_form"]) and set(BUILT_FORMS) - set(rows["built_form"])):
            _Checker(folder / "segments.csv").fail(
                f"no segment for every {property_type}: add a row with built_form * or one per built form")
    for column in ("year",):
        years = tables["price_index"][column]
        if (years != years.round()).any():
            _Checker(folder / "price_index.csv").fail("years must be whole numbers", column=column)
    tables["price_index"]["year"] = tables["price_index"]["year"].astype("int64")
    return tables


def _covers(path: Path, table: pd.DataFrame, key: str, values: tuple[str, ...], columns: tuple[str, ...]) -> None:
    check = _Checker(path)
    missing_columns = [c for c in columns if c not in table.columns]
    if missing_columns:
        check.fail(f"columns missing: {', '.join(missing_columns)}")
    unknown = sorted(set(table[key]) - set(values))
    if unknown:
        row = int(table.index[table[key] == unknown[0]][0]) + 2
        check.fail(f"unknown category {unknown[0]!r}; known: {', '.join(values)}", row, key)
    absent = [v for v in values if v not in set(table[key])]
    if absent:
        check.fail(f"no row for {', '.join(absent)}; every stock category needs one", column=key)


def _version(directory: Path) -> tuple[str, tuple[str, ...]]:
    """Short content hash of every library file (names and bytes), stable across machines."""
    files = [directory / "measures.csv", directory / "packages.csv",
             *sorted((directory / "appraisal").glob("*.csv")), directory / "appraisal" / "appraisal.toml"]
    digest = hashlib.sha256()
    names = []
    for path in files:
        name = path.relative_to(directory).as_posix()
        names.append(name)
        digest.update(name.encode() + b"\0" + path.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()[:12], tuple(names)


def load_library(directory: str | Path | None = None) -> Library:
    """Read and validate the measure library in ``directory`` (default: the shipped `data/`)."""
    directory = Path(directory) if directory is not None else DATA_DIR
    if not directory.is_dir():
        raise RetrofitError(f"library folder {directory} does not exist; give a folder holding measures.csv, "
                            "packages.csv and appraisal/ (copy them from the shipped data/)")
    toml_path = directory / "appraisal" / "appraisal.toml"
    if not toml_path.exists():
        raise RetrofitError(f"{toml_path}: file missing; copy it from the shipped data/appraisal/")
    try:
        with open(toml_path, "rb") as handle:
            constants = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise RetrofitError(f"{toml_path}: {error}") from error
    tables = _read_tables(directory)
    price_years = set(tables["price_index"]["year"])
    if constants.get("costs", {}).get("price_year") not in price_years:
        raise RetrofitError(f"{toml_path}: [costs] price_year must be a year of appraisal/price_index.csv "
                            f"({sorted(price_years)})")
    for year in tables["segment_costs"]["price_base_year"].astype(int):
        if year not in price_years:
            raise RetrofitError(f"{directory / 'appraisal' / 'segment_costs.csv'}: no price index for {year}")
    for year in tables["heat_pump_costs"]["price_base_year"].astype(int):
        if year not in price_years:
            raise RetrofitError(f"{directory / 'appraisal' / 'heat_pump_costs.csv'}: no price index for {year}")
    measures, rules = _read_measures(directory, tables)
    measures["realisation"] = _read_in_use(directory, measures.index)
    packages = _read_packages(directory, measures)
    version, files = _version(directory)
    return Library(directory=directory, measures=measures, packages=packages, rules=rules, tables=tables,
                   constants=constants, version=version, files=files)
