"""Every page renders, and its main interaction does what it says (AppTest, real library, sample stock)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from app import served
from retrofit.paths import ROOT
from retrofit.store import get_run, open_database

APP = str(ROOT / "app" / "navigation.py")
FIXTURES = ROOT / "tests" / "stock" / "fixtures" / "epc"


def open_page(name: str) -> AppTest:
    """The app as a user opens it (its navigation), then the named page."""
    at = AppTest.from_file(APP, default_timeout=60).run()
    if name != "overview":
        at.switch_page(f"screens/{name}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def wait_for_job(at: AppTest, slot: str, timeout: float = 120) -> AppTest:
    """Rerun the page (as the fragment's timer does) until the job in ``slot`` has ended."""
    deadline = time.monotonic() + timeout
    while slot in at.session_state:
        assert time.monotonic() < deadline, f"job {slot} did not end in {timeout} s"
        time.sleep(0.3)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements) -> str:
    return " | ".join(str(e.value) for e in elements)


# --- overview -----------------------------------------------------------------------------

def test_overview_shows_the_runs_kpis_with_units(with_runs):
    at = open_page("overview")
    labels = {m.label: m.value for m in at.metric}
    assert labels["Spend"].startswith("£") and labels["Spend"].endswith("m")
    assert labels["Homes retrofitted"].endswith(" homes")
    assert "tCO2/yr" in labels["Carbon saved a year"]
    # in use below the certificates' figure (the sample stock is calibrated to metered energy)
    in_use, modelled = (float(labels[k].split()[0].replace(",", "")) for k in
                        ("Carbon saved a year", "Carbon a year as certificates model it"))
    assert 0 < in_use < modelled
    assert "in use" in texts(at.caption)
    assert "synthetic" in texts(at.info)
    assert "Run #2" in texts(at.caption)  # the newest run by default


def test_overview_without_runs_says_what_to_do(fresh_var):
    at = open_page("overview")
    assert "Scenario builder" in texts(at.info) and not at.metric


def test_the_app_opens_on_the_overview(with_runs):
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "Programme overview"


# --- scenario builder ------------------------------------------------------------------------

def test_a_fresh_database_offers_the_example_scenarios(fresh_var):
    at = open_page("builder")
    assert "Balanced 2026-2035" in at.selectbox(key="builder_name").options
    assert at.text_input(key="f.name").value == "Balanced 2026-2035"
    assert at.number_input(key="f.budget.total_gbp_m").value == 1200.0


def test_an_invalid_setting_is_explained_next_to_its_field(fresh_var):
    at = open_page("builder")
    at.number_input(key="f.budget.total_gbp_m").set_value(0.0)
    at.text_input(key="f.budget.per_year_gbp_m").set_value("10, 20")
    at.button(key="builder_save").click().run()
    errors = texts(at.error)
    assert "the budget must be above £0m" in errors
    assert "Some settings need fixing" in errors
    # the version was not stored
    assert at.selectbox(key="builder_version").options == ["1"]

    at.number_input(key="f.budget.total_gbp_m").set_value(100.0)
    at.button(key="builder_save").click().run()
    assert "budget.per_year_gbp has 2 values but the programme has 10 years" in texts(at.error)


def test_save_and_run_stores_a_version_and_a_run(fresh_var):
    at = open_page("builder")
    at.button(key="builder_scale").click().run()  # the example sized for 5,000 homes
    assert at.number_input(key="f.budget.total_gbp_m").value < 10
    at.number_input(key="f.solver.relative_gap_pct").set_value(1.0)
    at.text_input(key="f.name").set_value("Balanced sample")
    at.button(key="builder_run").click().run()
    assert "Saved **Balanced sample** as version 1" in texts(at.success)
    wait_for_job(at, "builder_job")
    assert "stored as run #1" in texts(at.success), texts(at.error)
    history = at.dataframe[-1].value
    assert list(history["id"]) == [1] and history["scenario"].iloc[0] == "Balanced sample v1"
    assert at.session_state["run_id"] == 1


# --- compare ----------------------------------------------------------------------------------

