"""Compare: two to four runs side by side (KPIs with deltas, by city and year, homes in common, trade-off)."""

from functools import partial

import altair as alt
import streamlit as st

from app import auth, data
from app.widgets import attempt
from retrofit.present import views

st.title("Compare runs")

history = attempt(data.runs)
if len(history) < 2:
    st.info("Comparing needs at least two runs. Open **Scenario builder**, change a setting (a weight, the budget, "
            "a city's share) and press **Save and run** to make another.")
    st.stop()

labels = dict(zip(history["id"].astype(int), history["label"]))
ids = list(labels)
if "compare_runs" not in st.session_state:
    first = st.session_state.get("run_id", ids[0])
    st.session_state["compare_runs"] = [first] + [i for i in ids if i != first][:1]
chosen = st.multiselect("Runs (the first is the base of the deltas)", ids, format_func=labels.get,
                        max_selections=4, key="compare_runs")
if len(chosen) < 2:
    st.info("Choose two to four runs.")
    st.stop()

names = {i: labels[i] for i in chosen}
stored_kpis = dict(zip(history["id"].astype(int), history["kpis"]))
kpis = {names[i]: stored_kpis[i] for i in chosen}
principal = auth.current_principal()
compared = attempt(data.comparison, principal, names)  # on the homes this person may read

st.subheader("Headline figures")
_, text = views.kpi_comparison(kpis)
st.dataframe(text, width="stretch", key="compare_kpis")

for b in chosen:  # a re-plan beside the run it came from: what was delivered, the money, the homes added
    parent = (attempt(data.run, b).details.get("replan") or {}).get("from_run")
    if parent in chosen:
        replan = attempt(data.replan_comparison, principal, parent, b)
        st.subheader(f"Run #{b} re-planned run #{parent} from its actuals")
        for line in views.replan_lines(replan):
            st.markdown(line)
        st.dataframe(views.replan_table(replan), hide_index=True, width="stretch", key=f"compare_replan_{b}")

funding = {names[i]: views.run_funding(stored_kpis[i], attempt(data.run, i).details, partial(data.run_scenario, i))
           for i in chosen}
if any(views.has_funding(kpis[label], funding[label]) for label in kpis):
    st.subheader("How each run is paid for")
    st.dataframe(views.funding_mix(kpis, funding), width="stretch", key="compare_funding")
    st.caption("Grants by scheme as each run uses them (– where a run does not draw on a scheme); assumed money "
               "is a future round not yet awarded. Investment per £1 of council money counts the grants and "
               "owners' co-funding with it.")

st.subheader("By city and by year")
measure = st.selectbox("Figure", list(views.LABELS)[:9], format_func=views.LABELS.get, index=0, key="compare_measure")
left, right = st.columns(2)
by_city, by_year = compared["by_city"], compared["by_year"]
if measure in by_city:
    left.altair_chart(alt.Chart(by_city).mark_bar().encode(
        x=alt.X("run:N", title=None, axis=alt.Axis(labels=False)), y=alt.Y(f"{measure}:Q", title=views.LABELS[measure]),
        color=alt.Color("run:N", title="Run"), column=alt.Column("city:N", title=None),
        tooltip=["run:N", "city:N", alt.Tooltip(f"{measure}:Q", format=",.1f")]))
    right.altair_chart(alt.Chart(by_year).mark_line(point=True).encode(
        x=alt.X("year:O", title="Programme year"), y=alt.Y(f"{measure}:Q", title=views.LABELS[measure]),
        color=alt.Color("run:N", title="Run"), tooltip=["run:N", "year:O", alt.Tooltip(f"{measure}:Q", format=",.1f")]),
        width="stretch")

st.subheader("Homes in common" + (f" ({principal.city})" if principal.city else ""))
st.dataframe(compared["homes_in_common"], hide_index=True, width="stretch")

st.subheader("Where each run sits on the trade-off")
points = views.trade_off_points(kpis)
st.altair_chart(alt.Chart(points).mark_circle(opacity=0.8).encode(
    x=alt.X("lifetime_co2_t_saved:Q", title="Lifetime tCO2 saved", scale=alt.Scale(zero=False)),
    y=alt.Y("fuel_poor_lifted:Q", title="Households lifted out of fuel poverty", scale=alt.Scale(zero=False)),
    size=alt.Size("jobs_fte_years:Q", title="Jobs (FTE-years)"), color=alt.Color("run:N", title="Run"),
    tooltip=["run:N", alt.Tooltip("lifetime_co2_t_saved:Q", format=",.0f"), alt.Tooltip("fuel_poor_lifted:Q", format=",.1f"),
             alt.Tooltip("jobs_fte_years:Q", format=",.0f"), alt.Tooltip("spend_gbp:Q", format=",.0f")]),
    width="stretch")
