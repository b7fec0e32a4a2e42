"""Savings net of the performance gap: in-use savings worked out by hand, the certificate's physics untouched."""

import numpy as np
import pandas as pd
import pytest

from retrofit.appraisal import appraise, home_model
from retrofit.appraisal.measures import load_library
from retrofit.errors import RetrofitError

from tests.appraisal.test_appraisal import row, tiny_stock

ENERGY = ("space_heating_kwh", "hot_water_kwh", "lighting_appliances_kwh", "co2_t_per_year",
          "energy_cost_gbp_per_year")
SAVINGS = ("annual_kwh_saved", "annual_co2_t_saved", "annual_bill_saving_gbp", "lifetime_co2_t_saved",
           "fp_bill_saving_gbp")
GAS_KG_PER_KWH, GAS_P_PER_KWH = 0.210, 6.29  # data/energy/fuels.csv, mains gas

# The semi of test_appraisal by hand (RdSAP tables of data/appraisal/): two storeys of 42.5 m2,
# perimeter 4 x sqrt(42.5) x 1.05, three of four sides exposed, 2.5 m storeys, windows 13.6 m2.
WALL_M2 = 4 * 42.5 ** 0.5 * 1.05 * 2.5 * 2 * 0.75 - 13.6
SEMI_HLC_W_K = (1.6 * WALL_M2 + 0.4 * 42.5 + 0.75 * 42.5 + 2.8 * 13.6  # cavity 1.6, 100 mm loft 0.4, floor 0.75
                + 0.15 * (WALL_M2 + 42.5 + 42.5 + 13.6)  # thermal bridging 0.15 W/m2K of exposed area
                + 0.33 * 1.0 * 85 * 2.5)  # 1930s: 1 air change an hour of 212.5 m3
LOFT_W_K = (0.4 - 0.16) * 42.5  # the loft top-up takes the roof from U 0.4 to 0.16


def certificate_only(stock: pd.DataFrame) -> pd.DataFrame:
    """The stock as if metered use were what its certificate models: modelled_* into the plain columns."""
    stock = stock.copy()
    for column in ENERGY:
        if f"modelled_{column}" in stock:
            stock[column] = stock.pop(f"modelled_{column}")
    return stock


def with_in_use(stock: pd.DataFrame, space=1.0, water=1.0, other=1.0) -> pd.DataFrame:
    """The stock's energy (a stock without modelled_*) moved to modelled_*, the plain columns scaled
    (space heat, hot water, lighting and appliances) as metered use might be."""
    stock = stock.copy()
    assert not any(column.startswith("modelled_") for column in stock)
    for column in ENERGY:
        stock[f"modelled_{column}"] = stock[column]
    stock["space_heating_kwh"] *= space
    stock["hot_water_kwh"] *= water
    stock["lighting_appliances_kwh"] *= other
    return stock


def realised(folder, **values) -> None:
    """Set measures' realisations in a library copy (the rest keep the shipped values)."""
    path = folder / "appraisal" / "in_use.csv"
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    for measure_id, value in values.items():
        table.loc[table["measure_id"] == measure_id, "realisation"] = str(value)
    table.to_csv(path, index=False)


def packages(folder, **listed) -> None:
    pd.DataFrame({"package_id": list(listed), "name": list(listed), "measures": list(listed.values()),
                  "core_measure": "", "description": "test"}).to_csv(folder / "packages.csv", index=False)


@pytest.fixture
def one_measure_library(library_copy):
    """The shipped realisations, one package per measure tested by hand."""
    packages(library_copy, loft="loft_insulation", controls="heating_controls", boiler="condensing_boiler",
             pv="solar_pv")
    return library_copy


