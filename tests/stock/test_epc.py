"""Importing the EPC register's bulk files, on small files in the real formats.

The fixtures (tests/stock/fixtures/epc/) are three certificates files in the three real
header versions, with duplicates across dates and files, unusable rows, a home outside
the area, unknown text, a BOM, quoted fields and a badly encoded byte; plus
recommendations and an ONS postcode directory extract. What each row tests is written
next to it in this file's expectations.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retrofit import energy
from retrofit.errors import RetrofitError
from retrofit.reference import lsoas
from retrofit.stock.epc import import_epc, read_postcode_lookup
from retrofit.stock.schema import CATEGORIES, check_stock, read_stock

FIXTURES = Path(__file__).parent / "fixtures" / "epc"
CURRENT = FIXTURES / "certificates.csv"          # 93 columns, upper case, BOM
OLDER = FIXTURES / "certificates_2021.csv"       # 92 columns, no REPORT_TYPE
NEWER = FIXTURES / "certificates-2025.csv"       # lower case, reordered, certificate_number first
ALL = [CURRENT, OLDER, NEWER]
RECOMMENDATIONS = FIXTURES / "recommendations.csv"
LOOKUP = FIXTURES / "postcode_lookup.csv"


@pytest.fixture(scope="module")
def result():
    return import_epc(ALL, recommendations=RECOMMENDATIONS, postcode_lookup=LOOKUP)


@pytest.fixture(scope="module")
def homes(result):
    return result.stock.set_index("home_id")


def test_fixtures_are_the_three_real_header_versions():
    headers = [path.read_bytes().splitlines()[0] for path in ALL]
    assert headers[0].startswith(b"\xef\xbb\xbfLMK_KEY,") and len(headers[0].split(b",")) == 93
    assert headers[1].startswith(b"LMK_KEY,") and len(headers[1].split(b",")) == 92
    assert b"REPORT_TYPE" not in headers[1]
    assert headers[2].startswith(b"certificate_number,") and b",region," in headers[2] + b","


def test_every_row_is_accounted_for(result):
    s = result.summary
    assert s["rows_read"] == 17
    assert s["homes"] == 8
    # Home 1's 2015 certificate, a certificate in two files, building 5000001's 2010 certificate.
    assert s["superseded"] == 3
    assert s["dropped"] == {"outside_area": 1, "no_property_key": 1, "no_lodgement_date": 0, "no_sap_score": 2,
                            "floor_area_invalid": 2, "property_type_unknown": 0, "malformed_row": 0}
    assert s["rows_read"] == s["homes"] + s["superseded"] + sum(s["dropped"].values())
    assert s["fell_back_to_earlier_certificate"] == 1
    assert s["properties_without_usable_certificate"] == 3  # floor area 0, floor area 25,000, no SAP
    assert s["homes_without_lsoa"] == 2
    assert s["homes_by_city"] == {"Birmingham": 4, "Coventry": 2, "Wolverhampton": 2}


def test_the_stock_is_valid_with_schema_values(result):
    stock = result.stock
    check_stock(stock)
    for column, allowed in CATEGORIES.items():
        if column in stock:
            assert set(stock[column].dropna().astype(str)) <= set(allowed), column
    assert (stock["data_source"] == "epc").all()
    assert stock["home_id"].is_unique
    assert list(stock["home_id"]) == sorted(stock["home_id"])


def test_latest_certificate_across_files_wins(homes):
    home = homes.loc["100070000001"]
    assert home["sap_score"] == 68 and home["epc_band"] == "D"
    assert home["epc_date"] == pd.Timestamp("2021-06-01")
    assert home["wall_type"] == "cavity_filled"  # the 2021 certificate's, not the 2015 one's


def test_a_property_whose_latest_certificate_is_unusable_falls_back(homes):
    home = homes.loc["100070000003"]  # 2022 certificate has no SAP score
    assert home["sap_score"] == 30 and home["epc_date"] == pd.Timestamp("2012-01-20")


def test_building_reference_seen_with_a_uprn_is_that_property(homes):
    assert "BRN5000001" not in homes.index
    home = homes.loc["100070000007"]  # its newest certificate (2021) had no UPRN
    assert home["sap_score"] == 62 and home["wall_type"] == "other"


def test_a_building_reference_alone_gives_a_prefixed_id(tmp_path):
    lines = CURRENT.read_text(encoding="utf-8-sig").splitlines()
    (tmp_path / "c.csv").write_text("\n".join([lines[0]] + [l for l in lines if l.startswith("LMK-A-0006")]) + "\n")
    stock = import_epc([tmp_path / "c.csv"]).stock
    assert list(stock["home_id"]) == ["BRN5000001"]


def test_file_order_does_not_matter(result):
    again = import_epc([NEWER, OLDER, CURRENT], recommendations=RECOMMENDATIONS, postcode_lookup=LOOKUP)
    pd.testing.assert_frame_equal(again.stock, result.stock)


def test_each_header_version_imports_on_its_own():
    assert len(import_epc([CURRENT]).stock) == 5
    assert len(import_epc([OLDER]).stock) == 3
    newer = import_epc([NEWER]).stock.set_index("home_id")
    assert list(newer.index) == ["100070000008", "100070000009", "100070000012"]
    # The new-build certificate gives U-values, not constructions.
    assert newer.loc["100070000008", "wall_type"] == "other"
    assert newer.loc["100070000008", "loft_insulation_mm"] == 350      # 0.13 W/m2K
    assert newer.loc["100070000008", "glazing"] == "double"            # 1.40 W/m2K
    assert newer.loc["100070000008", "heating_system"] == "heat_pump"
    assert newer.loc["100070000008", "age_band"] == "2012_onwards"     # '2019'


def test_environmental_impact_spelling_is_accepted(tmp_path):
    csvw_header = (FIXTURES.parents[3] / "data" / "reference" / "epc_schema"
                   / "certificates_header_as_in_csvw_schema.txt").read_text().strip()
    rows = CURRENT.read_text(encoding="utf-8-sig").splitlines()[1:]
    (tmp_path / "c.csv").write_text(csvw_header + "\n" + "\n".join(rows) + "\n")
    assert len(import_epc([tmp_path / "c.csv"]).stock) == 5


def test_text_maps_and_unknown_text_is_counted(result, homes):
    coventry_flat = homes.loc["100070000002"]
    assert (coventry_flat["property_type"], coventry_flat["built_form"], coventry_flat["tenure"]) == \
        ("flat", "mid_terrace", "social_rented")
    assert coventry_flat["wall_type"] == "solid_uninsulated"
    assert np.isnan(coventry_flat["loft_insulation_mm"])  # another dwelling above
    assert coventry_flat["floor_type"] == "dwelling_below"
    assert (coventry_flat["heating_system"], coventry_flat["main_fuel"]) == ("electric_storage", "electricity")
    assert coventry_flat["glazing"] == "single"
    oil = homes.loc["100070000010"]
    assert (oil["heating_system"], oil["main_fuel"], oil["age_band"]) == ("oil_boiler", "oil", "unknown")
    unknown_heating = homes.loc["100070000009"]
    assert (unknown_heating["heating_system"], unknown_heating["main_fuel"]) == ("other", "mains_gas")
    assert unknown_heating["glazing"] == "double"  # nothing said: default, counted
    assert result.summary["unknown"] == {"built_form": 1, "age_band": 2, "tenure": 1, "wall_type": 1,
                                         "loft_insulation_mm": 0, "glazing": 1, "floor_type": 1,
                                         "heating_system": 1, "main_fuel": 1}


def test_a_badly_encoded_byte_does_not_stop_the_import(homes):
    assert homes.loc["100070000012", "loft_insulation_mm"] == 250


def test_energy_comes_from_the_sap_score_and_the_certificate_figures_are_kept(result, homes):
    stock = result.stock
    expected = energy.baseline_energy(stock)
    modelled = stock[[f"modelled_{column}" for column in expected.columns]]
    pd.testing.assert_frame_equal(modelled.set_axis(expected.columns, axis=1), expected)
    # in use, calibrated to metered energy: a gas-heated home uses less than its certificate says
    gas = (stock["heating_system"] == "gas_boiler") & (stock["epc_band"].isin(["D", "E", "F", "G"]))
    assert gas.any()
    assert (stock.loc[gas, "space_heating_kwh"] < stock.loc[gas, "modelled_space_heating_kwh"]).all()
    home = homes.loc["100070000012"]
    assert home["epc_energy_cost_gbp_per_year"] == 770  # heating 600 + hot water 100 + lighting 70
    assert home["epc_co2_t_per_year"] == pytest.approx(2.1)
    assert home["epc_energy_kwh_per_m2"] == 200


def test_postcodes_place_homes_in_their_lsoa(homes):
    home = homes.loc["100070000001"]  # written 'b152tt': compared without spaces and case
    assert (home["lsoa_code"], home["location_source"], home["postcode"]) == ("E01008881", "postcode", "B15 2TT")
    assert (home["lat"], home["lon"]) == (52.451, -1.93)
    ref = lsoas().set_index("lsoa_code")
    assert home["imd_decile"] == ref.loc["E01008881", "imd_decile"]
    assert home["ward"] == ref.loc["E01008881", "ward"]
    # The lookup has no coordinates for WV1 1AA: the LSOA's centroid.
    assert homes.loc["100070000012", "lat"] == pytest.approx(ref.loc["E01010410", "lat"], abs=1e-6)
    # CV1 9ZZ is not in the lookup; WV14 0AA points to an LSOA of another authority.
    for home_id in ("100070000002", "100070000003"):
        assert pd.isna(homes.loc[home_id, "lsoa_code"])
        assert homes.loc[home_id, "location_source"] == "local_authority"
        assert np.isnan(homes.loc[home_id, "lat"])


def test_fuel_poverty_spreads_the_lsoa_count_over_imported_d_to_g_homes(homes):
    ref = lsoas().set_index("lsoa_code").loc["E01008881"]
    in_lsoa = homes[homes["lsoa_code"] == "E01008881"]
    assert len(in_lsoa) == 3
    expected = ref["fuel_poor_households"] * 3 / ref["households"]
    assert in_lsoa["fuel_poverty_probability"].sum() == pytest.approx(expected, rel=1e-6)
    assert homes.loc["100070000010", "fuel_poverty_probability"] == 0  # band C


def test_without_a_lookup_the_authority_values_are_used():
    stock = import_epc(ALL).stock
    ref = lsoas()
    assert (stock["location_source"] == "local_authority").all() and stock["lsoa_code"].isna().all()
    for la_code, rows in stock.groupby("la_code", observed=True):
        area = ref[ref["la_code"] == la_code]
        median = np.median(np.repeat(area["imd_decile"].to_numpy(), area["households"].to_numpy()))
        assert (rows["imd_decile"] == median).all()
        rate = area["fuel_poor_households"].sum() / area["households"].sum()
        assert rows["fuel_poverty_probability"].sum() == pytest.approx(rate * len(rows), rel=1e-6)


def test_recommendations_of_the_kept_certificates(result, homes):
    measures = homes["epc_recommended_measures"]
    assert measures["100070000001"] == "loft_insulation;solar_pv"  # not the superseded certificate's cavity
    assert measures["100070000002"] == "glazing_upgrade"           # storage heaters have no equivalent
    assert measures["100070000003"] == "low_energy_lighting"       # found by IMPROVEMENT_ID 35
    assert measures.drop(["100070000001", "100070000002", "100070000003"]).isna().all()
    assert result.summary["recommendations"] == {"rows_for_homes": 7, "unrecognised_rows": 1,
                                                 "homes_with_recommendations": 3}


def test_recommendations_keyed_by_certificate_number(tmp_path):
    (tmp_path / "r.csv").write_text(
        "certificate_number,improvement_item,improvement_summary_text,improvement_descr_text,improvement_id,"
        "indicative_cost\n0000-0000-0000-0000-0001,1,Increase loft insulation to 270 mm,Loft,5,£100 - £350\n")
    stock = import_epc([NEWER], recommendations=tmp_path / "r.csv").stock.set_index("home_id")
    assert stock.loc["100070000008", "epc_recommended_measures"] == "loft_insulation"


def test_postcode_lookup_column_spellings(tmp_path):
    (tmp_path / "nspl.csv").write_text("PCD,LSOA21CD\nB15 2TT,E01008881\nM1  1AA,E01005131\n")
    table = read_postcode_lookup(tmp_path / "nspl.csv", ["b15 2tt", "M1 1AA"])
    assert table["lsoa_code"].to_dict() == {"B152TT": "E01008881", "M11AA": "E01005131"}
    (tmp_path / "bad.csv").write_text("postcode,lsoa11cd\nB15 2TT,E01008881\n")
    with pytest.raises(RetrofitError, match="lsoa21cd or lsoa21"):
        read_postcode_lookup(tmp_path / "bad.csv", ["B15 2TT"])


def test_a_row_with_the_wrong_number_of_fields_is_counted(tmp_path):
    lines = OLDER.read_text().splitlines()
    (tmp_path / "c.csv").write_text("\n".join(lines[:2] + ["LMK-X,1 Road,,,B15 2TT,123"]) + "\n")
    summary = import_epc([tmp_path / "c.csv"]).summary
    assert summary["dropped"]["malformed_row"] == 1 and summary["rows_read"] == 2 and summary["homes"] == 1


def test_missing_required_column_names_file_and_column(tmp_path):
    table = pd.read_csv(OLDER, dtype=str).drop(columns="WALLS_DESCRIPTION")
    table.to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(RetrofitError, match=r"c\.csv lacks required EPC column\(s\) WALLS_DESCRIPTION"):
        import_epc([tmp_path / "c.csv"])


def test_not_an_epc_file_and_missing_file(tmp_path):
    with pytest.raises(RetrofitError, match="postcode_lookup.csv is not an EPC certificates file"):
        import_epc([LOOKUP])
    with pytest.raises(RetrofitError, match="cannot read certificates file .*nope.csv"):
        import_epc([tmp_path / "nope.csv"])
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(RetrofitError, match="empty"):
        import_epc([tmp_path / "empty.csv"])


def _run(*args):
    return subprocess.run([sys.executable, "-m", "retrofit", "stock", "import-epc", *map(str, args)],
                          capture_output=True, text=True)


def test_cli_imports_and_prints_json(tmp_path):
    out = tmp_path / "stock.parquet"
    done = _run(*ALL, "--recommendations", RECOMMENDATIONS, "--postcode-lookup", LOOKUP, "--out", out, "--json")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert {"rows_read", "homes", "superseded", "dropped"} <= set(figures)
    assert (figures["rows_read"], figures["homes"], figures["superseded"]) == (17, 8, 3)
    assert figures["dropped"]["outside_area"] == 1
    stock = read_stock(out)
    assert len(stock) == 8 and stock["epc_recommended_measures"].notna().sum() == 3


def test_cli_prints_a_summary(tmp_path):
    done = _run(*ALL, "--out", tmp_path / "stock.csv")
    assert done.returncode == 0, done.stderr
    assert "read 17 certificates; kept 8 homes" in done.stdout
    assert "outside_area 1" in done.stdout and "homes without an LSOA (local authority values used): 8" in done.stdout


def test_cli_bad_file_writes_nothing(tmp_path):
    out = tmp_path / "stock.parquet"
    bad = tmp_path / "bad.csv"
    pd.read_csv(OLDER, dtype=str).drop(columns="TENURE").to_csv(bad, index=False)
    done = _run(CURRENT, bad, "--out", out)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "bad.csv lacks required EPC column(s) TENURE" in done.stderr
    assert not out.exists() and not list(tmp_path.glob("*.partial"))


# --- files that are not what they seem ---

def test_a_compressed_or_packed_file_says_how_to_unpack_it(tmp_path):
    gz = tmp_path / "certificates.csv"
    gz.write_bytes(gzip.compress(OLDER.read_bytes()))
    with pytest.raises(RetrofitError, match=r"certificates file .*certificates.csv is gzip-compressed, not CSV text; "
                                            r"decompress it first \(gunzip -c FILE > plain.csv\)"):
        import_epc([gz])
    zipped = tmp_path / "download.csv"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.write(OLDER, "certificates.csv")
    with pytest.raises(RetrofitError, match=r"download.csv is a zip archive .* unzip it"):
        import_epc([zipped])
    with pytest.raises(RetrofitError, match=r"postcode lookup file .*certificates.csv is gzip-compressed"):
        import_epc([OLDER], postcode_lookup=gz)


def test_a_header_without_rows_says_so(tmp_path):
    header_only = tmp_path / "header.csv"
    header_only.write_bytes(OLDER.read_bytes().splitlines(keepends=True)[0])
    with pytest.raises(RetrofitError, match=r"header.csv has no certificate rows \(it holds only the header\)"):
        import_epc([header_only])
    with pytest.raises(RetrofitError, match=r"header.csv has no certificate rows"):
        import_epc([OLDER, header_only])


@pytest.mark.parametrize("start", [b"", b"LMK_KEY,UPRN\n"], ids=["from the start", "after a header"])
def test_a_binary_file_is_refused_without_echoing_its_bytes(tmp_path, start):
    binary = tmp_path / "blob.csv"
    binary.write_bytes(start + bytes(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8)))
    with pytest.raises(RetrofitError, match=r"blob.csv is binary, not CSV text \(a control byte at byte \d+\)") as err:
        import_epc([binary])
    assert str(err.value).isascii() and str(err.value).isprintable()


def test_odd_header_text_is_echoed_escaped(tmp_path):
    odd = tmp_path / "odd.csv"
    odd.write_bytes(b"\xef\xbb\xbfname\x1b[31m,\xe9t\xe9,c\n" + b"1,2,3\n" * 50)  # one stray byte: text still
    with pytest.raises(RetrofitError, match=r"not an EPC certificates file") as caught:
        import_epc([odd])
    assert "\x1b" not in str(caught.value) and r"name\x1b[31m" in str(caught.value)


def test_cli_gzip_file_is_one_line_and_writes_nothing(tmp_path):
    gz = tmp_path / "certificates.csv"
    gz.write_bytes(gzip.compress(OLDER.read_bytes()))
    out = tmp_path / "stock.parquet"
    done = _run(gz, "--out", out)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "is gzip-compressed" in done.stderr and not out.exists()
