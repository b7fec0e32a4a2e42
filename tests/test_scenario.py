"""Scenario files: every example parses, round-trips, and bad keys or values name the key."""

from pathlib import Path

import pytest

from retrofit.errors import RetrofitError
from retrofit.paths import DATA_DIR
from retrofit.scenario import load_scenario, parse_scenario, scenario_to_toml

EXAMPLES = sorted((DATA_DIR / "scenarios").glob("*.toml"))
MINIMAL = 'name = "x"\n[budget]\ntotal_gbp = 1000\n[years]\nstart = 2026\nend = 2027\n'


def test_there_are_examples_for_the_default_and_each_rule():
    names = {p.stem for p in EXAMPLES}
    assert {"balanced-2026-2035", "rule-equity", "rule-eligibility", "rule-capacity", "rule-mobilisation"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_parse_and_round_trip(path: Path):
    scenario = load_scenario(path)
    assert parse_scenario(scenario_to_toml(scenario)) == scenario


def test_default_scenario_is_ten_years_with_yearly_budgets():
    scenario = load_scenario(DATA_DIR / "scenarios" / "balanced-2026-2035.toml")
    assert scenario.name == "Balanced 2026-2035" and scenario.n_years == 10
    assert len(scenario.budget.per_year_gbp) == 10 and scenario.rules.equity_min_share > 0


@pytest.mark.parametrize("extra, key", [
    ("[budget]\ntotal_gbp = 1000\ncolour = 1\n", "budget.colour"),
    ("[rules]\nequity_min_shar = 0.5\n", "rules.equity_min_shar"),
    ("[cities.Leeds]\nmin_share = 0.1\n", "cities.Leeds"),
    ("[cities.Coventry]\nmin_share = 1.5\n", "cities.Coventry.min_share"),
    ("[cities.Coventry]\nmin_share = 0.6\nmax_share = 0.5\n", "min_share (0.6) is above max_share"),
    ("[cities.Coventry]\ntrade_days_per_year = {plumbing = 5}\n", "trade_days_per_year.plumbing"),
    ("[weights]\ncarbon = 0\nfuel_poverty = 0\njobs = 0\n", "at least one"),
    ("[weights]\nnormalise = \"max\"\n", "weights.normalise"),
    ("[rules]\nmin_band_after = \"H\"\n", "rules.min_band_after"),
    ("[rules]\nmust_include = [\"a\"]\nexclude = [\"a\"]\n", "both in must_include and exclude"),
    ("[solver]\ntime_limit_s = 0\n", "solver.time_limit_s"),
])
def test_bad_keys_and_values_name_the_key(extra, key):
    text = MINIMAL.replace("[budget]\ntotal_gbp = 1000\n", "") + extra if extra.startswith("[budget]") else MINIMAL + extra
    with pytest.raises(RetrofitError, match=key.replace("(", r"\(").replace(")", r"\)")):
        parse_scenario(text)


def test_per_year_budget_must_match_the_years():
    with pytest.raises(RetrofitError, match="per_year_gbp has 1 values but the programme has 2 years"):
        parse_scenario(MINIMAL.replace("total_gbp = 1000", "total_gbp = 1000\nper_year_gbp = [5]"))


def test_years_in_order():
    with pytest.raises(RetrofitError, match="before start"):
        parse_scenario(MINIMAL.replace("end = 2027", "end = 2020"))