def test_the_semi_in_use_by_hand(one_measure_library):
    """The semi meters 70% of its modelled space heat and 90% of its hot water."""
    library = load_library(one_measure_library)
    modelled = tiny_stock({})
    stock = with_in_use(modelled, space=0.7, water=0.9)
    c = appraise(stock, library)
    space, water = stock.at[0, "space_heating_kwh"], stock.at[0, "hot_water_kwh"]
    modelled_space = modelled.at[0, "space_heating_kwh"]

    # loft: 0.45 of the modelled share of heat loss removed, of the in-use space heat
    loft = row(c, "semi", "loft")
    kwh = 0.45 * LOFT_W_K / SEMI_HLC_W_K * space
    assert loft["annual_kwh_saved"] == pytest.approx(kwh, rel=1e-5)
    assert loft["annual_co2_t_saved"] == pytest.approx(kwh * GAS_KG_PER_KWH / 1000, rel=1e-5)
    assert loft["annual_bill_saving_gbp"] == pytest.approx(kwh * GAS_P_PER_KWH / 100, rel=1e-5)
    assert loft["fp_bill_saving_gbp"] == pytest.approx(0.4 * kwh * GAS_P_PER_KWH / 100, rel=1e-5)
    assert loft["lifetime_co2_t_saved"] == pytest.approx(42 * kwh * GAS_KG_PER_KWH / 1000, rel=1e-5)
    assert loft["modelled_annual_co2_t_saved"] == pytest.approx(
        LOFT_W_K / SEMI_HLC_W_K * modelled_space * GAS_KG_PER_KWH / 1000, rel=1e-5)

    # controls: the factor 0.95 realised half, 0.975
    controls = row(c, "semi", "controls")
    assert controls["annual_co2_t_saved"] == pytest.approx(0.025 * space * GAS_KG_PER_KWH / 1000, rel=1e-5)

    # boiler: stock gas boiler 0.84 / 0.80, the new one 0.89 / 0.85 at 0.955 of that in use
    boiler = row(c, "semi", "boiler")
    saved_kwh = space * (1 - 0.84 / (0.89 * 0.955)) + water * (1 - 0.80 / (0.85 * 0.955))
    assert boiler["annual_kwh_saved"] == pytest.approx(saved_kwh, rel=1e-5)
    assert boiler["annual_co2_t_saved"] == pytest.approx(saved_kwh * GAS_KG_PER_KWH / 1000, rel=1e-5)

    # PV offsets electricity only, so 0.95 of its modelled generation is 0.95 of its modelled saving
    pv = row(c, "semi", "pv")
    assert pv["annual_co2_t_saved"] == pytest.approx(0.95 * pv["modelled_annual_co2_t_saved"], rel=1e-5)
    assert pv["annual_kwh_saved"] == pytest.approx(0.95 * pv["pv_kwp"] * 850, rel=1e-5)


def test_realisation_one_and_no_gap_give_the_modelled_savings(library_copy):
    """With every realisation 1 and in-use = modelled, in-use savings are the modelled ones, whether the
    stock has modelled_* columns or not."""
    realised(library_copy, **{m: 1 for m in load_library().measures.index})
    library = load_library(library_copy)
    stock = tiny_stock({}, dict(home_id="solid", wall_type="solid_uninsulated", age_band="1900_1929",
                                built_form="mid_terrace", sap_score=50),
                       dict(home_id="storage", heating_system="electric_storage", main_fuel="electricity",
                            sap_score=45, loft_insulation_mm=50.0),
                       dict(home_id="flat", property_type="flat", built_form="mid_terrace", floor_area_m2=55.0,
                            loft_insulation_mm=np.nan, floor_type="dwelling_below"))
    plain = appraise(stock, library)
    prefixed = appraise(with_in_use(stock), library)
    assert len(plain) > 15
    for c in (plain, prefixed):
        assert np.allclose(c["annual_co2_t_saved"], c["modelled_annual_co2_t_saved"], rtol=1e-6, atol=1e-9)
    for column in (*SAVINGS, "modelled_annual_co2_t_saved", "sap_after", "cost_gbp", "heat_pump_kw"):
        assert np.allclose(plain[column], prefixed[column], rtol=1e-6, atol=1e-9), column


