"""Map: the plan by neighbourhood (LSOA), by year and city; or the deprivation and fuel poverty layers."""

import streamlit as st

from app import auth, data, maps
from app.widgets import attempt, choose_run
from retrofit.present import views
from retrofit.service import access
from retrofit.reference import CITIES

st.title("Map")

REFERENCE = {
    "Deprivation (IMD 2019 decile, 1 = most deprived)": ("imd_decile", True),
    "Fuel poverty (% of households, 2022)": ("fuel_poverty_pct", False),
    "Households": ("households", False),
}
principal = auth.current_principal()
open_cities = access.home_cities(principal)  # every figure there; elsewhere small ones are withheld
sources = ["The plan", "Reference layers"]
source = st.segmented_control("Show", sources, default=sources[0], key="map_source")
left, middle, right = st.columns([2, 1, 2])
cities = right.multiselect("Cities", list(CITIES), default=list(CITIES),
                           key="map_cities" if source == "The plan" else "map_reference_cities")

if source == "Reference layers":
    layer_name = left.selectbox("Layer", list(REFERENCE), key="map_layer")
    if not cities:
        st.info("Choose at least one city to see its neighbourhoods.")
        st.stop()
    value, reverse = REFERENCE[layer_name]
    deck = maps.reference_deck(value, reverse, tuple(cities))
    caption = "Darker is higher (for deprivation: more deprived)."
else:
    run_id = choose_run("map_run")
    if run_id is None:
        st.caption("Meanwhile, the reference layers (deprivation, fuel poverty) are under **Reference layers**.")
        st.stop()
    _, by_year_city = attempt(data.city_year, run_id)
    layer_name = left.selectbox("Figure", list(views.MAP_LAYERS), format_func=views.MAP_LAYERS.get, key="map_plan_layer")
    years = sorted(int(y) for y in by_year_city["year"].unique())
    year = middle.selectbox("Year", [None, *years], format_func=lambda y: "All years" if y is None else str(y),
                            key="map_year")
    if not cities:
        st.info("Choose at least one city to see its neighbourhoods.")
        st.stop()
    deck = attempt(maps.plan_deck, principal, run_id, layer_name, year, tuple(cities))
    caption = "Darker: more of the figure in that neighbourhood; grey: no home of the plan there."
    closed = [city for city in cities if city not in open_cities]
    if closed:
        caption += (f" In {' and '.join(closed)} (whose homes your role does not show you), neighbourhoods with fewer "
                    f"than {views.DISCLOSURE_MIN_HOMES} planned homes, and the smallest beside them, are shaded "
                    f"blue-grey without figures, and figures by year are not shown.")

st.pydeck_chart(deck, height=620)
st.caption(f"{caption} Boundaries: ONS LSOA 2021 (generalised), OGL v3.")
