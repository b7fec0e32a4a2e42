"""Data: the housing stock, EPC import, and the measure library as an editable, versioned table."""

from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from app import auth, data
from app.widgets import attempt, job_progress
from retrofit.service import access, workspace
from retrofit.errors import RetrofitError
from retrofit.stock.summary import summary_table



def metered_energy(path: str) -> None:
    """The stock's gas and electricity in use and as modelled, against DESNZ's metered figures."""
    st.subheader("Against metered energy")
    figures = data.stock_calibration(path, (Path(path).stat().st_mtime_ns if Path(path).exists() else 0))
    st.markdown(
        "Certificates model energy under standard occupancy, and poorly rated homes use much less than theirs "
        "predict. Each home's energy **in use** (what carbon, bills and savings use) is its modelled energy "
        "scaled by its EPC band (Few et al. 2023, smart-metered homes) and fitted per neighbourhood to "
        f"{figures['source']}. Ratings (SAP, bands) stay on the certificate's physics.")
    if not figures["calibrated"]:
        st.warning("This stock's energy is the certificates' modelled figure: it has no `modelled_*` columns, so it "
                   "was made before calibration to metered energy (or by another tool). Carbon and bill savings "
                   "planned on it are over-credited. Generate or import it again to calibrate it.")
    cities = pd.DataFrame({
        city: {"Gas-heated homes": f"{c['gas_heated_homes']:,.0f}", "Gas, modelled (kWh/home)": f"{c['modelled_gas_kwh']:,.0f}",
               "Gas, in use": f"{c['in_use_gas_kwh']:,.0f}", "Gas, metered": f"{c['metered_gas_kwh']:,.0f}",
               "Gas, in use vs metered": f"{c['gas_difference']:+.1%}",
               "Electricity, modelled (kWh/home)": f"{c['modelled_electricity_kwh']:,.0f}",
               "Electricity, in use": f"{c['in_use_electricity_kwh']:,.0f}",
               "Electricity, metered": f"{c['metered_electricity_kwh']:,.0f}",
               "Electricity, in use vs metered": f"{c['electricity_difference']:+.1%}"}
        for city, c in figures["cities"].items()})
    st.dataframe(cities, width="stretch")
    median, before = figures["median_absolute_difference"], figures["modelled_median_absolute_difference"]
    compared = figures["areas_compared"]
    if compared["gas"] and compared["electricity"]:
        st.caption(f"Per 2011 LSOA ({compared['gas']:,} areas), the median difference from metered use is "
                   f"{median['gas']:.1%} for gas and {median['electricity']:.1%} for electricity "
                   f"(as modelled: {before['gas']:.0%} and {before['electricity']:.0%}).")
    else:
        st.caption("This stock has too few homes per neighbourhood to compare them one by one (a sample): "
                   "its neighbourhoods take their city's fit.")
    areas = pd.DataFrame(figures["areas"])
    points = pd.concat([
        areas.assign(stock="As modelled", stock_kwh=areas["modelled_gas_kwh"]),
        areas.assign(stock="In use", stock_kwh=areas["in_use_gas_kwh"]),
    ]).dropna(subset=["stock_kwh", "metered_gas_kwh"])
    top = float(max(points["stock_kwh"].max(), points["metered_gas_kwh"].max()))
    scatter = alt.Chart(points).mark_circle(size=18, opacity=0.6).encode(
        x=alt.X("metered_gas_kwh:Q", title="Metered gas per consuming meter (kWh a year)", scale=alt.Scale(domain=[0, top])),
        y=alt.Y("stock_kwh:Q", title="Stock's gas per gas-heated home (kWh a year)", scale=alt.Scale(domain=[0, top])),
        color=alt.Color("stock:N", title=None, scale=alt.Scale(range=["#b0b0b0", "#1f5fa8"]),
                        legend=alt.Legend(orient="top")),
        tooltip=[alt.Tooltip("area:N", title="2011 LSOA"), alt.Tooltip("city:N"), alt.Tooltip("stock:N", title="Stock"),
                 alt.Tooltip("stock_kwh:Q", title="Stock kWh", format=",.0f"),
                 alt.Tooltip("metered_gas_kwh:Q", title="Metered kWh", format=",.0f"),
                 alt.Tooltip("gas_meters:Q", title="Gas meters", format=",")])
    parity = alt.Chart(pd.DataFrame({"kwh": [0.0, top]})).mark_line(color="#666", strokeDash=[4, 4]).encode(
        x="kwh:Q", y="kwh:Q")
    st.altair_chart((parity + scatter).properties(height=380), width="stretch")
    if not figures["worst"]:
        return
    st.markdown("**Neighbourhoods furthest from their metered use** (where the fit reached its bounds: "
                "`data/stock/calibration.toml`)")
    worst = pd.DataFrame(figures["worst"])
    st.dataframe(pd.DataFrame({
        "2011 LSOA": worst["area"], "City": worst["city"], "Gas meters": worst["gas_meters"].map("{:,}".format),
        "Gas in use vs metered": worst["gas_difference"].map(lambda v: "no gas-heated homes" if pd.isna(v) else f"{v:+.0%}"),
        "Electricity in use vs metered": worst["electricity_difference"].map("{:+.0%}".format),
    }), hide_index=True, width="stretch")

