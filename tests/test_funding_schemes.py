"""The shipped grant schemes: each parses, each rule names its source, windows fall in the right years."""

import tomllib

import pytest

from retrofit.errors import RetrofitError
from retrofit.paths import FUNDING_DIR
from retrofit.scenario import Scheme, shipped_scheme, shipped_schemes

SHIPPED = ["boiler_upgrade_scheme", "eco4", "great_british_insulation_scheme", "warm_homes_local_grant",
           "warm_homes_social_housing_fund_wave_3"]
NOT_RULES = {"name", "summary", "sources"}


def test_the_five_schemes_ship_and_parse():
    assert shipped_schemes() == SHIPPED
    for scheme_id in SHIPPED:
        assert isinstance(shipped_scheme(scheme_id), Scheme)


@pytest.mark.parametrize("scheme_id", SHIPPED)
def test_every_rule_a_scheme_sets_has_its_source(scheme_id):
    with open(FUNDING_DIR / f"{scheme_id}.toml", "rb") as handle:
        data = tomllib.load(handle)
    sources = data["sources"]
    assert sources.get("scheme") and sources.get("window")
    rules = {("window" if key in ("opens", "closes") else key) for key in data} - NOT_RULES
    # keys whose value is "none" (an empty table or list) need no source
    rules -= {key for key in rules if key in data and data[key] in ({}, [])}
    assert rules <= set(sources), f"{scheme_id}: no source for {sorted(rules - set(sources))}"


def test_the_published_figures():
    whlg = shipped_scheme("warm_homes_local_grant")
    assert whlg.cap_gbp == {"fabric+pv+other": 15_000, "heating": 15_000} and whlg.cap_basis == "average"
    assert whlg.tenures == ["owner_occupied", "private_rented"] and whlg.co_funding_share == {"private_rented": 0.5}
    shf = shipped_scheme("warm_homes_social_housing_fund_wave_3")
    assert shf.cap_gbp == {"total": 7_500} and shf.co_funding_share == {"social_rented": 0.5}
    assert shf.band_c_heat_pump_share == 0.10 and shf.off_gas_heating_cap_gbp == 7_500
    bus = shipped_scheme("boiler_upgrade_scheme")
    assert bus.cap_gbp == {"heating": 7_500} and bus.requires_heat_pump and "social_rented" not in bus.tenures
    eco4 = shipped_scheme("eco4")
    assert eco4.min_band_after == {"D": "C", "E": "C", "F": "D", "G": "D"}
    assert eco4.private_rented_bands_before == ["E", "F", "G"]


def test_windows_by_financial_year():
    """A programme year Y is April Y to March Y+1: it can use a scheme whose window overlaps it."""
    years = list(range(2024, 2030))
    assert shipped_scheme("warm_homes_local_grant").years_open(years) == [2025, 2026, 2027]  # Apr 2025 - Mar 2028
    assert shipped_scheme("great_british_insulation_scheme").years_open(years) == [2024, 2025]  # to 31 Mar 2026
    assert shipped_scheme("eco4").years_open(years) == [2024, 2025, 2026]  # to 31 Dec 2026
    assert shipped_scheme("great_british_insulation_scheme").years_open(list(range(2026, 2036))) == []


def scheme(**changes) -> dict:
    base = dict(name="Test grant", opens="2026-04-01", closes="2028-03-31", tenures=["owner_occupied"],
                bands_before=["D"], pays_for=["fabric", "heating"])
    base.update(changes)
    import datetime
    for key in ("opens", "closes"):
        base[key] = datetime.date.fromisoformat(base[key])
    return base


@pytest.mark.parametrize("changes, words", [
    (dict(closes="2026-01-01"), "closes (2026-01-01) is before opens (2026-04-01)"),
    (dict(cap_gbp={"roof": 100.0}), "roof is not a cost part"),
    (dict(cap_gbp={"pv": 100.0}), "cap_gbp caps pv, which pays_for leaves out"),
    (dict(cap_gbp={"total": 100.0, "fabric": 50.0}), "`total` is the one cap"),
    (dict(cap_gbp={"fabric": 100.0, "fabric+heating": 50.0}), "fabric is in two caps"),
    (dict(co_funding_share={"private_rented": 1.5}), "less than or equal to 1"),
    (dict(tenures=["council"]), "tenures"),
    (dict(award=5.0), "award"),
])
def test_a_bad_scheme_is_refused_naming_the_key(changes, words):
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as caught:
        Scheme.model_validate(scheme(**changes))
    assert words in str(caught.value)


def test_an_unknown_scheme_id_lists_the_shipped_ones():
    with pytest.raises(RetrofitError) as caught:
        shipped_scheme("warm_homes")
    assert "no shipped scheme 'warm_homes'" in str(caught.value) and "warm_homes_local_grant" in str(caught.value)