def test_a_smaller_metered_baseline_saves_less_and_rates_the_same(sample_stock):
    """Poorly rated homes meter less than modelled (DESNZ): their savings fall, their rating after does not."""
    library = load_library()
    stock = certificate_only(sample_stock.head(300).reset_index(drop=True))
    certificate = appraise(stock, library)
    metered = appraise(with_in_use(stock, space=0.7, water=0.9, other=0.95), library)
    for column in ("sap_after", "band_after", "fuel_poor_lifted", "cost_gbp", "heat_pump_kw",
                   "modelled_annual_co2_t_saved"):
        assert (certificate[column].to_numpy() == metered[column].to_numpy()).all(), column
    in_use, no_gap = metered["annual_co2_t_saved"].to_numpy(), certificate["annual_co2_t_saved"].to_numpy()
    modelled = metered["modelled_annual_co2_t_saved"].to_numpy()
    fabric = metered["package_id"].isin(["fabric_light", "fabric_deep"]).to_numpy()
    assert (in_use[fabric] <= no_gap[fabric] + 1e-9).all()  # the same realisations on a smaller baseline
    assert in_use[fabric].sum() < 0.7 * modelled[fabric].sum()  # 0.7 of the heat, and realisations below 1
    for package in ("heat_pump", "whole_house", "pv_only"):
        chosen = (metered["package_id"] == package).to_numpy()
        assert in_use[chosen].sum() < modelled[chosen].sum(), package


def test_an_empty_modelled_value_falls_back_to_the_plain_column():
    library = load_library()
    stock = with_in_use(tiny_stock({}, dict(home_id="other")), space=0.7)
    stock.loc[1, "modelled_space_heating_kwh"] = np.nan
    homes = home_model(stock, library)
    assert homes.modelled.space_kwh[0] == pytest.approx(stock.at[0, "space_heating_kwh"] / 0.7)
    assert homes.modelled.space_kwh[1] == homes.in_use.space_kwh[1] == stock.at[1, "space_heating_kwh"]


@pytest.mark.parametrize("change, message", [
    (lambda t: t[t["measure_id"] != "loft_insulation"],
     "in_use.csv, column measure_id: no row for measures loft_insulation"),
    (lambda t: pd.concat([t, t.head(1).assign(measure_id="magic")]), "rows for measures not in measures.csv: magic"),
    (lambda t: t.assign(realisation=t["realisation"].where(t.index != 2, "1.6")),
     "in_use.csv line 4, column realisation: 1.6 is outside 0.0..1.5"),
    (lambda t: t.assign(realisation=t["realisation"].where(t.index != 0, "-0.1")), "line 2, column realisation: -0.1 is negative"),
    (lambda t: t.assign(source=t["source"].where(t.index != 0, "")),
     "line 2, column source: every realisation needs a source"),
])
def test_the_library_refuses_a_bad_in_use_table(library_copy, change, message):
    path = library_copy / "appraisal" / "in_use.csv"
    change(pd.read_csv(path, dtype=str, keep_default_na=False)).to_csv(path, index=False)
    with pytest.raises(RetrofitError) as caught:
        load_library(library_copy)
    assert message in str(caught.value)


def test_a_library_without_in_use_says_what_to_do(library_copy):
    (library_copy / "appraisal" / "in_use.csv").unlink()
    with pytest.raises(RetrofitError, match="in_use.csv: file missing; copy it from the shipped data/"):
        load_library(library_copy)


def test_shipped_realisations_are_sourced_and_in_range():
    library = load_library()
    table = pd.read_csv(library.directory / "appraisal" / "in_use.csv")
    assert set(table["measure_id"]) == set(library.measures.index)
    assert table["realisation"].between(0, 1.5).all() and (table["source"].str.len() > 20).all()
    assert library.measures.at["air_source_heat_pump", "realisation"] == 1.0  # SPF 2.8 is already in use