st.title("Data")
principal = auth.current_principal()
stock_tab, import_tab, library_tab = st.tabs(["Housing stock", "Import EPC data", "Measure library"])

# --- the stock ------------------------------------------------------------------------------
with stock_tab:
    st.header("Housing stock")
    files = [str(p) for p in workspace.stock_files()] or [data.default_stock()]
    path = st.selectbox("Stock file", files, format_func=lambda p: Path(p).name, key="data_stock")
    try:
        summary = data.stock_summary(path, (Path(path).stat().st_mtime_ns if Path(path).exists() else 0))
    except RetrofitError as error:
        st.error(f"{error}")
        st.info("Run `make stock` (or `retrofit stock generate --out var/stock/default.parquet`) to build the default "
                "stock, or import EPC data in the next tab.")
        summary = None
    if summary is not None:
        if summary["data_source"].get("synthetic"):
            st.info(
                "This stock is **synthetic**: every household of the three cities, placed in its real "
                "neighbourhood and calibrated to published statistics (households and fuel poverty per LSOA, "
                "EPC bands, Census 2021 tenure, accommodation and heating per LSOA, metered gas and electricity). No real home is described. Import the EPC register's data for real homes.")
        left, middle, right = st.columns(3)
        left.metric("Homes", f"{summary['homes']:,}")
        middle.metric("Fuel-poor households", f"{summary['fuel_poor_households']:,.0f}")
        rated_d_to_g = sum(c["d_to_g_pct"] * c["homes"] for c in summary["cities"].values()) / summary["homes"]
        right.metric("Rated D-G", f"{rated_d_to_g:.1f}%")
        st.subheader("By city")
        st.dataframe(summary_table(summary), width="stretch")
        metered_energy(path)

