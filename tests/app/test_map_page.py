"""The map page draws the reference layers for the chosen cities."""

from streamlit.testing.v1 import AppTest

from retrofit.paths import ROOT

PAGE = str(ROOT / "app" / "pages" / "map.py")


def test_map_shows_deprivation_for_every_lsoa():
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    deck = at.get("deck_gl_json_chart")[0]
    assert '"E01008881"' in deck.proto.json  # a Birmingham LSOA is drawn


def test_map_filters_cities_and_says_what_to_do_when_none_chosen():
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.multiselect(key="map_cities").set_value(["Coventry"]).run()
    deck = at.get("deck_gl_json_chart")[0].proto.json
    assert '"Coventry' in deck and '"Birmingham 067A"' not in deck
    at.multiselect(key="map_cities").set_value([]).run()
    assert any("at least one city" in i.value for i in at.info)
