"""Trade-offs: the marginal value of budget and capacity, the frontier, and weight sensitivity."""

import altair as alt
import pandas as pd
import streamlit as st

from app import auth, data
from app.widgets import attempt, choose_run, job_progress, literal
from retrofit.present import views
from retrofit.service import access, workspace

st.title("Trade-offs")
principal = auth.current_principal()
may_run = access.can(principal, "run")  # sweeps re-plan: for programme managers and analysts
run_id = choose_run("tradeoffs_run")
if run_id is None:
    st.stop()
run = attempt(data.run, run_id)
engine = attempt(data.engine)
st.caption(f"Around run #{run.id}: scenario **{literal(run.scenario_name)}** version {run.scenario_version}.")

# --- marginal values -----------------------------------------------------------------------------
st.subheader("What more budget or capacity would buy")
marginal = views.marginal_values(run.details, run.objective, run.kpis.get("spend_gbp"))
if marginal.empty:
    st.info("This run kept no marginal values (it was planned before they were recorded). Run its scenario again.")
else:
    left, right = st.columns(2)
    left.altair_chart(alt.Chart(marginal).mark_rect().encode(
        x=alt.X("year:O", title="Programme year"), y=alt.Y("city:N", title=None),
        color=alt.Color("value_of_1m_gbp:Q", title="Objective per £1m more"),
        tooltip=["city:N", "year", alt.Tooltip("value_of_1m_gbp:Q", format=".4f"),
                 *([alt.Tooltip("value_of_1m_gbp_pct_of_average:Q", format=".0f", title="% of an average £1m")]
                   if "value_of_1m_gbp_pct_of_average" in marginal else [])]).properties(title="£1m more budget"),
        width="stretch")
    right.altair_chart(alt.Chart(marginal).mark_rect().encode(
        x=alt.X("year:O", title="Programme year"), y=alt.Y("city:N", title=None),
        color=alt.Color("value_of_100_homes:Q", title="Objective per 100 homes more", scale=alt.Scale(scheme="greens")),
        tooltip=["city:N", "year", alt.Tooltip("value_of_100_homes:Q", format=".4f")]).properties(
            title="100 more homes of capacity a year"), width="stretch")
    st.caption("Objective units: with normalise = ideal, 1 is the best a single objective can reach alone. "
               "Zero: that limit does not bind, so more of it buys nothing.")
    prices = pd.DataFrame(run.details.get("prices") or [])
    if not prices.empty:
        with st.expander("Binding rules and their prices"):
            st.dataframe(prices, hide_index=True, width="stretch")

# --- frontier and sensitivity (each a background job) ------------------------------------------------


def finished(slot: str):
    def record(snapshot) -> None:
        st.session_state[f"{slot}.done"] = {"state": snapshot.state, "error": snapshot.error,
                                            "table": snapshot.result, "run_id": run_id}
    return record


def show_outcome(slot: str) -> pd.DataFrame | None:
    done = st.session_state.get(f"{slot}.done")
    if not done or done["run_id"] != run_id:
        return None
    if done["state"] == "failed":
        st.error(done["error"])
    elif done["state"] == "cancelled":
        st.warning("Cancelled.")
    return done["table"] if isinstance(done["table"], pd.DataFrame) and len(done["table"]) else None


OBJECTIVES = {"carbon": "Carbon", "fuel_poverty": "Fuel poverty", "jobs": "Jobs"}
KPI_OF = {"carbon": "lifetime_co2_t_saved", "fuel_poverty": "fuel_poor_lifted", "jobs": "jobs_fte_years"}

frontier_tab, sensitivity_tab = st.tabs(["Frontier", "Weight sensitivity"])
with frontier_tab:
    st.markdown("Moves the weight from one objective to another and re-plans at each step (each point is a full "
                "plan under the same rules). Takes a few solves: it runs in the background.")
    from_column, to_column, points_column, go_column = st.columns([1, 1, 1, 1])
    first = from_column.selectbox("From", list(OBJECTIVES), format_func=OBJECTIVES.get, key="frontier_first")
    second = to_column.selectbox("To", [o for o in OBJECTIVES if o != first], format_func=OBJECTIVES.get,
                                 key="frontier_second")
    points = points_column.slider("Points", 3, 9, 5, key="frontier_points")
    if go_column.button("Trace the frontier", key="frontier_go",
                        disabled=not may_run or "frontier_job" in st.session_state):
        job = data.job_board().submit(
            f"Frontier {OBJECTIVES[first]} to {OBJECTIVES[second]}",
            lambda progress, cancel: workspace.frontier_for_run(engine, run_id, first, second, points, progress, cancel))
        st.session_state["frontier_job"] = job.id
        st.session_state.pop("frontier_job.done", None)
    job_progress("frontier_job", finished("frontier_job"))
    curve = show_outcome("frontier_job")
    if curve is not None:
        x, y = KPI_OF[first], KPI_OF[second]
        st.altair_chart(alt.Chart(curve).mark_line(point=True).encode(
            x=alt.X(f"{x}:Q", title=views.LABELS[x], scale=alt.Scale(zero=False)),
            y=alt.Y(f"{y}:Q", title=views.LABELS[y], scale=alt.Scale(zero=False)),
            tooltip=[*(c for c in curve.columns if c.startswith("weight_")), alt.Tooltip(f"{x}:Q", format=",.0f"),
                     alt.Tooltip(f"{y}:Q", format=",.1f"), alt.Tooltip("jobs_fte_years:Q", format=",.0f")]),
            width="stretch")
        st.dataframe(curve, hide_index=True, width="stretch")

with sensitivity_tab:
    st.markdown("Re-plans with one weight at several values, the others as in the scenario: how far do the "
                "figures move?")
    weight_column, values_column, go_column = st.columns([1, 2, 1])
    weight = weight_column.selectbox("Weight", list(OBJECTIVES), format_func=OBJECTIVES.get, key="sensitivity_weight")
    values_text = values_column.text_input("Values", "0, 0.5, 1, 1.5, 2", key="sensitivity_values")
    try:
        values = [float(v) for v in values_text.replace(";", ",").split(",") if v.strip()]
    except ValueError:
        values = []
        values_column.error("Write the weights as numbers separated by commas, e.g. 0, 0.5, 1, 2.")
    if go_column.button("Run the sweep", key="sensitivity_go",
                        disabled=not may_run or not values or "sensitivity_job" in st.session_state):
        job = data.job_board().submit(
            f"Sensitivity to the {OBJECTIVES[weight].lower()} weight",
            lambda progress, cancel: workspace.sensitivity_for_run(engine, run_id, weight, values, progress, cancel))
        st.session_state["sensitivity_job"] = job.id
        st.session_state.pop("sensitivity_job.done", None)
    job_progress("sensitivity_job", finished("sensitivity_job"))
    table = show_outcome("sensitivity_job")
    if table is not None:
        long = table.melt(id_vars=["value"], value_vars=[k for k in KPI_OF.values()], var_name="kpi", value_name="amount")
        long["kpi"] = long["kpi"].map(views.LABELS)
        st.altair_chart(alt.Chart(long).mark_line(point=True).encode(
            x=alt.X("value:Q", title=f"{OBJECTIVES[table['weight'].iloc[0]]} weight"),
            y=alt.Y("amount:Q", title=None), row=alt.Row("kpi:N", title=None),
            tooltip=["value:Q", "kpi:N", alt.Tooltip("amount:Q", format=",.1f")]).resolve_scale(y="independent")
            .properties(height=140))
        st.dataframe(table, hide_index=True, width="stretch")
