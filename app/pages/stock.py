"""Housing stock: what the planner knows about the homes of the three cities."""

import streamlit as st

from app.data import default_stock, stock_summary
from retrofit.errors import RetrofitError
from retrofit.stock.summary import summary_table

st.title("Housing stock")

path = default_stock()
try:
    summary = stock_summary(path)
except RetrofitError as error:
    st.error(f"{error}")
    st.info("Run `make stock` (or `retrofit stock generate --out var/stock/default.parquet`) to build the default stock.")
    st.stop()

if summary["data_source"].get("synthetic"):
    st.info(
        "This stock is **synthetic**: every household of the three cities, placed in its real "
        "neighbourhood and calibrated to published statistics (households and fuel poverty per LSOA, "
        "EPC bands, Census tenure). No real home is described. Import the EPC register's data for real homes."
    )

left, middle, right = st.columns(3)
left.metric("Homes", f"{summary['homes']:,}")
middle.metric("Fuel-poor households", f"{summary['fuel_poor_households']:,.0f}")
rated_d_to_g = sum(c["d_to_g_pct"] * c["homes"] for c in summary["cities"].values()) / summary["homes"]
right.metric("Rated D-G", f"{rated_d_to_g:.1f}%")

st.subheader("By city")
st.dataframe(summary_table(summary), width="stretch")
