"""Scenario files: every example parses, round-trips, and bad keys or values name the key."""

import re
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


# --- inputs that used to crash or slip through ---

@pytest.mark.parametrize("old, new, key", [
    ("total_gbp = 1000", "total_gbp = inf", "budget.total_gbp: Input should be a finite number"),
    ("total_gbp = 1000", "total_gbp = nan", "budget.total_gbp: Input should be a finite number"),
    ("total_gbp = 1000", "total_gbp = 1e308", "budget.total_gbp: Input should be less than or equal to 1000000000000"),
    ("total_gbp = 1000", "total_gbp = 1000\nper_year_gbp = [500, inf]", "budget.per_year_gbp.1: Input should be"),
    ("total_gbp = 1000", "total_gbp = 1000\nper_year_gbp = [500, -inf]", "budget.per_year_gbp.1"),
    ("end = 2027", "end = 2027\n[weights]\ncarbon = inf", "weights.carbon: Input should be a finite number"),
    ("end = 2027", "end = 2027\n[weights]\njobs = 1e7", "weights.jobs: Input should be less than or equal to 1000000"),
    ("end = 2027", "end = 2027\n[rules]\nmobilisation_cost_gbp = nan",
     "rules.mobilisation_cost_gbp: Input should be a finite"),
    ("end = 2027", "end = 2027\n[rules]\nfuel_poor_probability = nan", "rules.fuel_poor_probability"),
    ("end = 2027", "end = 2027\n[cities.Coventry]\ntrade_days_per_year = {heating = inf}",
     "cities.Coventry.trade_days_per_year.heating: Input should be a finite number"),
    ("end = 2027", "end = 2027\n[cities.Coventry]\ntrade_days_per_year = {heating = 1e300}",
     "cities.Coventry.trade_days_per_year.heating: Input should be less than or equal to"),
    ("end = 2027", "end = 2027\n[cities.Coventry]\nhomes_per_year = 9223372036854775807",
     "cities.Coventry.homes_per_year: Input should be less than or equal to 10000000"),
    ("end = 2027", "end = 2027\n[cities.Coventry]\nmin_share = nan", "cities.Coventry.min_share"),
])
def test_non_finite_and_huge_numbers_are_refused(old, new, key):
    with pytest.raises(RetrofitError, match=re.escape(key)):
        parse_scenario(MINIMAL.replace(old, new))


@pytest.mark.parametrize("cities, message", [
    ({"Coventry": 0.6, "Birmingham": 0.6},
     "minimum shares (cities.*.min_share) add to 120.0% of the budget (Coventry 60%, Birmingham 60%): "
     "they need £200 more"),
    ({"Coventry": 0.4, "Birmingham": 0.4, "Wolverhampton": 0.3}, "add to 110.0%"),
])
def test_city_minimum_shares_above_the_whole_budget_are_refused(cities, message):
    text = MINIMAL + "".join(f"[cities.{city}]\nmin_share = {share}\n" for city, share in cities.items())
    with pytest.raises(RetrofitError, match=re.escape(message)):
        parse_scenario(text)
    assert parse_scenario(MINIMAL + "[cities.Coventry]\nmin_share = 0.5\n[cities.Birmingham]\nmin_share = 0.5\n")


def test_city_minimum_shares_the_yearly_caps_cannot_pay_are_refused():
    text = MINIMAL.replace("total_gbp = 1000", "total_gbp = 1000\nper_year_gbp = [200, 200]") + \
        "[cities.Coventry]\nmin_share = 0.5\n"
    with pytest.raises(RetrofitError, match=r"budget.per_year_gbp allows £400 in all, less than the £500 the cities' "
                                            r"min_share need \(Coventry 50% of the total budget\)"):
        parse_scenario(text)


def test_a_minimum_share_in_a_city_with_no_capacity_is_refused():
    with pytest.raises(RetrofitError, match="cities.Coventry: min_share .* homes_per_year is 0"):
        parse_scenario(MINIMAL + "[cities.Coventry]\nmin_share = 0.1\nhomes_per_year = 0\n")
    assert parse_scenario(MINIMAL + "[cities.Coventry]\nmax_share = 0.1\nhomes_per_year = 0\n")


