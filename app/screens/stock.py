"""Data: the housing stock, EPC import, and the measure library as an editable, versioned table."""

from pathlib import Path

import pandas as pd
import streamlit as st

from app import auth, data
from app.widgets import attempt, job_progress
from retrofit.service import access, workspace
from retrofit.errors import RetrofitError
from retrofit.stock.summary import summary_table

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
                "EPC bands, Census tenure). No real home is described. Import the EPC register's data for real homes.")
        left, middle, right = st.columns(3)
        left.metric("Homes", f"{summary['homes']:,}")
        middle.metric("Fuel-poor households", f"{summary['fuel_poor_households']:,.0f}")
        rated_d_to_g = sum(c["d_to_g_pct"] * c["homes"] for c in summary["cities"].values()) / summary["homes"]
        right.metric("Rated D-G", f"{rated_d_to_g:.1f}%")
        st.subheader("By city")
        st.dataframe(summary_table(summary), width="stretch")

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
