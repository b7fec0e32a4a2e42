"""Generated inputs, nasty ones included, thrown at `scenario add`, `plan` and `run`.

The property: a command either succeeds (exit 0, and a plan it wrote or stored keeps every
rule by `check_plan`), or refuses with exit 2 and exactly one line saying why (progress
lines aside). Never a traceback, an "internal error" (exit 1) or a raw control character.

Scenarios are TOML texts built from a valid base with mutations (inf, nan, huge, negative,
wrong types, unknown keys, odd unicode, control characters, long strings), plus some files
that are not UTF-8 text at all. Candidate tables are a few homes of the three cities
(`synthetic_candidates`) with mutations (non-finite, huge, negative, unknown categories,
missing columns, duplicates). Bounded and derandomised, so CI sees the same examples.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrofit.candidates import REQUIRED, TRADE_COLUMNS, read_candidates
from retrofit.testing.synthetic import synthetic_candidates
from retrofit.plan import check_plan
from retrofit.reference import CITIES
from retrofit.scenario import load_scenario
from retrofit.store import get_scenario, open_database, parse, read_plan
from tests.invoke import Invoked, assert_one_line_error, invoke

EXAMPLES = 60
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# --- values ------------------------------------------------------------------------------

NASTY_NUMBERS = st.sampled_from([math.inf, -math.inf, math.nan, 1e308, -1e308, 1e13, -1.0, -1e9, 0, 0.0,
                                 2 ** 63 - 1, -(2 ** 63), 5e-324, 1e-300])
WRONG_TYPES = st.sampled_from(["1000", "", True, [1, 2], {"a": 1}, "inf"])
NASTY_TEXT = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["x" * 10_000, "\x1b[31mred\x1b[0m", "a\u202eb", "\x00", "line\nbreak", "tab\there", " ",
                     "", "\ud800", "\x7f", "café 😀", "\u200b", "Birmingham"]),
)
ANY_VALUE = st.one_of(NASTY_NUMBERS, WRONG_TYPES, NASTY_TEXT)


def nasty(valid: st.SearchStrategy, nasty_values: st.SearchStrategy = ANY_VALUE) -> st.SearchStrategy:
    """Mostly a valid value, sometimes a nasty one."""
    return st.one_of(valid, valid, valid, nasty_values)


def _toml(value) -> str:
    """TOML for any generated value, inf and nan included (json.dumps would write Infinity)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else {math.inf: "inf", -math.inf: "-inf"}.get(value, repr(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k), ensure_ascii=False)} = {_toml(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def toml_text(data: dict) -> str:
    top = [f"{json.dumps(key, ensure_ascii=False)} = {_toml(value)}" for key, value in data.items()
           if not isinstance(value, dict)]
    lines = top[:]
    for section, table in data.items():
        if isinstance(table, dict):
            lines.append(f"[{json.dumps(section, ensure_ascii=False)}]")
            lines += [f"{json.dumps(str(k), ensure_ascii=False)} = {_toml(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


# --- scenarios ---------------------------------------------------------------------------

VALID_NAMES = st.one_of(st.sampled_from(["pilot", "Coventry first", "équité 2026", "café 😀"]),
                        st.text(st.characters(categories=["L", "N", "P", "Zs"]), min_size=1, max_size=40)
                        .filter(str.strip))


@st.composite
def valid_scenario_data(draw) -> dict:
    """A scenario the model accepts on its own (its rules may still not fit the homes)."""
    n_years = draw(st.integers(1, 3))
    total = draw(st.sampled_from([50_000, 150_000, 400_000, 2_000_000]))
    budget = {"total_gbp": total}
    if draw(st.booleans()):
        budget["per_year_gbp"] = [draw(st.sampled_from([total / n_years, total, 0.0])) for _ in range(n_years)]
    data = {"name": draw(VALID_NAMES), "budget": budget, "years": {"start": 2026, "end": 2026 + n_years - 1}}
    if draw(st.booleans()):
        data["description"] = draw(st.sampled_from(["a test\nwith two lines", "\ttabbed", "", "ünïcode 😀"]))
    if draw(st.booleans()):
        data["weights"] = {key: draw(st.sampled_from([0.0, 0.5, 1.0, 3, 1e6]))
                           for key in draw(st.sets(st.sampled_from(["carbon", "fuel_poverty", "jobs"])))}
        data["weights"]["normalise"] = draw(st.sampled_from(["ideal", "none"]))
    for city in sorted(draw(st.sets(st.sampled_from(CITIES), max_size=3))):
        rules = {}
        if draw(st.booleans()):
            rules["min_share"] = draw(st.sampled_from([0.0, 0.1, 0.3]))
        if draw(st.booleans()):
            rules["max_share"] = draw(st.sampled_from([0.3, 0.5, 1.0]))
        if draw(st.booleans()):
            rules["homes_per_year"] = draw(st.sampled_from([1, 3, 100]))
        if draw(st.booleans()):
            rules["trade_days_per_year"] = {trade: draw(st.sampled_from([0, 5, 50, 10_000])) for trade in draw(
                st.sets(st.sampled_from(["insulation", "heating", "electrical", "glazing"]), min_size=1))}
        data.setdefault("cities", {})[city] = rules
    rules = {}
    if draw(st.booleans()):
        rules["equity_min_share"] = draw(st.sampled_from([0.0, 0.2, 0.5]))
        rules["equity_basis"] = draw(st.sampled_from(["spend", "homes"]))
    if draw(st.booleans()):
        rules["eligible_tenures"] = draw(st.lists(st.sampled_from(["owner_occupied", "private_rented",
                                                                   "social_rented"]), min_size=1, max_size=3))
    if draw(st.booleans()):
        rules["min_band_after"] = draw(st.sampled_from(["B", "C", "D"]))
    if draw(st.booleans()):
        rules["must_include"] = draw(st.lists(st.sampled_from(["H0000000", "nobody"]), max_size=1))
    if draw(st.booleans()):
        rules["exclude"] = draw(st.lists(st.sampled_from(["H0000002", "H0000001"]), max_size=2, unique=True))
    if draw(st.booleans()):
        rules["mobilisation_cost_gbp"] = draw(st.sampled_from([0, 500, 5_000, 1e12]))
        rules["mobilisation_area"] = draw(st.sampled_from(["lsoa_code", "ward"]))
    if rules:
        data["rules"] = rules
    # always a short solve: these tables are tiny, and a generated time limit of a day would hang CI
    data["solver"] = {"time_limit_s": draw(st.sampled_from([1, 2.5])), "relative_gap": 0.001,
                      "seed": draw(st.integers(0, 5))}
    return data


def _leaves(data, path=()):
    """Every (path, value) below ``data``, list items included."""
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        yield (*path, key), value
        yield from _leaves(value, (*path, key))


@st.composite
def scenario_data(draw, mutations: st.SearchStrategy[int] = st.sampled_from([0, 0, 1, 1, 2, 3])) -> dict:
    """A valid scenario with some mutations: a nasty value anywhere, an unknown key, an unknown city."""
    data = draw(valid_scenario_data())
    for _ in range(draw(mutations)):
        kind = draw(st.sampled_from(["value", "value", "value", "key", "city"]))
        if kind == "value":
            path, _ = draw(st.sampled_from(list(_leaves(data))))
            parent = data
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]] = draw(ANY_VALUE)
        elif kind == "key":
            section = draw(st.sampled_from(["budget", "years", "solver", None]))
            key = draw(st.sampled_from(["colour", "total_gpb", "\x1b[2J", "x" * 300]))
            (data[section] if isinstance(data.get(section), dict) else data)[key] = 1
        elif isinstance(data.setdefault("cities", {}), dict):
            data["cities"][draw(st.sampled_from(["Leeds", "coventry", "\x1b[1mBirmingham"]))] = {}
    return data


@st.composite
def scenario_files(draw) -> bytes:
    """The bytes of a scenario file: mostly TOML from `scenario_data`, sometimes not text at all."""
    kind = draw(st.integers(0, 19))
    if kind == 0:
        return draw(st.binary(max_size=200))
    text = toml_text(draw(scenario_data()))
    if kind == 1:
        return text.encode("latin-1", "replace") + b"\ncomment = '\xe9'\n"
    if kind == 2:
        return text[: draw(st.integers(0, len(text)))].encode("utf-8", "surrogatepass")  # cut short
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate makes invalid UTF-8


# --- candidate tables --------------------------------------------------------------------

NUMERIC_COLUMNS = ["cost_gbp", "annual_kwh_saved", "annual_co2_t_saved", "lifetime_co2_t_saved",
                   "annual_bill_saving_gbp", "sap_after", "fuel_poor_lifted", "fp_bill_saving_gbp", "labour_days",
                   "jobs_fte_years", "imd_decile", "fuel_poverty_probability", *TRADE_COLUMNS]
CATEGORY_MUTATIONS = {"city": ["Leeds", "", "birmingham", "\x1b[31mCoventry"], "tenure": ["council", ""],
                      "band_after": ["Z", "c", ""], "home_id": ["", "\x1b[2J"], "package_id": [""]}


@st.composite
def candidate_tables(draw) -> pd.DataFrame:
    """A few homes of the three cities (`synthetic_candidates`), then up to three mutations."""
    table = synthetic_candidates(draw(st.integers(2, 8)), seed=draw(st.integers(0, 50)),
                                 packages=draw(st.integers(1, 4)))
    table = table.astype({column: object for column in NUMERIC_COLUMNS + list(CATEGORY_MUTATIONS)})
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        row = draw(st.integers(0, len(table) - 1))
        kind = draw(st.sampled_from(["number", "number", "category", "drop", "duplicate", "empty", "scale"]))
        if kind == "number":
            table.loc[row, draw(st.sampled_from(NUMERIC_COLUMNS))] = draw(st.one_of(
                NASTY_NUMBERS, st.sampled_from([1e6, 1e9, 2.5, 11, "abc", None])))
        elif kind == "category":
            column = draw(st.sampled_from(sorted(CATEGORY_MUTATIONS)))
            table.loc[row, column] = draw(st.sampled_from(CATEGORY_MUTATIONS[column]))
        elif kind == "drop":
            table = table.drop(columns=draw(st.sampled_from([*REQUIRED, *TRADE_COLUMNS])))
        elif kind == "duplicate":
            table = pd.concat([table, table.iloc[[row]]], ignore_index=True)
        elif kind == "empty":
            table = table.iloc[:0]
            break
        else:  # every home's figures in other units: still valid, a very different scale
            column = draw(st.sampled_from(["cost_gbp", "lifetime_co2_t_saved", "jobs_fte_years"]))
            if column in table:
                factor = draw(st.sampled_from([1e-3, 1e3]))
                table[column] = pd.to_numeric(table[column], errors="coerce") * factor
    return table


# --- the property ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def database(tmp_path_factory) -> str:
    """One SQLite database for every example of a test (a new one each would mostly time migrations)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('property') / 'retrofit.db'}"
    open_database(url).dispose()
    return url


# plan and run: a scenario mostly as valid as the model wants (`scenario add`'s test throws
# the nasty ones), so that the candidate tables' mutations and the solves get exercised
FEW_MUTATIONS = st.sampled_from([0, 0, 0, 1])


def succeeded(result: Invoked, outcomes: Counter) -> bool:
    """True when the command succeeded; else it must have refused in one line, exit 2."""
    outcomes[result.code] += 1
    if result.code == 0:
        return True
    assert_one_line_error(result)
    return False


def assert_both_outcomes(outcomes: Counter) -> None:
    """The property means something only if the generated inputs reach successes and refusals both."""
    assert outcomes[0] >= EXAMPLES // 10 and outcomes[2] >= EXAMPLES // 10, outcomes


def test_scenario_add_stores_a_valid_scenario_or_says_why_not(database):
    outcomes = Counter()

    @PROPERTY
    @given(content=scenario_files())
    def check(content):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "generated.toml"
            path.write_bytes(content)
            result = invoke("scenario", "add", path, "--database", database, "--json")
            if succeeded(result, outcomes):
                added = json.loads(result.stdout)
                engine = open_database(database)
                try:
                    stored = parse(get_scenario(engine, added["name"], added["version"]))
                finally:
                    engine.dispose()
                assert stored == load_scenario(path)

    check()
    assert_both_outcomes(outcomes)


def write_inputs(folder: Path, data: dict, table: pd.DataFrame) -> Path:
    """The generated scenario as s.toml and candidates as c.csv in ``folder``."""
    (folder / "s.toml").write_text(toml_text(data), encoding="utf-8", errors="surrogatepass")
    table.to_csv(folder / "c.csv", index=False)
    return folder


def test_plan_writes_a_plan_that_keeps_the_rules_or_says_why_not():
    outcomes = Counter()

    @PROPERTY
    @given(data=scenario_data(FEW_MUTATIONS), table=candidate_tables())
    def check(data, table):
        with tempfile.TemporaryDirectory() as folder:
            folder = write_inputs(Path(folder), data, table)
            out = folder / "plan.csv"
            result = invoke("plan", "--scenario", folder / "s.toml", "--candidates", folder / "c.csv", "--out", out)
            if succeeded(result, outcomes):
                plan = pd.read_csv(out, dtype={"home_id": "str", "package_id": "str", "lsoa_code": "str"})
                assert check_plan(plan, read_candidates(folder / "c.csv"), load_scenario(folder / "s.toml")) == []
            else:
                assert not out.exists()

    check()
    assert_both_outcomes(outcomes)


def test_run_stores_a_plan_that_keeps_the_rules_or_says_why_not(database):
    outcomes = Counter()

    @PROPERTY
    @given(data=scenario_data(FEW_MUTATIONS), table=candidate_tables())
    def check(data, table):
        with tempfile.TemporaryDirectory() as folder:
            folder = write_inputs(Path(folder), data, table)
            added = invoke("scenario", "add", folder / "s.toml", "--database", database, "--json")
            if not succeeded(added, Counter()):
                return
            name = json.loads(added.stdout)["name"]
            result = invoke("run", name, "--candidates", folder / "c.csv", "--database", database, "--json")
            if succeeded(result, outcomes):
                stored = json.loads(result.stdout)
                engine = open_database(database)
                try:
                    scenario = parse(get_scenario(engine, name, stored["scenario_version"]))
                    plan = read_plan(engine, stored["id"])
                finally:
                    engine.dispose()
                assert len(plan) == stored["plan_rows"]
                assert check_plan(plan, read_candidates(folder / "c.csv"), scenario) == []

    check()
    assert_both_outcomes(outcomes)