@pytest.mark.parametrize("name, message", [
    ("x" * 10_000, "name: String should have at most 120 characters"),
    ("x\\u001b[31mred", r"name: holds an invisible or control character (\x1b at position 2)"),
    ("line\\nbreak", r"name: holds an invisible or control character (\n at position 5)"),
    ("right\\u202eleft", r"(\u202e at position 6)"),
    ("   ", "name: is blank"),
])
def test_names_are_short_plain_text(name, message):
    with pytest.raises(RetrofitError, match=re.escape(message)) as caught:
        parse_scenario(MINIMAL.replace('name = "x"', f'name = "{name}"'))
    assert "\x1b" not in str(caught.value) and "\u202e" not in str(caught.value) and len(str(caught.value)) < 300
    fine = "é" * 118 + " 😀"  # 120 characters, beyond ASCII
    assert parse_scenario(MINIMAL.replace('name = "x"', f'name = "{fine}"')).name == fine


def test_descriptions_keep_line_breaks_and_tabs_but_no_other_control_characters():
    kept = parse_scenario('description = """one\n\ttwo"""\n' + MINIMAL)
    assert kept.description == "one\n\ttwo"
    with pytest.raises(RetrofitError, match=re.escape(r"description: holds a control character (\x1b at position 4)")):
        parse_scenario('description = "red\\u001b[31m"\n' + MINIMAL)
    with pytest.raises(RetrofitError, match="description: String should have at most 4000 characters"):
        parse_scenario(f'description = "{"x" * 4001}"\n' + MINIMAL)


def test_home_ids_in_the_rules_hold_no_control_characters():
    with pytest.raises(RetrofitError, match=re.escape("rules.must_include.0: holds an invisible or control character")):
        parse_scenario(MINIMAL + '[rules]\nmust_include = ["H1\\u0007"]\n')


def test_a_key_with_an_escape_sequence_is_echoed_escaped_and_short():
    with pytest.raises(RetrofitError) as caught:
        parse_scenario(MINIMAL + '"\\u001b[2J' + "k" * 500 + '" = 1\n')
    message = str(caught.value)
    assert "\x1b" not in message and r"\x1b[2J" in message and "unknown key" in message and len(message) < 300


def test_a_name_beyond_the_basic_plane_round_trips_through_toml():
    scenario = parse_scenario(MINIMAL.replace('name = "x"', 'name = "Coventry 😀 café"'))
    assert parse_scenario(scenario_to_toml(scenario)) == scenario


def test_scenario_files_that_are_not_utf8_text_say_so(tmp_path):
    latin = tmp_path / "latin.toml"
    latin.write_bytes(MINIMAL.replace('"x"', '"café"').encode("latin-1"))
    with pytest.raises(RetrofitError, match=r"latin.toml is not UTF-8 text: byte 11 \(line 1, 0xe9\) .* save the file "
                                            r"as UTF-8"):
        load_scenario(latin)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    binary_words = r"binary.toml is a binary file \(it holds NUL bytes, first at byte 8\)"
    with pytest.raises(RetrofitError, match=binary_words) as raised:
        load_scenario(binary)
    assert "\x1a" not in str(raised.value)
    utf16 = tmp_path / "utf16.toml"
    utf16.write_text(MINIMAL, encoding="utf-16")
    with pytest.raises(RetrofitError, match="utf16.toml is UTF-16 text; save it as UTF-8"):
        load_scenario(utf16)
    bom = tmp_path / "bom.toml"
    bom.write_bytes(b"\xef\xbb\xbf" + MINIMAL.encode())
    assert load_scenario(bom).name == "x"


def test_a_huge_scenario_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr("retrofit.scenario.MAX_SCENARIO_BYTES", 100)
    (tmp_path / "big.toml").write_text(MINIMAL + "# padding\n" * 20)
    with pytest.raises(RetrofitError, match=r"big.toml holds \d+ MB; a scenario is a TOML text of at most \d+ MB"):
        load_scenario(tmp_path / "big.toml")
