"""Map: the three cities by neighbourhood (LSOA), coloured by the chosen figure."""

import pydeck as pdk
import streamlit as st

from app.data import map_layer
from retrofit.reference import CITIES

st.title("Map")

LAYERS = {
    "Deprivation (IMD 2019 decile, 1 = most deprived)": ("imd_decile", True),
    "Fuel poverty (% of households, 2022)": ("fuel_poverty_pct", False),
    "Households": ("households", False),
}

left, right = st.columns([2, 1])
layer_name = left.selectbox("Layer", list(LAYERS), key="map_layer")
cities = right.multiselect("Cities", list(CITIES), default=list(CITIES), key="map_cities")
if not cities:
    st.info("Choose at least one city to see its neighbourhoods.")
    st.stop()

value, reverse = LAYERS[layer_name]
collection = map_layer(value, reverse, tuple(cities))
view = pdk.ViewState(latitude=52.48, longitude=-1.75, zoom=9.2)
layer = pdk.Layer("GeoJsonLayer", collection, pickable=True, stroked=True, filled=True,
                  get_fill_color="properties.fill_colour", get_line_color=[80, 80, 80, 80], line_width_min_pixels=0.5)
tooltip = {"html": "<b>{lsoa_name}</b> ({ward})<br/>Households: {households}<br/>"
                   "Fuel poor: {fuel_poor_households} ({fuel_poverty_pct}%)<br/>IMD decile: {imd_decile}"}
st.pydeck_chart(pdk.Deck(layers=[layer], initial_view_state=view, tooltip=tooltip, map_style=None), height=620)
st.caption("Darker is higher (for deprivation: more deprived). Boundaries: ONS LSOA 2021 (generalised), OGL v3.")
