"""Every page that shows home rows, opened by a Coventry partner, shows Coventry's homes only."""

from __future__ import annotations

import json

from retrofit.present import views
from retrofit.paths import ROOT
from retrofit.store import open_database
from tests.app.test_pages import map_polygons
from tests.app_review.test_review_pages import open_as
from tests.reviewing import city_plan, store_run

PAGES = ROOT / "app" / "screens"
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


def test_map_shows_a_partner_every_city_with_small_figures_withheld_outside_their_own(review_var):
    at = open_as(str(PAGES / "map.py"), CORA)
    assert not at.exception
    assert at.multiselect(key="map_cities").options == ["Birmingham", "Coventry", "Wolverhampton"]
    features = json.loads(map_polygons(at))["features"]
    planned = {city: [f["properties"] for f in features if f["properties"]["lsoa_code"] in lsoas_of(city)]
               for city in ("Birmingham", "Coventry")}
    # Coventry: every figure; Birmingham: its four one-home neighbourhoods withheld, no figure sent
    assert sorted(p["homes"] for p in planned["Coventry"]) == [1, 1, 1, 1]
    assert all(p["spend_text"].startswith("£") for p in planned["Coventry"])
    assert {p["homes"] for p in planned["Birmingham"]} == {views.WITHHELD_SMALL}
    assert {p["spend_text"] for p in planned["Birmingham"]} == {"–"}
    assert "whose homes your role does not show you" in " ".join(c.value for c in at.caption)


def lsoas_of(city: str) -> set[str]:
    """The LSOAs of ``city`` where the stored run plans homes (tests.reviewing.city_plan)."""
    return set(city_plan().query("city == @city")["lsoa_code"])


def test_the_programme_manager_sees_every_city(review_var):
    at = open_as(str(PAGES / "explorer.py"), "pat@westmids.example")
    shown = home_ids(at)
    assert {h[:4] for h in shown} == {"BHM-", "COV-", "WLV-"}