def test_compare_shows_two_runs_with_deltas(with_runs):
    at = open_page("compare")
    table = at.dataframe[0].value
    assert list(table.columns)[:2] == ["#2 Small test v2", "#1 Small test v1"]
    delta = table.loc["Households lifted out of fuel poverty", "Δ #1 Small test v1"]
    engine = open_database()
    lifted = {run_id: get_run(engine, run_id).kpis["fuel_poor_lifted"] for run_id in (1, 2)}
    engine.dispose()
    difference = lifted[1] - lifted[2]  # the run against the first one, from the stored KPIs
    assert delta[0] == ("+" if difference > 0 else "-" if difference < 0 else "±"), (delta, lifted)
    carbon = table.loc["Carbon saved over measure lifetimes", "Δ #1 Small test v1"]
    assert carbon.startswith("+")  # run 1 weighs carbon fifty times more
    assert "in both" in at.dataframe[1].value.columns


def test_compare_needs_two_runs(fresh_var):
    at = open_page("compare")
    assert "at least two runs" in texts(at.info)


# --- map ----------------------------------------------------------------------------------------

def map_polygons(at: AppTest) -> str:
    """The map's polygons as the browser fetches them: the page's deck names them by URL (app/served.py)."""
    deck = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    url = next(layer["data"] for layer in deck["layers"] if layer["id"] == "lsoas")
    return served.content(url).decode()


def test_map_draws_the_plan_by_lsoa_and_filters_by_city(with_runs):
    at = open_page("map")
    deck = at.get("deck_gl_json_chart")[0].proto
    assert "Homes in the plan" in deck.tooltip and '"lsoa_code":"E01' in map_polygons(at)
    assert len(deck.json) < 2_000, "the page sends the map's layers, not its polygons"
    at.multiselect(key="map_cities").set_value(["Coventry"]).run()
    polygons = map_polygons(at)
    assert '"Coventry' in polygons and '"Birmingham 067A"' not in polygons
    at.multiselect(key="map_cities").set_value([]).run()
    assert "at least one city" in texts(at.info)


def test_map_reference_layers(with_runs):
    at = open_page("map")
    at.get("button_group")[0].set_value("Reference layers").run()
    deck, polygons = at.get("deck_gl_json_chart")[0].proto, map_polygons(at)
    assert '"E01008881"' in polygons and "Fuel poor:" in deck.tooltip and "spend_text" not in polygons


# --- plan explorer --------------------------------------------------------------------------------

def matching(at: AppTest) -> tuple[int, int]:
    """The explorer's "**N homes** of M in the plan match" as (N, M)."""
    found = re.search(r"\*\*([\d,]+) homes\*\* of ([\d,]+)", at.markdown[0].value)
    return int(found.group(1).replace(",", "")), int(found.group(2).replace(",", ""))


def test_explorer_filters_and_explains_a_home(with_runs):
    at = open_page("explorer")
    everything = at.dataframe[0].value
    assert set(everything["city"]) == {"Birmingham", "Coventry", "Wolverhampton"}
    assert len(everything) == min(matching(at)[0], 200)  # a page of the costliest homes
    assert list(everything["cost_gbp"]) == sorted(everything["cost_gbp"], reverse=True)
    at.multiselect(key="explore_city").set_value(["Coventry"]).run()
    coventry = at.dataframe[0].value
    shown, total = matching(at)
    assert set(coventry["city"]) == {"Coventry"} and 0 < shown < total

    home = coventry["home_id"].iloc[0]
    at.text_input(key="explore_home").set_value(home).run()
    assert f"Home {home} is in the plan" in texts(at.success)
    assert len(at.get("download_button")) == 4


def test_explorer_pages_through_every_home(with_runs):
    at = open_page("explorer")
    total = matching(at)[0]
    first = at.dataframe[0].value
    if total <= 200:
        assert len(first) == total
        return
    at.number_input(key="explore_page").set_value(2).run()
    second = at.dataframe[0].value
    assert len(second) == min(total - 200, 200) and second["cost_gbp"].max() <= first["cost_gbp"].min()
    assert not set(second["home_id"]) & set(first["home_id"])