# --- EPC import --------------------------------------------------------------------------------
with import_tab:
    st.header("Import EPC register data")
    st.markdown("Download `certificates.csv` (and `recommendations.csv`) per local authority from the EPC register "
                "(epc.opendatacommunities.org). The import keeps the latest certificate per property, maps the "
                "descriptions to the stock's categories and reports every row it leaves out, with the reason. "
                "Files over the upload limit: use `retrofit stock import-epc` on the server.")
    certificates = st.file_uploader("certificates.csv (one or more)", type=["csv"], accept_multiple_files=True,
                                    key="epc_certificates")
    recommendations = st.file_uploader("recommendations.csv (optional)", type=["csv"], key="epc_recommendations")
    lookup = st.file_uploader("ONS postcode to LSOA lookup (optional; else LA-level figures)", type=["csv"],
                              key="epc_lookup")
    out_name = st.text_input("Save the stock as", "epc-import", key="epc_name",
                             help="Written to var/stock/<name>.parquet; choose it in the Scenario builder.")
    may_import = access.can(principal, "import_stock")
    if not may_import:
        st.info("Importing a stock is for programme managers and analysts.")
    if st.button("Import", type="primary", key="epc_go",
                 disabled=not may_import or not certificates or "epc_job" in st.session_state):
        try:
            uploads = workspace.save_uploads({"certificates": [(f.name, f.getvalue()) for f in certificates],
                                              "recommendations": [(recommendations.name, recommendations.getvalue())]
                                              if recommendations else [],
                                              "lookup": [(lookup.name, lookup.getvalue())] if lookup else []})
            target = workspace.stock_target(out_name)
        except RetrofitError as error:
            st.error(str(error))
        else:
            engine = data.engine()
            job = data.job_board().submit(f"Import {len(certificates)} certificate file(s)",
                                          lambda progress, cancel: workspace.import_epc_stock(engine, principal, uploads,
                                                                                              target, progress))
            st.session_state["epc_job"] = job.id

    def imported(snapshot) -> None:
        st.session_state["epc_done"] = {"state": snapshot.state, "error": snapshot.error, "result": snapshot.result}

    job_progress("epc_job", imported)
    done = st.session_state.get("epc_done")
    if done:
        if done["state"] == "done":
            result = done["result"]
            st.success(f"Imported {result['summary']['homes']:,} homes to {result['path']}.")
            st.dataframe(workspace.import_report(result["summary"]), hide_index=True, width="stretch")
        else:
            st.error(f"The import failed: {done['error']}")

# --- measure library ---------------------------------------------------------------------------------
with library_tab:
    st.header("Measure library")
    versions = attempt(workspace.library_versions)
    keys = [v["key"] for v in versions]
    described = {v["key"]: f"{v['version']}: {v['note'] or 'no note'}" + (f" ({v['created_by']})" if v["created_by"] else "")
                 for v in versions}
    if st.session_state.get("library_base") not in keys:
        st.session_state["library_base"] = keys[0]
    base = st.selectbox("Version to start from", keys, format_func=described.get, key="library_base")
    names = attempt(workspace.library_table_names, base)
    st.markdown("Edit the cells (add or delete rows at the table's edge), then save: the edited library is "
                "checked in full before it is kept, and runs can then choose it in the Scenario builder. "
                "Every run records the library version it used.")
    other = st.selectbox("Also edit an assumption table", [n for n in names if n not in workspace.LIBRARY_FILES],
                         key="library_other")
    edited = {}
    for name in [*workspace.LIBRARY_FILES, other]:
        st.markdown(f"**{name}**")
        table = attempt(workspace.library_table, base, name)
        edited[name] = st.data_editor(table, num_rows="dynamic", width="stretch", hide_index=True,
                                      key=f"library.{base}.{name}")
    note = st.text_input("What changed (note kept with the version)", key="library_note")
    may_edit = access.can(principal, "edit_library")
    if not may_edit:
        st.info("Editing the measure library is for programme managers and analysts.")
    if st.button("Save as a new version", type="primary", key="library_save", disabled=not may_edit):
        changes = {n: t for n, t in edited.items() if not t.equals(workspace.library_table(base, n))}
        if not changes:
            st.info("Nothing changed: edit a cell first.")
        else:
            try:
                library = workspace.save_library(data.engine(), principal, changes, base=base, note=note)
            except RetrofitError as error:
                st.error(f"Not saved: {error}")
            else:
                st.success(f"Saved measure library version **{library.version}** ({', '.join(changes)} changed). "
                           "Choose it in the Scenario builder to plan with it.")
                data.package_ids.clear()
    saved = pd.DataFrame(versions)[["version", "note", "created_by", "created_at"]]
    with st.expander(f"Versions ({len(saved)})"):
        st.dataframe(saved, hide_index=True, width="stretch")
