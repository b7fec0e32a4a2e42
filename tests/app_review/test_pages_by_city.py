"""Every page that shows home rows, opened by a Coventry partner, shows Coventry's homes only."""

from __future__ import annotations

from retrofit.paths import ROOT
from retrofit.store import open_database
from tests.app.test_pages import map_polygons
from tests.app_review.test_review_pages import open_as
from tests.reviewing import store_run

PAGES = ROOT / "app" / "pages"
CORA = "cora@coventry.example"


def home_ids(at) -> set[str]:
    ids = set()
    for frame in at.dataframe:
        if "home_id" in frame.value.columns:
            ids |= set(frame.value["home_id"].astype(str))
    return ids


def test_plan_explorer_shows_a_partner_their_city_only(review_var):
    at = open_as(str(PAGES / "explorer.py"), CORA)
    assert not at.exception
    shown = home_ids(at)
    assert shown and all(h.startswith("COV-") for h in shown)
    assert at.multiselect(key="explore_city").options == ["Coventry"]
    # asking for a Birmingham home by id reveals nothing about it
    at.text_input(key="explore_home").set_value("BHM-0").run()
    assert any("No home BHM-0" in w.value for w in at.warning)
    # whole-plan downloads are for programme managers and analysts only
    assert not any(getattr(b, "label", "") == "Plan (CSV)" for b in at.get("download_button"))


def test_plan_explorer_refuses_a_viewer(review_var):
    at = open_as(str(PAGES / "explorer.py"), "vic@westmids.example")
    assert not at.exception
    assert any("may not read home-level rows" in e.value for e in at.error)
    assert not home_ids(at)


def test_compare_counts_a_partners_city_only(review_var):
    engine = open_database()
    store_run(engine, budget=2e9, seed=5)
    engine.dispose()
    at = open_as(str(PAGES / "compare.py"), CORA)
    assert not at.exception
    assert not any("BHM-" in str(frame.value.to_dict()) for frame in at.dataframe)
    assert any("(Coventry)" in h.value for h in at.subheader)


def test_map_offers_a_partner_their_city_for_the_plan(review_var):
    at = open_as(str(PAGES / "map.py"), CORA)
    assert not at.exception
    assert at.multiselect(key="map_cities").options == ["Coventry"]
    assert '"Coventry' in map_polygons(at) and '"Birmingham' not in map_polygons(at)


def test_the_programme_manager_sees_every_city(review_var):
    at = open_as(str(PAGES / "explorer.py"), "pat@westmids.example")
    shown = home_ids(at)
    assert {h[:4] for h in shown} == {"BHM-", "COV-", "WLV-"}