def test_explorer_says_when_nothing_matches(with_runs):
    at = open_page("explorer")
    at.multiselect(key="explore_year").set_value([2026]).run()
    at.multiselect(key="explore_package").set_value([at.multiselect(key="explore_package").options[0]]).run()
    at.slider(key="explore_imd").set_value((10, 10)).run()
    at.multiselect(key="explore_tenure").set_value([at.multiselect(key="explore_tenure").options[0]]).run()
    matches = at.markdown[0].value
    if "**0 homes**" in matches:
        assert "No home of the plan matches" in texts(at.info)


# --- trade-offs -------------------------------------------------------------------------------------

def test_tradeoffs_shows_marginal_values_and_runs_a_sensitivity_sweep(with_runs):
    at = open_page("tradeoffs")
    assert len(at.get("vega_lite_chart")) >= 2  # budget and capacity heat maps
    at.text_input(key="sensitivity_values").set_value("0.5, 2").run()
    at.button(key="sensitivity_go").click().run()
    wait_for_job(at, "sensitivity_job")
    table = at.dataframe[-1].value
    assert list(table["value"]) == [0.5, 2.0]
    # more weight on carbon buys no less carbon, to within the 1% gap each point is solved to
    assert table["lifetime_co2_t_saved"].iloc[1] >= 0.99 * table["lifetime_co2_t_saved"].iloc[0]


# --- data ---------------------------------------------------------------------------------------------

def test_data_page_summarises_the_stock(with_runs):
    at = open_page("stock")
    assert at.metric[0].value == "5,000"
    assert "synthetic" in texts(at.info)
    assert "Against metered energy" in texts(at.subheader)
    assert "Gas, metered" in str(at.dataframe[1].value.index.tolist())
    assert "too few homes per neighbourhood" in texts(at.caption)


def test_data_page_without_a_stock_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("RETROFIT_VAR_DIR", str(tmp_path))
    at = open_page("stock")
    assert "does not exist" in texts(at.error)
    assert "make stock" in texts(at.info)


def test_measure_library_edit_is_validated_then_saved_as_a_version(fresh_var):
    at = open_page("stock")
    key = "library.shipped.measures.csv"
    measures = at.data_editor(key=key).value
    row = int(measures.index[measures["measure_id"] == "loft_insulation"][0])
    at.session_state[key] = {"edited_rows": {row: {"trade": "plumbing"}}, "added_rows": [], "deleted_rows": []}
    at.button(key="library_save").click().run()
    assert "Not saved" in texts(at.error) and "trade" in texts(at.error)
    assert not (fresh_var / "library").exists() or not any(p.name[0] != "." for p in (fresh_var / "library").iterdir())

    at.session_state[key] = {"edited_rows": {row: {"lifetime_years": "45"}}, "added_rows": [], "deleted_rows": []}
    at.text_input(key="library_note").set_value("longer loft life")
    at.button(key="library_save").click().run()
    assert "Saved measure library version" in texts(at.success), texts(at.error)
    saved = [p for p in (fresh_var / "library").iterdir() if not p.name.startswith(".")]
    assert len(saved) == 1 and "longer loft life" in (saved[0] / "meta.json").read_text()
    at.run()
    assert any(o.startswith(saved[0].name) for o in at.selectbox(key="library_base").options)


def test_epc_upload_imports_a_stock_with_its_report(fresh_var):
    at = open_page("stock")
    at.file_uploader(key="epc_certificates").set_value(
        [("certificates.csv", (FIXTURES / "certificates.csv").read_bytes(), "text/csv")])
    at.run()
    at.text_input(key="epc_name").set_value("epc-test")
    at.button(key="epc_go").click().run()
    wait_for_job(at, "epc_job")
    assert "Imported" in texts(at.success), texts(at.error)
    assert Path(fresh_var / "stock" / "epc-test.parquet").exists()
    report = next(d.value for d in at.dataframe if "item" in d.value.columns)
    assert "rows read" in set(report["item"])
    assert not any((fresh_var / "uploads").rglob("*.csv"))  # uploads are removed after the import
